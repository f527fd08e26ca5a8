"""The release this code is: the installed package's version, read in this one place.

``pyproject.toml``'s ``version`` moves with each release (``CHANGELOG.md`` says what each one
asks of an operator); ``booking --version`` and ``GET /health`` report it, so an operator can
tell which release each process runs while rolling an upgrade.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version

DISTRIBUTION = "live-session-booking"


@cache
def version() -> str:
    """The installed release (``0.2.0``); ``0+unknown`` when run from a tree never installed."""
    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
