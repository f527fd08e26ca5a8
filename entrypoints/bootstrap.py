"""Wiring, in one place: settings → clock → service → views → projections runner → scheduler →
webhook deliverer.

Every entry point (``booking serve``, ``schedule``, ``project``, ``deliver``, ``audit``, ``demo``)
asks this module for what it needs instead of building it, so there is one way each part is made
and each process opens one service (the projections runner reads the events through it too), on
a database ``boot`` has prepared first (``migrations.prepare``).
It starts nothing by itself and reads no environment: ``Settings.from_env`` does that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from commands.service import BookingService
from domain.time import Clock
from entrypoints.settings import Settings

if TYPE_CHECKING:
    import argparse

    import sqlalchemy as sa

    from projections.queries import ReadModels
    from projections.runner import ProjectionsRunner
    from scheduler.process import DeadlineScheduler
    from webhooks.delivery import Deliverer


@dataclass
class Booted:
    """What one process runs on; ``close`` releases it in reverse order of making."""

    settings: Settings
    clock: Clock
    service: BookingService
    _closing: ExitStack = field(default_factory=ExitStack, repr=False)
    _engine: sa.Engine | None = None
    _read_models: ReadModels | None = None

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def read_models(self) -> ReadModels:
        """The queries over the views (made on first use, on their own small engine)."""
        if self._read_models is None:
            from projections.database import create_read_engine
            from projections.queries import ReadModels

            self._engine = create_read_engine(self.database_url, self.settings.pools)
            self._closing.callback(self._engine.dispose)
            self._read_models = ReadModels(self._engine, self.clock)
        return self._read_models

    def projections_runner(self, *args: Any, **options: Any) -> ProjectionsRunner:
        """A runner over this process's service: the events are read through its recorder."""
        from projections.runner import ProjectionsRunner

        options.setdefault("pools", self.settings.pools)
        runner = ProjectionsRunner(self.database_url, *args, service=self.service, **options)
        self._closing.callback(runner.close)
        return runner

    def deadline_scheduler(self, *args: Any, **options: Any) -> DeadlineScheduler:
        from scheduler.process import DeadlineScheduler

        return DeadlineScheduler(self.service, self.read_models, self.clock, *args, **options)

    def webhook_deliverer(self, options: argparse.Namespace | None = None) -> Deliverer:
        """The webhook deliverer; ``options`` are ``booking deliver``'s intervals, if any."""
        from entrypoints.cli_deliver import delivery_settings
        from webhooks.delivery import Deliverer
        from webhooks.store import WebhookStore

        store = WebhookStore(self.read_models.engine)
        return Deliverer(self.service, store, self.clock, delivery_settings(self.settings, options))

    def close(self) -> None:
        self._closing.close()
        self.service.close()


def boot(settings: Settings, clock: Clock | None = None) -> Booted:
    """Prepare the settings' database (``migrations.prepare``: tables and migrations, under the
    schema lock), then open the service on it, with their policy and clock (or ``clock``)."""
    from migrations.prepare import prepare_database

    clock = clock or settings.clock()
    prepare_database(settings.database_url, settings.pools)
    service = BookingService.open(
        settings.database_url, clock, settings.policy, pools=settings.pools, create_tables=False
    )
    return Booted(settings, clock, service)


@contextmanager
def booted(settings: Settings, clock: Clock | None = None) -> Iterator[Booted]:
    parts = boot(settings, clock)
    try:
        yield parts
    finally:
        parts.close()
