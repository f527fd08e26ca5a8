"""WebhookCommands: the operators' webhook administration, and the delivery process's one command.

Each command runs through the service's own machinery (load, decide once, save atomically,
retry on conflict, replay command ids), so registrations are events like any other. A new
secret is kept in the webhook store *before* the event that names it by fingerprint is
saved; if that save fails, an unused secret row remains, which is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from commands.messages import MAX_TEXT, Command
from commands.service import BookingService
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.time import iso
from domain.webhooks import WebhookRegistry
from feed.public import PUBLIC_TYPES
from webhooks.signing import fingerprint, new_secret
from webhooks.store import WebhookStore

DELIVERER = Actor("system", "deliverer")


@dataclass(frozen=True)
class RegisterWebhook(Command):
    url: str
    types: list[str] | None
    description: str
    actor: str


@dataclass(frozen=True)
class RotateWebhookSecret(Command):
    endpoint_id: str
    actor: str


@dataclass(frozen=True)
class RemoveWebhook(Command):
    endpoint_id: str
    actor: str


@dataclass(frozen=True)
class ReplayWebhook(Command):
    endpoint_id: str
    from_position: int | None
    actor: str

    fingerprint_names: ClassVar[dict[str, str]] = {"from_position": "from"}


@dataclass(frozen=True)
class MarkWebhookFailing(Command):
    """The delivery process's command: record once that an endpoint kept failing."""

    endpoint_id: str
    position: int
    failing_since: datetime
    reason: str


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
        command = RegisterWebhook(url, types, description, str(actor))
        check_types(command.types)
        secret = self._new_secret()
        head = self.service.recorder.max_notification_id() or 0

        def decide(registry: WebhookRegistry, now: datetime) -> dict[str, Any]:
            endpoint_id = registry.register(
                url, types, description, fingerprint(secret), head + 1, Actor.parse(command.actor), now
            )
            return endpoint_view(registry.endpoint(endpoint_id), with_fingerprint=True)

        return self._run(command, command_id, decide)

    def rotate_secret(
        self, endpoint_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        command = RotateWebhookSecret(endpoint_id, str(actor))
        secret = self._new_secret()

        def decide(registry: WebhookRegistry, now: datetime) -> dict[str, Any]:
            registry.rotate_secret(endpoint_id, fingerprint(secret), Actor.parse(command.actor), now)
            return endpoint_view(registry.endpoint(endpoint_id), with_fingerprint=True)

        return self._run(command, command_id, decide)

    def remove_webhook(
        self, endpoint_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        command = RemoveWebhook(endpoint_id, str(actor))

        def decide(registry: WebhookRegistry, now: datetime) -> dict[str, Any]:
            registry.remove(endpoint_id, Actor.parse(command.actor), now)
            return {"id": endpoint_id, "status": "removed"}

        return self._run(command, command_id, decide)

    def replay_webhook(
        self,
        endpoint_id: str,
        from_position: int | None,
        *,
        actor: str | Actor,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        command = ReplayWebhook(endpoint_id, from_position, str(actor))

        def decide(registry: WebhookRegistry, now: datetime) -> dict[str, Any]:
            registry.replay(endpoint_id, from_position, Actor.parse(command.actor), now)
            return {**endpoint_view(registry.endpoint(endpoint_id)), "from": from_position}

        return self._run(command, command_id, decide)

    def mark_failing(self, endpoint_id: str, position: int, failing_since: datetime, reason: str) -> bool:
        """The delivery process's command: record once that an endpoint kept failing."""
        command = MarkWebhookFailing(endpoint_id, position, failing_since, reason[:MAX_TEXT])

        def decide(registry: WebhookRegistry, now: datetime) -> dict[str, Any]:
            recorded = registry.mark_failing(
                endpoint_id, position, command.failing_since, command.reason, DELIVERER, now
            )
            return {"recorded": recorded}

        return bool(self._run(command, None, decide)["recorded"])

    def _run(
        self,
        command: Command,
        command_id: str | None,
        decide: Callable[[WebhookRegistry, datetime], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run a decision on the registry through the service's ``_execute``: the command's
        fields are its idempotency fingerprint, its class its name."""

        def on_registry(now: datetime) -> tuple[Sequence[Aggregate], dict[str, Any]]:
            registry = self.registry(now)
            return [registry], decide(registry, now)

        return self.service._execute(command.name, command.arguments(), command_id, on_registry)

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


def check_types(types: list[str] | None) -> None:
    """``types``, when given, must be a non-empty list of published event types."""
    if types is None:
        return
    unknown = sorted(set(types) - set(PUBLIC_TYPES))
    if unknown or not types:
        raise InvalidInput(
            f"types must be a non-empty list of event types, of: {', '.join(PUBLIC_TYPES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
