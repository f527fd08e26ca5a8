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
from types import FrameType

from tqdm import tqdm

from entrypoints.bootstrap import boot
from entrypoints.settings import Settings
from projections.catalog import VIEW_NAMES
from projections.rebuild import rebuild_views
from projections.runner import TRANSIENT_ERRORS
from projections.verify import verify_views


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = subparsers.add_parser("project", help="apply recorded events to the views, then follow")
    project.add_argument("--poll-interval", type=float, default=0.2, help="seconds between polls (0.2)")
    project.add_argument("--batch-size", type=int, default=500, help="events per transaction (500)")
    project.set_defaults(func=run_project)

    rebuild = subparsers.add_parser("rebuild", help="rebuild a view (or all) from the events")
    rebuild.add_argument("name", nargs="?", choices=VIEW_NAMES, help="the view; all when omitted")
    rebuild.set_defaults(func=run_rebuild)

    verify = subparsers.add_parser("verify", help="rebuild every view aside and report differences")
    verify.set_defaults(func=run_verify)


def run_project(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("booking.projections").info("signal %d: stopping after this batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        parts = boot(settings)
        runner = parts.projections_runner(args.poll_interval, batch_size=args.batch_size)
    except TRANSIENT_ERRORS as error:
        print(f"booking: cannot start projecting, database unavailable: {error}", file=sys.stderr)
        return 1
    try:
        runner.run_forever(stop)
    except TRANSIENT_ERRORS as error:
        print(f"booking: projections stopped, database unavailable: {error}", file=sys.stderr)
        return 1
    finally:
        parts.close()
    return 0


def run_rebuild(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    names = [args.name] if args.name else None
    bar = tqdm(unit="event", desc=f"rebuild {args.name or 'all views'}")
    try:
        replayed = rebuild_views(
            settings.database_url,
            names,
            on_start=lambda total: setattr(bar, "total", total),
            on_progress=bar.update,
        )
    finally:
        bar.close()
    print(f"rebuilt {', '.join(names or VIEW_NAMES)} from {replayed} events")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    differences = verify_views(Settings.from_env().database_url)
    for line in differences:
        print(line)
    if differences:
        print(f"booking: {len(differences)} difference(s) between the views and a rebuild", file=sys.stderr)
        return 1
    print("every view equals a rebuild from the events")
    return 0
