"""A view's schema version moves with its tables and its revision, never with the prefix it is
built under, so a changed view is always rebuilt and an unchanged one never."""

from __future__ import annotations

import sqlalchemy as sa

from projections.catalog import schema_versions
from projections.room_details import RoomDetails
from projections.tables import room_details_tables
from projections.versions import fingerprint


def test_the_same_tables_under_any_prefix_have_one_version() -> None:
    live = room_details_tables(sa.MetaData(), "")
    built = room_details_tables(sa.MetaData(), "n0a1b2c3d_")
    revision = RoomDetails.revision
    assert (
        fingerprint(revision, live, "")
        == fingerprint(revision, built, "n0a1b2c3d_")
        == schema_versions()["room_details"]
    )


def test_a_changed_column_or_revision_moves_the_version() -> None:
    rooms, sessions = room_details_tables(sa.MetaData(), "")
    version = fingerprint(1, (rooms, sessions), "")
    sessions.append_column(sa.Column("a_column_added_later", sa.Boolean, nullable=True))
    assert fingerprint(1, (rooms, sessions), "") != version
    assert fingerprint(2, room_details_tables(sa.MetaData(), ""), "") != version
    assert fingerprint(2, room_details_tables(sa.MetaData(), ""), "").startswith("2-")


def test_every_view_has_a_version_of_its_own() -> None:
    versions = schema_versions()
    assert set(versions) == {"room_details", "credit_balances", "pending_deadlines"}
    assert len(set(versions.values())) == 3
