"""Read routes: views from the projections, plus the few answers only an aggregate can give.

Views may lag the events by a moment; a caller that just wrote passes ``?after=<position>``
(the ``position`` of its write) and the read waits briefly until every view has applied it.
``GET /bookings/{id}`` and ``/bookings/{id}/policy`` read the Booking aggregate itself, so
they are always current; available start times are read from the provider's calendar.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from audit.asof import booking_as_of, ledger_as_of
from commands.reads import booking_read
from domain.errors import InvalidInput
from domain.time import iso
from entrypoints.http.auth import ActorHeader, Reader, Writer, acting_party
from entrypoints.http.commands import BookingPath, PartyPath, Service
from entrypoints.http.problems import READ_PROBLEMS, HTTPProblem, problem_responses
from entrypoints.http.responses import (
    AvailableStarts,
    BookingAsOf,
    BookingState,
    CreditBalances,
    CreditLedger,
    PolicyInForce,
    PolicyPreview,
    PolicyReview,
    RoomDetails,
    Rooms,
)
from entrypoints.http.schemas import MAX_LENGTH_MINUTES, MAX_POSITION, PRINTABLE_ID, parse_instant

if TYPE_CHECKING:
    from projections.queries import ReadModels

READ_YOUR_WRITES_TIMEOUT = 5.0
"""Seconds a read with ``?after=`` waits for the views before answering 503."""

DEFAULT_WINDOW = timedelta(days=14)

router = APIRouter(responses=READ_PROBLEMS)
VIEW_PROBLEMS = problem_responses(503)
"""Reads of the views answer 503 when ``?after=`` names a write they have not reached in time."""


async def caught_up_views(
    request: Request,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="wait until the views include this write position"),
    ] = None,
) -> ReadModels:
    """The views, once they include ``after``. ``async``: the wait holds no worker thread; only
    each short position query runs on one."""
    read_models: ReadModels = request.app.state.read_models
    if after:
        recorder = request.app.state.service.recorder
        head = await run_in_threadpool(recorder.max_notification_id) or 0
        if after > head:
            raise HTTPProblem(
                422, "invalid_input", f"after={after} is beyond the last recorded position {head}"
            )
        if not await _wait_for(read_models, after, READ_YOUR_WRITES_TIMEOUT):
            raise HTTPProblem(
                503,
                "views_behind",
                f"the views have not reached position {after} yet; retry shortly",
                {"Retry-After": "1"},
            )
    return read_models


async def _wait_for(read_models: ReadModels, position: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        positions = await run_in_threadpool(read_models.positions)
        if min(positions.values()) >= position:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.1)


Views = Annotated["ReadModels", Depends(caught_up_views)]
AsOf = Annotated[
    str | None, Query(max_length=64, description="instant with offset: the state then, replayed from events")
]


@router.get("/rooms/{room_id}", tags=["rooms"], response_model=RoomDetails, responses=VIEW_PROBLEMS)
def get_room(room_id: BookingPath, caller: Reader, views: Views) -> dict[str, Any]:
    """The room details view: provider, sessions with their deadlines and actions, credits."""
    details = views.room_details(room_id)
    if details is None:
        raise HTTPProblem(404, "not_found", f"no room with id {room_id!r}")
    return room_resource(rendered(details))


@router.get("/members/{member_id}/rooms", tags=["rooms"], response_model=Rooms, responses=VIEW_PROBLEMS)
def list_member_rooms(member_id: PartyPath, caller: Reader, views: Views) -> dict[str, Any]:
    return {"rooms": [room_resource(r) for r in rendered(views.rooms_of_member(member_id))]}


@router.get("/providers/{provider_id}/rooms", tags=["rooms"], response_model=Rooms, responses=VIEW_PROBLEMS)
def list_provider_rooms(provider_id: PartyPath, caller: Reader, views: Views) -> dict[str, Any]:
    return {"rooms": [room_resource(r) for r in rendered(views.rooms_of_provider(provider_id))]}


@router.get(
    "/members/{member_id}/credits",
    tags=["credits"],
    response_model=CreditBalances | CreditLedger,
    responses=VIEW_PROBLEMS,
)
def get_credit_balances(
    member_id: PartyPath, caller: Reader, views: Views, service: Service, as_of: AsOf = None
) -> dict[str, Any]:
    """Balances by status (available, held, consumed, forfeited, restored) and by source (all
    zero for a member who never had a credit); with ``as_of``, the ledger at that instant,
    replayed from its events (the audit's shape)."""
    if as_of is not None:
        return ledger_as_of(service, member_id, at=_query_instant(as_of, "as_of"))
    balances = views.credit_balances(member_id) or views.no_credits(member_id)
    return dict(rendered(balances))


@router.get("/providers/{provider_id}/availability", tags=["providers"], response_model=AvailableStarts)
def list_available_starts(
    provider_id: PartyPath,
    caller: Writer,
    service: Service,
    length: Annotated[int, Query(ge=1, le=MAX_LENGTH_MINUTES, description="session length in minutes")],
    from_: Annotated[
        str | None, Query(alias="from", max_length=64, description="instant with offset")
    ] = None,
    to: Annotated[str | None, Query(max_length=64, description="instant with offset")] = None,
    excluding: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=PRINTABLE_ID,
            description="a booking being rescheduled: its own slot is not in the way (only for its "
            "member, its provider or an operator, named in X-Actor)",
        ),
    ] = None,
    x_actor: ActorHeader = None,
) -> dict[str, Any]:
    """Start instants on the slot grid that are free and bookable right now; with
    ``excluding=<booking_id>``, also those overlapping that booking's current slot: only for
    that booking's member or provider, or an operator, named in ``X-Actor`` (else 403)."""
    begin = _query_instant(from_, "from") if from_ is not None else service.clock.now()
    end = _query_instant(to, "to") if to is not None else begin + DEFAULT_WINDOW
    actor = acting_party(caller, x_actor) if x_actor is not None else None
    starts = service.available_starts(provider_id, length, begin, end, excluding=excluding, actor=actor)
    return {"provider_id": provider_id, "length_minutes": length, "starts": [iso(s) for s in starts]}


@router.get("/bookings/{booking_id}", tags=["bookings"], response_model=BookingState | BookingAsOf)
def get_booking(
    booking_id: BookingPath, caller: Reader, service: Service, as_of: AsOf = None
) -> dict[str, Any]:
    """The booking's current state, read from its aggregate (always current); with ``as_of``,
    its state at that instant, replayed from its events (the audit's shape)."""
    if as_of is not None:
        return booking_as_of(service, booking_id, at=_query_instant(as_of, "as_of"))
    return booking_read(service.get_booking(booking_id), service.clock.now())


@router.get("/bookings/{booking_id}/policy", tags=["bookings"], response_model=PolicyReview)
def review_booking_policy(
    booking_id: BookingPath,
    caller: Writer,
    service: Service,
    starts_at: Annotated[
        str | None, Query(max_length=64, description="a new start to preview rescheduling to (with offset)")
    ] = None,
) -> dict[str, Any]:
    """What a member cancel or reschedule would do right now: free or forfeit, and why; with
    ``starts_at``, also what rescheduling to that start would mean (``reschedule_to``)."""
    new_start = _query_instant(starts_at, "starts_at") if starts_at is not None else None
    return service.review_policy(booking_id, new_start)


@router.get("/policy/preview", tags=["policy"], response_model=PolicyPreview)
def preview_policy(
    caller: Reader,
    service: Service,
    starts_at: Annotated[str, Query(max_length=64, description="the prospective start, with offset")],
    length_minutes: Annotated[
        int | None, Query(ge=1, le=MAX_LENGTH_MINUTES, description="session length in minutes")
    ] = None,
    member_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=PRINTABLE_ID,
            description="the member who would book: a start is bookable now only if they have a credit",
        ),
    ] = None,
) -> dict[str, Any]:
    """Review the cancellation policy before booking: for that start and now, the deadlines,
    whether it can be booked now (and why not), and what a change would cost at each stage.
    With ``member_id``, their credits count: none available is ``no_credit_available``."""
    return service.preview_policy(_query_instant(starts_at, "starts_at"), length_minutes, member_id)


@router.get("/policy", tags=["policy"], response_model=PolicyInForce)
def get_policy(caller: Reader, request: Request) -> dict[str, Any]:
    """The policy new bookings are reserved under: its numbers, version and description."""
    policy = request.app.state.service.policy
    return {"version": policy.version, "numbers": policy.to_dict(), "description": policy.describe()}


def room_resource(room: dict[str, Any]) -> dict[str, Any]:
    """A room as a resource: its own id under ``id``."""
    return {"id": room["room_id"], **{k: v for k, v in room.items() if k != "room_id"}}


def rendered(value: Any) -> Any:
    """View rows made JSON-ready, with every instant rendered the one way (UTC, ``Z``)."""
    if isinstance(value, datetime):
        return iso(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, dict):
        return {k: rendered(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rendered(v) for v in value]
    return value


def _query_instant(value: str, name: str) -> datetime:
    try:
        return parse_instant(value, name)
    except InvalidInput as error:
        hint = " (a '+' in a query string must be sent as %2B, or use Z)" if " " in value else ""
        raise InvalidInput(error.message + hint) from None
