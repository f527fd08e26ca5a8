"""Log lines as JSON: one object per line, so a log shipper can index them.

Records may carry ``extra={"fields": {...}}``; those fields are merged into the line. Nothing
here may ever receive a token, a request body or a query string.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send every logger of the process, uvicorn's included, to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook request is noise
    show_connection_errors()


def show_connection_errors() -> None:
    """Let psycopg's pool say why it cannot connect ("too many clients", "connection refused").

    The event-sourcing library silences that logger when its PostgreSQL module is imported,
    so import it first; each failed attempt is then one warning line (attempts back off).
    """
    import eventsourcing.postgres  # noqa: F401

    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
