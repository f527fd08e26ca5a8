"""The SQLAlchemy engine for the read models, in the same database as the events.

``sqlite:///path`` opens the same file as the event store (WAL, generous busy timeout);
``postgresql://…?schema=s`` uses the psycopg 3 driver with that schema as search path.
It must never create tables or read the environment.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlparse, urlunparse

import sqlalchemy as sa
from sqlalchemy import event

from commands.storage import PoolBudget, redact_url

SQLITE_BUSY_TIMEOUT_SECONDS = 30


def create_read_engine(
    database_url: str, pools: PoolBudget | None = None, *, ping_after_idle: float | None = None
) -> sa.Engine:
    """The read-model engine for ``sqlite:///path`` or ``postgresql://user@host:port/db[?schema=s]``.

    On PostgreSQL its pool follows ``pools``: no connection until the first query, at most
    ``size`` kept while idle, ``max_overflow`` more under a burst (closed when returned).
    A connection is pinged as it leaves the pool (a dropped one is replaced, not handed out);
    with ``ping_after_idle`` only one that sat in the pool at least that many seconds: a
    writer that takes a connection every few milliseconds then saves a round trip per
    transaction, and meets a server restarted in that window as an ordinary error to retry.
    """
    pools = pools or PoolBudget()
    url = urlparse(database_url)
    if url.scheme == "sqlite":
        path = unquote(url.path)[1:]
        if not path:
            raise ValueError("a sqlite URL needs a file path, e.g. sqlite:///data/booking.db")
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if url.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        query = parse_qs(url.query)
        schema = query.pop("schema", [None])[0]
        connect_args: dict[str, Any] = {"connect_timeout": 10}
        if schema:
            if not schema.replace("_", "").isalnum():
                raise ValueError(f"schema must be letters, digits and underscores; got {schema!r}")
            connect_args["options"] = f"-csearch_path={schema}"
        rest = urlencode({k: v[0] for k, v in query.items()})
        driver_url = urlunparse(url._replace(scheme="postgresql+psycopg", query=rest))
        engine = sa.create_engine(
            driver_url,
            connect_args=connect_args,
            pool_pre_ping=ping_after_idle is None,
            pool_size=pools.size,
            max_overflow=pools.max_overflow,
            pool_timeout=pools.timeout,
        )
        if ping_after_idle is not None:
            _ping_when_idle(engine, ping_after_idle)
        return engine
    raise ValueError(
        f"unsupported database URL {redact_url(database_url)!r}; use sqlite:///path or postgresql://…"
    )


def _ping_when_idle(engine: sa.Engine, idle: float) -> None:
    """Ping a connection at checkout only if it was returned ``idle`` seconds ago or more."""

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def leaving(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError(str(error)) from error  # the pool connects anew

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", leaving)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    finally:
        cursor.close()
