"""Every shape a release stored stays readable: a changed shape needs a new class version and
its upcaster, and ``stored/stored_shapes.json`` keeps each version's shape."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from tests.unit.domain.event_shapes import (
    SNAPSHOTTED,
    current_shapes,
    event_classes,
    event_shape,
    load_stored,
    missing_upcasters,
    shape_problems,
    stored_classes,
)


def test_every_stored_shape_is_kept_under_its_class_version() -> None:
    problems = shape_problems(current_shapes(), load_stored())
    assert not problems, "\n".join(problems)


def test_every_version_step_has_its_upcaster() -> None:
    classes: list[type] = [*stored_classes(), *SNAPSHOTTED]
    classes += [event for aggregate in stored_classes() for event in event_classes(aggregate)]
    assert missing_upcasters(classes) == []


def test_the_service_snapshots_only_aggregates_whose_snapshot_shape_is_kept() -> None:
    from commands.service import BookingService

    assert set(BookingService.snapshotting_intervals) == set(SNAPSHOTTED)


class Voucher(Aggregate):
    class Issued(Aggregate.Created):
        amount: int

    class Spent(Aggregate.Event):
        amount: int

    def __init__(self, amount: int) -> None:
        self.amount = amount


class VoucherWithCurrency(Aggregate):
    class Spent(Aggregate.Event):
        amount: int
        currency: str


def test_a_field_added_without_a_new_class_version_fails_with_what_to_do() -> None:
    topic = "tests:Voucher.Spent"
    kept: dict[str, Any] = {"events": {topic: {"1": event_shape(Voucher.Spent)}}}
    changed = {"events": {topic: (1, event_shape(VoucherWithCurrency.Spent))}}

    [problem] = shape_problems(changed, kept)
    assert "added ['currency']" in problem
    assert "set class_version = 2" in problem and "upcast_v1_v2" in problem


def test_a_new_class_version_needs_its_upcaster_and_its_kept_shape() -> None:
    class Bumped(Aggregate.Event):
        amount: int
        currency: str
        class_version = 2

    assert missing_upcasters([Bumped]) == [f"{Bumped.__module__}:{Bumped.__qualname__}.upcast_v1_v2"]
    topic = "tests:Bumped"
    kept: dict[str, Any] = {"events": {topic: {"1": ["amount"]}}}
    [problem] = shape_problems({"events": {topic: (2, ["amount", "currency"])}}, kept)
    assert "class_version 2 is not in" in problem


def test_a_removed_event_class_fails_because_its_stored_events_could_not_load() -> None:
    kept: dict[str, Any] = {"events": {"tests:Gone": {"1": ["amount"]}}}
    [problem] = shape_problems({"events": {}}, kept)
    assert "no longer defined" in problem
