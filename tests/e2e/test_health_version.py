"""``GET /health`` says which release answers: during a rolling upgrade two may."""

from __future__ import annotations

from entrypoints.version import version
from tests.e2e.conftest import Api


def test_health_reports_the_release(api: Api) -> None:
    answer = api.get("/health", role=None)
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == version()
    assert version().count(".") == 2
