"""Webhook administration: operators register, list, remove, rotate and replay endpoints.

Thin: parse, call one webhook command or query, render. Every change is an event (audited);
a signing secret appears in exactly one kind of answer, the one that created it (a retry
with the same Idempotency-Key gets that answer again), and never in a read or a log line.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from commands.webhooks import WebhookCommands
from domain.time import iso
from entrypoints.http.auth import (
    AUDITOR,
    OPERATOR,
    ActorHeader,
    Caller,
    IdempotencyKeyHeader,
    OperatorCaller,
    acting_party,
    command_id,
    needs_role,
)
from entrypoints.http.problems import PROBLEM_RESPONSES
from entrypoints.http.schemas import MAX_POSITION, Body
from feed.public import PUBLIC_TYPES
from webhooks.store import WebhookStore

OPERATOR_ACTOR = "operator:api"
"""Recorded when an operator token changes webhooks without naming itself in X-Actor."""

AuditorOrOperator = Annotated[Caller, Depends(needs_role(AUDITOR, OPERATOR))]
EndpointPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-fA-F-]+$")]

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["webhooks"])


class RegisterWebhook(Body):
    url: Annotated[str, Field(min_length=1, max_length=2000, examples=["https://example.com/hooks/booking"])]
    types: Annotated[
        list[str] | None,
        Field(max_length=len(PUBLIC_TYPES), description="event types to send (default: every type)"),
    ] = None
    description: Annotated[str, Field(max_length=500)] = ""


class Webhook(BaseModel):
    id: str
    url: str
    types: list[str] | None = Field(description="the event types sent; null: every type")
    description: str
    status: str = Field(description="active, or failing (deliveries stopped until a replay)")
    registered_at: str
    from_position: int = Field(description="the first position this endpoint may receive")
    failing_since: str | None
    delivery_position: int | None = Field(None, description="all events up to here delivered or skipped")
    next_attempt_at: str | None = Field(None, description="when a failed delivery is retried")


class WebhookCreated(Webhook):
    secret: str = Field(description="the signing secret (whsec_…); shown only in this answer")


class WebhookSecret(BaseModel):
    id: str
    secret: str = Field(description="the new signing secret; shown only in this answer")


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class WebhookRemoved(BaseModel):
    id: str
    status: str


class WebhookReplay(BaseModel):
    id: str
    from_: int | None = Field(alias="from", description="the first position sent again (null: resume)")
    status: str


class Delivery(BaseModel):
    position: int
    event_id: str = Field(description="the webhook-id sent")
    attempted_at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None = Field(description="the start of the receiver's answer (200 characters)")


class Deliveries(BaseModel):
    id: str
    deliveries: list[Delivery]


def webhooks_of(request: Request) -> WebhookCommands:
    state = request.app.state
    if getattr(state, "webhooks", None) is None:
        state.webhooks = WebhookCommands(state.service, WebhookStore(state.read_models.engine))
    commands: WebhookCommands = state.webhooks
    return commands


Webhooks = Annotated[WebhookCommands, Depends(webhooks_of)]


@router.post("/webhooks", status_code=201, operation_id="register_webhook", response_model=WebhookCreated)
def register_webhook(
    body: RegisterWebhook,
    caller: OperatorCaller,
    webhooks: Webhooks,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Register an endpoint for every event committed from now on (of ``types``, if given).
    The answer carries the signing secret; it is never shown again (rotate to get a new one)."""
    outcome = webhooks.register_webhook(
        body.url,
        body.types,
        body.description,
        actor=acting_party(caller, x_actor, OPERATOR_ACTOR),
        command_id=command_id("register_webhook", idempotency_key),
    )
    return {**outcome, "secret": webhooks.secret_for(outcome)}


@router.get("/webhooks", operation_id="list_webhooks", response_model=WebhookList)
def list_webhooks(caller: AuditorOrOperator, webhooks: Webhooks) -> dict[str, Any]:
    """Every registered endpoint with its delivery position (never its secret)."""
    return {"webhooks": [_with_delivery(webhooks, w) for w in webhooks.list_webhooks()]}


@router.get("/webhooks/{endpoint_id}", operation_id="get_webhook", response_model=Webhook)
def get_webhook(endpoint_id: EndpointPath, caller: AuditorOrOperator, webhooks: Webhooks) -> dict[str, Any]:
    return _with_delivery(webhooks, webhooks.webhook(endpoint_id))


@router.delete("/webhooks/{endpoint_id}", operation_id="delete_webhook", response_model=WebhookRemoved)
def delete_webhook(
    endpoint_id: EndpointPath,
    caller: OperatorCaller,
    webhooks: Webhooks,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Remove an endpoint; nothing more is sent to it."""
    return webhooks.remove_webhook(
        endpoint_id,
        actor=acting_party(caller, x_actor, OPERATOR_ACTOR),
        command_id=command_id("delete_webhook", idempotency_key),
    )


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    operation_id="rotate_webhook_secret",
    response_model=WebhookSecret,
)
def rotate_webhook_secret(
    endpoint_id: EndpointPath,
    caller: OperatorCaller,
    webhooks: Webhooks,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Replace the signing secret; deliveries from now on are signed with the new one."""
    outcome = webhooks.rotate_secret(
        endpoint_id,
        actor=acting_party(caller, x_actor, OPERATOR_ACTOR),
        command_id=command_id("rotate_webhook_secret", idempotency_key),
    )
    return {"id": outcome["id"], "secret": webhooks.secret_for(outcome)}


@router.post(
    "/webhooks/{endpoint_id}/replay",
    status_code=202,
    operation_id="replay_webhook",
    response_model=WebhookReplay,
)
def replay_webhook(
    endpoint_id: EndpointPath,
    caller: OperatorCaller,
    webhooks: Webhooks,
    from_: Annotated[
        int | None,
        Query(
            alias="from",
            ge=1,
            le=MAX_POSITION,
            description="send again from this position (default: resume where it stopped)",
        ),
    ] = None,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Send every matching event again from position ``from`` (inclusive), or resume a failing
    endpoint where it stopped. The endpoint becomes active again."""
    outcome = webhooks.replay_webhook(
        endpoint_id,
        from_,
        actor=acting_party(caller, x_actor, OPERATOR_ACTOR),
        command_id=command_id("replay_webhook", idempotency_key),
    )
    return {"id": outcome["id"], "from": outcome["from"], "status": outcome["status"]}


@router.get(
    "/webhooks/{endpoint_id}/deliveries", operation_id="list_webhook_deliveries", response_model=Deliveries
)
def list_webhook_deliveries(
    endpoint_id: EndpointPath,
    caller: AuditorOrOperator,
    webhooks: Webhooks,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The most recent delivery attempts, newest first: status, latency, error, answer excerpt."""
    webhooks.webhook(endpoint_id)  # 404 for an unknown endpoint
    attempts = webhooks.store.recent_attempts(endpoint_id, limit)
    return {
        "id": endpoint_id,
        "deliveries": [
            {
                **{k: v for k, v in a.items() if k not in ("id", "endpoint_id")},
                "attempted_at": iso(a["attempted_at"]),
            }
            for a in attempts
        ],
    }


def _with_delivery(webhooks: WebhookCommands, view: dict[str, Any]) -> dict[str, Any]:
    state = webhooks.store.state(view["id"])
    return {
        **view,
        "delivery_position": state.position if state else None,
        "next_attempt_at": iso(state.next_attempt_at) if state and state.next_attempt_at else None,
    }
