from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.clock import SystemClock
from commands.service import BookingService
from commands.webhooks import WebhookCommands
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from webhooks.store import WebhookStore


@pytest.fixture
def system_service(database_url: str) -> Iterator[BookingService]:
    service = BookingService.open(database_url, SystemClock())
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def store(database_url: str) -> Iterator[WebhookStore]:
    prepare_database(database_url)  # the store's tables are the migrations'
    engine = create_read_engine(database_url)
    try:
        yield WebhookStore(engine)
    finally:
        engine.dispose()


@pytest.fixture
def commands(system_service: BookingService, store: WebhookStore) -> WebhookCommands:
    return WebhookCommands(system_service, store)
