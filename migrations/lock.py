"""One process at a time: a named, database-wide lock for schema changes and view rebuilds.

On PostgreSQL it is a session advisory lock (``pg_advisory_lock``) held on a connection of its
own for as long as the block runs, so it is released by the server when the process dies. On
SQLite, a database that lives in one file on one machine, it is an ``flock`` on a file beside
the database, likewise released by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

SCHEMA = "booking:schema"
"""Creating tables, running migrations: short, every process at start."""


_held = threading.local()  # (database, name) pairs this thread holds: taking one again is free


class LockBusy(Exception):
    """``wait=False`` and another process holds the lock."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (never Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def advisory_lock(
    engine: sa.Engine, name: str, *, wait: bool = True, timeout: float = 120.0
) -> Iterator[None]:
    """Hold the lock ``name`` for the block. ``wait=False`` raises ``LockBusy`` at once if another
    process holds it; otherwise waits up to ``timeout`` seconds (then ``LockBusy`` too).
    Re-entrant within a thread: a block that holds the lock may call code that takes it again."""
    held: set[tuple[str, str]] = _held.__dict__.setdefault("locks", set())
    key = (engine.url.render_as_string(hide_password=True), name)
    if key in held:
        yield
        return
    take = _postgres_lock if engine.dialect.name == "postgresql" else _file_lock
    with take(engine, name, wait, timeout):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


@contextmanager
def _postgres_lock(engine: sa.Engine, name: str, wait: bool, timeout: float) -> Iterator[None]:
    key = lock_key(name)
    with engine.connect() as conn:
        deadline = time.monotonic() + timeout
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one():
            conn.rollback()
            if not wait or time.monotonic() >= deadline:
                raise LockBusy(f"another process holds {name}")
            time.sleep(0.05)
        conn.commit()  # no transaction left open on the lock's connection while the block runs
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


@contextmanager
def _file_lock(engine: sa.Engine, name: str, wait: bool, timeout: float) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # one process, one in-memory database: nothing to serialise
        return
    path = f"{database}.{name.replace(':', '-')}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or time.monotonic() >= deadline:
                    raise LockBusy(f"another process holds {name}") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
