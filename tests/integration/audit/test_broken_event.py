"""A deleted or unreadable event is reported, never a crash: ``booking audit verify`` names
every problem and carries on; a view that cannot apply an event stalls alone (position kept,
error and event shown by ``/health`` and ``booking verify``) while the others, above all the
pending deadlines the scheduler lives on, keep following."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import httpx
import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.credits import CreditAccount
from projections.catalog import schema_versions
from projections.database import create_read_engine
from projections.queries import ReadModels
from tests.integration.audit.conftest import events_table, originator, run_sql
from tests.integration.audit.story import MEMBER, PROVIDER, SECOND_START, Story
from tests.integration.operations.support import Process, environment, free_port, run_cli, wait_for
from tests.views import catch_up_views

TOKEN = "broken-event-token-0123456789"


def delete_event(url: str, stream: UUID | str, version: int) -> None:
    run_sql(
        url,
        f"DELETE FROM {events_table(url)} WHERE originator_id = %s AND originator_version = %s",
        (originator(url, str(stream)), version),
    )


def credits_added_version(service: BookingService) -> int:
    account_id = CreditAccount.id_for(MEMBER)
    for event in service.events.get(account_id):
        if isinstance(event, CreditAccount.CreditsAdded):
            return int(event.originator_version)
    raise AssertionError("the story adds credits")


def test_audit_verify_names_a_deleted_ledger_event_and_every_other_problem(
    service: BookingService, story: Story, database_url: str, tmp_path: Path
) -> None:
    catch_up_views(database_url)
    delete_event(database_url, CreditAccount.id_for(MEMBER), credits_added_version(service))

    result = run_cli(
        "audit", "verify", "--no-progress", env=environment(BOOKING_DATABASE_URL=database_url), cwd=tmp_path
    )

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    breaches = [line for line in result.stdout.splitlines() if line.startswith("BREACH: ")]
    assert any("is missing (deleted?)" in line for line in breaches), result.stdout
    assert any(
        "view: credit_balances: a rebuild from the events also stops at event" in line for line in breaches
    )
    assert any("credits not conserved" in line or "never added" in line for line in breaches), result.stdout
    assert result.stdout.rstrip().endswith(f"FAILED: {len(breaches)} breach(es)")


def test_booking_rebuild_rebuilds_what_it_can_and_names_the_event_it_cannot_apply(
    service: BookingService, story: Story, database_url: str, tmp_path: Path
) -> None:
    delete_event(database_url, CreditAccount.id_for(MEMBER), credits_added_version(service))

    result = run_cli("rebuild", env=environment(BOOKING_DATABASE_URL=database_url), cwd=tmp_path)

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "credit_balances stops at event" in result.stderr
    engine = create_read_engine(database_url)
    try:
        views = ReadModels(engine)
        head = service.recorder.max_notification_id()
        positions = views.positions()
        assert positions["room_details"] == positions["pending_deadlines"] == head
        assert positions["credit_balances"] < head
        assert views.room_details(story.room_id) is not None
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_stalled_view_stops_alone_while_pending_deadlines_keep_following(
    postgres_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    from tests.integration.audit.story import play_story

    service = BookingService.open(postgres_url, clock)
    engine = create_read_engine(postgres_url)
    processes: list[Process] = []
    try:
        story = play_story(service, clock)
        bad_version = credits_added_version(service)
        bad_position = int(
            run_sql(
                postgres_url,
                f"SELECT notification_id FROM {events_table(postgres_url)} "
                "WHERE originator_id = %s AND originator_version = %s",
                (CreditAccount.id_for(MEMBER), bad_version + 1),
            )[0][0]
        )
        delete_event(postgres_url, CreditAccount.id_for(MEMBER), bad_version)  # its successor can't apply
        env = environment(BOOKING_DATABASE_URL=postgres_url, BOOKING_API_TOKENS=f"{TOKEN}:service")
        projector = Process(["project", "--poll-interval", "0.1"], env, tmp_path / "projector")
        processes.append(projector)
        views = ReadModels(engine, clock)
        head = service.recorder.max_notification_id()

        wait_for(
            lambda: views.positions()["pending_deadlines"] == head and views.stalls(),
            "pending deadlines to reach the head and credit balances to stall",
        )
        stall = views.stalls()["credit_balances"]
        assert stall["event_position"] == bad_position
        assert stall["position"] == views.positions()["credit_balances"] < bad_position
        assert views.positions()["room_details"] == head
        assert list(views.stalls()) == ["credit_balances"]

        # Still following: another member's new booking reaches the deadlines the scheduler reads.
        other = service.open_room("nadia", PROVIDER, actor="system:test")
        service.add_credits("nadia", "purchase", 1, "order-2", actor="system:test")
        service.publish_availability(
            PROVIDER, weekly_hours("UTC", "08:00", "20:00"), actor=f"provider:{PROVIDER}"
        )
        booked = service.reserve_session(
            other["room_id"], SECOND_START.replace(hour=17), 30, "chat", actor="member:nadia"
        )
        wait_for(
            lambda: any(
                d.booking_id == booked["booking_id"]
                for d in views.pending_deadlines_due_before(SECOND_START.replace(year=2027))
            ),
            "the new booking's deadlines in the pending-deadlines view",
        )
        assert views.stalls()["credit_balances"]["position"] == stall["position"]  # stays put
        assert projector.popen.poll() is None, projector.stderr()  # no crash loop

        port = free_port()
        api = Process(["serve", "--port", str(port)], env, tmp_path / "api")
        processes.append(api)

        def health() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            except httpx.HTTPError:
                return None

        response = wait_for(health, "the API to answer /health")
        assert response is not None
        assert response.status_code == 503
        body = response.json()
        assert body["views"]["credit_balances"]["stalled"] is True
        assert body["views"]["credit_balances"]["event_position"] == bad_position
        assert (
            "LookupError" in body["views"]["credit_balances"]["error"]
            or body["views"]["credit_balances"]["error"]
        )
        assert body["views"]["pending_deadlines"] == {
            "position": body["head_position"],
            "lag": 0,
            "stalled": False,
            "schema_version": schema_versions()["pending_deadlines"],
        }

        result = run_cli("verify", env=env, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert (
            f"credit_balances: stalled at position {stall['position']}: cannot apply event {bad_position}"
            in result.stdout
        )
        assert (
            "credit_balances: at position" in result.stdout and "behind the head of the log" in result.stdout
        )

        log = projector.stderr()
        assert "Traceback" not in log, log
        assert log.count("view credit_balances stalled") == 1, log
        assert f"cannot apply event {bad_position}" in log
        assert story.room_id
    finally:
        for process in processes:
            assert process.stop() == 0, process.stderr()
        engine.dispose()
        service.close()
