"""A live HTTP API on a free port, over a real database, with the projections following.

The service's clock is the ``clock`` fixture (a ManualClock), so a test can move time;
uvicorn runs in a thread and the tests talk to it over real HTTP with httpx.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.policy import Policy
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from tests.polling import wait_until

TOKENS = {
    "service": "service-token-0123456789abcdef",
    "auditor": "auditor-token-0123456789abcdef",
    "operator": "operator-token-0123456789abcdef",
}
MEMBER, OTHER_MEMBER, PROVIDER = "maya", "omar", "dr-okafor"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 15, "uvicorn to start")
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@dataclass
class Api:
    """An HTTP client that knows the tokens; every call names its role and actor explicitly."""

    base_url: str
    service: BookingService
    clock: ManualClock
    app_state: Any = None
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # plain HTTP to 127.0.0.1: no TLS, so no certificate store to load for every test
        self.client = httpx.Client(base_url=self.base_url, timeout=30, verify=False)
        self._orders = itertools.count(1)

    def call(
        self,
        method: str,
        path: str,
        *,
        role: str | None = "service",
        actor: str | None = None,
        key: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None or role is not None:
            headers["Authorization"] = f"Bearer {token if token is not None else TOKENS[str(role)]}"
        if actor is not None:
            headers["X-Actor"] = actor
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.request(method, path, headers=headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, json=json, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, **kwargs)

    def head(self) -> int:
        """The store's last position: unchanged by a request that wrote nothing."""
        return int(self.service.recorder.max_notification_id() or 0)

    # --- the usual set-up, through the API -----------------------------------------------

    def open_room(self, member: str = MEMBER, provider: str = PROVIDER) -> str:
        response = self.post("/rooms", {"member_id": member, "provider_id": provider})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def publish_weekdays(self, provider: str = PROVIDER) -> None:
        weekly = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS]
        response = self.call(
            "PUT",
            f"/providers/{provider}/availability",
            json={"timezone": "Europe/London", "weekly": weekly},
            actor=f"provider:{provider}",
        )
        assert response.status_code == 200, response.text

    def add_credits(
        self, member: str = MEMBER, count: int = 1, reference: str | None = None
    ) -> dict[str, Any]:
        """Buy ``count`` credits under a new payment reference (unless one is named)."""
        reference = reference or f"order-{next(self._orders)}"
        response = self.post(
            f"/members/{member}/credits", {"source": "purchase", "count": count, "reference": reference}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def reserve(self, room_id: str, starts_at: str, member: str = MEMBER, **kwargs: Any) -> httpx.Response:
        body = {"room_id": room_id, "starts_at": starts_at, "length_minutes": 45, "format": "video"}
        return self.post("/bookings", body, actor=f"member:{member}", **kwargs)


@pytest.fixture
def api_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, api_tokens=tuple((t, r) for r, t in TOKENS.items()))


@pytest.fixture
def api(api_settings: Settings, clock: ManualClock) -> Iterator[Api]:
    """The whole service (API + projections) over ``database_url``, reachable over HTTP."""
    url = api_settings.database_url
    prepare_database(url)  # as ``booking serve`` does at start
    service = BookingService(clock, Policy(), env=event_store_env(url))
    engine = create_read_engine(url)
    read_models = ReadModels(engine, clock)
    runner = ProjectionsRunner(url, poll_interval=0.05)
    stop = threading.Event()
    follower = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
    follower.start()
    try:
        app = create_app(api_settings, service, read_models)
        with live_server(app) as base_url:
            client = Api(base_url, service, clock, app.state)
            try:
                yield client
            finally:
                client.client.close()
                if getattr(app.state, "commit_signal", None) is not None:
                    app.state.commit_signal.close()
    finally:
        stop.set()
        follower.join(timeout=15)
        runner.close()
        engine.dispose()
        service.close()


@pytest.fixture
def booked(api: Api) -> dict[str, Any]:
    """A room with availability, one credit, and a pending booking five days ahead at 10:00 UTC,
    already in the views (so a test may read them without ``?after=``)."""
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    response = api.reserve(room_id, "2026-03-09T10:00:00Z")
    assert response.status_code == 201, response.text
    seen = api.get(f"/rooms/{room_id}", params={"after": response.json()["position"]})
    assert seen.status_code == 200, seen.text
    return {"room_id": room_id, **response.json()}
