"""``booking serve``: the HTTP API, and on the embedded default the whole service in one process.

On SQLite it also follows the events with the projections and runs the deadline scheduler
in this process (``--api-only`` turns that off); on PostgreSQL it runs only the API, beside
``booking project`` and ``booking schedule``. ``--workers N`` runs N API processes sharing one
listening socket (default: the number of cores on PostgreSQL, one on SQLite); they are
stateless and share nothing but the database, whose version checks keep them consistent,
and a temporary directory of metrics, so that ``/metrics`` answers for all of them.
It never starts open: without configured tokens it generates one on SQLite and refuses to
start on PostgreSQL. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from types import FrameType
from typing import Any

from entrypoints.bootstrap import Booted, booted
from entrypoints.cli_arguments import at_least_one
from entrypoints.settings import Settings, SettingsError, share_metrics_through

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
    parser.add_argument(
        "--workers",
        type=at_least_one,
        help="API processes (default: the number of cores on PostgreSQL, 1 on SQLite)",
    )
    parser.set_defaults(func=run)


def default_workers(settings: Settings) -> int:
    return 1 if settings.is_embedded else max(1, os.cpu_count() or 1)


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
    settings, generated = with_tokens(Settings.from_env())
    host = args.host or settings.http_host
    port = args.port if args.port is not None else settings.http_port
    count = args.workers or default_workers(settings)
    if count == 1:
        return _serve(settings, host, port, generated, in_process=not args.api_only)
    return _serve_processes(settings, host, port, generated, count, in_process=not args.api_only)


def _serve_processes(
    settings: Settings, host: str, port: int, generated: str | None, count: int, in_process: bool
) -> int:
    """``count`` API processes on one socket bound here; on SQLite the projections, the
    scheduler and the webhook deliverer run once, in this process. SIGTERM or SIGINT stops all."""
    import multiprocessing

    from entrypoints.http.logs import configure_logging

    configure_logging()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    context = multiprocessing.get_context("spawn")
    metrics_dir = _shared_metrics_dir()  # before the workers start: they inherit the variable
    processes = [
        context.Process(target=_serve_worker, args=(settings, sock), name=f"api-{n}", daemon=False)
        for n in range(count)
    ]
    stopping = threading.Event()

    def stop(number: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = False
    with booted(settings) as parts:
        workers: InProcessWorkers | None = None
        try:
            for process in processes:
                process.start()
            if settings.is_embedded and in_process:
                workers = InProcessWorkers(parts)
                workers.start()
            _announce(host, port, generated, workers is not None, count)
            while not stopping.is_set():
                if any(not p.is_alive() for p in processes):
                    failed = True  # a worker died: stop the rest, exit non-zero for the supervisor
                    break
                stopping.wait(0.5)
        finally:
            for process in processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGTERM)
            for process in processes:
                process.join(30)
                if process.is_alive():
                    process.kill()
                    process.join()
                if process.pid is not None:
                    _forget_metrics_of(process.pid, metrics_dir)
            if workers is not None:
                workers.stop()
            sock.close()
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 1 if failed else 0


def _shared_metrics_dir() -> str:
    """A fresh directory for the workers' metrics (the client library's multiprocess mode), named
    in ``PROMETHEUS_MULTIPROC_DIR`` for the workers to inherit: every worker then answers
    ``/metrics`` for all of them. Fresh, so no earlier run's counts are added in."""
    directory = tempfile.mkdtemp(prefix="booking-metrics-")
    share_metrics_through(directory)
    return directory


def _forget_metrics_of(pid: int, directory: str) -> None:
    """Drop a stopped worker's live gauges (its counters stay counted)."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, directory)


def _serve_worker(settings: Settings, sock: socket.socket) -> None:
    """One API process of ``--workers``: the app on the inherited socket."""
    from entrypoints.http.app import create_app
    from entrypoints.http.logs import configure_logging
    from entrypoints.http.server import server as bounded_server

    configure_logging()
    with booted(settings) as parts:
        app: Any = None
        try:
            app = create_app(settings, parts.service, parts.read_models)
            server = bounded_server(
                app, settings.http_host, settings.http_port, settings.http_max_connections
            )
            _stop_quietly_on(signal.SIGTERM, signal.SIGINT)
            server.run(sockets=[sock])
        finally:
            if app is not None and getattr(app.state, "commit_signal", None) is not None:
                app.state.commit_signal.close()


def _serve(settings: Settings, host: str, port: int, generated: str | None, in_process: bool) -> int:
    from entrypoints.http.app import create_app
    from entrypoints.http.logs import configure_logging
    from entrypoints.http.server import server as bounded_server

    configure_logging()
    with booted(settings) as parts:
        workers: InProcessWorkers | None = None
        app: Any = None
        try:
            app = create_app(settings, parts.service, parts.read_models)
            if settings.is_embedded and in_process:
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


def _announce(host: str, port: int, token: str | None, everything: bool, processes: int = 1) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    served = f", {processes} processes" if processes > 1 else ""
    print(f"booking API listening on http://{shown}:{port} (OpenAPI document at /docs{served})", flush=True)
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
