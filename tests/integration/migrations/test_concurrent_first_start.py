"""The four processes of a PostgreSQL deployment started at the same moment on an empty
database, ten times over: every one becomes ready, none exits, none logs a traceback, and each
stops cleanly on SIGTERM. (Before the schema lock, two processes creating one table at once
crashed one of them with ``duplicate key value violates unique constraint
"pg_type_typname_nsp_index"`` in about one start in three.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import drop_postgres_database, new_postgres_database, require_postgres
from tests.integration.operations.support import Process, environment, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROUNDS = 10
TOKEN = "first-start-token-0123456789"


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_all(database_url: str, folder: Path) -> dict[str, tuple[Process, Callable[[], bool]]]:
    """Start the four processes back to back; each with how to tell that it is ready."""
    env = environment(BOOKING_DATABASE_URL=database_url, BOOKING_API_TOKENS=f"{TOKEN}:service")
    api, metrics = free_port(), free_port()
    serve = Process(["serve", "--port", str(api)], env, folder / "serve")
    project = Process(
        ["project", "--poll-interval", "0.1", "--metrics-port", str(metrics)], env, folder / "project"
    )
    schedule = Process(["schedule"], env, folder / "schedule")
    deliver = Process(["deliver"], env, folder / "deliver")
    return {
        "serve": (serve, lambda: answers(f"http://127.0.0.1:{api}/health")),
        # the projector serves its metrics once its runner (the views' tables and all) is open
        "project": (project, lambda: answers(f"http://127.0.0.1:{metrics}/metrics")),
        "schedule": (schedule, lambda: bool(schedule.search("deadline scheduler started"))),
        "deliver": (deliver, lambda: bool(deliver.search("delivering webhooks"))),
    }


def ready_or_exited(process: Process, ready: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: process.popen.poll() is not None or ready()


def test_api_projector_scheduler_and_deliverer_started_together_on_an_empty_database(tmp_path: Path) -> None:
    require_postgres()
    for round_ in range(ROUNDS):
        database_url = new_postgres_database()
        started: dict[str, tuple[Process, Callable[[], bool]]] = {}
        try:
            started = start_all(database_url, tmp_path / f"round-{round_}")
            for name, (process, ready) in started.items():
                wait_for(ready_or_exited(process, ready), f"round {round_}: booking {name} to be ready", 90)
            exited = {
                name: p.popen.returncode for name, (p, _) in started.items() if p.popen.poll() is not None
            }
            assert not exited, f"round {round_}: exited before being stopped: {exited}"
        finally:
            for process, _ in started.values():
                process.popen.terminate()  # all at once; ``stop`` then waits for each
            codes = {name: process.stop() for name, (process, _) in started.items()}
            drop_postgres_database(database_url)
        for name, (process, _) in started.items():
            output = process.stdout() + process.stderr()
            assert "Traceback" not in output, f"round {round_}: booking {name}: {output[-3000:]}"
            assert codes[name] == 0, f"round {round_}: booking {name} exited {codes[name]}: {output[-3000:]}"
