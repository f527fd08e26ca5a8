"""``GET /metrics``: the API process's metrics in the Prometheus exposition format.

Open like ``/health`` (counts, never data): requests by route and status with latencies,
commands by name and outcome with version conflicts and retries,
each view's position, lag and stall, the pools' connections in use, and the in-process
scheduler's counts when ``booking serve`` runs one (embedded SQLite).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from entrypoints.metrics import (
    CommandsCollector,
    HttpMetrics,
    PoolsCollector,
    SchedulerCollector,
    ViewsCollector,
)


def install_metrics(app: FastAPI, service: Any, read_models: Any) -> None:
    registry = CollectorRegistry()
    app.state.metrics = HttpMetrics(registry)
    registry.register(
        ViewsCollector(
            lambda: service.recorder.max_notification_id() or 0,
            lambda: read_models.positions(),
            lambda: set(read_models.stalls()),
            lambda: read_models.schema_versions(),
        )
    )
    registry.register(CommandsCollector(lambda: service.command_counts))
    registry.register(PoolsCollector(service, lambda: read_models.engine))
    registry.register(
        SchedulerCollector(lambda: app.state.scheduler.health() if app.state.scheduler is not None else {})
    )

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
