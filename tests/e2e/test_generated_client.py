"""A client generated from ``/openapi.json`` by ``openapi-python-client`` is typed end to end: its
commands return declared models, bodyless commands need no body, and a refusal parses into a
``Problem`` with its stable ``code``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import MEMBER, PROVIDER, TOKENS, Api

PACKAGE = "booking_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package generated from the API's own OpenAPI document, importable."""
    folder = tmp_path_factory.mktemp("generated")
    app = create_app(Settings(database_url="sqlite:///unused.db"), None, None)  # type: ignore[arg-type]
    (folder / "openapi.json").write_text(json.dumps(app.openapi()))
    (folder / "config.yaml").write_text(
        f"post_hooks: []\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n"
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"),
            *("--path", str(folder / "openapi.json"), "--config", str(folder / "config.yaml")),
            *("--output-path", str(folder / PACKAGE)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def operation(tag: str, name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


def test_a_generated_client_reserves_confirms_reads_the_room_and_parses_a_refusal(
    api: Api, generated: ModuleType
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.AuthenticatedClient(base_url=api.base_url, token=TOKENS["service"])
    api.publish_weekdays()
    api.add_credits(count=1)

    room = operation("rooms", "open_room").sync(
        client=client, body=models.OpenRoom(member_id=MEMBER, provider_id=PROVIDER)
    )
    assert isinstance(room, models.Room)
    assert (room.member_id, room.provider_id) == (MEMBER, PROVIDER)

    reserve = models.ReserveSession.from_dict(
        {"room_id": room.id, "starts_at": "2026-03-09T10:00:00Z", "length_minutes": 45, "format": "video"}
    )
    reserved = operation("bookings", "reserve_session").sync(
        client=client, body=reserve, x_actor=f"member:{MEMBER}"
    )
    assert isinstance(reserved, models.BookingChanged)
    assert reserved.status == "pending_confirmation"

    confirm = operation("bookings", "confirm_session")
    confirmed = confirm.sync(reserved.id, client=client, x_actor=f"provider:{PROVIDER}")  # no body
    assert isinstance(confirmed, models.BookingChanged)
    assert (confirmed.id, confirmed.status) == (reserved.id, "confirmed")

    details = operation("rooms", "get_room").sync(room.id, client=client, after=confirmed.position)
    assert isinstance(details, models.RoomDetails)
    assert details.id == room.id
    assert [(s.booking_id, s.status) for s in details.sessions] == [(reserved.id, "confirmed")]
    assert details.sessions[0].free_until == reserved.free_until

    again = confirm.sync_detailed(reserved.id, client=client, x_actor=f"provider:{PROVIDER}")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    refusal = again.parsed
    assert isinstance(refusal, models.Problem)
    assert (refusal.status, refusal.code) == (409, "invalid_transition")
    assert refusal.detail


def test_the_docs_page_loads_swagger_ui_from_this_server(api: Api) -> None:
    page = httpx.get(f"{api.base_url}/docs", timeout=10)
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    scripts = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    assert scripts and all(src.startswith("/") for src in scripts)
    for src in scripts:
        assert httpx.get(f"{api.base_url}{src}", timeout=10).status_code == 200
