"""Command records: the first outcome of each caller-chosen command id.

A record is an aggregate whose id derives from the command id, saved in the same atomic
transaction as the command's own events. Two concurrent attempts with one id therefore
conflict on the record's version: one writes, the other retries and finds the record.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import IdempotencyConflict, InvalidInput

MAX_COMMAND_ID_LENGTH = 200


class CommandRecord(Aggregate):
    class CommandRecorded(Aggregate.Created):
        command_id: str
        command: str
        fingerprint: str
        outcome: dict[str, Any]

    def __init__(self, command_id: str, command: str, fingerprint: str, outcome: dict[str, Any]) -> None:
        self.command_id = command_id
        self.command = command
        self.fingerprint = fingerprint
        self.outcome = outcome

    @staticmethod
    def id_for(command_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"booking:command:{command_id}")

    @classmethod
    def record(
        cls, command_id: str, command: str, fingerprint: str, outcome: dict[str, Any], now: datetime
    ) -> CommandRecord:
        return cls._create(
            cls.CommandRecorded,
            id=cls.id_for(command_id),
            command_id=command_id,
            command=command,
            fingerprint=fingerprint,
            outcome=outcome,
            timestamp=now,
        )

    def replay(self, command: str, fingerprint: str) -> dict[str, Any]:
        if (command, fingerprint) != (self.command, self.fingerprint):
            raise IdempotencyConflict(
                f"command id {self.command_id!r} was already used for another {self.command} "
                "request; choose a new id for a different request"
            )
        return self.outcome


def check_command_id(command_id: object) -> str:
    if not isinstance(command_id, str) or not 1 <= len(command_id) <= MAX_COMMAND_ID_LENGTH:
        raise InvalidInput(f"command id must be a string of 1 to {MAX_COMMAND_ID_LENGTH} characters")
    return command_id


def fingerprint(command: str, arguments: dict[str, Any]) -> str:
    """A digest of the command and its arguments, with instants normalised to UTC."""
    canonical = json.dumps([command, arguments], sort_keys=True, default=_plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
