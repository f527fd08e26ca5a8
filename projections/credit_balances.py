"""Credit balances view: per member and source, how many credits are available, held,
consumed and forfeited, and how many were restored.

Applies CreditAccount events only. A credit's source is known only from its
``CreditsAdded`` event, so the view keeps each credit's source in a helper table, and the
account's member and credit count in another. A credit's source never changes, so it is
also cached in memory across batches (a fact derived from the events, true even if the
batch that learnt it rolls back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from domain.credits import CREDIT_MOVES, SOURCES, CreditAccount
from projections.buffer import CHUNK, RowBuffer, insert_rows
from projections.view import Handler, View

CACHE_LIMIT = 200_000
COUNTS = ("available", "held", "consumed", "forfeited", "restored")

# status moves of one credit: (count decremented, count incremented), from the domain's table
MOVES: dict[type, tuple[str, str]] = {
    event: (move.leaves, move.enters) for event, move in CREDIT_MOVES.items()
}


class CreditBalances(View):
    name = "credit_balances"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sources: dict[tuple[str, str], str] = {}
        accounts, credits, balances = self.tables
        self._accounts_with_balances = (
            sa.select(accounts, *(column.label(f"b_{column.name}") for column in balances.columns))
            .outerjoin(balances, balances.c.member_id == accounts.c.member_id)
            .where(accounts.c.account_id.in_(sa.bindparam("keys", expanding=True)))
        )
        self._source_of = sa.select(credits.c.source).where(
            credits.c.member_id == sa.bindparam("key_member"),
            credits.c.credit_id == sa.bindparam("key_credit"),
        )

    def handlers(self) -> Mapping[type, Handler]:
        return {
            CreditAccount.AccountOpened: self.account_opened,
            CreditAccount.CreditsAdded: self.credits_added,
            **dict.fromkeys(MOVES, self.credit_moved),
        }

    def start_batch(self) -> None:
        self.accounts = RowBuffer(self.tables[0], "account_id", bulk=self.bulk)
        self.balances = RowBuffer(self.tables[2], "member_id", bulk=self.bulk)
        self.new_credits: list[dict[str, str]] = []

    def prefetch(self, conn: sa.Connection, events: Sequence[Any]) -> None:
        """Each account of the batch with its member's balances: one statement, not two, per chunk."""
        opened = self.created_in(events, CreditAccount.AccountOpened)
        wanted = sorted({self.aggregate_id(e) for e in events} - opened)
        accounts, _, balances = self.tables
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            found: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
            for row in conn.execute(self._accounts_with_balances, {"keys": chunk}):
                values = row._mapping
                _, rows = found.setdefault(
                    values["account_id"], ({c.name: values[c.name] for c in accounts.columns}, [])
                )
                if values["b_member_id"] is not None:
                    rows.append({c.name: values[f"b_{c.name}"] for c in balances.columns})
            for account_id in chunk:
                if account_id not in found:
                    self.accounts.load(account_id, [])
                    continue
                account, rows = found[account_id]
                self.accounts.load(account_id, [account])
                self.balances.load(account["member_id"], rows)

    def flush(self, conn: sa.Connection) -> None:
        self.accounts.flush(conn)
        insert_rows(conn, self.tables[1], self.new_credits, bulk=self.bulk)
        self.balances.flush(conn)

    def account_opened(self, conn: sa.Connection, event: CreditAccount.AccountOpened) -> None:
        account_id = self.aggregate_id(event)
        self.accounts.create(
            account_id, [{"account_id": account_id, "member_id": event.member_id, "credits": 0}]
        )
        zero = dict.fromkeys(COUNTS, 0)
        self.balances.create(
            event.member_id, [{"member_id": event.member_id, "source": s, **zero} for s in SOURCES]
        )

    def credits_added(self, conn: sa.Connection, event: CreditAccount.CreditsAdded) -> None:
        account = self._account(conn, self.aggregate_id(event))
        member_id, first = account["member_id"], account["credits"] + 1
        for number in range(first, first + event.count):
            credit = {"member_id": member_id, "credit_id": f"c{number}", "source": event.source}
            self.new_credits.append(credit)
            self._remember(member_id, credit["credit_id"], event.source)
        account["credits"] += event.count
        self.accounts.put(account["account_id"], [account])
        self._change(conn, member_id, event.source, available=event.count)

    def credit_moved(self, conn: sa.Connection, event: Any) -> None:
        member_id = self._account(conn, self.aggregate_id(event))["member_id"]
        before, after = MOVES[type(event)]
        changes = {before: -1, after: 1}
        if isinstance(event, CreditAccount.CreditRestored):
            changes["restored"] = 1
        self._change(conn, member_id, self._source(conn, member_id, event.credit_id), **changes)

    def _account(self, conn: sa.Connection, account_id: str) -> dict[str, Any]:
        account = self.accounts.one(conn, account_id)
        if account is None:
            raise LookupError(f"credit account {account_id} has an event before AccountOpened")
        return account

    def _change(self, conn: sa.Connection, member_id: str, source: str, **deltas: int) -> None:
        rows = self.balances.get(conn, member_id)
        for row in rows:
            if row["source"] == source:
                for name, delta in deltas.items():
                    row[name] += delta
        self.balances.put(member_id, rows)

    def _source(self, conn: sa.Connection, member_id: str, credit_id: str) -> str:
        key = (member_id, credit_id)
        if key not in self._sources:
            source = conn.execute(self._source_of, {"key_member": member_id, "key_credit": credit_id})
            self._remember(member_id, credit_id, source.scalar_one())
        return self._sources[key]

    def _remember(self, member_id: str, credit_id: str, source: str) -> None:
        if len(self._sources) >= CACHE_LIMIT:
            self._sources.clear()
        self._sources[(member_id, credit_id)] = source
