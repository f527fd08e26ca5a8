"""Audit routes: a booking's history for auditors (and operators). Read-only.

``as_of`` on ``GET /bookings/{id}`` and ``GET /members/{id}/credits`` lives with those routes
(``entrypoints/http/reads.py``) and calls ``audit.asof``. Everything here is answered from
the events, never from the views.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from audit.history import booking_history
from entrypoints.http.auth import AUDITOR, OPERATOR, Caller, needs_role
from entrypoints.http.commands import BookingPath, Service
from entrypoints.http.problems import READ_PROBLEMS
from entrypoints.http.responses import BookingHistory

Auditor = Annotated[Caller, Depends(needs_role(AUDITOR, OPERATOR))]

router = APIRouter(responses=READ_PROBLEMS)


@router.get("/bookings/{booking_id}/history", tags=["audit"], response_model=BookingHistory)
def get_booking_history(booking_id: BookingPath, caller: Auditor, service: Service) -> dict[str, Any]:
    """Every event of the booking in order (type, instant, actor, data, policy version), with
    the credit-ledger movements it caused."""
    return booking_history(service, booking_id)
