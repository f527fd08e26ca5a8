"""``GET /metrics``: the API process's metrics in the Prometheus exposition format.

Open like ``/health`` (counts, never data): requests by route and status with latencies,
commands by name and outcome with version conflicts and retries,
each view's position, lag and stall, the pools' connections in use, and the in-process
scheduler's counts when ``booking serve`` runs one (embedded SQLite).

Under ``booking serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set by the parent) every
worker answers for all of them: see ``entrypoints.metrics``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from entrypoints.metrics import (
    CommandsCollector,
    HttpMetrics,
    PoolsCollector,
    SchedulerCollector,
    SharedCommandCounts,
    SharedPools,
    ViewsCollector,
    multiprocess_dir,
)


class WorkerHttpMetrics(HttpMetrics):
    """The HTTP metrics of one of several API processes, written to the shared directory; after
    each request that may have run a command, that process's command counts and pools too."""

    def __init__(self, commands: SharedCommandCounts, pools: SharedPools) -> None:
        super().__init__(None)
        self.commands, self.pools = commands, pools

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        super().observe(method, route, status, seconds)
        if method not in ("GET", "HEAD", "OPTIONS"):
            self.commands.sync()
        self.pools.sync()


def install_metrics(app: FastAPI, service: Any, read_models: Any) -> None:
    registry = CollectorRegistry()
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)
        app.state.metrics = WorkerHttpMetrics(
            SharedCommandCounts(lambda: service.command_counts),
            SharedPools(service, lambda: read_models.engine),
        )
    else:
        app.state.metrics = HttpMetrics(registry)
        registry.register(CommandsCollector(lambda: service.command_counts))
        registry.register(PoolsCollector(service, lambda: read_models.engine))
    registry.register(
        ViewsCollector(
            lambda: service.recorder.max_notification_id() or 0,
            lambda: read_models.positions(),
            lambda: set(read_models.stalls()),
            lambda: read_models.schema_versions(),
        )
    )
    registry.register(
        SchedulerCollector(lambda: app.state.scheduler.health() if app.state.scheduler is not None else {})
    )

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
