"""Credits added once per payment reference, one room per member and provider, zero balances for
a member without credits, and the join report's documented body — through HTTP on each backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import MEMBER, PROVIDER, Api
from tests.e2e.test_http_errors import assert_problem


def buy(api: Api, body: dict[str, Any], **kwargs: Any) -> Any:
    return api.post(f"/members/{MEMBER}/credits", body, **kwargs)


# --- credits ---------------------------------------------------------------------------------


def test_a_repeated_reference_answers_the_first_outcome_whatever_the_idempotency_key(api: Api) -> None:
    body = {"source": "purchase", "count": 2, "reference": "order-77"}
    first = buy(api, body, key="k1")
    assert first.status_code == 200, first.text
    assert first.json()["balance"]["available"] == 2
    written = api.head()
    for key in ("k2", None, "k3"):
        again = buy(api, body, key=key)
        assert again.status_code == 200, again.text
        assert {k: v for k, v in again.json().items() if k != "position"} == {
            k: v for k, v in first.json().items() if k != "position"
        }
    balances = api.get(f"/members/{MEMBER}/credits", params={"after": api.head()}).json()
    assert balances["available"] == 2
    assert api.head() - written == 2  # the keyed repeats' command records, no credit


@pytest.mark.parametrize("change", [{"count": 3}, {"source": "employer"}])
def test_a_used_reference_with_another_count_or_source_is_a_409(api: Api, change: dict[str, Any]) -> None:
    buy(api, {"source": "purchase", "count": 2, "reference": "order-77"})
    before = api.head()
    refused = buy(api, {"source": "purchase", "count": 2, "reference": "order-77", **change}, key="new")
    body = assert_problem(refused, 409, "reference_conflict")
    assert "order-77" in body["detail"]
    assert api.head() == before


@pytest.mark.parametrize(
    "body", [{"source": "purchase", "count": 1}, {"source": "purchase", "count": 1, "reference": ""}]
)
def test_an_addition_without_a_reference_is_a_422_naming_it(api: Api, body: dict[str, Any]) -> None:
    before = api.head()
    assert "reference" in assert_problem(buy(api, body), 422, "invalid_input")["detail"]
    assert api.head() == before


@pytest.mark.parametrize("source", ["insurance", "employer"])
def test_a_member_cannot_grant_themselves_credits(api: Api, source: str) -> None:
    before = api.head()
    refused = buy(api, {"source": source, "count": 1, "reference": "claim-1"}, actor=f"member:{MEMBER}")
    assert_problem(refused, 403, "not_allowed")
    assert api.head() == before
    granted = buy(api, {"source": source, "count": 1, "reference": "claim-1"}, actor="system:billing")
    assert granted.status_code == 200, granted.text
    bought = buy(api, {"source": "purchase", "count": 1, "reference": "order-1"}, actor=f"member:{MEMBER}")
    assert bought.status_code == 200, bought.text


def test_a_member_without_credits_has_a_zero_balance_of_the_same_shape(api: Api) -> None:
    nobody = api.get("/members/nobody/credits", role="auditor")
    assert nobody.status_code == 200, nobody.text
    written = api.add_credits(count=1)
    someone = api.get(f"/members/{MEMBER}/credits", params={"after": written["position"]}).json()
    zero = nobody.json()
    assert zero.keys() == someone.keys() and zero["by_source"].keys() == someone["by_source"].keys()
    assert zero["member_id"] == "nobody"
    assert {k: v for k, v in zero.items() if k not in ("member_id", "by_source")} == dict.fromkeys(
        ("available", "held", "consumed", "forfeited", "restored"), 0
    )
    assert all(v == 0 for counts in zero["by_source"].values() for v in counts.values())


# --- rooms -----------------------------------------------------------------------------------


def test_opening_a_room_again_answers_the_same_room_with_200(api: Api) -> None:
    pair = {"member_id": MEMBER, "provider_id": PROVIDER}
    first = api.post("/rooms", pair, key="a")
    assert first.status_code == 201, first.text
    before = api.head()
    for key in ("b", None):
        again = api.post("/rooms", pair, key=key, actor=f"member:{MEMBER}")
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    replay = api.post("/rooms", pair, key="a")
    assert (replay.status_code, replay.json()["id"]) == (201, first.json()["id"])
    other = api.post("/rooms", {"member_id": MEMBER, "provider_id": "dr-lee"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    rooms = api.get(f"/members/{MEMBER}/rooms", params={"after": other.json()["position"]}).json()["rooms"]
    assert sorted(r["id"] for r in rooms) == sorted([first.json()["id"], other.json()["id"]])
    assert api.head() == before + 2  # the keyed repeat's command record, the other room


# --- joins -----------------------------------------------------------------------------------


@pytest.fixture
def in_join_window(api: Api, booked: dict[str, Any]) -> str:
    booking_id = str(booked["id"])
    assert api.post(f"/bookings/{booking_id}/confirm", actor=f"provider:{PROVIDER}").status_code == 200
    api.clock.set(datetime(2026, 3, 9, 9, 55, tzinfo=UTC))
    return booking_id


@pytest.mark.parametrize("body", [{"party": "member"}, None, {}])
def test_a_join_is_reported_with_the_documented_body_or_none(
    api: Api, in_join_window: str, body: dict[str, Any] | None
) -> None:
    joined = api.post(f"/bookings/{in_join_window}/joined", body, actor="platform:video")
    assert joined.status_code == 200, joined.text
    assert api.get(f"/bookings/{in_join_window}").json()["joined_at"] == "2026-03-09T09:55:00Z"


@pytest.mark.parametrize("party", ["", "Member", "both", 1, None])
def test_any_other_party_is_a_422_naming_the_field(api: Api, in_join_window: str, party: object) -> None:
    before = api.head()
    refused = api.post(f"/bookings/{in_join_window}/joined", {"party": party}, actor="platform:video")
    assert "party" in assert_problem(refused, 422, "invalid_input")["detail"]
    assert api.head() == before
    assert api.get(f"/bookings/{in_join_window}").json()["joined_at"] is None
