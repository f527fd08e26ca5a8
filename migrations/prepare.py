"""Bring a database to the shape this release needs, before a process uses it.

Every entry point calls ``prepare_database`` first (``entrypoints.bootstrap.boot`` and the
commands that do not boot), and ``booking migrate`` calls it alone. Under the schema lock
(``migrations.lock.SCHEMA``), one process at a time:

1. the event store's tables (the library's CREATE statements, which are idempotent), then
2. ``alembic upgrade head`` over the tables that are neither the event store's nor views
   (``migrations/versions``).

Processes started together therefore never run DDL at the same moment: the second waits for
the first, then finds nothing left to do. After this the process opens its event store with
``create_tables=False``, so it runs no DDL of its own outside the lock. The views are not
migrated here: they rebuild themselves (``projections``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from commands.storage import PoolBudget
from migrations.lock import SCHEMA, advisory_lock

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Prepared:
    """What ``prepare_database`` did: the revisions it applied (``"0001 Baseline: …"``, oldest
    first; none when the database was already at head) and the revision the database is at."""

    applied: tuple[str, ...]
    revision: str


def prepare_database(
    database_url: str, pools: PoolBudget | None = None, *, timeout: float = 120.0
) -> Prepared:
    """Create the event store's tables and migrate the others to head, under the schema lock
    (waiting up to ``timeout`` seconds for another process that holds it)."""
    from commands.service import BookingService
    from projections.database import create_read_engine

    _make_sqlite_directory(database_url)
    engine = create_read_engine(database_url, pools)
    try:
        with advisory_lock(engine, SCHEMA, timeout=timeout):
            BookingService.open(database_url, pools=pools).close()
            return upgrade(engine)
    finally:
        engine.dispose()


def upgrade(engine: sa.Engine) -> Prepared:
    """``alembic upgrade head`` on ``engine``; the caller holds the schema lock."""
    applied: list[str] = []

    def record(*, step: Any, **_: Any) -> None:
        script = ScriptDirectory.from_config(config).get_revision(step.up_revision_id)
        applied.append(f"{step.up_revision_id} {script.doc if script else ''}".strip())

    with engine.begin() as connection:
        config = alembic_config(connection, on_version_apply=record)
        command.upgrade(config, "head")
    return Prepared(tuple(applied), head())


def alembic_config(connection: sa.Connection | None = None, **attributes: Any) -> Config:
    """Alembic's configuration, built here rather than read from an ``alembic.ini``: the
    scripts are this package's files, the connection the caller's."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes.update(attributes, connection=connection)
    return config


def head() -> str:
    """The revision this release's migrations end at."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        value = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one_or_none()
    return None if value is None else str(value)


def _make_sqlite_directory(database_url: str) -> None:
    """A first start on SQLite: the lock file lives beside the database, in its directory."""
    url = urlparse(database_url)
    if url.scheme == "sqlite":
        path = unquote(url.path)[1:]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
