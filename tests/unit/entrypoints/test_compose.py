"""docker-compose.yml and the settings module cannot drift: every BOOKING_* setting the settings
module reads (and the README documents) reaches every container that uses it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[3]
BOOKING_SERVICES = ("api", "projector", "scheduler", "deliverer")
API_ONLY = {
    "BOOKING_API_TOKENS",
    "BOOKING_API_TOKENS_FILE",
    "BOOKING_HTTP_HOST",
    "BOOKING_HTTP_PORT",
    "BOOKING_HTTP_MAX_CONNECTIONS",
}
NOT_IN_COMPOSE = {"BOOKING_DATA_DIR": "the embedded SQLite default only; compose runs on PostgreSQL"}


def settings_variables() -> set[str]:
    tree = ast.parse((REPOSITORY / "entrypoints" / "settings.py").read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"BOOKING_[A-Z_]+", node.value)
    }


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text()))


def test_every_setting_reaches_every_container_that_uses_it() -> None:
    services = compose()["services"]
    assert {"api", "projector", "scheduler"} <= set(services)
    for name in [name for name in BOOKING_SERVICES if name in services]:
        passed = set(services[name]["environment"])
        wanted = settings_variables() - set(NOT_IN_COMPOSE) - (set() if name == "api" else API_ONLY)
        assert wanted - passed == set(), f"{name} misses {sorted(wanted - passed)}"
        assert {v for v in passed if v.startswith("BOOKING_")} <= settings_variables(), name


def test_the_readme_documents_every_setting_and_no_other() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    first_cells = [line.split("|")[1] for line in readme.splitlines() if line.startswith("| `BOOKING_")]
    documented = {name for cell in first_cells for name in re.findall(r"`(BOOKING_[A-Z_]+)`", cell)}
    assert documented == settings_variables()
