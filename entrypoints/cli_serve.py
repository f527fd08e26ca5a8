"""``booking serve``: the HTTP API, and on the embedded default the whole service in one process.

On SQLite it also follows the events with the projections and runs the deadline scheduler
in this process (``--api-only`` turns that off); on PostgreSQL it runs only the API, beside
``booking project`` and ``booking schedule``. It never starts open: without configured tokens
it generates one on SQLite and refuses to start on PostgreSQL. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import signal
import threading
from types import FrameType
from typing import Any

from entrypoints.bootstrap import Booted, booted
from entrypoints.settings import Settings, SettingsError

GENERATED_ROLE = "operator"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP API (on SQLite also the projections, the scheduler and the webhook deliverer)",
    )
    parser.add_argument("--host", help="interface to listen on (default BOOKING_HTTP_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default BOOKING_HTTP_PORT or 8000)")
    parser.add_argument(
        "--api-only",
        action="store_true",
        help="on SQLite, do not run the projections and the scheduler in this process",
    )
    parser.set_defaults(func=run)


def with_tokens(settings: Settings) -> tuple[Settings, str | None]:
    """The settings with at least one API token, and the token generated for this run if any."""
    if settings.api_tokens:
        return settings, None
    if not settings.is_embedded:
        raise SettingsError(
            "no API tokens configured: set BOOKING_API_TOKENS (token:role,...) or "
            "BOOKING_API_TOKENS_FILE; booking serve never starts open"
        )
    token = secrets.token_urlsafe(32)
    return dataclasses.replace(settings, api_tokens=((token, GENERATED_ROLE),)), token


class InProcessWorkers:
    """The projections runner (a thread), the deadline scheduler and the webhook deliverer
    (a thread), for the embedded default."""

    def __init__(self, parts: Booted) -> None:
        self.runner = parts.projections_runner()
        self.scheduler = parts.deadline_scheduler()
        self.deliverer = parts.webhook_deliverer()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.runner.run_forever, args=(self._stop,), name="projections", daemon=True
        )
        self._delivery = threading.Thread(
            target=self.deliverer.run_forever, args=(self._stop,), name="webhooks", daemon=True
        )

    def start(self) -> None:
        self.runner.catch_up()
        self._thread.start()
        self.scheduler.start()
        self._delivery.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self._stop.set()
        self._thread.join(timeout=10)
        self._delivery.join(timeout=20)


def run(args: argparse.Namespace) -> int:

    from entrypoints.http.app import create_app
    from entrypoints.http.logs import configure_logging
    from entrypoints.http.server import server as bounded_server

    settings, generated = with_tokens(Settings.from_env())
    host = args.host or settings.http_host
    port = args.port if args.port is not None else settings.http_port
    configure_logging()
    with booted(settings) as parts:
        workers: InProcessWorkers | None = None
        app: Any = None
        try:
            app = create_app(settings, parts.service, parts.read_models)
            if settings.is_embedded and not args.api_only:
                workers = InProcessWorkers(parts)
                workers.start()
                app.state.scheduler = workers.scheduler
            server = bounded_server(app, host, port, settings.http_max_connections)
            _announce(host, port, generated, workers is not None)
            _stop_quietly_on(signal.SIGTERM, signal.SIGINT)
            server.run()
            return 0 if server.started else 1
        finally:
            if workers is not None:
                workers.stop()
            if app is not None and getattr(app.state, "commit_signal", None) is not None:
                app.state.commit_signal.close()


def _announce(host: str, port: int, token: str | None, everything: bool) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"booking API listening on http://{shown}:{port} (OpenAPI document at /docs)", flush=True)
    if token is not None:
        print(
            f"API token for this run (role {GENERATED_ROLE}; set BOOKING_API_TOKENS to choose your own):\n"
            f"  Authorization: Bearer {token}",
            flush=True,
        )
    if everything:
        print(
            "also running here: the projections, the deadline scheduler and the webhook deliverer "
            "(embedded SQLite)",
            flush=True,
        )


def _stop_quietly_on(*signals: signal.Signals) -> None:
    """uvicorn re-raises the stopping signal after a graceful shutdown; let it land here instead."""

    def ignore(number: int, frame: FrameType | None) -> None:
        return None

    for number in signals:
        signal.signal(number, ignore)
