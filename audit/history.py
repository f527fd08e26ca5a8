"""A booking's history: every event of its stream, and the credit movements it caused, in order.

Read from the event store alone (the booking's stream and its member's ledger stream); never
from the read models. Rendering for people lives in ``render_timeline``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from audit.log import event_data, event_type
from domain.booking import Booking
from domain.credits import CreditAccount
from domain.errors import InvalidInput, NotFound
from domain.time import iso


def parse_id(text: str, what: str) -> UUID:
    try:
        return UUID(str(text))
    except ValueError:
        raise InvalidInput(f"{what} id must be a UUID; got {text!r}") from None


def booking_events(app: Application[UUID], booking_id: str) -> list[Any]:
    events = list(app.events.get(parse_id(booking_id, "booking")))
    if not events or not isinstance(events[0], Booking.SessionReserved):
        raise NotFound(f"no booking with id {booking_id!r}")
    return events


def booking_history(app: Application[UUID], booking_id: str) -> dict[str, Any]:
    """Every event of the booking, then interleaved its ledger movements, in recorded order.

    Within one command the booking's events were saved before the ledger's, so entries are
    ordered by instant, then booking before ledger, then version.
    """
    events = booking_events(app, booking_id)
    reserved = events[0]
    entries = [_entry("booking", e, reserved.policy_version) for e in events]
    ledger = app.events.get(CreditAccount.id_for(reserved.member_id))
    entries += [
        _entry("credits", e, reserved.policy_version)
        for e in ledger
        if getattr(e, "booking_id", None) == str(reserved.originator_id)
    ]
    entries.sort(key=lambda x: (x["at"], x["stream"] != "booking", x["version"]))
    return {
        "booking_id": str(reserved.originator_id),
        "room_id": reserved.room_id,
        "member_id": reserved.member_id,
        "provider_id": reserved.provider_id,
        "policy_version": reserved.policy_version,
        "events": entries,
    }


def _entry(stream: str, event: Any, policy_version: str) -> dict[str, Any]:
    return {
        "stream": stream,
        "version": event.originator_version,
        "type": event_type(event),
        "aggregate": type(event).__qualname__.split(".")[0],  # Booking.CreditForfeited vs CreditAccount's
        "at": iso(event.timestamp),
        "actor": getattr(event, "actor", None),
        "policy_version": policy_version,
        "data": event_data(event),
    }


def render_timeline(history: dict[str, Any]) -> str:
    """A readable timeline, one line per event, ledger movements indented under the booking's."""
    lines = [
        f"booking {history['booking_id']}  member {history['member_id']}  "
        f"provider {history['provider_id']}  policy {history['policy_version']}"
    ]
    for entry in history["events"]:
        data = entry["data"]
        if entry["stream"] == "booking":
            shown = {
                k: v for k, v in data.items() if k not in ("policy", "room_id", "member_id", "provider_id")
            }
            detail = "  ".join(f"{k}={v}" for k, v in shown.items())
            lines.append(
                f"{entry['at']}  v{entry['version']:<3} {entry['type']:<24} {entry['actor']:<24} {detail}"
            )
        else:
            lines.append(
                f"{entry['at']}         ledger {entry['type']:<17} {entry['actor']:<24} "
                f"credit={data.get('credit_id')}"
                + (f"  reason={data['reason']}" if data.get("reason") else "")
            )
    return "\n".join(lines)
