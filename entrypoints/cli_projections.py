"""``booking project``, ``booking rebuild [NAME]`` and ``booking verify``: run and check the views.

Thin: parse, call the projections package, render. ``project`` stops cleanly on SIGTERM or
SIGINT (the batch in flight commits or rolls back whole) and exits 1 if the database stays
unreachable.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType

from tqdm import tqdm

from entrypoints.bootstrap import Booted, boot
from entrypoints.cli_arguments import at_least_one, positive_seconds
from entrypoints.settings import Settings
from migrations.lock import LockBusy
from migrations.prepare import prepare_database
from projections.catalog import VIEW_NAMES
from projections.rebuild import RebuildFailed
from projections.runner import GATHER, TRANSIENT_ERRORS, ProjectionsRunner
from projections.upgrade import upgrade_views
from projections.verify import verify_views

log = logging.getLogger("booking.projections")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = subparsers.add_parser("project", help="apply recorded events to the views, then follow")
    project.add_argument("--poll-interval", type=float, default=0.2, help="seconds between polls (0.2)")
    project.add_argument("--batch-size", type=int, default=500, help="events per transaction (500)")
    project.add_argument(
        "--gather",
        type=float,
        default=GATHER,
        help=f"on PostgreSQL, commits less than this many seconds apart are applied two at a time ({GATHER})",
    )
    project.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    project.add_argument(
        "--give-up-after",
        type=positive_seconds,
        default=60.0,
        help="seconds the database may stay unavailable before the process exits 1 (60)",
    )
    project.set_defaults(func=run_project)

    rebuild = subparsers.add_parser("rebuild", help="rebuild a view (or all) from the events")
    rebuild.add_argument("name", nargs="?", choices=VIEW_NAMES, help="the view; all when omitted")
    rebuild.add_argument(
        "--processes",
        type=at_least_one,
        help="on PostgreSQL, at most this many processes replay the views (default: one per core)",
    )
    rebuild.set_defaults(func=run_rebuild)

    verify = subparsers.add_parser("verify", help="rebuild every view aside and report differences")
    verify.set_defaults(func=run_verify)


def run_project(args: argparse.Namespace) -> int:
    from entrypoints.http.logs import show_connection_errors

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    show_connection_errors()
    settings = Settings.from_env()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("booking.projections").info("signal %d: stopping after this batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    opened = _open_runner(settings, args, stop, args.give_up_after)
    if opened is None:
        return 0 if stop.is_set() else 1
    parts, runner = opened
    if args.metrics_port:
        from prometheus_client import CollectorRegistry

        from entrypoints.metrics import PoolsCollector, ViewsCollector, serve_metrics

        registry = CollectorRegistry()
        registry.register(
            ViewsCollector(
                runner.log.head,
                runner.positions,
                lambda: set(runner.stalled),
                parts.read_models.schema_versions,
            )
        )
        registry.register(PoolsCollector(parts.service, lambda: runner.engine))
        serve_metrics(args.metrics_port, registry)
    try:
        runner.run_forever(stop)
    except TRANSIENT_ERRORS as error:
        print(f"booking: projections stopped, database unavailable: {error}", file=sys.stderr)
        return 1
    finally:
        parts.close()
    return 0


def _open_runner(
    settings: Settings, args: argparse.Namespace, stop: threading.Event, give_up_after: float
) -> tuple[Booted, ProjectionsRunner] | None:
    """The process's parts and runner, retrying while the database refuses (down, or out of
    connections: the pool's warnings say which)."""
    started, pause = time.monotonic(), 0.5
    while not stop.is_set():
        try:
            parts = boot(settings)
            try:
                return parts, parts.projections_runner(
                    args.poll_interval,
                    batch_size=args.batch_size,
                    give_up_after=give_up_after,
                    gather=args.gather,
                )
            except BaseException:
                parts.close()
                raise
        except TRANSIENT_ERRORS as error:
            if time.monotonic() - started >= give_up_after:
                print(f"booking: cannot start projecting, database unavailable: {error}", file=sys.stderr)
                return None
            log.warning("database unavailable at start-up, retrying in %.1f s: %s", pause, error)
            stop.wait(pause)
            pause = min(pause * 2, 5.0)
    return None


def run_rebuild(args: argparse.Namespace) -> int:
    """Rebuild blue/green: the live tables keep answering until the rebuilt ones replace them."""
    settings = Settings.from_env()
    prepare_database(settings.database_url, settings.pools)
    names = [args.name] if args.name else None
    bar = tqdm(unit="event", desc=f"rebuild {args.name or 'all views'}")
    try:
        switched = upgrade_views(
            settings.database_url,
            names,
            force=True,
            on_start=lambda total: setattr(bar, "total", total),
            on_progress=bar.update,
            pools=settings.pools,
            processes=args.processes,
        )
    except LockBusy:
        print("booking: another process has been rebuilding the views for an hour", file=sys.stderr)
        return 1
    except RebuildFailed as error:  # a view cannot apply an event, or a replaying process died
        print(f"booking: rebuild failed: {error}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    print(f"rebuilt {', '.join(switched)} from the events and switched them in")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    prepare_database(settings.database_url, settings.pools)
    differences = verify_views(settings.database_url, pools=settings.pools)
    for line in differences:
        print(line)
    if differences:
        print(f"booking: {len(differences)} difference(s) between the views and a rebuild", file=sys.stderr)
        return 1
    print("every view equals a rebuild from the events")
    return 0
