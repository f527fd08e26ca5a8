"""``booking deliver``: the webhook delivery process (its own service on PostgreSQL).

Follows the event log and posts every matching event to every registered endpoint (see
``webhooks.delivery``). Safe to kill at any moment: positions advance only after a 2xx, so
a restart re-sends what was not acknowledged, with the same ``webhook-id``. Exits 0 on
SIGTERM or SIGINT after the requests in flight. ``--alive-file`` is touched after every round
that read the endpoint registry: a container health check tests how recently (it has no port).
On the embedded SQLite default, ``booking serve`` runs the same deliverer in its own process.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from entrypoints.cli_arguments import positive_seconds, stop_on
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from webhooks.delivery import DeliverySettings

log = logging.getLogger("booking.webhooks")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("deliver", help="post events to the registered webhook endpoints")
    parser.add_argument(
        "--poll-interval",
        type=positive_seconds,
        default=0.2,
        help="seconds between looks for new events (0.2)",
    )
    parser.add_argument(
        "--refresh-interval",
        type=positive_seconds,
        default=1.0,
        help="seconds between re-reads of the registered endpoints (1)",
    )
    parser.add_argument(
        "--retry-base",
        type=positive_seconds,
        default=5.0,
        help="first retry after about this many seconds (5)",
    )
    parser.add_argument(
        "--retry-cap",
        type=positive_seconds,
        default=3600.0,
        help="longest pause between retries, seconds (3600)",
    )
    parser.add_argument(
        "--alive-file",
        type=Path,
        help="touch this file after every round that read the registry (for a health check)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from entrypoints.bootstrap import booted
    from entrypoints.http.logs import configure_logging

    settings = Settings.from_env()
    configure_logging()
    stop = threading.Event()
    stop_on(stop, signal.SIGTERM, signal.SIGINT)
    with booted(settings) as parts:
        deliverer = parts.webhook_deliverer(args)
        log.info("delivering webhooks")
        alive_file: Path | None = args.alive_file
        deliverer.run_forever(stop, alive=alive_file.touch if alive_file is not None else None)
    return 0


def delivery_settings(settings: Settings, args: argparse.Namespace | None = None) -> DeliverySettings:
    """The deliverer's settings: the environment's, with the command line's intervals."""
    from webhooks.delivery import DeliverySettings, RetryPolicy

    retry = RetryPolicy(
        base=getattr(args, "retry_base", 5.0),
        cap=getattr(args, "retry_cap", 3600.0),
        give_up_after=settings.webhook_retry_for.total_seconds(),
    )
    return DeliverySettings(
        poll_interval=getattr(args, "poll_interval", 0.2),
        refresh_interval=getattr(args, "refresh_interval", 1.0),
        timeout=settings.webhook_timeout.total_seconds(),
        private_networks=settings.webhook_private_networks,
        retry=retry,
    )
