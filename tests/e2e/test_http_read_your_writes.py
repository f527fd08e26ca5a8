"""``?after=<position>``: a read waits for the views, and says so when they do not catch up."""

from __future__ import annotations

import threading

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.policy import Policy
from entrypoints.http import reads
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from tests.e2e.conftest import MEMBER, Api, live_server
from tests.e2e.test_http_errors import assert_problem


def test_a_read_after_a_write_waits_until_the_views_include_it(
    api_settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "READ_YOUR_WRITES_TIMEOUT", 0.5)
    url = api_settings.database_url
    service = BookingService(clock, Policy(), env=event_store_env(url))
    engine = create_read_engine(url)
    runner = ProjectionsRunner(url, poll_interval=0.05)
    try:
        with live_server(create_app(api_settings, service, ReadModels(engine, clock))) as base_url:
            api = Api(base_url, service, clock)
            written = api.add_credits(count=2)

            # no projector is running: the views cannot reach the write, and the read says so
            behind = api.get(f"/members/{MEMBER}/credits", params={"after": written["position"]})
            assert_problem(behind, 503, "views_behind")
            assert behind.headers["retry-after"] == "1"

            monkeypatch.setattr(reads, "READ_YOUR_WRITES_TIMEOUT", 30.0)
            stop = threading.Event()
            follower = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
            follower.start()
            try:
                caught_up = api.get(f"/members/{MEMBER}/credits", params={"after": written["position"]})
            finally:
                stop.set()
                follower.join(timeout=15)
            assert caught_up.status_code == 200
            assert caught_up.json()["available"] == 2
            api.client.close()
    finally:
        runner.close()
        engine.dispose()
        service.close()
