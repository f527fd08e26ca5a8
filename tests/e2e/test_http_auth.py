"""Who may call what: bearer tokens and their roles, and the party named by X-Actor."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import MEMBER, OTHER_MEMBER, PROVIDER, Api
from tests.e2e.test_http_errors import assert_problem

READS = ["/policy", "/bookings/{id}", "/rooms/{room_id}", f"/members/{MEMBER}/credits"]


@pytest.mark.parametrize("path", READS)
def test_every_read_needs_a_token(api: Api, booked: dict[str, Any], path: str) -> None:
    response = api.get(path.format(**booked), role=None)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", READS)
def test_a_wrong_token_is_refused_and_never_echoed(api: Api, booked: dict[str, Any], path: str) -> None:
    wrong = "not-a-real-token-but-long-enough"
    response = api.get(path.format(**booked), token=wrong)
    assert_problem(response, 401, "unauthenticated")
    assert wrong not in response.text


@pytest.mark.parametrize("path", READS)
def test_an_auditor_reads(api: Api, booked: dict[str, Any], path: str) -> None:
    assert api.get(path.format(**booked), role="auditor").status_code == 200


def test_writes_need_a_token_and_write_nothing_without_one(api: Api, booked: dict[str, Any]) -> None:
    before = api.head()
    response = api.post(f"/bookings/{booked['id']}/cancel", role=None, actor=f"member:{MEMBER}")
    assert_problem(response, 401, "unauthenticated")
    assert api.head() == before


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/rooms", {"member_id": "m2", "provider_id": "p2"}),
        ("PUT", f"/providers/{PROVIDER}/availability", {"timezone": "UTC", "weekly": []}),
        ("POST", f"/members/{MEMBER}/credits", {"source": "purchase", "count": 1, "reference": "order-1"}),
        ("POST", "/bookings/{id}/cancel", {}),
        ("POST", "/bookings/{id}/confirm", None),
    ],
)
def test_an_auditor_may_not_write(
    api: Api, booked: dict[str, Any], method: str, path: str, body: Any
) -> None:
    before = api.head()
    response = api.call(method, path.format(**booked), json=body, role="auditor", actor=f"member:{MEMBER}")
    assert_problem(response, 403, "not_allowed")
    assert api.head() == before


def test_a_member_may_not_act_on_another_members_booking(api: Api, booked: dict[str, Any]) -> None:
    before = api.head()
    response = api.post(f"/bookings/{booked['id']}/cancel", actor=f"member:{OTHER_MEMBER}")
    assert_problem(response, 403, "not_allowed")
    assert api.head() == before
    assert api.get(f"/bookings/{booked['id']}").json()["status"] == "pending_confirmation"


def test_a_member_may_not_confirm_their_own_booking(api: Api, booked: dict[str, Any]) -> None:
    response = api.post(f"/bookings/{booked['id']}/confirm", actor=f"member:{MEMBER}")
    assert_problem(response, 403, "not_allowed")


def test_a_member_may_not_reserve_in_another_members_room(api: Api, booked: dict[str, Any]) -> None:
    api.add_credits(member=OTHER_MEMBER)
    response = api.reserve(booked["room_id"], "2026-03-10T10:00:00Z", member=OTHER_MEMBER)
    assert_problem(response, 403, "not_allowed")


def test_revoking_a_forfeit_needs_an_operator_token(api: Api, booked: dict[str, Any]) -> None:
    path = f"/bookings/{booked['id']}/revoke-forfeit"
    body = {"reason": "support ticket 7"}
    assert_problem(api.post(path, body, role="service", actor="operator:ops"), 403, "not_allowed")
    assert_problem(api.post(path, body, role="operator", actor=f"member:{MEMBER}"), 403, "not_allowed")
    # the right token and actor reach the domain, which finds nothing to restore
    assert_problem(api.post(path, body, role="operator", actor="operator:ops"), 409, "invalid_transition")


def test_only_an_operator_token_may_act_as_an_operator(api: Api, booked: dict[str, Any]) -> None:
    response = api.post(f"/bookings/{booked['id']}/cancel", actor="operator:ops")
    assert_problem(response, 403, "not_allowed")


def test_health_needs_no_token_and_reports_the_database_and_the_lag(api: Api) -> None:
    response = api.get("/health", role=None)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "reachable")
    assert set(body["projection_lag"]) == {"room_details", "credit_balances", "pending_deadlines"}
