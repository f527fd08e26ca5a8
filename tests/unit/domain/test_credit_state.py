"""The credit ledger's state stays bounded by what is open, whatever the member's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from eventsourcing.domain import Snapshot

from commands.snapshots import restored
from domain.actors import Actor
from domain.credits import CreditAccount, ledger_credits
from tests.unit.domain.world import OPERATOR, SYSTEM

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIA = Actor("member", "mia")


def test_two_thousand_credits_consumed_leave_a_state_of_a_few_counts() -> None:
    account = CreditAccount.open("mia", NOW)
    for n in range(2000):
        account.add("purchase" if n % 2 else "insurance", 1, f"ref-{n}", SYSTEM, NOW)
        credit_id = account.hold(f"b{n}", NOW + timedelta(days=1), MIA, NOW)
        account.consume(credit_id, f"b{n}", SYSTEM, NOW)
    account.add("employer", 3, "ref-last", SYSTEM, NOW)
    assert account.balance() == {"available": 3, "held": 0, "consumed": 2000, "forfeited": 0}
    assert account.balance_by_source()["insurance"]["consumed"] == 1000
    assert account.available == [[2001, 2003, "employer"]]
    assert (account.held, account.forfeited) == ({}, {})
    snapshot = Snapshot.take(account)
    assert len(json.dumps(snapshot.state, default=str)) < 1000
    assert account.credit("c7") == {"source": None, "status": "consumed", "booking_id": None}
    assert account.credit("c2004") is None


def test_released_credits_return_to_their_run_and_the_oldest_is_held_first() -> None:
    account = CreditAccount.open("mia", NOW)
    account.add("purchase", 3, "r1", SYSTEM, NOW)
    account.add("insurance", 2, "r2", SYSTEM, NOW)
    held = [account.hold(f"b{n}", NOW + timedelta(days=1), MIA, NOW) for n in range(4)]
    assert held == ["c1", "c2", "c3", "c4"]
    assert account.available == [[5, 5, "insurance"]]
    account.release("c2", "b1", SYSTEM, NOW)
    account.release("c1", "b0", SYSTEM, NOW)
    account.release("c3", "b2", SYSTEM, NOW)
    assert account.available == [[1, 3, "purchase"], [5, 5, "insurance"]]
    account.release("c4", "b3", SYSTEM, NOW)
    assert account.available == [[1, 3, "purchase"], [4, 5, "insurance"]]
    assert account.first_available() == "c1"
    assert account.credit("c4") == {"source": "insurance", "status": "available", "booking_id": None}


def test_a_forfeited_credit_stays_restorable_and_is_restored_to_available() -> None:
    account = CreditAccount.open("mia", NOW)
    account.add("purchase", 2, "r1", SYSTEM, NOW)
    account.hold("b1", NOW + timedelta(days=1), MIA, NOW)
    account.forfeit("c1", "b1", "late cancel", MIA, NOW)
    assert account.credit("c1") == {"source": "purchase", "status": "forfeited", "booking_id": "b1"}
    account.restore("c1", "b1", "goodwill", OPERATOR, NOW + timedelta(hours=1))
    assert account.balance() == {"available": 2, "held": 0, "consumed": 0, "forfeited": 0}
    assert account.available == [[1, 2, "purchase"]]


def test_the_audit_ledger_folds_every_credit_from_the_events() -> None:
    account = CreditAccount.open("mia", NOW)
    account.add("purchase", 2, "r1", SYSTEM, NOW)
    account.hold("b1", NOW + timedelta(days=1), MIA, NOW)
    account.consume("c1", "b1", SYSTEM, NOW)
    events = account.collect_events()
    assert ledger_credits(events) == {
        "c1": {"source": "purchase", "status": "consumed", "booking_id": "b1"},
        "c2": {"source": "purchase", "status": "available", "booking_id": None},
    }


def test_a_snapshot_of_an_older_shape_is_ignored_and_a_current_one_restored() -> None:
    """Versions 1 (every credit) and 2 (bounded, without the references of additions made
    before CreditReference existed) are replayed from the events; version 3 is restored."""
    account = CreditAccount.open("mia", NOW)
    account.add("purchase", 2, "r1", SYSTEM, NOW)
    account.hold("b1", NOW + timedelta(days=1), MIA, NOW)
    snapshot = Snapshot.take(account)
    restored_account = restored(snapshot)
    assert isinstance(restored_account, CreditAccount)
    assert restored_account.held == {"c1": ["purchase", "b1"]}
    assert restored_account.balance() == account.balance()

    version_2 = {k: v for k, v in snapshot.state.items() if k != "unrecorded_references"}
    version_1 = {k: v for k, v in version_2.items() if k in ("_created_on", "_modified_on", "member_id")}
    version_1["credits"] = {"c1": {"source": "purchase", "status": "held", "booking_id": "b1"}}
    for state in ({**version_2, "class_version": 2}, version_1):
        old = Snapshot(
            originator_id=snapshot.originator_id,
            originator_version=snapshot.originator_version,
            timestamp=snapshot.timestamp,
            topic=snapshot.topic,
            state=state,
        )
        assert restored(old) is None
