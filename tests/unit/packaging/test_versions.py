"""One version, in ``pyproject.toml``: what the installed package, ``booking --version`` and
``GET /health`` report, and a section of ``CHANGELOG.md`` telling the operator how to upgrade."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from entrypoints.version import version

ROOT = Path(__file__).resolve().parents[3]
DECLARED = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_installed_package_reports_the_declared_version() -> None:
    assert version() == DECLARED, "reinstall (pip install -e .) after changing pyproject's version"


def test_booking_version_prints_it() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "entrypoints", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert printed.stdout.strip() == f"booking {DECLARED}"


def changelog_sections() -> dict[str, str]:
    """Each release's section of CHANGELOG.md, by version."""
    text = (ROOT / "CHANGELOG.md").read_text()
    parts = re.split(r"^## (\d+\.\d+\.\d+)\b.*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_release_has_an_upgrading_section_and_this_one_is_listed_first() -> None:
    sections = changelog_sections()
    assert next(iter(sections)) == DECLARED, "the newest section is the version in pyproject.toml"
    for release, body in sections.items():
        assert re.search(r"^### Upgrading$", body, flags=re.MULTILINE), f"{release} has no Upgrading section"
