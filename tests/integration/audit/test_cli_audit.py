"""``booking audit …`` end to end through the CLI's ``main``, on the real databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commands.service import BookingService
from entrypoints.cli import main
from tests.integration.audit.conftest import events_table, originator, run_sql
from tests.integration.audit.story import MEMBER, Story
from tests.views import catch_up_views


def test_history_as_of_and_ledger_print_the_story(
    service: BookingService, story: Story, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", database_url]
    assert main(["audit", "history", story.booking_id, *db]) == 0
    timeline = capsys.readouterr().out
    assert "Cancelled" in timeline and "ledger CreditRestored" in timeline and "operator:olga" in timeline
    assert main(["audit", "history", story.booking_id, "--json", *db]) == 0
    assert len(json.loads(capsys.readouterr().out)["events"]) == 11
    assert main(["audit", "as-of", story.booking_id, "--version", "2", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "confirmed"
    assert main(["audit", "ledger", MEMBER, "--at", "2026-03-08T15:00:00Z", *db]) == 0
    assert "forfeited 1" in capsys.readouterr().out
    assert main(["audit", "as-of", story.booking_id, "--at", "2026-03-02T10:00:00", *db]) == 1
    assert "no UTC offset" in capsys.readouterr().err


def test_verify_exits_zero_when_clean_and_one_naming_a_deleted_event(
    service: BookingService, story: Story, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", database_url, "--no-progress"]
    catch_up_views(database_url)  # the views must have reached the head to be equal
    assert main(["audit", "verify", *db]) == 0
    assert "OK: every check holds" in capsys.readouterr().out
    run_sql(
        database_url,
        f"DELETE FROM {events_table(database_url)} WHERE originator_id = %s AND originator_version = 2",
        (originator(database_url, story.booking_id),),
    )
    assert main(["audit", "verify", *db]) == 1
    out = capsys.readouterr().out
    assert f"BREACH: stream {story.booking_id} v3 (Booking.Rescheduled): v2 of this stream is missing" in out
    assert "FAILED: 1 breach(es)" in out


def test_export_then_import_into_an_empty_file_database_verifies(
    service: BookingService,
    story: Story,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exported = tmp_path / "log.jsonl"
    assert (
        main(["audit", "export", "--database-url", database_url, "-o", str(exported), "--no-progress"]) == 0
    )
    assert "exported 26 events" in capsys.readouterr().err
    target = f"sqlite:///{tmp_path}/copy.db"
    assert main(["audit", "import", str(exported), "--database-url", target, "--no-progress"]) == 0
    assert main(["audit", "verify", "--database-url", target, "--no-progress", "--no-views", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 26
    assert main(["audit", "import", str(exported), "--database-url", target, "--no-progress"]) == 1
    assert "already holds events" in capsys.readouterr().err
