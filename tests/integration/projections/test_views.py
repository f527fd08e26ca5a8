"""Each view holds exactly the expected rows after a scenario, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import weekly_hours
from domain.booking import CONFIRMATION, FREE_CANCELLATION, REMINDER, SESSION_END
from projections.database import create_read_engine
from projections.deadlines import PendingDeadline
from projections.queries import ReadModels
from projections.rebuild import rebuild_views
from projections.verify import verify_views
from tests.integration.projections.story import AVAILABILITY, at, tell, tell_until_the_first_confirmation
from tests.views import catch_up_views


def read_models(database_url: str) -> ReadModels:
    return ReadModels(create_read_engine(database_url))


def test_room_details_show_every_session_with_its_state_deadlines_and_last_change(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    story = tell(service, clock)
    catch_up_views(database_url)

    details = read_models(database_url).room_details(story.room_1, now=at(5, 16))

    assert details is not None
    assert (details["member_id"], details["provider_id"]) == ("m1", "p1")
    assert details["available_credits"] == 2
    assert details["last_change"] == {"event": "Rescheduled", "at": at(4, 12)}  # the latest event
    sessions = {s["booking_id"]: s for s in details["sessions"]}
    assert set(sessions) == {story.cancelled, story.rescheduled}
    cancelled = sessions[story.cancelled]
    assert cancelled["status"] == "cancelled"
    assert (cancelled["starts_at"], cancelled["ends_at"]) == (at(6, 10), at(6, 10, 45))
    assert (cancelled["length_minutes"], cancelled["format"]) == (45, "video")
    assert (cancelled["confirm_by"], cancelled["free_until"]) == (at(5, 10), at(4, 10))
    assert cancelled["change_is_free"] is False
    assert cancelled["allowed_actions"] == []
    assert cancelled["last_change"] == {"event": "ForfeitRevoked", "at": at(4, 12), "by": "operator:ops"}
    moved = sessions[story.rescheduled]
    assert moved["status"] == "pending_confirmation"
    assert (moved["starts_at"], moved["ends_at"]) == (at(11, 11), at(11, 11, 30))
    assert (moved["confirm_by"], moved["free_until"]) == (at(10, 11), at(9, 11))
    assert moved["change_is_free"] is True
    assert moved["allowed_actions"] == ["confirm", "decline", "reschedule", "cancel"]
    assert moved["booking_version"] == 2


def test_cancelling_a_confirmed_session_is_free_only_before_free_until(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    room, _ = tell_until_the_first_confirmation(service, clock)
    catch_up_views(database_url)
    views = read_models(database_url)

    before = views.room_details(room, now=at(4, 9, 59))
    after = views.room_details(room, now=at(4, 10))

    assert before is not None and after is not None
    assert before["sessions"][0]["change_is_free"] is True
    assert after["sessions"][0]["change_is_free"] is False
    assert after["sessions"][0]["allowed_actions"] == ["reschedule", "cancel"]


def test_rooms_are_listed_by_member_and_by_provider(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    story = tell(service, clock)
    catch_up_views(database_url)
    views = read_models(database_url)

    assert [r["room_id"] for r in views.rooms_of_member("m1")] == [story.room_1]
    assert sorted(r["room_id"] for r in views.rooms_of_provider("p1")) == sorted([story.room_1, story.room_2])
    assert views.rooms_of_member("nobody") == []
    assert views.room_details("00000000-0000-0000-0000-000000000000") is None


def test_credit_balances_count_each_state_by_source(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    tell(service, clock)
    catch_up_views(database_url)
    views = read_models(database_url)

    m1 = views.credit_balances("m1", now=clock.now())  # as recorded: no deadline due unrecorded yet
    m2 = views.credit_balances("m2", now=clock.now())

    assert m1 == {
        "member_id": "m1",
        "available": 2,
        "held": 1,
        "consumed": 0,
        "forfeited": 0,
        "restored": 1,
        "by_source": {
            "purchase": {"available": 1, "held": 1, "consumed": 0, "forfeited": 0, "restored": 1},
            "insurance": {"available": 1, "held": 0, "consumed": 0, "forfeited": 0, "restored": 0},
            "employer": {"available": 0, "held": 0, "consumed": 0, "forfeited": 0, "restored": 0},
        },
    }
    assert m2 is not None
    assert (m2["available"], m2["held"], m2["consumed"]) == (0, 0, 1)
    assert m2["by_source"]["employer"]["consumed"] == 1
    assert views.credit_balances("nobody") is None


def test_pending_deadlines_keep_only_the_current_ones(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    story = tell(service, clock)
    catch_up_views(database_url)
    views = read_models(database_url)

    assert views.pending_deadlines() == [
        PendingDeadline(story.rescheduled, FREE_CANCELLATION, at(9, 11), 2),
        PendingDeadline(story.rescheduled, CONFIRMATION, at(10, 11), 2),
    ]
    assert views.pending_deadlines_due_before(at(10, 11)) == [
        PendingDeadline(story.rescheduled, FREE_CANCELLATION, at(9, 11), 2),
    ]


def test_a_confirmation_replaces_the_confirmation_deadline_by_the_session_end(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    _, booking = tell_until_the_first_confirmation(service, clock)
    catch_up_views(database_url)

    assert read_models(database_url).pending_deadlines() == [
        PendingDeadline(booking, FREE_CANCELLATION, at(4, 10), 2),
        PendingDeadline(booking, REMINDER, at(5, 10), 2),
        PendingDeadline(booking, SESSION_END, at(6, 11, 15), 2),
    ]


def test_views_agree_with_the_aggregates_they_were_built_from(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    story = tell(service, clock)
    catch_up_views(database_url)
    views = read_models(database_url)

    expected = sorted(
        (
            PendingDeadline(str(b.id), kind, due, b.version)
            for b in map(service.get_booking, (story.cancelled, story.rescheduled, story.completed))
            for kind, due in b.pending_deadlines()
        ),
        key=lambda d: (d.due, d.booking_id, d.kind),
    )
    assert views.pending_deadlines() == expected
    balances = views.credit_balances("m1", now=clock.now())
    assert balances is not None
    assert {k: balances[k] for k in ("available", "held", "consumed", "forfeited")} == (
        service.get_account("m1").balance()
    )


def test_positions_reach_the_last_command_and_projecting_again_applies_nothing(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    tell(service, clock)
    last = service.add_credits("m2", "purchase", 1, "order-m2")["position"]

    assert catch_up_views(database_url) > 0
    views = read_models(database_url)

    assert views.wait_for(last, timeout=5.0)
    assert set(views.positions().values()) == {last}
    assert catch_up_views(database_url) == 0
    assert verify_views(database_url) == []


def test_a_pending_session_past_its_confirmation_deadline_reads_expired_before_the_expiry_is_recorded(
    database_url: str,
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    service = BookingService(clock, env=event_store_env(database_url))
    try:
        room = service.open_room("m1", "p1")["room_id"]
        service.publish_availability("p1", weekly_hours("UTC", "09:00", "17:00"), actor="provider:p1")
        service.add_credits("m1", "purchase", 1, f"order-{uuid.uuid4()}")
        booking = service.reserve_session(room, "2026-03-05T10:00:00Z", 30, "video", actor="member:m1")
    finally:
        service.close()
    catch_up_views(database_url)
    views = ReadModels(create_read_engine(database_url))
    confirm_by = datetime.fromisoformat(booking["confirm_by"])

    before = views.room_details(room, now=confirm_by - timedelta(seconds=1))
    at = views.room_details(room, now=confirm_by)

    assert before is not None and at is not None
    assert before["sessions"][0]["allowed_actions"] == ["confirm", "decline", "reschedule", "cancel"]
    assert at["sessions"][0]["status"] == "expired"  # true at that instant, recorded or not
    assert at["sessions"][0]["allowed_actions"] == []
    assert at["sessions"][0]["change_is_free"] is False


def test_a_rebuild_reaches_the_head_though_the_last_events_are_of_no_view(
    database_url: str, service: BookingService, clock: ManualClock
) -> None:
    """A rebuild reads only the topics its views apply; the positions still reach the head."""
    tell(service, clock)
    catch_up_views(database_url)
    before = read_models(database_url)
    rooms_before = before.rooms_of_member("m1")
    last = service.publish_availability("p1", AVAILABILITY, actor="provider:p1")["position"]  # no view's

    assert rebuild_views(database_url, batch_size=3) == last
    views = read_models(database_url)
    assert set(views.positions().values()) == {last}
    assert views.rooms_of_member("m1") == rooms_before
    assert verify_views(database_url) == []
