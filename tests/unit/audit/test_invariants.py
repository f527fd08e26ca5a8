"""``verify``'s invariant checks on hand-made logs (no database: rows built in memory).

Each breach below cannot be produced through the service's commands, so the events are
triggered directly on the aggregates, as a buggy writer or a forger would record them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, Notification

from audit.verify import Report, verify_rows
from commands.chain import chain_onto
from domain.actors import SCHEDULER, Actor
from domain.booking import Booking
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.policy import Policy
from domain.room import Room

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = NOW + timedelta(days=3)
MEMBER, PROVIDER = Actor("member", "maya"), Actor("provider", "pat")
ALL_DAY = {"timezone": "UTC", "weekly": [{"weekday": "thursday", "start": "00:00", "end": "24:00"}]}


class Log:
    """Stored rows, chained as the service chains them, in the order they were saved."""

    def __init__(self) -> None:
        self.mapper: Mapper[UUID] = Mapper(Application(env={}).construct_transcoder())
        self.rows: list[Notification] = []
        self.heads: dict[UUID | str, str] = {}

    def save(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                row = chain_onto(self.heads, self.mapper.to_stored_event(event))
                self.rows.append(
                    Notification(
                        id=len(self.rows) + 1,
                        originator_id=row.originator_id,
                        originator_version=row.originator_version,
                        topic=row.topic,
                        state=row.state,
                    )
                )

    def verify(self) -> Report:
        return verify_rows(self.rows, self.mapper)


def world() -> tuple[Log, Room, CreditAccount, ProviderCalendar, Booking]:
    log = Log()
    room = Room.open("maya", "pat", Actor("system", "t"), NOW)
    account = CreditAccount.open("maya", NOW)
    account.add("purchase", 2, "order-1", MEMBER, NOW)
    calendar = ProviderCalendar.open("pat", NOW)
    calendar.publish(ALL_DAY, PROVIDER, NOW)
    log.save(room, account, calendar)
    booking = Booking.reserve(room, account, calendar, START, 45, "video", Policy(), MEMBER, NOW)
    log.save(booking, account, calendar)
    return log, room, account, calendar, booking


def test_a_log_written_by_the_domain_rules_has_no_breach() -> None:
    log, _, account, calendar, booking = world()
    booking.cancel(account, calendar, "", False, MEMBER, NOW + timedelta(hours=1))
    log.save(booking, account, calendar)
    report = log.verify()
    assert report.breaches == [] and report.events == len(log.rows) and report.streams == 4


def test_a_deadline_event_recorded_twice_is_named() -> None:
    log, _, account, calendar, booking = world()
    booking.record_deadline("confirmation", booking.confirm_by, account, calendar, booking.confirm_by)
    booking.trigger_event(Booking.ConfirmationExpired, due=booking.confirm_by, actor=str(SCHEDULER),
                          timestamp=booking.confirm_by)  # fmt: skip
    log.save(booking, account, calendar)
    breaches = log.verify().breaches
    assert f"booking {booking.id}: ConfirmationExpired due 2026-03-04T09:00:00Z recorded 2 times" in breaches


def test_overlapping_sessions_of_one_provider_are_named() -> None:
    log, room, account, _, booking = world()
    clash = Booking._create(
        Booking.SessionReserved, id=UUID(int=7), timestamp=NOW, actor=str(MEMBER), room_id=str(room.id),
        member_id="maya", provider_id="pat", starts_at=START + timedelta(minutes=30),
        ends_at=START + timedelta(minutes=75), length_minutes=45, format="video", credit_id="c2",
        policy=Policy().to_dict(), policy_version=Policy().version, confirm_by=START, free_until=START,
        session_end_due=START + timedelta(hours=2),
    )  # fmt: skip
    account.trigger_event(CreditAccount.CreditHeld, credit_id="c2", booking_id=str(clash.id),
                          actor=str(MEMBER), timestamp=NOW)  # fmt: skip
    log.save(clash, account)
    breaches = log.verify().breaches
    assert len(breaches) == 1
    assert breaches[0].startswith(
        f"provider pat: sessions overlap: booking {booking.id} (2026-03-05T09:00:00Z"
    )
    assert f"and booking {clash.id}" in breaches[0]


def test_a_ledger_move_of_a_credit_that_is_not_held_breaks_conservation() -> None:
    log, _, account, _, booking = world()
    account.trigger_event(CreditAccount.CreditConsumed, credit_id="c2", booking_id=str(booking.id),
                          actor=str(PROVIDER), timestamp=NOW)  # fmt: skip
    log.save(account)
    breaches = log.verify().breaches
    assert any(
        f"CreditConsumed of credit c2 for booking {booking.id} while it was available (credits not conserved)"
        in b
        for b in breaches
    )
    assert (
        f"booking {booking.id}: credit movements differ from the ledger; the ledger has consumed c2 "
        "that the booking does not explain" in breaches
    )
