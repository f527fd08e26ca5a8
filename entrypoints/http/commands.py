"""Write routes: each maps its body to a command (``commands.messages``), has the service
handle it, and renders the outcome.

A route runs on the event loop and hands only the command to a worker thread (the service
blocks on the database): FastAPI then checks the answer against its response model on the
loop, where a synchronous route would take a second hop to a thread for it.

Every write honours ``Idempotency-Key`` by passing it (namespaced by command) as the
service's ``command_id``; the service replays the first outcome and writes nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from commands import messages as m
from commands.service import BookingService
from domain.time import to_utc
from entrypoints.http.auth import (
    ActorHeader,
    IdempotencyKeyHeader,
    OperatorCaller,
    RequiredActorHeader,
    Writer,
    acting_party,
    command_id,
)
from entrypoints.http.problems import WRITE_PROBLEMS, HTTPProblem
from entrypoints.http.responses import AvailabilityPublished, BookingChanged, CreditsAdded, ProposalMade, Room
from entrypoints.http.schemas import (
    PRINTABLE_ID,
    AddCredits,
    CancelSession,
    DeclineSession,
    MemberJoined,
    OpenRoom,
    ProposeStart,
    PublishAvailability,
    ReportNoShow,
    RescheduleSession,
    ReserveSession,
    RevokeForfeit,
)

SERVICE_ACTOR = "system:api"
"""Recorded as the actor when a service opens rooms, publishes or adds credits on its own behalf."""


async def service_of(request: Request) -> BookingService:
    service: BookingService = request.app.state.service
    return service


Service = Annotated[BookingService, Depends(service_of)]
PartyPath = Annotated[str, Path(min_length=1, max_length=200, pattern=PRINTABLE_ID)]
BookingPath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE_ID)]

router = APIRouter(responses=WRITE_PROBLEMS)


async def no_body(request: Request) -> None:
    """Commands without arguments take no body; an empty one, ``{}`` or ``null`` is accepted too."""
    raw = await request.body()
    if not raw.strip():
        return
    try:
        value = json.loads(raw)
    except ValueError:
        raise HTTPProblem(400, "malformed_json", "the request body is not valid JSON") from None
    if value not in ({}, None):
        raise HTTPProblem(422, "invalid_input", "this command takes no body; send none or {}")


NoBody = Annotated[None, Depends(no_body)]


async def handled(service: BookingService, command: m.Command, idempotency_key: str | None) -> dict[str, Any]:
    """The service's outcome of ``command``, run on a worker thread (it blocks on the database),
    replayed for a repeated ``Idempotency-Key``."""
    return await run_in_threadpool(service.handle, command, command_id(command.name, idempotency_key))


def with_id(outcome: dict[str, Any], id_key: str | None = None) -> dict[str, Any]:
    """The service's outcome with its aggregate id under ``id``."""
    if id_key is None:
        return dict(outcome)
    return {"id": outcome[id_key], **{k: v for k, v in outcome.items() if k != id_key}}


@router.post(
    "/rooms",
    status_code=201,
    tags=["rooms"],
    response_model=Room,
    responses={200: {"model": Room, "description": "the pair already has a room: that room"}},
)
async def open_room(
    body: OpenRoom,
    caller: Writer,
    service: Service,
    response: Response,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Open the room pairing a member with a provider (201), or answer the room the pair
    already has (200, same id): a member has one room per provider."""
    actor = acting_party(caller, x_actor, SERVICE_ACTOR)
    outcome = await handled(service, m.OpenRoom(body.member_id, body.provider_id, actor), idempotency_key)
    if outcome.get("created") is False:
        response.status_code = 200
    return with_id(outcome, "room_id")


@router.put("/providers/{provider_id}/availability", tags=["providers"], response_model=AvailabilityPublished)
async def publish_availability(
    provider_id: PartyPath,
    body: PublishAvailability,
    caller: Writer,
    service: Service,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Publish the provider's weekly hours (local time in ``timezone``) and exceptions."""
    actor = acting_party(caller, x_actor, SERVICE_ACTOR)
    return await handled(
        service, m.PublishAvailability(provider_id, body.model_dump(), actor), idempotency_key
    )


@router.post("/members/{member_id}/credits", tags=["credits"], response_model=CreditsAdded)
async def add_credits(
    member_id: PartyPath,
    body: AddCredits,
    caller: Writer,
    service: Service,
    x_actor: ActorHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Add purchased or granted session credits to a member's account, once per ``reference``:
    a repeat answers the first outcome and adds nothing, whatever its ``Idempotency-Key``; the
    same reference with another count or source is refused (409 ``reference_conflict``).
    ``insurance`` and ``employer`` grants need an operator or a ``system:<name>`` actor (the
    calling billing service may name itself in ``X-Actor``; without it, ``system:api``)."""
    actor = acting_party(caller, x_actor, SERVICE_ACTOR, system=True)
    command = m.AddCredits(member_id, body.source, body.count, body.reference, actor)
    return await handled(service, command, idempotency_key)


@router.post("/bookings", status_code=201, tags=["bookings"], response_model=BookingChanged)
async def reserve_session(
    body: ReserveSession,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Reserve a session in a room (as its member): holds a slot and a credit."""
    actor = acting_party(caller, x_actor)
    start = to_utc(body.starts_at, "starts_at")
    command = m.ReserveSession(body.room_id, start, body.length_minutes, body.format, actor)
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/confirm", tags=["bookings"], response_model=BookingChanged)
async def confirm_session(
    booking_id: BookingPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    _: NoBody,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The provider confirms a pending booking before its ``confirm_by``."""
    command = m.ConfirmSession(booking_id, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/decline", tags=["bookings"], response_model=BookingChanged)
async def decline_session(
    booking_id: BookingPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    body: Annotated[DeclineSession, Body(default_factory=DeclineSession)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The provider declines a pending booking; the member's credit is released."""
    command = m.DeclineSession(booking_id, body.reason, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/reschedule", tags=["bookings"], response_model=BookingChanged)
async def reschedule_session(
    booking_id: BookingPath,
    body: RescheduleSession,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The member moves the session; late moves need ``accept_forfeit``."""
    actor = acting_party(caller, x_actor)
    start = to_utc(body.starts_at, "starts_at")
    command = m.RescheduleSession(booking_id, start, body.accept_forfeit, actor)
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/cancel", tags=["bookings"], response_model=BookingChanged)
async def cancel_session(
    booking_id: BookingPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    body: Annotated[CancelSession, Body(default_factory=CancelSession)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The member or the provider cancels; a late member cancel needs ``accept_forfeit``. An
    operator (``X-Actor: operator:<id>``, operator token) may cancel for the member at any time
    before the start, free, giving a ``reason``; the history records it as the operator's act."""
    command = m.CancelSession(booking_id, body.reason, body.accept_forfeit, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


ProposalPath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE_ID)]


@router.post(
    "/bookings/{booking_id}/proposals", status_code=201, tags=["proposals"], response_model=ProposalMade
)
async def propose_start(
    booking_id: BookingPath,
    body: ProposeStart,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The booking's provider proposes another start, one they could be booked at now. It moves
    nothing until the member accepts; it expires when that start could no longer be booked and
    is superseded by any other change of the booking."""
    command = m.ProposeStart(booking_id, to_utc(body.starts_at, "starts_at"), acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "proposal_id")


@router.post(
    "/bookings/{booking_id}/proposals/{proposal_id}/accept", tags=["proposals"], response_model=BookingChanged
)
async def accept_proposal(
    booking_id: BookingPath,
    proposal_id: ProposalPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    _: NoBody,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The member accepts the provider's proposal: the session moves there, confirmed (the
    provider already agreed), and the credit is kept whatever the time."""
    command = m.AcceptProposal(booking_id, proposal_id, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post(
    "/bookings/{booking_id}/proposals/{proposal_id}/decline",
    tags=["proposals"],
    response_model=BookingChanged,
)
async def decline_proposal(
    booking_id: BookingPath,
    proposal_id: ProposalPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    _: NoBody,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The member declines the provider's proposal; nothing else changes."""
    command = m.DeclineProposal(booking_id, proposal_id, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/joined", tags=["attendance"], response_model=BookingChanged)
async def record_member_joined(
    booking_id: BookingPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    body: MemberJoined | None = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Record a party's presence in the session, once each, inside the join window: body
    ``{"party": "member"}`` (or none) for the member's join, by the member or the platform;
    ``{"party": "provider"}`` for the provider's, by the provider or the platform. Once the
    provider's presence is recorded the provider cannot be reported absent; the member's join
    is what lets the provider complete the session."""
    actor = acting_party(caller, x_actor)
    command: m.Command
    if body is not None and body.party == "provider":
        command = m.RecordProviderJoined(booking_id, actor)
    else:
        command = m.RecordMemberJoined(booking_id, actor)
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/complete", tags=["attendance"], response_model=BookingChanged)
async def complete_session(
    booking_id: BookingPath,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    _: NoBody,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """The provider marks a started session completed; the credit is consumed."""
    command = m.CompleteSession(booking_id, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/no-show", tags=["attendance"], response_model=BookingChanged)
async def report_no_show(
    booking_id: BookingPath,
    body: ReportNoShow,
    caller: Writer,
    service: Service,
    x_actor: RequiredActorHeader,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Report the absent party of a started session."""
    command = m.ReportNoShow(booking_id, body.absent_party, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")


@router.post("/bookings/{booking_id}/revoke-forfeit", tags=["corrections"], response_model=BookingChanged)
async def revoke_forfeit(
    booking_id: BookingPath,
    body: RevokeForfeit,
    caller: OperatorCaller,
    service: Service,
    x_actor: RequiredActorHeader,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """An operator restores a wrongly forfeited credit (a new event; the past is kept)."""
    command = m.RevokeForfeit(booking_id, body.reason, acting_party(caller, x_actor))
    outcome = await handled(service, command, idempotency_key)
    return with_id(outcome, "booking_id")
