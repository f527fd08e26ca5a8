"""Prometheus metrics (``prometheus-client``): what each process exposes, read when scraped.

The API serves them at ``GET /metrics``; ``booking project`` and ``booking schedule`` on
``--metrics-port``. Collectors read the state they report at scrape time (view positions,
the scheduler's counts, pool usage), so nothing on a hot path changes to feed them; only
the HTTP request counter and latency histogram are updated per request, and the service's
plain command counters (``commands.counts``) per command.

``booking serve --workers N`` runs N API processes behind one socket, and a scrape reaches any
one of them. There the client library's multiprocess mode gives one answer for all: the
parent makes a fresh directory and names it in ``PROMETHEUS_MULTIPROC_DIR`` before it starts
the workers; each worker's counters, histograms and gauges live in files there, summed at
scrape (``MultiProcessCollector``), so a counter never goes backwards between two scrapes that
two different workers answered. What is read from the database at scrape time (view positions
and lags) is the same from any worker and stays a plain collector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from entrypoints.settings import shared_metrics_dir


def multiprocess_dir() -> str | None:
    """The directory this process shares its metrics through (``booking serve --workers``), if any.

    The client library reads the same variable when it is first imported: that import must
    come after the variable is set, which a worker started by ``spawn`` guarantees."""
    return shared_metrics_dir()


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "booking_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "booking_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class ViewsCollector(Collector):
    """Each view's position and lag (events behind the head), and whether it is stalled."""

    def __init__(
        self,
        head: Callable[[], int],
        positions: Callable[[], dict[str, int]],
        stalled: Callable[[], set[str]],
        versions: Callable[[], dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        """``versions``: ``ReadModels.schema_versions``, for the rebuilds under way."""
        self.head, self.positions, self.stalled, self.versions = head, positions, stalled, versions

    def collect(self) -> Iterator[Any]:
        position = GaugeMetricFamily("booking_projection_position", "last event applied", labels=["view"])
        lag = GaugeMetricFamily(
            "booking_projection_lag", "events between the view and the head", labels=["view"]
        )
        stalled = GaugeMetricFamily(
            "booking_projection_stalled", "1 when the view cannot apply an event", labels=["view"]
        )
        rebuilding = GaugeMetricFamily(
            "booking_projection_rebuilding",
            "1 while the view's new version is built beside the live tables",
            labels=["view"],
        )
        rebuilt = GaugeMetricFamily(
            "booking_projection_rebuild_position", "how far the new version has replayed", labels=["view"]
        )
        try:
            head, positions, stalls = self.head(), self.positions(), self.stalled()
            versions = self.versions() if self.versions is not None else {}
        except Exception:  # the database is unreachable: report nothing rather than fail the scrape
            return
        for view, at in sorted(positions.items()):
            position.add_metric([view], at)
            lag.add_metric([view], max(0, head - at))
            stalled.add_metric([view], 1 if view in stalls else 0)
            version = versions.get(view)
            if version is not None:
                outdated = version["schema_version"] != version["expected"]
                rebuilding.add_metric([view], 1 if outdated else 0)
                rebuilt.add_metric([view], (version["building"] or {}).get("position", 0) if outdated else at)
        yield from (position, lag, stalled)
        if versions:
            yield from (rebuilding, rebuilt)


class SchedulerCollector(Collector):
    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self.health = health

    def collect(self) -> Iterator[Any]:
        health = self.health()
        yield GaugeMetricFamily(
            "booking_scheduler_pending", "deadlines pending", value=health.get("pending", 0)
        )
        overdue = (health.get("oldest_overdue") or {}).get("overdue_seconds", 0)
        yield GaugeMetricFamily(
            "booking_scheduler_oldest_overdue_seconds", "how late the oldest due deadline is", value=overdue
        )
        yield CounterMetricFamily("booking_scheduler_fires", "deadlines fired", value=health.get("fired", 0))
        yield CounterMetricFamily(
            "booking_scheduler_failures", "deadline fires that failed", value=health.get("failed", 0)
        )


class CommandsCollector(Collector):
    """Commands by name and outcome (accepted, replayed, refused with its code, conflict,
    failed), version conflicts met at save and attempts taken again, from ``CommandCounts``."""

    def __init__(self, counts: Callable[[], Any]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Any]:
        outcomes, conflicts, retries = self.counts().snapshot()
        commands = CounterMetricFamily(
            "booking_commands", "commands by name and outcome", labels=["command", "outcome", "code"]
        )
        for (command, outcome, code), count in sorted(outcomes.items()):
            commands.add_metric([command, outcome, code], count)
        version_conflicts = CounterMetricFamily(
            "booking_command_version_conflicts",
            "saves refused by a concurrent change to the same aggregate",
            labels=["command"],
        )
        for command, count in sorted(conflicts.items()):
            version_conflicts.add_metric([command], count)
        attempts = CounterMetricFamily(
            "booking_command_retries", "command attempts taken again", labels=["command"]
        )
        for command, count in sorted(retries.items()):
            attempts.add_metric([command], count)
        yield from (commands, version_conflicts, attempts)


class PoolsCollector(Collector):
    """Connections in use and open in the process's event-store pool and read-model engine."""

    def __init__(self, service: Any, engine: Callable[[], Any]) -> None:
        self.service, self.engine = service, engine

    def collect(self) -> Iterator[Any]:
        in_use = GaugeMetricFamily(
            "booking_db_connections_in_use", "connections checked out", labels=["pool"]
        )
        pool = getattr(getattr(getattr(self.service, "recorder", None), "datastore", None), "pool", None)
        if pool is not None and hasattr(pool, "get_stats"):
            stats = pool.get_stats()
            in_use.add_metric(["event_store"], stats.get("pool_size", 0) - stats.get("pool_available", 0))
        engine = self.engine()
        if engine is not None and hasattr(engine.pool, "checkedout"):
            in_use.add_metric(["read_models"], engine.pool.checkedout())
        yield in_use


class SharedCommandCounts:
    """The service's command counts copied into the library's counters, which multiprocess mode
    shares through files: ``CommandsCollector`` under ``--workers``. ``sync`` adds what was
    counted since its last call (the commands a request ran), so the counters only grow."""

    def __init__(self, counts: Callable[[], Any]) -> None:
        self.counts = counts
        self._lock = threading.Lock()
        self._synced: tuple[dict[Any, int], dict[Any, int], dict[Any, int]] = ({}, {}, {})
        self._counters = (
            Counter(
                "booking_commands",
                "commands by name and outcome",
                ["command", "outcome", "code"],
                registry=None,
            ),
            Counter(
                "booking_command_version_conflicts",
                "saves refused by a concurrent change to the same aggregate",
                ["command"],
                registry=None,
            ),
            Counter("booking_command_retries", "command attempts taken again", ["command"], registry=None),
        )

    def sync(self) -> None:
        with self._lock:
            now = self.counts().snapshot()
            for counter, current, before in zip(self._counters, now, self._synced, strict=True):
                for labels, count in current.items():
                    if count > before.get(labels, 0):
                        key = labels if isinstance(labels, tuple) else (labels,)
                        counter.labels(*key).inc(count - before.get(labels, 0))
            self._synced = now


class SharedPools:
    """Connections in use in each API process's pools, summed over the live processes
    (``livesum``: a stopped worker's last value is dropped once it is marked dead)."""

    def __init__(self, service: Any, engine: Callable[[], Any]) -> None:
        self.source = PoolsCollector(service, engine)
        self.gauge = Gauge(
            "booking_db_connections_in_use",
            "connections checked out",
            ["pool"],
            registry=None,
            multiprocess_mode="livesum",
        )

    def sync(self) -> None:
        for family in self.source.collect():
            for sample in family.samples:
                self.gauge.labels(sample.labels["pool"]).set(sample.value)


def serve_metrics(port: int, registry: CollectorRegistry) -> None:
    """Expose ``registry`` on ``port`` (all interfaces) from a daemon thread."""
    start_http_server(port, registry=registry)
