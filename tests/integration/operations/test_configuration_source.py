"""Configuration comes from one place: ``entrypoints.settings``. The event-sourcing library
would otherwise also read ``os.environ``, under its own names and under the application's
(``BOOKING_PERSISTENCE_MODULE``), and quietly run somewhere else than configured."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from commands.clock import SystemClock
from commands.service import BookingService

REPOSITORY = Path(__file__).resolve().parents[3]
PACKAGES = sorted(
    path.parent.name
    for path in REPOSITORY.glob("*/__init__.py")
    if path.parent.name not in ("tests", "bench", "build")
)  # every package of the product

LIBRARY_VARIABLES = {
    "BOOKING_PERSISTENCE_MODULE": "eventsourcing.popo",
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "BOOKING_POSTGRES_SCHEMA": "elsewhere",
    "POSTGRES_POOL_SIZE": "50",
    "BOOKING_IS_SNAPSHOTTING_ENABLED": "n",
    "BOOKING_COMPRESSOR_TOPIC": "zlib",
}


def test_the_library_ignores_the_environment_and_stores_where_the_url_says(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in LIBRARY_VARIABLES.items():
        monkeypatch.setenv(name, value)
    service = BookingService.open(database_url, SystemClock())
    try:
        assert type(service.recorder).__module__ != "eventsourcing.popo"
        assert "COMPRESSOR_TOPIC" not in service.env
        service.add_credits("m-1", "purchase", 2, "order-1")
    finally:
        service.close()
    for name in LIBRARY_VARIABLES:
        monkeypatch.delenv(name)
    reopened = BookingService.open(database_url, SystemClock())
    try:  # the events are in the configured database, readable without any of those variables
        assert reopened.get_account("m-1").balance()["available"] == 2
    finally:
        reopened.close()


def _environment_readers(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        if name in ("environ", "getenv", "environb", "putenv"):
            found.append(f"{path.relative_to(REPOSITORY)}:{getattr(node, 'lineno', 0)}: {name}")
    return found


def test_nothing_but_the_settings_module_reads_the_environment() -> None:
    readers = [
        line
        for package in PACKAGES
        for path in sorted((REPOSITORY / package).rglob("*.py"))
        if path != REPOSITORY / "entrypoints" / "settings.py"
        for line in _environment_readers(path)
    ]
    assert readers == []
