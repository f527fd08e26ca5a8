"""Event schema evolution: an event stored in an older shape still loads, upcast on read.

The event below gained a field (``currency``) in version 2 of its class. Its stored state
from before the change has no ``class_version`` key (version 1) and no ``currency``; the
library calls ``upcast_v1_v2`` while decoding, so the aggregate sees the new shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from commands.clock import ManualClock
from commands.service import BookingService
from tests.unit.audit.test_chain import NOW


class Voucher(Aggregate):
    class Issued(Aggregate.Created):
        class_version: ClassVar[int] = 2
        amount: int
        currency: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["currency"] = "EUR"  # every voucher before version 2 was in euros

    def __init__(self, amount: int, currency: str) -> None:
        self.amount = amount
        self.currency = currency


def test_an_event_written_in_the_old_shape_loads_in_the_new_one() -> None:
    app = BookingService(ManualClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        voucher_id = uuid4()
        old_shape = app.mapper.transcoder.encode(
            {
                "timestamp": datetime(2025, 1, 1, tzinfo=UTC),
                "originator_topic": get_topic(Voucher),
                "amount": 5,
            }
        )
        assert b"currency" not in old_shape and b"class_version" not in old_shape
        app.recorder.insert_events([StoredEvent(voucher_id, 1, get_topic(Voucher.Issued), old_shape)])
        voucher: Voucher = app.repository.get(voucher_id)
        assert (voucher.amount, voucher.currency) == (5, "EUR")
        new = Voucher(amount=7, currency="GBP")
        app.save(new)
        assert b'"class_version":2' in app.recorder.select_events(new.id)[0].state
        assert app.repository.get(new.id).currency == "GBP"
    finally:
        app.close()
