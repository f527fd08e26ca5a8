"""A booking's life as a function of its recorded instants and ``now``.

One rule answers, for any instant, which status the booking is in for every decision and
which commands would be accepted; the aggregate's checks, the booking read, the room view
and the policy review all ask it. It never asks whether a deadline event has been recorded:
a pending booking is expired from ``confirm_by`` on, and a confirmed session is completed
(join recorded) or a member no-show (none) from ``session_end_due`` on, whether or not the
scheduler has run yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.policy import Policy
from domain.time import iso

PENDING = "pending_confirmation"
CONFIRMED = "confirmed"
DECLINED = "declined"
EXPIRED = "expired"
CANCELLED = "cancelled"
COMPLETED = "completed"
NO_SHOW = "no_show"
LIVE = (PENDING, CONFIRMED)
FINAL = (DECLINED, EXPIRED, CANCELLED, COMPLETED, NO_SHOW)
STATUSES = (*LIVE, *FINAL)

CONFIRM = "confirm"
DECLINE = "decline"
RESCHEDULE = "reschedule"
CANCEL = "cancel"
JOINED = "joined"
COMPLETE = "complete"
NO_SHOW_ACTION = "no-show"
ACTIONS = (CONFIRM, DECLINE, RESCHEDULE, CANCEL, JOINED, COMPLETE, NO_SHOW_ACTION)
"""Every action, spelled as the HTTP route segment that runs it."""

MEMBER = "member"
PROVIDER = "provider"
ABSENT_PARTIES = (MEMBER, PROVIDER)


@dataclass(frozen=True)
class Timeline:
    """What the rules need of a booking: its recorded status and instants, and its policy."""

    status: str
    starts_at: datetime
    ends_at: datetime
    confirm_by: datetime
    free_until: datetime
    session_end_due: datetime
    joined_at: datetime | None
    policy: Policy
    provider_joined_at: datetime | None = None
    outside_availability: bool = False

    @classmethod
    def of(cls, recorded: Any, policy: Policy) -> Timeline:
        """From anything that keeps a booking's instants under their own names: the aggregate,
        or a row of the room view."""
        return cls(
            status=recorded.status,
            starts_at=recorded.starts_at,
            ends_at=recorded.ends_at,
            confirm_by=recorded.confirm_by,
            free_until=recorded.free_until,
            session_end_due=recorded.session_end_due,
            joined_at=recorded.joined_at,
            policy=policy,
            provider_joined_at=recorded.provider_joined_at,
            outside_availability=bool(recorded.outside_availability),
        )

    @property
    def join_opens_at(self) -> datetime:
        return self.starts_at - self.policy.join_opens_before

    @property
    def provider_absent_from(self) -> datetime:
        """From when the member (or an operator) may report the provider absent."""
        return self.starts_at + self.policy.provider_late_grace

    @property
    def member_absent_from(self) -> datetime:
        """From when the provider may report the member absent (if no join is recorded)."""
        return self.starts_at + self.policy.member_late_grace


def status_at(t: Timeline, now: datetime) -> str:
    """The status every decision at ``now`` uses."""
    if t.status == PENDING and now >= t.confirm_by:
        return EXPIRED
    if t.status == CONFIRMED and now >= t.session_end_due:
        return COMPLETED if t.joined_at is not None else NO_SHOW
    return t.status


CREDIT_AFTER = {EXPIRED: "available", NO_SHOW: "forfeited", COMPLETED: "consumed"}
"""What a booking's final status does with the credit it held: an expiry gives it back, a
member's no-show at the session's end forfeits it, a completion consumes it."""


def unrecorded_credit_status(t: Timeline, now: datetime) -> str | None:
    """The status of the booking's credit that its status at ``now`` implies while its recorded
    status still holds the credit (the deadline is due but not recorded yet); None otherwise.
    Every answer about money counts by it, so a balance agrees with the booking at every
    instant, with or without the scheduler."""
    if t.status not in LIVE:
        return None
    status = status_at(t, now)
    return CREDIT_AFTER.get(status) if status != t.status else None


def change_is_free(t: Timeline, now: datetime) -> bool:
    """A member cancel or reschedule at ``now`` keeps the credit: the booking is open and
    either not yet confirmed, before ``free_until``, or no longer covered by the provider's
    hours (a change the member did not make)."""
    status = status_at(t, now)
    return why_not(t, CANCEL, now) is None and (
        status == PENDING or now < t.free_until or t.outside_availability
    )


def why_not(t: Timeline, action: str, now: datetime, absent_party: str | None = None) -> str | None:
    """Why ``action`` would be refused at ``now`` by a party allowed to take it, or None.

    ``absent_party`` narrows ``no-show`` to one report (``member`` by the provider,
    ``provider`` by the member or an operator); without it, either report counts.
    """
    status = status_at(t, now)
    if action == NO_SHOW_ACTION:
        parties = (absent_party,) if absent_party else ABSENT_PARTIES
        reasons = [_why_not_no_show(t, status, now, party) for party in parties]
        return None if None in reasons else reasons[0]
    return _RULES[action](t, status, now)


def allowed_actions(t: Timeline, now: datetime) -> tuple[str, ...]:
    """Exactly the actions a party allowed to take them could take at ``now``."""
    return tuple(action for action in ACTIONS if why_not(t, action, now) is None)


def _only_when(status: str, *allowed: str, action: str) -> str | None:
    return None if status in allowed else f"cannot {action} a booking that is {status}"


def _confirm_or_decline(action: str) -> Callable[[Timeline, str, datetime], str | None]:
    def rule(t: Timeline, status: str, now: datetime) -> str | None:
        if t.status == PENDING and status == EXPIRED:
            return f"too late to {action}: the confirmation deadline was {iso(t.confirm_by)}"
        return _only_when(status, PENDING, action=action)

    return rule


def _before_start(action: str) -> Callable[[Timeline, str, datetime], str | None]:
    def rule(t: Timeline, status: str, now: datetime) -> str | None:
        refused = _only_when(status, *LIVE, action=action)
        if refused is None and now >= t.starts_at:
            return f"cannot {action}: the session started at {iso(t.starts_at)}"
        return refused

    return rule


def _why_not_joined(t: Timeline, status: str, now: datetime) -> str | None:
    refused = _only_when(status, CONFIRMED, action="record a join for")
    if refused is None and not t.join_opens_at <= now < t.session_end_due:
        return (
            f"joins are recorded from {iso(t.join_opens_at)} until {iso(t.session_end_due)}; "
            f"now is {iso(now)}"
        )
    return refused


def _why_not_complete(t: Timeline, status: str, now: datetime) -> str | None:
    refused = _only_when(status, CONFIRMED, action="complete")
    if refused is None and now < t.starts_at:
        return f"cannot complete before the session starts at {iso(t.starts_at)}"
    if refused is None and t.joined_at is None:
        return "cannot complete a session the member has not joined: no join of the member is recorded"
    return refused


def _why_not_no_show(t: Timeline, status: str, now: datetime, absent_party: str) -> str | None:
    refused = _only_when(status, CONFIRMED, action="record a no-show for")
    if refused is not None:
        return refused
    if absent_party == MEMBER:
        if t.joined_at is not None:
            return f"the member's join was recorded at {iso(t.joined_at)}; they were not absent"
        if now < t.member_absent_from:
            return f"the member can be reported absent only from {iso(t.member_absent_from)}"
        return None
    if t.provider_joined_at is not None:
        return f"the provider's presence was recorded at {iso(t.provider_joined_at)}; they were not absent"
    if now < t.provider_absent_from:
        return f"the provider can be reported absent only from {iso(t.provider_absent_from)}"
    return None


_RULES: dict[str, Callable[[Timeline, str, datetime], str | None]] = {
    CONFIRM: _confirm_or_decline("confirm"),
    DECLINE: _confirm_or_decline("decline"),
    RESCHEDULE: _before_start("reschedule"),
    CANCEL: _before_start("cancel"),
    JOINED: _why_not_joined,
    COMPLETE: _why_not_complete,
}
