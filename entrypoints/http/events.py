"""``GET /events``: the ordered feed of published events, with filters and long-polling.

Thin: parse the query, read one page from ``feed.EventFeed`` (in a worker thread), and if
nothing new matched and the caller asked to ``wait``, sleep on the process's
``feed.CommitSignal`` (not on a worker thread, so long-polls never starve other requests).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from entrypoints.http.auth import Reader
from entrypoints.http.problems import PROBLEM_RESPONSES, HTTPProblem
from entrypoints.http.schemas import MAX_POSITION, PRINTABLE_ID
from feed.public import PUBLIC_TYPES, EventPage
from feed.reader import MAX_LIMIT, EventFeed, FeedFilter, Page
from feed.signal import CommitSignal

MAX_WAIT = 30.0

router = APIRouter(responses=PROBLEM_RESPONSES)

PartyQuery = Annotated[str | None, Query(min_length=1, max_length=200, pattern=PRINTABLE_ID)]


def feed_of(request: Request) -> tuple[EventFeed, CommitSignal]:
    """The process's feed and commit signal, made on first use from the command service."""
    state = request.app.state
    if getattr(state, "feed", None) is None:
        service = state.service
        state.commit_signal = CommitSignal(service.recorder)
        state.feed = EventFeed(service.recorder, service.mapper)
    return state.feed, state.commit_signal


@router.get("/events", tags=["events"], operation_id="list_events", response_model=EventPage)
async def list_events(
    request: Request,
    caller: Reader,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="the position to read after (0: from the start)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many events")] = 100,
    types: Annotated[
        str | None,
        Query(max_length=2000, description=f"comma-separated event types, of: {', '.join(PUBLIC_TYPES)}"),
    ] = None,
    member: PartyQuery = None,
    provider: PartyQuery = None,
    booking: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE_ID)] = None,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for a new matching event (long-poll)")
    ] = 0,
) -> dict[str, Any]:
    """Committed events after ``after``, oldest first, each in its public shape (one schema per
    ``type``), and ``next_after``, the position to ask from next. Filters never skip a position
    silently: ``next_after`` moves past what they filtered out. With ``wait``, answers as soon as
    a matching event is committed, or with no events when the wait is over."""
    wanted = FeedFilter.of(
        [t.strip() for t in types.split(",") if t.strip()] if types is not None else None,
        member,
        provider,
        booking,
    )
    feed, signal = feed_of(request)
    head = await run_in_threadpool(feed.head)
    if after > head:
        raise HTTPProblem(422, "invalid_input", f"after={after} is beyond the last recorded position {head}")
    deadline = time.monotonic() + wait
    position = after
    while True:
        waiter = signal.waiter() if wait else None
        try:
            page: Page = await run_in_threadpool(feed.page, position, limit, wanted)
            remaining = deadline - time.monotonic()
            if page.events or waiter is None or remaining <= 0 or page.next_after < page.head:
                return {"events": page.events, "next_after": page.next_after, "head": page.head}
            position = page.next_after
            await waiter.wait(remaining)
        finally:
            if waiter is not None:
                waiter.close()
