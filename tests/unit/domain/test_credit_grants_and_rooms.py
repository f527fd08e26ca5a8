"""Who may add which credits, that every addition names its reference, that a reference adds
once per member, and that a member and a provider share exactly one room."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.actors import Actor
from domain.credit_reference import CreditReference
from domain.credits import CreditAccount
from domain.errors import BookingError
from domain.room import Room

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIA = Actor("member", "mia")


def account() -> CreditAccount:
    opened = CreditAccount.open("mia", NOW)
    opened.collect_events()
    return opened


def refused_without_events(
    code: str, ledger: CreditAccount, source: object, count: object, reference: object, actor: Actor
) -> BookingError:
    with pytest.raises(BookingError) as refusal:
        ledger.add(source, count, reference, actor, NOW)  # type: ignore[arg-type]
    assert refusal.value.code == code, refusal.value.message
    assert ledger.pending_events == [] and ledger.balance()["available"] == 0
    return refusal.value


def test_a_member_may_purchase_credits_for_themselves() -> None:
    ledger = account()
    ledger.add("purchase", 2, "order-1", MIA, NOW)
    assert ledger.balance()["available"] == 2


@pytest.mark.parametrize("source", ["insurance", "employer"])
def test_a_member_can_never_grant_themselves_insurance_or_employer_credits(source: str) -> None:
    refusal = refused_without_events("not_allowed", account(), source, 1, "claim-1", MIA)
    assert "operator or the billing system" in refusal.message


@pytest.mark.parametrize("source", ["purchase", "insurance", "employer"])
@pytest.mark.parametrize("actor", [Actor("operator", "ops"), Actor("system", "billing")])
def test_an_operator_or_the_billing_system_may_add_any_credits(source: str, actor: Actor) -> None:
    ledger = account()
    ledger.add(source, 1, "auth-1", actor, NOW)
    assert ledger.balance()["available"] == 1


@pytest.mark.parametrize(
    "actor", [Actor("member", "omar"), Actor("provider", "pat"), Actor("platform", "video")]
)
def test_nobody_else_may_add_credits_for_a_member(actor: Actor) -> None:
    refused_without_events("not_allowed", account(), "purchase", 1, "order-1", actor)


@pytest.mark.parametrize("reference", ["", "   ", "a\nb", "x" * 201, None, 7])
def test_every_addition_names_its_payment_or_authorisation_reference(reference: object) -> None:
    refusal = refused_without_events("invalid_input", account(), "purchase", 1, reference, MIA)
    assert "reference" in refusal.message


def test_a_reference_is_one_stream_per_member_and_reference() -> None:
    assert CreditReference.id_for("mia", "order-1") == CreditReference.id_for("mia", "order-1")
    assert CreditReference.id_for("mia", "order-1") != CreditReference.id_for("omar", "order-1")
    assert CreditReference.id_for("mia", "order-1") != CreditReference.id_for("mia", "order-2")


def test_a_used_reference_answers_its_first_outcome_to_the_same_addition() -> None:
    used = CreditReference.use("mia", "order-1", "purchase", 2, {"available": 2}, MIA, NOW)
    used.check_repeat("purchase", 2)
    assert used.outcome() == {
        "member_id": "mia",
        "source": "purchase",
        "count": 2,
        "reference": "order-1",
        "balance": {"available": 2},
    }


@pytest.mark.parametrize(("source", "count"), [("purchase", 3), ("insurance", 2), ("employer", 1)])
def test_a_used_reference_refuses_another_count_or_source(source: str, count: int) -> None:
    used = CreditReference.use("mia", "order-1", "purchase", 2, {"available": 2}, MIA, NOW)
    with pytest.raises(BookingError) as refusal:
        used.check_repeat(source, count)
    assert refusal.value.code == "reference_conflict"
    assert "order-1" in refusal.value.message and "2 purchase" in refusal.value.message


def test_a_member_and_a_provider_share_one_room_id() -> None:
    first = Room.open("mia", "pat", MIA, NOW)
    again = Room.open("mia", "pat", Actor("system", "api"), NOW)
    assert first.id == again.id == Room.id_for("mia", "pat")
    assert Room.id_for("mia", "pat") != Room.id_for("pat", "mia")
    assert Room.id_for("mia", "pat") != Room.id_for("mia", "quinn")
