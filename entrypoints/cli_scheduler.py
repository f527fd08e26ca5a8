"""``booking schedule``: the deadline scheduler as its own process (PostgreSQL deployments).

It reads the pending-deadlines view that ``booking project`` keeps up to date (it never runs
the projections itself), fires every deadline already due at once, follows the view while
running, logs its health every ``--health-interval`` seconds, records a heartbeat (counts and
last fire) every ``--heartbeat-interval`` seconds for the API's ``/health``, and stops cleanly with exit
status 0 on SIGTERM or SIGINT. Several may run at once: each deadline is still recorded once.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from entrypoints.bootstrap import booted
from entrypoints.cli_arguments import at_least_one, positive_seconds, stop_on
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from scheduler.heartbeat import Heartbeat

log = logging.getLogger("booking.scheduler")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("schedule", help="fire booking deadlines as they fall due")
    parser.add_argument(
        "--refresh-interval",
        type=positive_seconds,
        default=1.0,
        help="seconds between re-reads of the pending deadlines due soon (default 1)",
    )
    parser.add_argument(
        "--health-interval",
        type=positive_seconds,
        default=10.0,
        help="seconds between health log lines (default 10)",
    )
    parser.add_argument(
        "--workers", type=at_least_one, default=8, help="deadlines recorded concurrently (default 8)"
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=positive_seconds,
        default=2.0,
        help="seconds between heartbeats recorded for the API's /health (default 2)",
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from entrypoints.http.logs import configure_logging

    settings = Settings.from_env()
    configure_logging()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    stop = threading.Event()
    stop_on(stop, signal.SIGTERM, signal.SIGINT)
    with booted(settings) as parts:
        scheduler = parts.deadline_scheduler(args.refresh_interval, workers=args.workers)
        if args.metrics_port:
            from prometheus_client import CollectorRegistry

            from entrypoints.metrics import (
                CommandsCollector,
                PoolsCollector,
                SchedulerCollector,
                serve_metrics,
            )

            registry = CollectorRegistry()
            registry.register(SchedulerCollector(scheduler.health))
            registry.register(CommandsCollector(lambda: parts.service.command_counts))
            registry.register(PoolsCollector(parts.service, lambda: parts.read_models.engine))
            serve_metrics(args.metrics_port, registry)
        from scheduler.heartbeat import Heartbeat

        heartbeat = Heartbeat(parts.read_models.engine, parts.clock)
        try:
            scheduler.start()
            _beat(heartbeat, scheduler.health())
            log.info("health", extra={"fields": scheduler.health()})
            next_log = time.monotonic() + args.health_interval
            while not stop.wait(min(args.heartbeat_interval, args.health_interval)):
                health = scheduler.health()
                _beat(heartbeat, health)
                if time.monotonic() >= next_log:
                    log.info("health", extra={"fields": health})
                    next_log += args.health_interval
        finally:
            scheduler.stop()
    return 0


def _beat(heartbeat: Heartbeat, health: dict[str, Any]) -> None:
    try:
        heartbeat.beat(health)
    except Exception as error:  # the database is away: keep firing; /health shows the silence
        log.warning("could not record the heartbeat: %s", type(error).__name__)
