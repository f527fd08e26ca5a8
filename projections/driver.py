"""write: run a view's write statement straight on the driver's cursor on PostgreSQL.

Following the head, a batch is one or two events, and SQLAlchemy's work around each
statement (parameter processing, execution context, result set-up) cost as much client CPU
as psycopg's own. A view's writes (upserts, inserts, deletes, the position's claim) return
no rows, so on PostgreSQL they are compiled once per statement and run on the transaction's
psycopg connection directly, with each column's bind processing applied as SQLAlchemy would;
a driver error is raised as SQLAlchemy's (``sqlalchemy.exc.OperationalError`` and so on), so
callers tell transient errors from the others as before. Elsewhere (SQLite) the statement
goes through ``Connection.execute``. Reads stay with SQLAlchemy (they need its result
processing). Inside ``batched`` the writes are sent in psycopg's pipeline mode: the
statements go out together and one round trip waits for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import sqlalchemy as sa

Params = Mapping[str, Any]


def write(conn: sa.Connection, statement: sa.Executable, params: Params | Sequence[Params]) -> int:
    """Execute ``statement`` (no result rows) with one set of ``params`` or many; the rows it
    matched (for one set of parameters)."""
    dialect = conn.dialect
    if dialect.name != "postgresql":
        return conn.execute(statement, params).rowcount  # type: ignore[arg-type]
    text, processors = _compiled(dialect, statement)
    many = not isinstance(params, Mapping)
    rows = [_processed(p, processors) for p in params] if many else [_processed(params, processors)]  # type: ignore[arg-type]
    driver = conn.connection.driver_connection
    try:
        _pipeline(conn, driver)
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            if len(rows) == 1:
                cursor.execute(text, rows[0], prepare=True)
            else:
                cursor.executemany(text, rows)
            return int(cursor.rowcount)
    except dialect.loaded_dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(text, rows, error, dialect.loaded_dbapi.Error) from error


@contextmanager
def batched(conn: sa.Connection) -> Iterator[None]:
    """On PostgreSQL, send the ``write``s made inside in one pipeline, waiting once at the end for
    all of them (an error of any is raised there). The pipeline opens at the first ``write``, so
    a batch that writes nothing costs nothing. Nothing inside may read, nor use ``COPY``."""
    dialect = conn.dialect
    if dialect.name != "postgresql" or _PIPELINE in conn.info:
        yield
        return
    stack = conn.info[_PIPELINE] = ExitStack()
    try:
        with stack:
            yield
    except dialect.loaded_dbapi.Error as error:
        raise sa.exc.DBAPIError.instance("(pipeline)", None, error, dialect.loaded_dbapi.Error) from error
    finally:
        del conn.info[_PIPELINE]


def _pipeline(conn: sa.Connection, driver: Any) -> None:
    """Open the pipeline of the enclosing ``batched``, if any and not yet open."""
    stack = conn.info.get(_PIPELINE)
    if stack is not None and not driver.pgconn.pipeline_status:
        stack.enter_context(driver.pipeline())


def _processed(params: Params, processors: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    values = dict(params)
    for name, process in processors.items():
        value = values.get(name)
        if value is not None:
            values[name] = process(value)
    return values


_PIPELINE = "projections.driver.pipeline"  # in ``Connection.info`` while ``batched``

CACHE_LIMIT = 1000
_CACHE: dict[tuple[int, str], tuple[str, dict[str, Callable[[Any], Any]], sa.Executable]] = {}


def _compiled(dialect: sa.Dialect, statement: sa.Executable) -> tuple[str, dict[str, Callable[[Any], Any]]]:
    """The statement's text for the driver and its parameters' bind processors, built once."""
    key = (id(statement), dialect.name)
    found = _CACHE.get(key)
    if found is None or found[2] is not statement:
        if len(_CACHE) >= CACHE_LIMIT:
            _CACHE.clear()
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        processors = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        found = _CACHE[key] = (compiled.string, processors, statement)  # keeps ``statement`` alive
    return found[0], found[1]
