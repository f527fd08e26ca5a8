"""The views brought up to date in a test: one catch-up of every view, then the runner closed."""

from __future__ import annotations

from projections.runner import ProjectionsRunner


def catch_up_views(database_url: str) -> int:
    """Apply every event recorded so far to every view; return the events applied."""
    runner = ProjectionsRunner(database_url)
    try:
        return runner.catch_up()
    finally:
        runner.close()
