"""``booking serve`` as a real process: starts, answers, logs JSON lines, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.polling import wait_until

REPOSITORY = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_")}
    return {**env, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1", **settings}


@pytest.mark.slow
def test_booking_serve_on_the_embedded_default_runs_everything_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_environment(BOOKING_DATA_DIR=str(tmp_path / "data")),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        printed = wait_until(lambda: re.search(r"Bearer (\S+)", out.read_text()), 60, "the printed token")
        assert printed is not None
        token = printed.group(1)
        assert f"http://127.0.0.1:{port}" in out.read_text()

        def healthy() -> dict[str, object] | None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except httpx.TransportError:
                return None
            return dict(response.json()) if response.status_code == 200 else None

        health = wait_until(healthy, 60, "GET /health to answer 200")
        assert health["database"] == "reachable"  # type: ignore[index]
        assert health["scheduler"]["running"] is True  # type: ignore[index]

        room = httpx.post(
            f"http://127.0.0.1:{port}/rooms",
            json={"member_id": "maya", "provider_id": "dr-okafor"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert room.status_code == 201
        details = httpx.get(
            f"http://127.0.0.1:{port}/rooms/{room.json()['id']}",
            params={"after": room.json()["position"]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert details.status_code == 200  # the in-process projections caught up
        assert details.json()["member_id"] == "maya"
        assert (tmp_path / "data" / "booking.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, err.read_text()[-2000:]
    lines = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
    requests = [line for line in lines if line.get("logger") == "booking.http.access"]
    assert {"method", "path", "status", "duration_ms", "actor"} <= requests[-1].keys()
    assert ("POST", "/rooms", 201) in {(r["method"], r["path"], r["status"]) for r in requests}
    assert token not in err.read_text()


def test_booking_serve_refuses_to_start_open_on_postgresql(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints", "serve"],
        cwd=tmp_path,
        env=_environment(BOOKING_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "BOOKING_API_TOKENS" in result.stderr


@pytest.mark.slow
def test_booking_serve_on_postgresql_runs_only_the_api(tmp_path: Path, postgres_url: str) -> None:
    port, token = _free_port(), "configured-token-0123456789"
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_environment(BOOKING_DATABASE_URL=postgres_url, BOOKING_API_TOKENS=f"{token}:auditor"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def healthy() -> dict[str, object] | None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except httpx.TransportError:
                return None
            return dict(response.json()) if response.status_code == 200 else None

        health = wait_until(healthy, 60, "GET /health to answer 200")
        # no scheduler runs in this process, and no ``booking schedule`` has recorded a heartbeat
        assert health["scheduler"] == {"status": "absent", "last_fire": None}  # type: ignore[index]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"http://127.0.0.1:{port}/policy", headers=headers, timeout=10).status_code == 200
        refused = httpx.post(
            f"http://127.0.0.1:{port}/rooms", json={"member_id": "m", "provider_id": "p"}, headers=headers
        )
        assert refused.status_code == 403  # the configured token is an auditor's
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, err.read_text()[-2000:]
    assert token not in err.read_text()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_booking_serve_with_workers_runs_that_many_api_processes_on_one_port(
    tmp_path: Path, postgres_url: str
) -> None:
    port, token = _free_port(), "configured-token-0123456789"
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=_environment(BOOKING_DATABASE_URL=postgres_url, BOOKING_API_TOKENS=f"{token}:service"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        headers = {"Authorization": f"Bearer {token}"}

        def serving() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(serving, 60, "GET /health to answer 200")

        def api_processes() -> list[int]:
            return [
                pid
                for pid in _children(process.pid)
                if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
            ]

        wait_until(lambda: len(api_processes()) == 2 or None, 30, "two API processes")
        rooms = set()
        for n in range(20):
            with httpx.Client(timeout=10) as client:  # a new connection each time, spread over both
                answer = client.post(
                    f"http://127.0.0.1:{port}/rooms",
                    json={"member_id": f"m{n}", "provider_id": "p"},
                    headers=headers,
                )
            assert answer.status_code == 201, err.read_text()[-3000:]
            rooms.add(answer.json()["id"])
        assert len(rooms) == 20
        api = [
            pid for pid in _children(process.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(api) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, err.read_text()[-2000:]
    assert _children(process.pid) == []
