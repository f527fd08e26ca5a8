"""``/metrics`` under ``booking serve --workers 2`` (a real process on PostgreSQL): every worker
answers for all of them, so the request counter never goes backwards between scrapes, whichever
worker answers each, and it counts the requests both workers served."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.operations.support import REPOSITORY, free_port, wait_for

TOKEN = "metrics-token-0123456789abcdef"


def requests_total(text: str, route: str | None = None) -> float:
    """``booking_http_requests_total`` summed over its labels (``route``'s 200s only, if given)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "booking_http_requests_total"
        and (route is None or (sample.labels.get("route"), sample.labels.get("status")) == (route, "200"))
    )


def scrape(base: str) -> str:
    with httpx.Client(timeout=10) as client:  # a new connection: any worker may answer
        response = client.get(f"{base}/metrics")
    assert response.status_code == 200
    return response.text


def health(base: str) -> int:
    with httpx.Client(timeout=10) as client:
        return client.get(f"{base}/health").status_code


def worker_pids(metrics_dirs: list[Path]) -> set[int]:
    """The processes that wrote counters to the shared directory (``counter_<pid>.db``)."""
    return {int(f.stem.split("_")[1]) for d in metrics_dirs for f in d.glob("counter_*.db")}


@pytest.mark.slow
def test_metrics_under_two_workers_sum_every_worker_and_never_go_backwards(
    tmp_path: Path, postgres_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    scratch = tmp_path / "tmp"  # where booking serve makes its metrics directory
    scratch.mkdir()
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOOKING_", "PROMETHEUS_"))}
    env |= {
        "PYTHONPATH": str(REPOSITORY),
        "TMPDIR": str(scratch),
        "BOOKING_DATABASE_URL": postgres_url,
        "BOOKING_API_TOKENS": f"{TOKEN}:service",
    }
    with err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def serving() -> bool:
            try:
                return health(base) == 200
            except httpx.TransportError:
                return False

        wait_for(serving, "GET /health to answer 200")
        metrics_dirs = list(scratch.glob("booking-metrics-*"))
        assert len(metrics_dirs) == 1, "booking serve made one fresh metrics directory"

        sent = 1  # the first /health that answered 200
        with ThreadPoolExecutor(8) as pool:

            def burst() -> int:
                statuses = list(pool.map(lambda _: health(base), range(16)))
                assert statuses == [200] * 16
                return len(statuses)

            # Bursts of concurrent connections until both workers have served some.
            while len(worker_pids(metrics_dirs)) < 2:
                sent += burst()
                assert sent < 2000, "one worker served every request"

            seen: list[float] = []
            for _ in range(20):
                sent += burst()
                seen.append(requests_total(scrape(base)))
        assert seen == sorted(seen), f"the request counter went backwards between scrapes: {seen}"
        assert len(worker_pids(metrics_dirs)) == 2

        # Every /health request is counted once it has been answered: the sum reaches exactly
        # what was sent, which no single worker's counters could show.
        counted = wait_for(
            lambda: (n := requests_total(scrape(base), "/health")) == sent and n, f"{sent} requests counted"
        )
        assert counted == sent
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, err.read_text()[-2000:]
    assert list(scratch.glob("booking-metrics-*")) == [], "the metrics directory is removed at exit"
