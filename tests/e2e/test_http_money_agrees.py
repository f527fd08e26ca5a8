"""Every answer about money agrees with the booking, at every instant, with or without the
scheduler: the live balance, the room's ``available_credits``, ``?as_of=`` on the booking and on
the credits, and the audit ledger at an instant (here no scheduler runs at all until a test
records a deadline late by hand)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.asof import ledger_as_of
from domain.booking import CONFIRMATION, SESSION_END
from tests.e2e.conftest import MEMBER, PROVIDER, Api

SECOND = timedelta(seconds=1)
CONFIRM_BY = datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
SESSION_END_DUE = datetime(2026, 3, 9, 11, 15, tzinfo=UTC)  # 10:00 + 45 minutes + 30 minutes grace


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def answers(api: Api, booked: dict[str, Any], at: datetime) -> dict[str, Any]:
    """What every read says about the booking and the member's credits at ``at``."""
    api.clock.set(at)
    booking = api.get(f"/bookings/{booked['id']}").json()
    live = api.get(f"/members/{MEMBER}/credits", params={"after": api.head()}).json()
    room = api.get(f"/rooms/{booked['room_id']}", params={"after": api.head()}).json()
    then = api.get(f"/bookings/{booked['id']}", params={"as_of": iso(at)}).json()
    ledger = api.get(f"/members/{MEMBER}/credits", params={"as_of": iso(at)}).json()
    audit = ledger_as_of(api.service, MEMBER, at=at)
    return {
        "status": booking["status"],
        "status_as_of": then["status"],
        "live": (live["available"], live["held"], live["consumed"], live["forfeited"]),
        "by_source": tuple(
            live["by_source"]["purchase"][k] for k in ("available", "held", "consumed", "forfeited")
        ),
        "room_available": room["available_credits"],
        "ledger_as_of": tuple(ledger["balance"][k] for k in ("available", "held", "consumed", "forfeited")),
        "audit_ledger": tuple(audit["balance"][k] for k in ("available", "held", "consumed", "forfeited")),
    }


def agree(result: dict[str, Any], status: str, counts: tuple[int, int, int, int]) -> None:
    assert (result["status"], result["status_as_of"]) == (status, status), result
    for name in ("live", "by_source", "ledger_as_of", "audit_ledger"):
        assert result[name] == counts, (name, result)
    assert result["room_available"] == counts[0], result


def test_an_expiry_gives_the_credit_back_in_every_answer_from_its_deadline(
    api: Api, booked: dict[str, Any]
) -> None:
    agree(answers(api, booked, CONFIRM_BY - SECOND), "pending_confirmation", (0, 1, 0, 0))
    agree(answers(api, booked, CONFIRM_BY), "expired", (1, 0, 0, 0))
    agree(answers(api, booked, CONFIRM_BY + timedelta(hours=3)), "expired", (1, 0, 0, 0))


@pytest.mark.parametrize("joined", [False, True], ids=["no-show", "completed"])
def test_a_session_end_forfeits_or_consumes_in_every_answer_from_its_deadline_and_after_a_late_record(
    api: Api, booked: dict[str, Any], joined: bool
) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=f"provider:{PROVIDER}").status_code == 200
    if joined:
        api.clock.set(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
        assert api.post(f"/bookings/{booked['id']}/joined", actor="platform:video").status_code == 200
    status, counts = ("completed", (0, 0, 1, 0)) if joined else ("no_show", (0, 0, 0, 1))
    agree(answers(api, booked, SESSION_END_DUE - SECOND), "confirmed", (0, 1, 0, 0))
    agree(answers(api, booked, SESSION_END_DUE), status, counts)

    late = SESSION_END_DUE + timedelta(hours=2)  # the scheduler comes back two hours late
    api.clock.set(late)
    assert api.service.record_deadline(str(booked["id"]), SESSION_END, SESSION_END_DUE)["recorded"]
    between = SESSION_END_DUE + timedelta(hours=1)  # after the deadline, before its recording
    then = api.get(f"/members/{MEMBER}/credits", params={"as_of": iso(between)}).json()["balance"]
    assert tuple(then[k] for k in ("available", "held", "consumed", "forfeited")) == counts
    agree(answers(api, booked, late), status, counts)


def test_outcomes_recorded_late_carry_the_instant_they_took_effect(api: Api, booked: dict[str, Any]) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=f"provider:{PROVIDER}").status_code == 200
    late = SESSION_END_DUE + timedelta(minutes=40)
    api.clock.set(late)
    assert api.service.record_deadline(str(booked["id"]), SESSION_END, SESSION_END_DUE)["recorded"]
    page = api.get(
        "/events", params={"booking": booked["id"], "types": "NoShowRecorded,CreditForfeited"}
    ).json()
    events = page["events"]
    assert [e["type"] for e in events] == ["NoShowRecorded", "CreditForfeited"]
    for event in events:
        assert (event["occurred_at"], event["data"]["effective_at"]) == (iso(late), iso(SESSION_END_DUE))


def test_an_expiry_is_dated_by_its_deadline(api: Api, booked: dict[str, Any]) -> None:
    api.clock.set(CONFIRM_BY + timedelta(hours=1))
    assert api.service.record_deadline(str(booked["id"]), CONFIRMATION, CONFIRM_BY)["recorded"]
    page = api.get("/events", params={"booking": booked["id"], "types": "ConfirmationExpired"}).json()
    (expired,) = page["events"]
    assert expired["data"] == {"due": iso(CONFIRM_BY), "effective_at": iso(CONFIRM_BY)}


def test_a_reported_absence_takes_effect_when_reported(api: Api, booked: dict[str, Any]) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=f"provider:{PROVIDER}").status_code == 200
    reported_at = datetime(2026, 3, 9, 10, 20, tzinfo=UTC)
    api.clock.set(reported_at)
    body = {"absent_party": "member"}
    assert (
        api.post(f"/bookings/{booked['id']}/no-show", body, actor=f"provider:{PROVIDER}").status_code == 200
    )
    page = api.get("/events", params={"booking": booked["id"], "types": "NoShowRecorded"}).json()
    assert page["events"][0]["data"]["effective_at"] == iso(reported_at)
