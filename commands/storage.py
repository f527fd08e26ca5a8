"""Map one database URL (and the connection budget) onto the event-sourcing library's recorders.

Nothing here reads the environment: the library gets exactly the values built here (see
``BookingService.construct_env``), and ``entrypoints.settings`` decides the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


@dataclass(frozen=True)
class PoolBudget:
    """How many PostgreSQL connections one pool of a process may use.

    A process has two pools, the event store's and the read models' (SQLAlchemy). Each opens
    connections only when first asked for one, keeps at most ``size`` of them open while idle,
    and opens up to ``max_overflow`` more under a burst, closing those again once returned
    (the event store after a few minutes idle). A process therefore holds at most
    ``2 * size`` connections while idle and ``2 * (size + max_overflow)`` at its peak.
    """

    size: int = 1
    max_overflow: int = 4
    timeout: float = 10.0  # seconds a caller waits for a pooled connection before an error

    def __post_init__(self) -> None:
        if self.size < 1 or self.max_overflow < 0:
            raise ValueError("a pool needs size >= 1 and max_overflow >= 0")

    @property
    def peak(self) -> int:
        return self.size + self.max_overflow


def event_store_env(
    database_url: str, pools: PoolBudget | None = None, *, create_tables: bool = True
) -> dict[str, str]:
    """The library environment for ``sqlite:///path`` or ``postgresql://user@host:port/db``.

    ``create_tables=False`` once ``migrations.prepare`` has created the tables under the
    schema lock: the library then runs no DDL at all (its CREATEs race other processes').

    ``?schema=name`` on a PostgreSQL URL puts every table in that schema (tests use it to
    isolate themselves). ``POSTGRES_ENABLE_DB_FUNCTIONS`` stays off: in 9.5.6 it lets
    readers skip events under concurrent writers.
    """
    pools = pools or PoolBudget()
    url = urlparse(database_url)
    # The library's aggregate cache stays off: the service keeps its own (commands/cache.py).
    # Its CREATEs run unless the caller says the tables exist.
    common: dict[str, str] = {} if create_tables else {"CREATE_TABLE": "n"}
    if url.scheme == "sqlite":
        path = unquote(url.path)[1:]  # sqlite:///rel/path -> rel/path; sqlite:////abs -> /abs
        if not path:
            raise ValueError("a sqlite URL needs a file path, e.g. sqlite:///data/booking.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if url.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        query = parse_qs(url.query)
        env = {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            # Writes a command's events in one round trip, keeping the library's table lock.
            "APPLICATION_RECORDER_TOPIC": "commands.recorder:OneTripPostgresRecorder",
            # psycopg's pool: min_size = size (opened on first use), max_size = size + overflow.
            "POSTGRES_POOL_SIZE": str(pools.size),
            "POSTGRES_MAX_OVERFLOW": str(pools.max_overflow),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_CONNECT_TIMEOUT": str(int(pools.timeout)),
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise ValueError(
        f"unsupported database URL {redact_url(database_url)!r}; use sqlite:///path or postgresql://…"
    )


def redact_url(database_url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print or log)."""
    url = urlparse(database_url)
    if url.password is None:
        return database_url
    netloc = url.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return url._replace(netloc=f"{user}:***@{netloc[2]}").geturl()
