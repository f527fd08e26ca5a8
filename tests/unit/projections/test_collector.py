"""The collector's thresholds are raised inside ``collecting_rarely`` and restored after it, however
its users nest or overlap."""

from __future__ import annotations

import gc
import threading

import pytest

from projections.collector import REBUILD_THRESHOLDS, collecting_rarely


def test_the_thresholds_are_raised_inside_and_restored_after_even_on_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collecting_rarely():
        assert gc.get_threshold() == REBUILD_THRESHOLDS
        raise RuntimeError("a rebuild failed")
    assert gc.get_threshold() == before


def test_overlapping_users_restore_the_thresholds_only_when_the_last_one_leaves() -> None:
    before = gc.get_threshold()
    inside, leave = threading.Event(), threading.Event()

    def other_rebuild() -> None:
        with collecting_rarely():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=other_rebuild)
    with collecting_rarely():
        other.start()
        assert inside.wait(10)
    assert gc.get_threshold() == REBUILD_THRESHOLDS  # the other one is still inside
    leave.set()
    other.join(10)
    assert gc.get_threshold() == before
