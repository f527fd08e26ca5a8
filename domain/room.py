"""Room: pairs a member with a provider; bookings are made in a room."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from eventsourcing.domain import Aggregate

from domain.actors import Actor, check_party_id
from domain.errors import NotAllowed


class Room(Aggregate):
    class RoomOpened(Aggregate.Created):
        member_id: str
        provider_id: str
        actor: str

    def __init__(self, member_id: str, provider_id: str, actor: str) -> None:
        self.member_id = member_id
        self.provider_id = provider_id

    @classmethod
    def open(cls, member_id: str, provider_id: str, actor: Actor, now: datetime) -> Room:
        check_party_id(member_id, "member_id")
        check_party_id(provider_id, "provider_id")
        if actor.kind not in ("system", "operator") and not actor.is_("member", member_id):
            raise NotAllowed(f"{actor} may not open a room for member {member_id}")
        return cls._create(
            cls.RoomOpened,
            id=uuid4(),
            member_id=member_id,
            provider_id=provider_id,
            actor=str(actor),
            timestamp=now,
        )
