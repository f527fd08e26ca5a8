"""Slow or oversized requests cannot hold the API: a body is read only after authentication,
headers and body have deadlines, connections are bounded, and ``?after=`` waits hold no
worker thread. Against a real ``booking serve`` process on PostgreSQL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from entrypoints.http.middleware import BODY_TIMEOUT
from entrypoints.http.reads import READ_YOUR_WRITES_TIMEOUT
from entrypoints.http.server import HEADER_TIMEOUT
from tests.integration.operations.support import Process, environment, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOKEN = "slow-clients-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = environment(
        BOOKING_DATABASE_URL=postgres_url,
        BOOKING_API_TOKENS=f"{TOKEN}:service",
        BOOKING_HTTP_MAX_CONNECTIONS="400",
    )
    process = Process(["serve", "--port", str(port)], env, tmp_path / "api")
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.popen.poll() is None, process.stderr()
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, "the API to start")
        yield base
    finally:
        assert process.stop() == 0, process.stderr()
        assert "Traceback" not in process.stderr(), process.stderr()


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _answer_or_close(sock: socket.socket) -> bytes:
    """What the server sends before closing (b"" if it just closes)."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _partial_post(base: str, authorised: bool, sent: int = 65_000) -> socket.socket:
    sock = _connect(base)
    head = (
        "POST /rooms HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        "Content-Length: 65536\r\n" + (f"Authorization: Bearer {TOKEN}\r\n" if authorised else "") + "\r\n"
    )
    sock.sendall(head.encode() + b" " * sent)
    return sock


def _quick_requests_are_served(base: str) -> None:
    started = time.monotonic()
    response = httpx.post(
        f"{base}/rooms", json={"member_id": "m-1", "provider_id": "p-1"}, headers=AUTH, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    assert httpx.get(f"{base}/health", timeout=10).status_code == 200
    # Served before any slow client's deadline could have freed anything (a generous bound:
    # typically milliseconds; bench.http measures how fast requests are).
    assert time.monotonic() - started < min(BODY_TIMEOUT, HEADER_TIMEOUT)


def test_unauthenticated_bodies_are_refused_before_they_are_read(api: str) -> None:
    started = time.monotonic()
    sockets = [_partial_post(api, authorised=False) for _ in range(100)]
    try:
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(_answer_or_close, sockets))
    finally:
        for sock in sockets:
            sock.close()
    assert time.monotonic() - started < BODY_TIMEOUT  # answered at once, not after the body deadline
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
        assert b'"code":"unauthenticated"' in answer.replace(b" ", b"")


def test_stalled_bodies_and_headers_are_cut_off_and_never_hold_a_worker(api: str) -> None:
    stalled = [_partial_post(api, authorised=True) for _ in range(60)]
    trickling = []
    for _ in range(60):
        sock = _connect(api)
        sock.sendall(b"POST /rooms HTTP/1.1\r\nHost: api\r\nX-Slow: ")  # headers never finish
        trickling.append(sock)
    idle = [_connect(api) for _ in range(60)]  # connect and say nothing
    started = time.monotonic()
    try:
        _quick_requests_are_served(api)  # while 180 slow clients hang on
        with ThreadPoolExecutor(30) as pool:
            bodies = list(pool.map(_answer_or_close, stalled))
            headers = list(pool.map(_answer_or_close, trickling + idle))
        elapsed = time.monotonic() - started
    finally:
        for sock in stalled + trickling + idle:
            sock.close()
    assert elapsed < max(BODY_TIMEOUT, HEADER_TIMEOUT) + 30, "cut off at their deadlines, not never"
    for answer in bodies:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert all(not answer or answer.startswith(b"HTTP/1.1 4") for answer in headers)
    _quick_requests_are_served(api)


def test_read_your_writes_waits_hold_no_worker_thread(api: str) -> None:
    created = httpx.post(
        f"{api}/rooms", json={"member_id": "m-2", "provider_id": "p-2"}, headers=AUTH, timeout=10
    ).json()
    position = created["position"]  # no projector runs here: the views never reach it

    def wait_after(_: int) -> int:
        return httpx.get(f"{api}/members/m-2/rooms?after={position}", headers=AUTH, timeout=30).status_code

    with ThreadPoolExecutor(80) as pool:
        waits = [pool.submit(wait_after, n) for n in range(80)]  # twice uvicorn's 40 worker threads
        time.sleep(0.5)  # let them all start waiting (no synchronisation depends on it)
        started = time.monotonic()
        booking = httpx.get(f"{api}/bookings/{created['id']}", headers=AUTH, timeout=30)
        assert booking.status_code == 404  # a room id is no booking: answered by a worker thread
        # answered while the 80 waits still hold (each up to READ_YOUR_WRITES_TIMEOUT), not after them
        waited = time.monotonic() - started
        assert waited < READ_YOUR_WRITES_TIMEOUT, "a worker thread was free while 80 reads waited"
        assert {w.result() for w in waits} == {503}
