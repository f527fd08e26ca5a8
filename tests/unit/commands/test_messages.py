"""Commands as data: names, fingerprints and the checks made when a command is built."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commands import messages as m
from commands.handlers import HANDLERS
from commands.idempotency import fingerprint
from domain.actors import Actor
from domain.errors import InvalidInput

# Digests of the arguments as the service fingerprinted them before commands were data:
# command ids recorded then must keep replaying, so these must never change.
RESERVE_DIGEST = "99bff8be85e5ba73b349d203ca51c1170889e0c8dc4478f3f00e1373a57e14e8"
CANCEL_DIGEST = "8796e04e39105dca96b7ad6824a0cc5e38886fa8ea1d1d9678d56245201be0ed"


def test_reserve_session_fingerprint_is_pinned():
    command = m.ReserveSession(
        "0b6c6a4e-3f0e-5d3b-9a59-6f3c1e1f2a10",
        "2026-03-02T10:00:00+01:00",  # type: ignore[arg-type]
        50,
        "video",
        Actor.parse("member:m-1"),  # type: ignore[arg-type]
    )
    assert command.name == "reserve_session"
    assert command.arguments() == {
        "room_id": "0b6c6a4e-3f0e-5d3b-9a59-6f3c1e1f2a10",
        "starts_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "length_minutes": 50,
        "format": "video",
        "actor": "member:m-1",
    }
    assert fingerprint(command.name, command.arguments()) == RESERVE_DIGEST


def test_cancel_session_fingerprint_is_pinned():
    command = m.CancelSession("b-1", "ill", True, "member:m-1")
    assert fingerprint(command.name, command.arguments()) == CANCEL_DIGEST
    other = m.CancelSession("b-1", "ill", False, "member:m-1")
    assert fingerprint(other.name, other.arguments()) != CANCEL_DIGEST


def test_the_class_names_the_command():
    assert m.OpenRoom.name == "open_room"
    assert m.RecordMemberJoined.name == "record_member_joined"
    assert m.ReportNoShow.name == "report_no_show"
    assert m.RevokeForfeit("b", "r", "operator:o").name == "revoke_forfeit"


def test_every_command_has_one_handler():
    commands = {cls for cls in vars(m).values() if isinstance(cls, type) and issubclass(cls, m.Command)}
    assert set(HANDLERS) == commands - {m.Command}


def test_commands_are_frozen():
    command = m.ConfirmSession("b-1", "provider:p-1")
    with pytest.raises(AttributeError):
        command.booking_id = "b-2"  # type: ignore[misc]


@pytest.mark.parametrize(
    "build",
    [
        lambda: m.ReserveSession("r", "not a time", 50, "video", "member:m"),  # type: ignore[arg-type]
        lambda: m.CancelSession("b", "x" * 2001, False, "member:m"),
        lambda: m.CancelSession("b", "", "yes", "member:m"),  # type: ignore[arg-type]
        lambda: m.RescheduleSession("b", datetime(2026, 3, 2, 9), False, "member:m"),
        lambda: m.DeclineSession("b", "a\x00b", "provider:p"),
    ],
)
def test_malformed_arguments_are_refused_when_built(build):
    with pytest.raises(InvalidInput):
        build()


def test_webhook_commands_fingerprint_their_arguments_under_the_names_recorded_before():
    from commands.webhooks import RegisterWebhook, ReplayWebhook, RotateWebhookSecret

    register = RegisterWebhook("https://example.org/hooks", ["SessionReserved"], "ops", "operator:o-1")
    assert (register.name, register.arguments()) == (
        "register_webhook",
        {
            "url": "https://example.org/hooks",
            "types": ["SessionReserved"],
            "description": "ops",
            "actor": "operator:o-1",
        },
    )
    replay = ReplayWebhook("e-1", 7, "operator:o-1")
    assert (replay.name, replay.arguments()) == (
        "replay_webhook",
        {"endpoint_id": "e-1", "from": 7, "actor": "operator:o-1"},
    )
    assert RotateWebhookSecret("e-1", "operator:o-1").name == "rotate_webhook_secret"
