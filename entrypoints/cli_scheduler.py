"""``booking schedule``: the deadline scheduler as its own process (PostgreSQL deployments).

It reads the pending-deadlines view that ``booking project`` keeps up to date (it never runs
the projections itself), fires every deadline already due at once, follows the view while
running, logs its health every ``--health-interval`` seconds, records a heartbeat (counts and
last fire) every ``--heartbeat-interval`` seconds for the API's ``/health``, and stops cleanly with exit
status 0 on SIGTERM or SIGINT.

Several may run at once and share the work: each fires only the deadlines of its share of the
bookings among the schedulers whose heartbeat is live (within ``LIVE_BEATS`` beats), and takes
over the share of one that stops beating (see ``scheduler.process``). Each deadline is
recorded once whatever the share. Give them the same ``--heartbeat-interval``.
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
    from datetime import timedelta

    from scheduler.heartbeat import Heartbeat
    from scheduler.process import DeadlineScheduler

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
        help="seconds between heartbeats, recorded for the API's /health and for the other"
        " schedulers, which take over this one's share after a few missed beats (default 2)",
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
        from scheduler.heartbeat import Heartbeat, live_window

        heartbeat = Heartbeat(parts.read_models.engine, parts.clock)
        scheduler = parts.deadline_scheduler(
            args.refresh_interval, workers=args.workers, scheduler_id=heartbeat.scheduler_id
        )
        beat_every = min(args.heartbeat_interval, args.health_interval)
        window = live_window(beat_every, settings.clock_speed)
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
        try:
            _beat(heartbeat, scheduler, window)  # before the first poll: fire only our share
            scheduler.start()
            _beat(heartbeat, scheduler, window)
            log.info("health", extra={"fields": scheduler.health()})
            next_log = time.monotonic() + args.health_interval
            while not stop.wait(beat_every):
                health = _beat(heartbeat, scheduler, window)
                if time.monotonic() >= next_log:
                    log.info("health", extra={"fields": health})
                    next_log += args.health_interval
        finally:
            scheduler.stop()
    return 0


def _beat(heartbeat: Heartbeat, scheduler: DeadlineScheduler, window: timedelta) -> dict[str, Any]:
    """Record the scheduler's health and share the deadlines among the live schedulers."""
    health = scheduler.health()
    try:
        heartbeat.beat(health)
        scheduler.share_with(heartbeat.live(window))
    except Exception as error:  # the database is away: keep firing; /health shows the silence
        log.warning("could not record the heartbeat: %s", type(error).__name__)
    return health
