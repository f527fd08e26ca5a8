"""``verify`` passes on a clean database and names each breach made with SQL on the real one."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

import pytest

from audit.verify import verify_all, verify_store
from commands.chain import link, seal, unseal
from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.actors import SCHEDULER
from domain.credits import CreditAccount
from projections.verify import verify_views
from tests.integration.audit.conftest import events_table, originator, run_sql
from tests.integration.audit.story import MEMBER, Story
from tests.views import catch_up_views


def read_state(url: str, stream: str, version: int) -> bytes:
    table = events_table(url)
    rows = run_sql(
        url,
        f"SELECT state FROM {table} WHERE originator_id = %s AND originator_version = %s",
        (originator(url, stream), version),
    )
    return bytes(rows[0][0])


def write_state(url: str, stream: str, version: int, state: bytes) -> None:
    table = events_table(url)
    run_sql(
        url,
        f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = %s",
        (state, originator(url, stream), version),
    )


def test_verify_passes_on_the_clean_story_including_the_views(
    service: BookingService, story: Story, database_url: str
) -> None:
    catch_up_views(database_url)
    report = verify_all(service, functools.partial(verify_views, database_url))
    assert report.breaches == []
    assert report.ok and report.views_checked
    assert report.events == service.recorder.max_notification_id()
    assert report.streams == 6  # room, calendar, ledger, payment reference, two bookings


def test_an_edited_event_is_named(service: BookingService, story: Story, database_url: str) -> None:
    state = read_state(database_url, story.booking_id, 5)
    assert b"work trip" in state
    write_state(database_url, story.booking_id, 5, state.replace(b"work trip", b"illness!!"))
    report = verify_store(service.recorder, service.mapper)
    assert report.breaches == [
        f"stream {story.booking_id} v5 (Booking.Cancelled): hash-chain link does not match "
        "its content and predecessor (edited?)"
    ]


def test_an_edit_whose_link_was_recomputed_is_caught_by_the_next_event(
    service: BookingService, story: Story, database_url: str
) -> None:
    state = read_state(database_url, story.booking_id, 5)
    previous = unseal(read_state(database_url, story.booking_id, 4)).link or ""
    forged = unseal(state).state.replace(b'"free":false', b'"free":true')
    topic = "domain.booking:Booking.Cancelled"
    write_state(
        database_url, story.booking_id, 5, seal(forged, link(previous, story.booking_id, 5, topic, forged))
    )
    report = verify_store(service.recorder, service.mapper)
    assert f"stream {story.booking_id} v6 (Booking.CreditForfeited): hash-chain link" in report.breaches[0]
    assert any("credit movements differ from the ledger" in b for b in report.breaches)


def test_a_deleted_event_is_named(service: BookingService, story: Story, database_url: str) -> None:
    table = events_table(database_url)
    run_sql(
        database_url,
        f"DELETE FROM {table} WHERE originator_id = %s AND originator_version = 3",
        (originator(database_url, story.booking_id),),
    )
    report = verify_store(service.recorder, service.mapper)
    assert report.breaches[0] == (
        f"stream {story.booking_id} v4 (Booking.ProviderConfirmed): v3 of this stream is missing (deleted?)"
    )


def test_a_deleted_last_ledger_entry_is_caught_by_the_booking_ledger_cross_check(
    service: BookingService, story: Story, database_url: str
) -> None:
    account = CreditAccount.id_for(MEMBER)
    last = service.get_account(MEMBER).version  # the second booking's CreditReleased
    run_sql(
        database_url,
        f"DELETE FROM {events_table(database_url)} WHERE originator_id = %s AND originator_version = %s",
        (originator(database_url, str(account)), last),
    )
    report = verify_store(service.recorder, service.mapper)
    assert report.breaches == [
        f"booking {story.second_booking_id}: credit movements differ from the ledger; "
        "booking says released c1 but the ledger has no such entry"
    ]


def test_a_corrupted_view_row_is_named(service: BookingService, story: Story, database_url: str) -> None:
    catch_up_views(database_url)
    run_sql(
        database_url, "UPDATE credit_balances SET available = available + 5 WHERE member_id = %s", (MEMBER,)
    )
    report = verify_all(service, functools.partial(verify_views, database_url))
    assert report.breaches and all(b.startswith("view: ") for b in report.breaches)
    assert any("credit_balances" in b for b in report.breaches)


def test_chains_stay_whole_across_snapshots_restarts_and_retried_conflicts(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    for _ in range(3):  # a fresh process each time: no links remembered from earlier saves
        app = BookingService(clock, env=event_store_env(database_url))
        try:
            for _ in range(25):  # CreditAccount snapshots every 50 events
                app.add_credits(MEMBER, "purchase", 1, f"order-{uuid.uuid4()}", actor="system:test")
        finally:
            app.close()
    app = BookingService(clock, env=event_store_env(database_url))
    try:
        assert app.snapshots is not None
        assert list(app.snapshots.get(CreditAccount.id_for(MEMBER)))  # a snapshot was taken
        report = verify_all(app)
        # the account's opening and 75 additions, plus each addition's payment reference
        assert report.breaches == [] and report.events == 1 + 75 + 75 and report.snapshots_checked == 1
    finally:
        app.close()


def test_an_edited_snapshot_is_named(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    app = BookingService(clock, env=event_store_env(database_url))
    try:
        for _ in range(60):
            app.add_credits(MEMBER, "purchase", 1, f"order-{uuid.uuid4()}", actor="system:test")
        account = CreditAccount.id_for(MEMBER)
        table = "stored_snapshots" if database_url.startswith("sqlite") else "booking_snapshots"
        run_sql(
            database_url,
            f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = 50",
            (
                read_snapshot(database_url, table, str(account)).replace(b'"available"', b'"consumed"', 1),
                originator(database_url, str(account)),
            ),
        )
        report = verify_all(app)
        assert report.breaches == [
            f"snapshot of stream {account} v50 (CreditAccount): differs from the replay of its events "
            "(edited?); delete it to make the service replay the events"
        ]
    finally:
        app.close()


def read_snapshot(url: str, table: str, stream: str) -> bytes:
    rows = run_sql(
        url,
        f"SELECT state FROM {table} WHERE originator_id = %s AND originator_version = 50",
        (originator(url, stream),),
    )
    return bytes(rows[0][0])


@pytest.mark.parametrize("threads", [4])
def test_chains_stay_whole_when_threads_race_for_one_ledger(database_url: str, threads: int) -> None:
    import threading

    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    app = BookingService(clock, env=event_store_env(database_url))
    errors: list[BaseException] = []

    def add() -> None:
        try:
            for _ in range(10):
                app.add_credits(MEMBER, "purchase", 1, f"order-{uuid.uuid4()}", actor="system:test")
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=add) for _ in range(threads)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert app.get_account(MEMBER).balance()["available"] == 10 * threads
        assert verify_store(app.recorder, app.mapper).breaches == []
    finally:
        app.close()


def late_recorded_session(service: BookingService, clock: ManualClock) -> tuple[str, datetime]:
    """A confirmed session of a member who never joined, and its session-end instant."""
    room = service.open_room("vera", "dr-v")["room_id"]
    service.publish_availability("dr-v", {"timezone": "UTC", "weekly": WEEK}, actor="provider:dr-v")
    service.add_credits("vera", "purchase", 1, "order-v")
    booking_id = service.reserve_session(
        room, datetime(2026, 3, 9, 10, tzinfo=UTC), 30, "video", actor="member:vera"
    )["booking_id"]
    service.confirm_session(booking_id, actor="provider:dr-v")
    return booking_id, service.get_booking(booking_id).session_end_due


WEEK = [{"weekday": d, "start": "08:00", "end": "18:00"} for d in ("monday", "tuesday", "wednesday")]


def test_an_outcome_recorded_late_with_the_instant_it_took_effect_agrees(
    service: BookingService, clock: ManualClock
) -> None:
    booking_id, due = late_recorded_session(service, clock)
    clock.set(due.replace(hour=due.hour + 3))  # the scheduler comes back three hours late
    assert service.record_deadline(booking_id, "session_end", due)["recorded"]
    assert verify_store(service.recorder, service.mapper).breaches == []


def test_an_outcome_dated_before_the_booking_implied_it_is_named(
    service: BookingService, clock: ManualClock
) -> None:
    booking_id, due = late_recorded_session(service, clock)
    clock.set(due.replace(hour=due.hour + 1))
    booking = service.get_booking(booking_id)
    account = service.get_account("vera")
    started = booking.starts_at  # a no-show "effective" at the start: the session was still on then
    booking._no_show(account, "member", SCHEDULER, clock.now(), effective_at=started)
    service.save(booking, account)
    breaches = verify_store(service.recorder, service.mapper).breaches
    assert any(
        f"stream {booking_id}" in b
        and "records the credit forfeited from 2026-03-09T10:00:00Z" in b
        and "(confirmed) implied no change" in b
        for b in breaches
    ), breaches
