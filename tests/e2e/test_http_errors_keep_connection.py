"""An error never poisons a connection: numbers are bounded at the edge (an out-of-range one is
a 422 naming its field, never a 500), and an unexpected error is a problem+json 500 with a
request id, logged once with its traceback, after which the same keep-alive connection serves
the next request.

Each test talks over one ``http.client`` connection and checks that its socket survived:
``http.client`` would silently open a new one if the server had closed it.
"""

from __future__ import annotations

import http.client
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import TOKENS, Api
from tests.future_events import record_future_event


@dataclass
class Reply:
    status: int
    response: http.client.HTTPResponse
    data: bytes

    def getheader(self, name: str) -> str | None:
        return self.response.getheader(name)


class Connection:
    """One keep-alive connection to the API, authenticated as the service."""

    def __init__(self, base_url: str) -> None:
        url = urlsplit(base_url)
        self.http = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        self.http.connect()
        self.socket = self.http.sock

    def request(self, method: str, path: str, body: Any = None, actor: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {TOKENS['service']}"}
        if actor is not None:
            headers["X-Actor"] = actor
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.http.request(method, path, body=payload, headers=headers)
        response = self.http.getresponse()
        reply = Reply(response.status, response, response.read())
        assert self.http.sock is self.socket, "the server closed the keep-alive connection"
        return reply

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def connection(api: Api) -> Any:
    conn = Connection(api.base_url)
    try:
        yield conn
    finally:
        conn.close()


def test_a_huge_session_length_is_a_422_naming_the_field_and_the_connection_serves_on(
    api: Api, connection: Connection
) -> None:
    """The issue's reproduction: ``length_minutes`` of 10**12 was an OverflowError 500 that
    reset the connection."""
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    body = {
        "room_id": room_id,
        "starts_at": "2026-03-09T10:00:00Z",
        "length_minutes": 10**12,
        "format": "video",
    }
    refused = connection.request("POST", "/bookings", body, actor="member:maya")
    assert refused.status == 422, refused.data
    assert refused.getheader("content-type") == "application/problem+json"
    assert "length_minutes" in json.loads(refused.data)["detail"]
    reserved = connection.request("POST", "/bookings", {**body, "length_minutes": 45}, actor="member:maya")
    assert reserved.status == 201, reserved.data


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/providers/dr-okafor/availability?length=1000000000000", "length"),
        ("/policy/preview?starts_at=2026-03-09T10:00:00Z&length_minutes=1000000000000", "length_minutes"),
        (f"/events?after={10**30}", "after"),
        (f"/rooms/r?after={10**30}", "after"),
    ],
)
def test_out_of_range_query_numbers_are_422_naming_the_field(
    api: Api, connection: Connection, path: str, field: str
) -> None:
    refused = connection.request("GET", path)
    assert refused.status == 422, refused.data
    assert field in json.loads(refused.data)["detail"]
    assert connection.request("GET", "/health").status == 200


def test_an_unexpected_error_is_a_500_with_a_request_id_logged_once_and_the_connection_serves_on(
    api: Api, connection: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """A real fault: the stream asked for starts with an event whose type this release cannot
    resolve (a newer release wrote it), so loading it raises an error no handler expects."""
    stream, _ = record_future_event(api.service.recorder)
    with caplog.at_level(logging.INFO):
        failed = connection.request("GET", f"/bookings/{stream}")
        assert failed.status == 500, failed.data
        assert failed.getheader("content-type") == "application/problem+json"
        problem = json.loads(failed.data)
        rid = failed.getheader("x-request-id")
        assert rid and problem["request_id"] == rid
        assert problem["code"] == "internal_error" and problem["status"] == 500
        assert "future_release" not in failed.data.decode()  # no internals leak
        served = connection.request("GET", "/health")
        assert served.status == 200, served.data
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert rid in logged[0].getMessage() and logged[0].exc_info is not None


def test_a_client_request_id_is_kept_on_the_500(api: Api, connection: Connection) -> None:
    stream, _ = record_future_event(api.service.recorder)
    connection.http.request(
        "GET",
        f"/bookings/{stream}",
        headers={"Authorization": f"Bearer {TOKENS['service']}", "X-Request-Id": "lb-4711"},
    )
    response = connection.http.getresponse()
    body = json.loads(response.read())
    assert response.status == 500
    assert response.getheader("x-request-id") == body["request_id"] == "lb-4711"
    assert connection.request("GET", "/health").status == 200
