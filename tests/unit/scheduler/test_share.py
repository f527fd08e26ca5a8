"""Scheduler processes split the bookings among themselves: the owner of a booking is the same
in every process, every booking has exactly one owner, a process joining or leaving moves only
its own share, and a scheduler fires only its share until a peer stops beating."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

from scheduler.process import DeadlineScheduler
from scheduler.share import owner
from tests.polling import wait_until
from tests.unit.scheduler.support import START, Office, running, settled

BOOKINGS = [f"booking-{i}" for i in range(3000)]
THREE = ["host-a:101", "host-b:202", "host-c:303"]
HOUR = timedelta(hours=1)


def owners(schedulers: list[str]) -> dict[str, str]:
    return {b: owner(b, schedulers) for b in BOOKINGS}


def recorded(count: int, *schedulers: DeadlineScheduler) -> None:
    """Wait until the schedulers have recorded ``count`` deadlines between them (a booking's
    expiry is handed out only once its free-cancellation close is settled, a poll later)."""
    wait_until(
        lambda: sum(int(s.health()["recorded"]) for s in schedulers) >= count,
        what=f"{count} deadlines to be recorded",
    )


def test_the_owner_is_the_same_in_every_process_and_for_any_order_of_the_ids() -> None:
    here = [owner(b, THREE) for b in BOOKINGS[:50]]
    script = (
        "from scheduler.share import owner;"
        f"print(','.join(owner(b, {list(reversed(THREE))!r}) for b in {BOOKINGS[:50]!r}))"
    )
    for seed in ("1", "2"):  # Python's own hash() would differ between these two processes
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.getcwd()}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True)
        assert out.stdout.decode().strip().split(",") == here
    assert owner("b", ["x"]) == "x"


def test_every_booking_has_one_owner_and_the_shares_are_about_even() -> None:
    shares = Counter(owners(THREE).values())
    assert set(shares) == set(THREE)  # each booking owned by a live one, so none is left out
    assert sum(shares.values()) == len(BOOKINGS)  # and by one only: the shares are disjoint
    assert all(800 < n < 1200 for n in shares.values()), shares  # 1,000 each, give or take


def test_a_scheduler_joining_or_leaving_moves_only_its_own_share() -> None:
    before = owners(THREE)
    joined = owners([*THREE, "host-d:404"])
    moved = {b for b in BOOKINGS if joined[b] != before[b]}
    assert {joined[b] for b in moved} == {"host-d:404"}  # only to the newcomer
    assert 550 < len(moved) < 950  # about a quarter
    left = owners(THREE[:2])
    moved = {b for b in BOOKINGS if left[b] != before[b]}
    assert {before[b] for b in moved} == {"host-c:303"}  # only the leaver's share moves
    assert moved == {b for b in BOOKINGS if before[b] == "host-c:303"}


def test_two_schedulers_each_fire_only_their_share_and_each_deadline_once() -> None:
    office = Office()
    bookings = [office.book(START + i * HOUR) for i in range(12)]
    first, second = office.scheduler(scheduler_id="a"), office.scheduler(scheduler_id="b")
    for scheduler in (first, second):
        scheduler.share_with(["a", "b"])
    office.clock.set(START + 12 * HOUR - timedelta(hours=24))  # all closes and expiries due
    with running(first, second):
        recorded(2 * len(bookings), first, second)
        healths = [settled(first), settled(second)]

    ours = Counter(owner(b, ["a", "b"]) for b in bookings)
    assert [h["fired"] for h in healths] == [2 * ours["a"], 2 * ours["b"]]  # two deadlines each
    assert [h["not_ours"] for h in healths] == [2 * ours["b"], 2 * ours["a"]]  # this view never drops them
    assert all(h["schedulers"] == 2 for h in healths)
    for booking_id in bookings:
        names = office.event_names(booking_id)
        assert names.count("FreeCancellationClosed") == 1 and names.count("ConfirmationExpired") == 1


def test_a_scheduler_takes_over_the_share_of_one_that_stopped_beating() -> None:
    office = Office()
    bookings = [office.book(START + i * HOUR) for i in range(12)]
    gone, theirs = next(  # a peer owning some but not all (the booking ids are random)
        (peer, share)
        for peer in (f"gone-{i}" for i in range(100))
        if 0 < len(share := [b for b in bookings if owner(b, ["a", peer]) == peer]) < len(bookings)
    )
    scheduler = office.scheduler(scheduler_id="a")
    scheduler.share_with(["a", gone])  # it was live at the last heartbeat, then killed
    office.clock.set(START + 12 * HOUR - timedelta(hours=24))
    with running(scheduler):
        recorded(2 * (len(bookings) - len(theirs)), scheduler)
        health = settled(scheduler)
        assert health["fired"] == 2 * (len(bookings) - len(theirs))
        assert health["not_ours"] == 2 * len(theirs)  # parked: kept in the book
        assert all("FreeCancellationClosed" not in office.event_names(b) for b in theirs)

        scheduler.share_with(["a"])  # its heartbeat lapsed
        recorded(2 * len(bookings), scheduler)
        health = settled(scheduler)

    assert health["fired"] == 2 * len(bookings) and health["not_ours"] == 0 and health["schedulers"] == 1
    for booking_id in bookings:
        names = office.event_names(booking_id)
        assert names.count("FreeCancellationClosed") == 1 and names.count("ConfirmationExpired") == 1
