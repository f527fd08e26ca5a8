"""Metrics in the Prometheus format: from the API at /metrics, and from ``booking project`` and
``booking schedule`` on ``--metrics-port`` (real processes on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Api
from tests.integration.operations.support import Process, environment, free_port, wait_for


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_api_counts_requests_by_route_and_status_and_reports_each_view(api: Api) -> None:
    api.open_room()
    assert api.get("/rooms/00000000-0000-0000-0000-000000000000").status_code == 404
    response = api.get("/metrics", role=None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    created = ("booking_http_requests_total", (("method", "POST"), ("route", "/rooms"), ("status", "201")))
    missing = (
        "booking_http_requests_total",
        (("method", "GET"), ("route", "/rooms/{room_id}"), ("status", "404")),
    )
    assert found[created] >= 1 and found[missing] == 1
    assert any(name == "booking_http_request_duration_seconds_bucket" for name, _ in found)
    for view in ("room_details", "credit_balances", "pending_deadlines"):
        assert ("booking_projection_lag", (("view", view),)) in found
        assert found[("booking_projection_stalled", (("view", view),))] == 0
    assert ("booking_db_connections_in_use", (("pool", "read_models"),)) in found


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "metric"),
    [("project", "booking_projection_lag"), ("schedule", "booking_scheduler_pending")],
)
def test_project_and_schedule_serve_metrics_on_a_port(
    command: str, metric: str, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    process = Process(
        [command, "--metrics-port", str(port)], environment(BOOKING_DATABASE_URL=postgres_url), tmp_path
    )

    def scraped() -> str | None:
        assert process.popen.poll() is None, process.stderr()
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        except httpx.HTTPError:
            return None
        return response.text if metric in response.text else None

    try:
        text = wait_for(scraped, f"booking {command}'s metrics")
        assert text is not None
        names = {name for name, _ in samples(text)}
        assert metric in names and "booking_db_connections_in_use" in names
    finally:
        assert process.stop() == 0, process.stderr()
