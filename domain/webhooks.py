"""WebhookRegistry: the webhook endpoints operators registered, and what happened to them.

One stream for all endpoints (there are few, and they change rarely), so listing them is one
load and every registration, rotation, removal, replay and failure is an audited event in
one place. Secrets never enter an event: an event names a secret only by its fingerprint;
the secret itself lives beside the delivery state (``webhooks.store``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from domain.actors import Actor
from domain.errors import InvalidInput, NotAllowed, NotFound

ACTIVE = "active"
FAILING = "failing"
MAX_URL = 2000
MAX_DESCRIPTION = 500


class WebhookRegistry(Aggregate):
    class RegistryOpened(Aggregate.Created):
        pass

    class WebhookEndpointRegistered(Aggregate.Event):
        endpoint_id: str
        url: str
        types: list[str] | None
        description: str
        secret_fingerprint: str
        from_position: int
        actor: str

        def apply(self, registry: WebhookRegistry) -> None:
            registry.endpoints[self.endpoint_id] = {
                "id": self.endpoint_id,
                "url": self.url,
                "types": self.types,
                "description": self.description,
                "secret_fingerprint": self.secret_fingerprint,
                "previous_fingerprint": None,
                "rotated_at": None,
                "from_position": self.from_position,
                "status": ACTIVE,
                "registered_at": self.timestamp,
                "replays": 0,
                "replay_from": None,
                "failing_since": None,
            }

    class WebhookSecretRotated(Aggregate.Event):
        endpoint_id: str
        secret_fingerprint: str
        actor: str

        def apply(self, registry: WebhookRegistry) -> None:
            registry.change(
                self.endpoint_id,
                previous_fingerprint=registry.endpoints[self.endpoint_id]["secret_fingerprint"],
                secret_fingerprint=self.secret_fingerprint,
                rotated_at=self.timestamp,
            )

    class WebhookEndpointRemoved(Aggregate.Event):
        endpoint_id: str
        actor: str

        def apply(self, registry: WebhookRegistry) -> None:
            del registry.endpoints[self.endpoint_id]

    class WebhookEndpointMarkedFailing(Aggregate.Event):
        endpoint_id: str
        position: int
        failing_since: datetime
        reason: str
        actor: str

        def apply(self, registry: WebhookRegistry) -> None:
            registry.change(self.endpoint_id, status=FAILING, failing_since=self.failing_since)

    class WebhookReplayRequested(Aggregate.Event):
        endpoint_id: str
        from_position: int | None
        actor: str

        def apply(self, registry: WebhookRegistry) -> None:
            registry.change(
                self.endpoint_id,
                status=ACTIVE,
                failing_since=None,
                replays=registry.endpoints[self.endpoint_id]["replays"] + 1,
                replay_from=self.from_position,
            )

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}

    def change(self, endpoint_id: str, **values: Any) -> None:
        """Replace an endpoint's entry (never edit it in place: cached copies share entries)."""
        self.endpoints[endpoint_id] = {**self.endpoints[endpoint_id], **values}

    @staticmethod
    def id_for() -> UUID:
        return uuid5(NAMESPACE_URL, "urn:live-session-booking:webhook-registry")

    @classmethod
    def open(cls, now: datetime) -> WebhookRegistry:
        return cls._create(cls.RegistryOpened, id=cls.id_for(), timestamp=now)

    def register(
        self,
        url: str,
        types: list[str] | None,
        description: str,
        secret_fingerprint: str,
        from_position: int,
        actor: Actor,
        now: datetime,
    ) -> str:
        _check_operator(actor, "register a webhook endpoint")
        check_webhook_url(url)
        if len(description) > MAX_DESCRIPTION or not description.isprintable():
            raise InvalidInput(f"description must be printable text of at most {MAX_DESCRIPTION} characters")
        endpoint_id = str(uuid4())
        self.trigger_event(
            self.WebhookEndpointRegistered,
            endpoint_id=endpoint_id,
            url=url,
            types=sorted(set(types)) if types is not None else None,
            description=description,
            secret_fingerprint=secret_fingerprint,
            from_position=from_position,
            actor=str(actor),
            timestamp=now,
        )
        return endpoint_id

    def rotate_secret(self, endpoint_id: str, secret_fingerprint: str, actor: Actor, now: datetime) -> None:
        _check_operator(actor, "rotate a webhook secret")
        self.endpoint(endpoint_id)
        self.trigger_event(
            self.WebhookSecretRotated,
            endpoint_id=endpoint_id,
            secret_fingerprint=secret_fingerprint,
            actor=str(actor),
            timestamp=now,
        )

    def remove(self, endpoint_id: str, actor: Actor, now: datetime) -> None:
        _check_operator(actor, "remove a webhook endpoint")
        self.endpoint(endpoint_id)
        self.trigger_event(
            self.WebhookEndpointRemoved, endpoint_id=endpoint_id, actor=str(actor), timestamp=now
        )

    def replay(self, endpoint_id: str, from_position: int | None, actor: Actor, now: datetime) -> None:
        _check_operator(actor, "replay a webhook endpoint")
        self.endpoint(endpoint_id)
        if from_position is not None and from_position < 1:
            raise InvalidInput(f"from must be a position of 1 or more; got {from_position}")
        self.trigger_event(
            self.WebhookReplayRequested,
            endpoint_id=endpoint_id,
            from_position=from_position,
            actor=str(actor),
            timestamp=now,
        )

    def mark_failing(
        self,
        endpoint_id: str,
        position: int,
        failing_since: datetime,
        reason: str,
        actor: Actor,
        now: datetime,
    ) -> bool:
        """Record that deliveries kept failing; False (nothing recorded) if already marked or gone."""
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or endpoint["status"] == FAILING:
            return False
        if actor.kind != "system":
            raise NotAllowed("only the delivery process marks an endpoint failing")
        self.trigger_event(
            self.WebhookEndpointMarkedFailing,
            endpoint_id=endpoint_id,
            position=position,
            failing_since=failing_since,
            reason=reason[:500],
            actor=str(actor),
            timestamp=now,
        )
        return True

    def endpoint(self, endpoint_id: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}")
        return endpoint


def check_webhook_url(url: str) -> None:
    """Only absolute ``http(s)`` URLs with a host, without credentials or a fragment."""
    if not isinstance(url, str) or len(url) > MAX_URL or not url.isprintable() or " " in url:
        raise InvalidInput(f"url must be printable, without spaces, of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput(f"url is not a valid URL: {url!r}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"url must use http or https; got {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise InvalidInput("url must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url must not carry credentials; authenticate receivers by the signature")
    if parts.fragment:
        raise InvalidInput("url must not have a fragment")


def _check_operator(actor: Actor, action: str) -> None:
    if actor.kind != "operator":
        raise NotAllowed(f"only an operator may {action}")


__all__ = ["ACTIVE", "FAILING", "WebhookRegistry", "check_webhook_url"]
