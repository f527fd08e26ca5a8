"""Today's code opens what every earlier release wrote and answers what that release answered.

For each directory in ``tests/fixtures/releases/`` (one per release; adding a release is adding
a directory, see its README) and each backend, the database is put back two ways: restored as
the release left it (its SQLite file; its ``pg_dump`` replayed into a fresh database, old view
tables included), and rebuilt from its audit export by ``booking audit import`` into an empty
database. Today's processes are then started on it as an operator starts them (``booking
serve`` on SQLite; ``serve``, ``project``, ``schedule`` and ``deliver`` on PostgreSQL), on a
clock that stands (very nearly) at the instant the release's answers were taken, and must:

- answer every booking, history, room, balance and webhook as the release did (new fields
  allowed), the views following without a hand step;
- accept a new command on an old booking and in an old room, and show it;
- pass ``booking audit verify``.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import drop_postgres_database, new_postgres_database, require_postgres
from tests.fixtures.releases.answers import differences, summary, with_renames, without_delivery_state
from tests.fixtures.releases.processes import Checkout, Processes, free_port, wait_for_health
from tests.fixtures.releases.restore import restore_postgres, restore_sqlite

REPOSITORY = Path(__file__).resolve().parents[2]
FIXTURES = REPOSITORY / "tests" / "fixtures" / "releases"
RECORDED = sorted(path.name for path in FIXTURES.iterdir() if (path / "answers.json").exists())
RELEASES = [
    line.strip()
    for line in (FIXTURES / "releases.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
"""Oldest first, as ``releases.txt`` lists them."""
CLOCK_SPEED = "0.000001"
"""Today's clock runs a millionth of real time from the recorded instant: a year of real time
moves it by 30 s, well inside the day before any recorded booking's next deadline."""
VIEWS_DEADLINE = 120.0
TODAY = Checkout(REPOSITORY, Path(sys.executable))


def _cases() -> Iterator[Any]:
    """Every release's own database on both backends, and its export imported into SQLite; the
    import into PostgreSQL only for the newest release, since the importer is the same code on both
    backends and each case costs about a minute of the suite."""
    for release in RELEASES:
        for backend in ("sqlite", "postgres"):
            for source in ("restored", "imported"):
                if (backend, source) == ("postgres", "imported") and release != RELEASES[-1]:
                    continue
                marks = [pytest.mark.postgres] if backend == "postgres" else []
                yield pytest.param(
                    (release, backend, source), id=f"{release}-{backend}-{source}", marks=marks
                )


@dataclass
class Upgraded:
    """Today's processes on a database an earlier release wrote."""

    name: str
    imported: bool
    base_url: str
    database_url: str
    service_token: str
    operator_token: str
    recorded: dict[str, Any]
    settings: dict[str, str]
    processes: Processes

    def get(self, path: str, operator: bool = False) -> httpx.Response:
        token = self.operator_token if operator else self.service_token
        return httpx.get(f"{self.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(self, path: str, actor: str, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.service_token}", "X-Actor": actor}
        return httpx.post(f"{self.base_url}{path}", headers=headers, json=body, timeout=30)

    def answer(self, path: str, operator: bool = False) -> Any:
        response = self.get(path, operator)
        assert response.status_code == 200, (
            f"{self.name}: GET {path} answered {response.status_code} {response.text[:500]}\n"
            f"{self.processes.describe()}"
        )
        return response.json()


def _recorded(release: str, backend: str, source: str) -> dict[str, Any]:
    """The answers of the run that wrote what this case opens."""
    name = "postgres-answers.json" if (backend, source) == ("postgres", "restored") else "answers.json"
    return dict(json.loads((FIXTURES / release / name).read_text()))


def _prepare(release: str, backend: str, source: str, folder: Path) -> Generator[str, None, None]:
    """The database URL holding what the release wrote, put back by ``source``."""
    fixture = FIXTURES / release
    if backend == "postgres":
        require_postgres()
        url = new_postgres_database()
        try:
            if source == "restored":
                restore_postgres(fixture, url)
            else:
                _import(fixture, url)
            yield url
        finally:
            drop_postgres_database(url)
    elif source == "restored":
        yield restore_sqlite(fixture, folder / "booking.db")
    else:
        url = f"sqlite:///{folder / 'booking.db'}"
        _import(fixture, url)
        yield url


def _import(fixture: Path, database_url: str) -> None:
    result = TODAY.run(
        {}, "audit", "import", str(fixture / "export.jsonl"), "--database-url", database_url, "--no-progress"
    )
    assert result.returncode == 0, (
        f"booking audit import of {fixture.name} failed:\n{result.stdout}\n{result.stderr}"
    )


@pytest.fixture
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Upgraded]:
    release, backend, source = request.param
    name = f"release {release} on {backend}, {source}"
    recorded = _recorded(release, backend, source)
    databases = _prepare(release, backend, source, tmp_path)
    database_url = next(databases)
    service_token, operator_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    settings = {
        **recorded["settings"],
        "BOOKING_DATABASE_URL": database_url,
        "BOOKING_API_TOKENS": f"{service_token}:service,{operator_token}:operator",
        "BOOKING_CLOCK_SPEED": CLOCK_SPEED,
        "BOOKING_CLOCK_ORIGIN": recorded["answered_from"],
    }
    port = free_port()
    processes = Processes(TODAY, tmp_path / "logs")
    try:
        if backend == "sqlite":
            processes.start("serve", settings, "serve", "--port", str(port))
        else:
            processes.start("serve", settings, "serve", "--port", str(port), "--workers", "1")
            processes.start("project", settings, "project")
            processes.start("schedule", settings, "schedule")
            processes.start("deliver", settings, "deliver")
        base_url = f"http://127.0.0.1:{port}"
        wait_for_health(base_url, processes, timeout=VIEWS_DEADLINE)
        yield Upgraded(
            name,
            source == "imported",
            base_url,
            database_url,
            service_token,
            operator_token,
            recorded,
            settings,
            processes,
        )
    finally:
        processes.stop()
        databases.close()


def _until_same(upgraded: Upgraded, expected: dict[str, Any]) -> list[str]:
    """Poll every path until it answers what was recorded (one deadline for them all: the views
    must follow without a hand step); the differences still left at the deadline."""
    deadline = time.monotonic() + VIEWS_DEADLINE
    left = dict(expected)
    while True:
        found: list[str] = []
        for path, recorded in list(left.items()):
            response = upgraded.get(path)
            differ = (
                differences(recorded, response.json(), path)
                if response.status_code == 200
                else [f"{path}: answered {response.status_code} {response.text[:300]}"]
            )
            if differ:
                found += differ
            else:
                del left[path]
        if not left or time.monotonic() > deadline:
            return found
        upgraded.processes.check_alive()
        time.sleep(0.5)


def _all_answers_match(upgraded: Upgraded) -> None:
    recorded = upgraded.recorded
    found: list[str] = []
    release = recorded["release"]
    views = {
        f"/rooms/{room_id}": with_renames(release, "rooms", answer)
        for room_id, answer in recorded["rooms"].items()
    }
    views.update({f"/members/{member}/credits": answer for member, answer in recorded["credits"].items()})
    found += _until_same(upgraded, views)
    for booking_id, answer in recorded["bookings"].items():
        found += differences(answer, upgraded.answer(f"/bookings/{booking_id}"), f"/bookings/{booking_id}")
    for booking_id, answer in recorded["histories"].items():
        path = f"/bookings/{booking_id}/history"
        found += differences(answer, upgraded.answer(path, operator=True), path)
    for webhook_id, answer in recorded.get("webhooks", {}).items():
        if upgraded.imported:
            answer = without_delivery_state("webhooks", answer)
        found += differences(
            answer, upgraded.answer(f"/webhooks/{webhook_id}", operator=True), f"/webhooks/{webhook_id}"
        )
    assert not found, (
        f"{upgraded.name}: {len(found)} answers differ from what the release answered; by kind:\n"
        + summary(found)
        + "\nthe first ones:\n"
        + "\n".join(found[:40])
        + f"\n--- processes ---\n{upgraded.processes.describe()}"
    )


def _a_new_command_on_an_old_booking(upgraded: Upgraded) -> None:
    """Cancel a confirmed booking the release left live, then reserve its freed slot in its room."""
    labels = upgraded.recorded["labels"]
    booking_id = next(b for b, label in labels.items() if label == "live: confirmed")
    old = upgraded.recorded["bookings"][booking_id]
    member = f"member:{old['member_id']}"
    cancelled = upgraded.post(f"/bookings/{booking_id}/cancel", member, {"reason": "after the upgrade"})
    assert cancelled.status_code == 200, f"{upgraded.name}: cancel of {booking_id}: {cancelled.text}"
    assert upgraded.answer(f"/bookings/{booking_id}")["status"] == "cancelled", upgraded.name
    reserved = upgraded.post(
        "/bookings",
        member,
        {
            "room_id": old["room_id"],
            "starts_at": old["starts_at"],
            "length_minutes": old["length_minutes"],
            "format": "audio",
        },
    )
    assert reserved.status_code == 201, f"{upgraded.name}: reserve in room {old['room_id']}: {reserved.text}"
    new_id = reserved.json()["id"]
    deadline = time.monotonic() + VIEWS_DEADLINE
    while True:
        room = upgraded.answer(f"/rooms/{old['room_id']}")
        statuses = {s["booking_id"]: s["status"] for s in room["sessions"]}
        if statuses.get(booking_id) == "cancelled" and statuses.get(new_id) == "pending_confirmation":
            return
        assert time.monotonic() < deadline, (
            f"{upgraded.name}: room {old['room_id']} never showed the cancel and the new booking: "
            f"{statuses}\nGET /health: {upgraded.get('/health').text[:1500]}\n"
            f"{upgraded.processes.describe()}"
        )
        time.sleep(0.25)


def _audit_verify_passes(upgraded: Upgraded) -> None:
    result = TODAY.run({**upgraded.settings}, "audit", "verify", "--no-progress")
    assert result.returncode == 0, (
        f"{upgraded.name}: booking audit verify exited {result.returncode}:\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )


@pytest.mark.slow
def test_every_recorded_release_is_listed_in_release_order() -> None:
    assert sorted(RELEASES) == RECORDED, "list each directory of tests/fixtures/releases in releases.txt"


@pytest.mark.parametrize("upgraded", list(_cases()), indirect=True)
def test_today_answers_what_the_release_answered(upgraded: Upgraded) -> None:
    _all_answers_match(upgraded)
    _a_new_command_on_an_old_booking(upgraded)
    upgraded.processes.stop()
    _audit_verify_passes(upgraded)
