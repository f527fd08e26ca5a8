"""``booking migrate``: prepare the database and nothing else.

Every other entry point does the same at start (``entrypoints.bootstrap.boot``), so this is
never required; it lets an operator upgrade the database on its own, before rolling the
processes, and see what was applied.
"""

from __future__ import annotations

import argparse

from commands.storage import redact_url
from entrypoints.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate", help="create the event store's tables and apply the pending migrations, then exit"
    )
    parser.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from migrations.prepare import prepare_database

    settings = Settings.from_env()
    prepared = prepare_database(settings.database_url, settings.pools)
    for line in prepared.applied:
        print(f"applied {line}")
    if not prepared.applied:
        print("no migration to apply")
    print(f"{redact_url(settings.database_url)} is at revision {prepared.revision}")
    return 0
