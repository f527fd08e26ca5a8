"""Connections are a budget: an idle process holds at most two, and a server out of
connections gives clear errors, then recovers without losing or doubling a write.

Each process runs under a role of its own; "the server's limit" is that role's
``CONNECTION LIMIT``, so the shared server's own 100 connections are never exhausted.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from commands.clock import SystemClock
from commands.service import BookingService
from tests.integration.operations.support import Process, environment, free_port, postgres_role, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOKEN = "budget-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _ready(process: Process, base_url: str | None) -> bool:
    assert process.popen.poll() is None, process.stderr()
    if base_url is None:  # project logs its lag, schedule its health, once following
        return bool(process.search(r"lag \(events behind the head\)|\"health\"|health"))
    try:
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("command", ["serve", "project", "schedule"])
def test_an_idle_process_holds_at_most_two_connections(command: str, tmp_path: Path) -> None:
    with postgres_role() as role:
        args, base_url = [command], None
        if command == "serve":
            port = free_port()
            args, base_url = [command, "--port", str(port), "--workers", "1"], f"http://127.0.0.1:{port}"
        env = environment(BOOKING_DATABASE_URL=role.url, BOOKING_API_TOKENS=f"{TOKEN}:service")
        process = Process(args, env, tmp_path / command)
        try:
            wait_for(lambda: _ready(process, base_url), f"booking {command} to start")
            if base_url is not None:  # touch both pools once
                assert httpx.get(f"{base_url}/members/m-1/credits", headers=AUTH).status_code < 500
            peak: dict[int, int] = {}
            until = time.monotonic() + 3
            while time.monotonic() < until:
                for pid, held in role.connections_by_process().items():
                    peak[pid] = max(peak.get(pid, 0), held)
                time.sleep(0.05)
            # booking project LISTENs for new events on one more connection of its own
            allowed = 3 if command == "project" else 2
            assert peak and max(peak.values()) <= allowed, (
                f"idle booking {command}: connections by pid {peak}"
            )
        finally:
            assert process.stop() == 0, process.stderr()


def test_past_the_servers_connection_limit_errors_are_clear_and_nothing_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    limit, writes = 8, 6
    with postgres_role(connection_limit=limit) as role:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = environment(
            BOOKING_DATABASE_URL=role.url,
            BOOKING_API_TOKENS=f"{TOKEN}:service",
            BOOKING_DB_POOL_SIZE="1",
            BOOKING_DB_MAX_OVERFLOW="1",  # API 2 x 2 + projector 2 x 2 = the role's limit once freed
        )
        api = Process(["serve", "--port", str(port), "--workers", "1"], env, tmp_path / "api")
        projector: Process | None = None
        blockers: list[psycopg.Connection[object]] = []
        try:
            wait_for(lambda: _ready(api, base), "the API to start")
            # The server is full: the API's connections are gone and others hold every slot.
            role.terminate_connections()
            wait_for(lambda: role.connections() == 0, "the API's connections to close")
            blockers = [role.connect() for _ in range(limit)]
            with pytest.raises(psycopg.OperationalError, match="too many connections"):
                role.connect()
            projector = Process(["project", "--poll-interval", "0.1"], env, tmp_path / "projector")

            def add_credit(key: str) -> httpx.Response:
                body = {"source": "purchase", "count": 1, "reference": key}
                headers = {**AUTH, "Idempotency-Key": key}
                return httpx.post(f"{base}/members/m-1/credits", json=body, headers=headers, timeout=60)

            def read_credits(_: int) -> httpx.Response:
                return httpx.get(f"{base}/members/m-1/credits", headers=AUTH, timeout=60)

            keys = [f"purchase-{n}" for n in range(writes)]
            with ThreadPoolExecutor(writes + 4) as pool:
                refused = list(pool.map(add_credit, keys)) + list(pool.map(read_credits, range(4)))
            for response in refused:
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["code"] == "database_unavailable"
                assert response.headers["Retry-After"] == "1"
            health = httpx.get(f"{base}/health", timeout=60)
            assert health.status_code == 503 and health.json()["code"] == "database_unavailable"
            wait_for(lambda: projector.search("too many connections"), "the projector to say why it waits")
            assert projector.popen.poll() is None, "the projector gave up instead of waiting"

            for blocker in blockers:  # connections free up
                blocker.close()
            blockers = []

            def retried(key: str) -> httpx.Response:
                def succeeded() -> httpx.Response | None:
                    response = add_credit(key)
                    return response if response.status_code == 200 else None

                response = wait_for(succeeded, f"{key} to succeed")
                assert response is not None
                return response

            first = {key: retried(key).json() for key in keys}
            again = {key: add_credit(key).json() for key in keys}  # a client's duplicate retries
            for key in keys:
                assert {k: v for k, v in again[key].items() if k != "position"} == {
                    k: v for k, v in first[key].items() if k != "position"
                }
            store = BookingService.open(role.admin_url, SystemClock())
            try:
                assert store.get_account("m-1").balance()["available"] == writes
            finally:
                store.close()

            def projected() -> bool:
                response = httpx.get(f"{base}/members/m-1/credits", headers=AUTH, timeout=10)
                return response.status_code == 200 and response.json()["available"] == writes

            wait_for(projected, "the projector to recover and apply every purchase once")
            assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        finally:
            for blocker in blockers:
                blocker.close()
            codes = [api.stop(), projector.stop() if projector else 0]
        assert codes == [0, 0], api.stderr() + (projector.stderr() if projector else "")
        for process in (api, projector):
            assert "Traceback" not in process.stderr(), process.stderr()
