"""WebhookCommands: the operators' webhook administration, and the delivery process's one command.

Each command runs through the service's own machinery (load, decide once, save atomically,
retry on conflict, replay command ids), so registrations are events like any other. A new
secret is kept in the webhook store *before* the event that names it by fingerprint is
saved; if that save fails, an unused secret row remains, which is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from commands.service import BookingService
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.time import iso
from domain.webhooks import WebhookRegistry
from feed.public import PUBLIC_TYPES
from webhooks.signing import fingerprint, new_secret
from webhooks.store import WebhookStore

DELIVERER = Actor("system", "deliverer")


class WebhookCommands:
    def __init__(self, service: BookingService, store: WebhookStore) -> None:
        self.service = service
        self.store = store

    def register_webhook(
        self,
        url: str,
        types: list[str] | None = None,
        description: str = "",
        *,
        actor: str | Actor,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        """Register an endpoint; the outcome names its new secret by ``secret_fingerprint``."""
        if types is not None:
            unknown = sorted(set(types) - set(PUBLIC_TYPES))
            if unknown or not types:
                raise InvalidInput(
                    f"types must be a non-empty list of event types, of: {', '.join(PUBLIC_TYPES)}"
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                )
        secret = self._new_secret()
        head = self.service.recorder.max_notification_id() or 0

        def decide(now: datetime) -> tuple[Sequence[Aggregate], dict[str, Any]]:
            registry = self.registry(now)
            endpoint_id = registry.register(
                url, types, description, fingerprint(secret), head + 1, Actor.parse(actor), now
            )
            return [registry], endpoint_view(registry.endpoint(endpoint_id), with_fingerprint=True)

        arguments = {"url": url, "types": types, "description": description, "actor": str(actor)}
        return self.service._execute("register_webhook", arguments, command_id, decide)

    def rotate_secret(
        self, endpoint_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        secret = self._new_secret()

        def decide(now: datetime) -> tuple[Sequence[Aggregate], dict[str, Any]]:
            registry = self.registry(now)
            registry.rotate_secret(endpoint_id, fingerprint(secret), Actor.parse(actor), now)
            return [registry], endpoint_view(registry.endpoint(endpoint_id), with_fingerprint=True)

        arguments = {"endpoint_id": endpoint_id, "actor": str(actor)}
        return self.service._execute("rotate_webhook_secret", arguments, command_id, decide)

    def remove_webhook(
        self, endpoint_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        def decide(now: datetime) -> tuple[Sequence[Aggregate], dict[str, Any]]:
            registry = self.registry(now)
            registry.remove(endpoint_id, Actor.parse(actor), now)
            return [registry], {"id": endpoint_id, "status": "removed"}

        arguments = {"endpoint_id": endpoint_id, "actor": str(actor)}
        return self.service._execute("remove_webhook", arguments, command_id, decide)

    def replay_webhook(
        self,
        endpoint_id: str,
        from_position: int | None,
        *,
        actor: str | Actor,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        def decide(now: datetime) -> tuple[Sequence[Aggregate], dict[str, Any]]:
            registry = self.registry(now)
            registry.replay(endpoint_id, from_position, Actor.parse(actor), now)
            return [registry], {**endpoint_view(registry.endpoint(endpoint_id)), "from": from_position}

        arguments = {"endpoint_id": endpoint_id, "from": from_position, "actor": str(actor)}
        return self.service._execute("replay_webhook", arguments, command_id, decide)

    def mark_failing(self, endpoint_id: str, position: int, failing_since: datetime, reason: str) -> bool:
        """The delivery process's command: record once that an endpoint kept failing."""

        def decide(now: datetime) -> tuple[Sequence[Aggregate], dict[str, Any]]:
            registry = self.registry(now)
            recorded = registry.mark_failing(endpoint_id, position, failing_since, reason, DELIVERER, now)
            return [registry], {"recorded": recorded}

        return bool(self.service._execute("mark_webhook_failing", {}, None, decide)["recorded"])

    # --- queries ---------------------------------------------------------------------------

    def registry(self, now: datetime | None = None) -> WebhookRegistry:
        found = self.service._find(WebhookRegistry, WebhookRegistry.id_for())
        return found or WebhookRegistry.open(now or self.service.clock.now())

    def list_webhooks(self) -> list[dict[str, Any]]:
        return [endpoint_view(e) for e in self.registry().endpoints.values()]

    def webhook(self, endpoint_id: str) -> dict[str, Any]:
        return endpoint_view(self.registry().endpoint(endpoint_id))

    def secret_for(self, outcome: dict[str, Any]) -> str | None:
        return self.store.secret(outcome["secret_fingerprint"])

    def _new_secret(self) -> str:
        secret = new_secret()
        self.store.keep_secret(fingerprint(secret), secret, self.service.clock.now())
        return secret


def endpoint_view(endpoint: dict[str, Any], with_fingerprint: bool = False) -> dict[str, Any]:
    view = {
        "id": endpoint["id"],
        "url": endpoint["url"],
        "types": endpoint["types"],
        "description": endpoint["description"],
        "status": endpoint["status"],
        "registered_at": iso(endpoint["registered_at"]),
        "from_position": endpoint["from_position"],
        "failing_since": iso(endpoint["failing_since"]) if endpoint["failing_since"] else None,
    }
    if with_fingerprint:
        view["secret_fingerprint"] = endpoint["secret_fingerprint"]
    return view
