"""Room: pairs a member with a provider; bookings are made in a room.

A member has at most one room per provider: the room's id is derived from the pair, so
two requests racing to open it write the same stream and exactly one of them is saved.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

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

    @staticmethod
    def id_for(member_id: str, provider_id: str) -> UUID:
        """The one room of this member with this provider (ids never contain ':')."""
        return uuid5(NAMESPACE_URL, f"booking:room:{member_id}:{provider_id}")

    @staticmethod
    def check_may_open(member_id: str, provider_id: str, actor: Actor) -> None:
        """Refuse bad ids and any actor other than the member, an operator or a system."""
        check_party_id(member_id, "member_id")
        check_party_id(provider_id, "provider_id")
        if actor.kind not in ("system", "operator") and not actor.is_("member", member_id):
            raise NotAllowed(f"{actor} may not open a room for member {member_id}")

    @classmethod
    def open(cls, member_id: str, provider_id: str, actor: Actor, now: datetime) -> Room:
        cls.check_may_open(member_id, provider_id, actor)
        return cls._create(
            cls.RoomOpened,
            id=cls.id_for(member_id, provider_id),
            member_id=member_id,
            provider_id=provider_id,
            actor=str(actor),
            timestamp=now,
        )
