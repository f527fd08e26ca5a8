"""Views rebuild themselves blue/green: a view whose live tables hold another version (an earlier
release's shape) is rebuilt beside them while they keep answering, switched in at once, and
left as it was if the rebuild fails; one process rebuilds, the others wait."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from commands.service import BookingService
from migrations.lock import LockBusy, advisory_lock
from projections.catalog import schema_versions
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.rebuild import RebuildFailed
from projections.runner import ProjectionsRunner
from projections.upgrade import REBUILD, upgrade_views
from projections.verify import verify_views
from projections.versions import Versions
from tests.integration.audit.conftest import events_table, run_sql
from tests.integration.projections.history import record_history
from tests.polling import wait_until

MEMBERS = 300


def _as_an_older_release_left_it(database_url: str) -> None:
    """Views caught up, then the room sessions table in an earlier release's shape (no
    ``session_end_due``, no ``policy``) and no versions recorded, as every release before this
    one left its database."""
    runner = ProjectionsRunner(database_url)
    try:
        runner.catch_up()
    finally:
        runner.close()
    engine = create_read_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX IF EXISTS ix_room_sessions_room_id"))
            conn.execute(sa.text("ALTER TABLE room_sessions DROP COLUMN session_end_due"))
            conn.execute(sa.text("ALTER TABLE room_sessions DROP COLUMN policy"))
            conn.execute(sa.text("DROP TABLE view_versions"))
    finally:
        engine.dispose()


def _build_tables(engine: sa.Engine) -> list[str]:
    return [name for name in sa.inspect(engine).get_table_names() if re.fullmatch(r"n[0-9a-f]{8}_.*", name)]


def _answers(views: ReadModels, members: range) -> list[Any]:
    return [
        (
            views.credit_balances(f"member-{n}"),
            [views.room_details(r["room_id"]) for r in views.rooms_of_member(f"member-{n}")],
        )
        for n in members
    ]


@pytest.mark.slow
def test_an_older_release_s_view_is_rebuilt_beside_its_tables_which_answer_until_the_switch(
    database_url: str, service: BookingService
) -> None:
    head = record_history(service, MEMBERS)
    _as_an_older_release_left_it(database_url)
    engine = create_read_engine(database_url)
    views = ReadModels(engine)
    before = _answers(views, range(0, MEMBERS, 37))
    assert all(balance is not None and rooms for balance, rooms in before), "the old tables must answer"
    assert {v["schema_version"] for v in views.schema_versions().values()} == {None}

    runner = ProjectionsRunner(database_url)
    assert runner.parked == {"room_details", "credit_balances", "pending_deadlines"}
    runner.catch_up()
    assert min(views.positions().values()) == head, "parked views are left as they were"

    seen: list[Any] = []
    reading = threading.Event()

    builds: list[Any] = []

    def read_meanwhile() -> None:
        while not reading.is_set():
            seen.append(_answers(views, range(0, MEMBERS, 37)))
            builds.append(views.schema_versions()["room_details"]["building"])

    reader = threading.Thread(target=read_meanwhile)
    stop = threading.Event()
    reader.start()
    projector = threading.Thread(target=runner.run_forever, args=(stop,))
    projector.start()
    try:
        wait_until(lambda: not runner.parked, 120, "the views to be rebuilt and switched in")
    finally:
        reading.set()
        reader.join()
        stop.set()
        projector.join()
        runner.close()

    after = _answers(views, range(0, MEMBERS, 37))
    assert after == before, "the rebuilt view answers what the old one did"
    assert seen and all(answer == before for answer in seen), (
        "reads meanwhile: the old view or the new, whole"
    )
    assert {name: v["schema_version"] for name, v in views.schema_versions().items()} == schema_versions()
    progress = [build["position"] for build in builds if build is not None]
    assert progress and progress == sorted(progress), "the build's progress shows, and only grows"
    assert {build["schema_version"] for build in builds if build} == {schema_versions()["room_details"]}
    assert not _build_tables(engine), "no build tables are left behind"
    assert verify_views(database_url) == []
    engine.dispose()


def test_a_rebuild_that_fails_leaves_the_old_tables_in_place(
    database_url: str, service: BookingService
) -> None:
    record_history(service, 20)
    _as_an_older_release_left_it(database_url)
    engine = create_read_engine(database_url)
    run_sql(  # an event the room view cannot decode (an edited row)
        database_url,
        f"UPDATE {events_table(database_url)} SET state = %s WHERE topic LIKE %s AND originator_version = 1",
        (b"not an event", "%SessionReserved%"),
    )
    views = ReadModels(engine)
    before = views.credit_balances("member-3")

    with pytest.raises(RebuildFailed, match="room_details"):
        upgrade_views(database_url, ["room_details"])

    assert views.schema_versions()["room_details"] == {
        "schema_version": None,
        "expected": schema_versions()["room_details"],
        "building": None,
    }
    assert views.credit_balances("member-3") == before
    assert views.room_details(views.rooms_of_member("member-3")[0]["room_id"]) is not None
    assert not _build_tables(engine)
    engine.dispose()


def test_one_process_rebuilds_while_another_waits(database_url: str, service: BookingService) -> None:
    record_history(service, 20)
    _as_an_older_release_left_it(database_url)
    engine = create_read_engine(database_url)
    holding, release = threading.Event(), threading.Event()

    def another_process_rebuilds() -> None:
        with advisory_lock(engine, REBUILD):
            holding.set()
            release.wait(30)

    other = threading.Thread(target=another_process_rebuilds)
    other.start()
    try:
        assert holding.wait(30)
        with pytest.raises(LockBusy):
            upgrade_views(database_url, wait=0.2)
    finally:
        release.set()
        other.join()
    switched: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: switched.append(upgrade_views(database_url))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(sorted, switched)) == [[], ["credit_balances", "pending_deadlines", "room_details"]]
    assert Versions(engine).read()["room_details"].live == schema_versions()["room_details"]
    engine.dispose()
