"""Map one database URL onto the event-sourcing library's own recorders."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


def event_store_env(database_url: str) -> dict[str, str]:
    """The library environment for ``sqlite:///path`` or ``postgresql://user@host:port/db``.

    ``?schema=name`` on a PostgreSQL URL puts every table in that schema (tests use it to
    isolate themselves). ``POSTGRES_ENABLE_DB_FUNCTIONS`` stays off: in 9.5.6 it lets
    readers skip events under concurrent writers.
    """
    url = urlparse(database_url)
    # The library's aggregate cache stays off: the service keeps its own (commands/cache.py).
    cache: dict[str, str] = {}
    if url.scheme == "sqlite":
        path = unquote(url.path)[1:]  # sqlite:///rel/path -> rel/path; sqlite:////abs -> /abs
        if not path:
            raise ValueError("a sqlite URL needs a file path, e.g. sqlite:///data/booking.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            **cache,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if url.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        query = parse_qs(url.query)
        env = {
            **cache,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            # Writes a command's events in one round trip, keeping the library's table lock.
            "APPLICATION_RECORDER_TOPIC": "commands.recorder:OneTripPostgresRecorder",
            # Two connections open at start, more (up to 24) only while concurrent commands
            # need them: an idle service holds few of the server's connection slots.
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "22",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_CONNECT_TIMEOUT": "10",
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise ValueError(f"unsupported database URL {database_url!r}; use sqlite:///path or postgresql://…")
