"""State as of an instant or a version, by replaying the stored events up to that point.

Never reads the read models, and never starts from a snapshot: the state shown is exactly
what the events say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from audit.history import booking_events
from audit.log import event_type, plain
from commands.reads import booking_read
from domain.booking import Booking
from domain.credits import CreditAccount, ledger_credits
from domain.errors import InvalidInput, NotFound
from domain.lifecycle import unrecorded_credit_status
from domain.time import iso, to_utc


def replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _upto(events: list[Any], at: datetime | str | None, version: int | None) -> list[Any]:
    if (at is None) == (version is None):
        raise InvalidInput("give exactly one of an instant (at) or a version")
    if version is not None:
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInput(f"version must be a whole number from 1; got {version!r}")
        if version > events[-1].originator_version:
            raise InvalidInput(
                f"version {version} does not exist; the latest is {events[-1].originator_version}"
            )
        return [e for e in events if e.originator_version <= version]
    instant = to_utc(at, "at")  # type: ignore[arg-type]
    return [e for e in events if e.timestamp <= instant]


def booking_state(booking: Booking, now: datetime | None = None) -> dict[str, Any]:
    """The booking in its one read shape as of ``now`` (default: its last event)."""
    return booking_read(booking, now or booking.modified_on)


def booking_as_of(
    app: Application[UUID], booking_id: str, at: datetime | str | None = None, version: int | None = None
) -> dict[str, Any]:
    """The booking as it was at instant ``at`` (inclusive) or at ``version``."""
    events = _upto(booking_events(app, booking_id), at, version)
    if not events:
        raise NotFound(f"booking {booking_id} did not exist yet at {iso(to_utc(at, 'at'))}")  # type: ignore[arg-type]
    now = to_utc(at, "at") if at is not None else None
    return {"as_of": _as_of(at, version), **booking_state(replay(events), now)}


def ledger_as_of(app: Application[UUID], member_id: str, at: datetime | str | None = None) -> dict[str, Any]:
    """A member's credit ledger at instant ``at`` (inclusive; the latest when omitted)."""
    events: list[Any] = list(app.events.get(CreditAccount.id_for(str(member_id))))
    if not events:
        raise NotFound(f"member {member_id!r} has no credit ledger")
    if at is not None:
        events = _upto(events, at, None)
    if not events:
        raise NotFound(f"member {member_id!r} had no credit ledger yet at {iso(to_utc(at, 'at'))}")  # type: ignore[arg-type]
    account: CreditAccount = replay(events)
    balance, credits = account.balance(), ledger_credits(events)
    if at is not None:
        for credit_id, status in unrecorded_outcomes(app, account, to_utc(at, "at")).items():
            balance["held"] -= 1
            balance[status] += 1
            credits[credit_id].update(status=status, recorded=False)
            if status == "available":
                credits[credit_id]["booking_id"] = None
    return {
        "member_id": account.member_id,
        "as_of": _as_of(at, None) if at is not None else iso(account.modified_on),
        "version": account.version,
        "balance": balance,
        "credits": plain(credits),
        "movements": [
            {
                "version": e.originator_version,
                "type": event_type(e),
                "at": iso(e.timestamp),
                "actor": getattr(e, "actor", None),
                **{
                    k: plain(getattr(e, k))
                    for k in ("credit_id", "booking_id", "source", "count", "reason")
                    if hasattr(e, k)
                },
            }
            for e in events[1:]
        ],
    }


def unrecorded_outcomes(app: Application[UUID], account: CreditAccount, at: datetime) -> dict[str, str]:
    """For each credit the account still held at ``at``: the status its booking's status at
    ``at`` implies, when its deadline was due by then but not recorded (an expiry gives it back,
    a session's end consumes or forfeits it). The booking read at ``at`` says the same, so the
    booking, the ledger and ``booking audit ledger --at`` agree at every instant."""
    outcomes: dict[str, str] = {}
    for credit_id, (_, booking_id) in account.held.items():
        try:
            events = [e for e in booking_events(app, booking_id) if e.timestamp <= at]
        except NotFound:
            continue
        booking = replay(events) if events else None
        if not isinstance(booking, Booking) or booking.credit_id != credit_id:
            continue
        status = unrecorded_credit_status(booking.timeline, at)
        if status is not None:
            outcomes[credit_id] = status
    return outcomes


def _as_of(at: datetime | str | None, version: int | None) -> str | int:
    return version if version is not None else iso(to_utc(at, "at"))  # type: ignore[arg-type]
