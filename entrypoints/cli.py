"""The ``booking`` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

import psycopg
import sqlalchemy as sa
from eventsourcing.persistence import PersistenceError

from domain.errors import BookingError
from entrypoints.settings import SettingsError
from entrypoints.version import version

# Modules exposing ``register(subparsers)``; each subcommand sets ``func(args) -> int``.
SUBCOMMAND_MODULES = (
    "entrypoints.cli_projections",
    "entrypoints.demo",
    "entrypoints.cli_serve",
    "entrypoints.cli_scheduler",
    "entrypoints.cli_audit",
    "entrypoints.cli_deliver",
    "entrypoints.cli_migrate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="booking", description="Event-sourced booking of live therapy sessions."
    )
    parser.add_argument("--version", action="version", version=f"booking {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as error:
        print(f"booking: configuration error: {redact_passwords(str(error))}", file=sys.stderr)
        return 2
    except BookingError as error:
        print(f"booking: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one clear line, never a traceback, never a URL's password
        print(f"booking: {describe(error)}", file=sys.stderr)
        return 1


DATABASE_ERRORS: tuple[type[BaseException], ...] = (PersistenceError, sa.exc.SQLAlchemyError, psycopg.Error)


def describe(error: BaseException) -> str:
    """One line saying what went wrong: the gist of a database error, else the error itself."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = redact_passwords(lines[0] if lines else type(error).__name__)[:300]
    if isinstance(error, DATABASE_ERRORS):
        return f"database error: {text}"
    if isinstance(error, OSError):
        return f"{error.strerror or text}{f': {error.filename}' if error.filename else ''}"
    return f"{type(error).__name__}: {text}"


def redact_passwords(text: str) -> str:
    """``scheme://user:secret@host`` becomes ``scheme://user:***@host`` anywhere in ``text``."""
    return re.sub(r"(\w[\w+.-]*://[^/\s:@]*:)[^@\s/]*@", r"\1***@", text)


if __name__ == "__main__":
    sys.exit(main())
