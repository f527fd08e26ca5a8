"""The DeadlineBook hands out due deadlines once, follows the view's listing, and keeps
fired deadlines away while a lagging view still lists them."""

from __future__ import annotations

from datetime import timedelta

from projections.deadlines import PendingDeadline
from scheduler.book import DeadlineBook
from tests.unit.scheduler.support import MONDAY

HOUR = timedelta(hours=1)


def deadline(name: str, hours: float) -> PendingDeadline:
    return PendingDeadline(name, "confirmation", MONDAY + hours * HOUR, 1)


def test_due_deadlines_are_handed_out_in_due_order_and_only_once() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("b", 2), deadline("a", 1), deadline("c", 3)])
    assert [d.booking_id for d in book.take_due(MONDAY + 2 * HOUR)] == ["a", "b"]
    assert book.take_due(MONDAY + 2 * HOUR) == []
    assert book.counts() == {"pending": 3, "in_flight": 2, "not_ours": 0}


def test_a_settled_deadline_is_not_taken_back_while_the_view_still_lists_it() -> None:
    book = DeadlineBook()
    listed = [deadline("a", 1)]
    book.reconcile(listed)
    (taken,) = book.take_due(MONDAY + HOUR)
    book.settle(taken)
    assert book.reconcile(listed) == (0, 0)
    assert book.counts()["pending"] == 0
    book.reconcile([])  # the view caught up
    assert book.reconcile(listed) == (1, 0)  # listed again means pending again


def test_a_partial_listing_only_removes_deadlines_inside_its_window() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("a", 1), deadline("b", 5)])
    assert book.reconcile([], until=MONDAY + 2 * HOUR) == (0, 1)
    assert book.counts()["pending"] == 1
    assert [d.booking_id for d in book.take_due(MONDAY + 9 * HOUR)] == ["b"]


def test_a_moved_deadline_replaces_the_old_one() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("a", 1)])
    assert book.reconcile([deadline("a", 4)]) == (1, 1)
    assert book.take_due(MONDAY + 3 * HOUR) == []
    assert [d.due for d in book.take_due(MONDAY + 4 * HOUR)] == [MONDAY + 4 * HOUR]


def test_a_failed_deadline_is_handed_out_again_at_its_retry_instant() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("a", 1)])
    (taken,) = book.take_due(MONDAY + HOUR)
    book.retry(taken, MONDAY + 2 * HOUR)
    assert book.take_due(MONDAY + 1.5 * HOUR) == []
    assert book.take_due(MONDAY + 2 * HOUR) == [taken]


def test_an_in_flight_deadline_survives_a_listing_without_it() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("a", 1)])
    book.take_due(MONDAY + HOUR)
    assert book.reconcile([]) == (0, 0)
    assert book.counts() == {"pending": 1, "in_flight": 1, "not_ours": 0}


def test_a_bookings_later_deadline_waits_until_its_earlier_one_is_decided() -> None:
    book = DeadlineBook()
    free_close = PendingDeadline("a", "free_cancellation", MONDAY + HOUR, 1)
    expiry = PendingDeadline("a", "confirmation", MONDAY + 2 * HOUR, 1)
    other = deadline("b", 2)
    book.reconcile([expiry, other, free_close])
    assert book.take_due(MONDAY + 3 * HOUR) == [free_close, other]  # one per booking, earliest first
    assert book.take_due(MONDAY + 3 * HOUR) == []  # the expiry waits while the close is in flight
    book.settle(free_close)
    assert book.take_due(MONDAY + 3 * HOUR) == [expiry]


def test_another_schedulers_due_deadline_is_parked_and_handed_out_once_unparked() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("mine", 1), deadline("theirs", 1), deadline("theirs-later", 5)])
    assert book.take_due(MONDAY + 2 * HOUR, mine=lambda b: b == "mine") == [deadline("mine", 1)]
    assert book.counts() == {"pending": 3, "in_flight": 1, "not_ours": 1}  # the later one: not yet due
    assert book.take_due(MONDAY + 2 * HOUR, mine=lambda b: True) == []  # parked: out of the heap

    assert book.unpark() == 1  # the share changed (its owner stopped beating)
    assert book.take_due(MONDAY + 2 * HOUR, mine=lambda b: True) == [deadline("theirs", 1)]
    assert book.counts()["not_ours"] == 0


def test_a_parked_deadline_the_view_stops_listing_is_forgotten() -> None:
    book = DeadlineBook()
    book.reconcile([deadline("theirs", 1)])
    assert book.take_due(MONDAY + 2 * HOUR, mine=lambda b: False) == []
    assert book.reconcile([]) == (0, 1)  # its owner recorded it
    assert book.counts() == {"pending": 0, "in_flight": 0, "not_ours": 0}
    assert book.unpark() == 0
