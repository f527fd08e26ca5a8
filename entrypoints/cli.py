"""The ``booking`` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from domain.errors import BookingError
from entrypoints.settings import SettingsError

# Modules exposing ``register(subparsers)``; each subcommand sets ``func(args) -> int``.
SUBCOMMAND_MODULES = (
    "entrypoints.cli_projections",
    "entrypoints.demo",
    "entrypoints.cli_serve",
    "entrypoints.cli_scheduler",
    "entrypoints.cli_audit",
    "entrypoints.cli_deliver",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="booking", description="Event-sourced booking of live therapy sessions."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as error:
        print(f"booking: configuration error: {error}", file=sys.stderr)
        return 2
    except BookingError as error:
        print(f"booking: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
