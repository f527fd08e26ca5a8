"""Who is calling (bearer token → role) and on whose behalf (``X-Actor``).

Tokens are compared in constant time and never logged or echoed. Roles: ``service`` reads
and writes, ``auditor`` only reads, ``operator`` may also act as an operator (corrections).
Whether an actor may do something to a booking is the domain's decision, not this module's.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.actors import Actor
from entrypoints.http.problems import HTTPProblem

SERVICE, AUDITOR, OPERATOR = "service", "auditor", "operator"
WRITERS = (SERVICE, OPERATOR)
ACTING_KINDS = ("member", "provider", "operator", "platform")
"""Parties a caller may act for; ``system`` actors belong to the service's own processes."""

MAX_IDEMPOTENCY_KEY = 128


class TokenAuthority:
    """Maps presented bearer tokens to roles without revealing which token almost matched."""

    def __init__(self, tokens: Iterable[tuple[str, str]]) -> None:
        self._tokens = [(token.encode(), role) for token, role in tokens]

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def role_of(self, presented: str) -> str | None:
        candidate = presented.encode()
        found: str | None = None
        for token, role in self._tokens:  # no early exit: every token is compared
            if hmac.compare_digest(token, candidate):
                found = role
        return found


bearer = HTTPBearer(auto_error=False, description="A token from BOOKING_API_TOKENS")


@dataclass(frozen=True)
class Caller:
    role: str


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """The caller's role. ``async`` because it never blocks: no hop to a worker thread."""
    if credentials is None:
        raise HTTPProblem(401, "unauthenticated", "send Authorization: Bearer <token>", _CHALLENGE)
    role = request.app.state.tokens.role_of(credentials.credentials)
    if role is None:
        raise HTTPProblem(401, "unauthenticated", "the bearer token is not recognised", _CHALLENGE)
    request.state.role = role  # the access log reports the role, never the token
    return Caller(role)


def needs_role(*roles: str) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
        if caller.role not in roles:
            allowed = " or ".join(roles)
            raise HTTPProblem(
                403, "not_allowed", f"this needs a {allowed} token; an {caller.role} token may not do it"
            )
        return caller

    return check


Reader = Annotated[Caller, Depends(authenticated)]
Writer = Annotated[Caller, Depends(needs_role(*WRITERS))]
OperatorCaller = Annotated[Caller, Depends(needs_role(OPERATOR))]

ActorHeader = Annotated[
    str | None,
    Header(
        alias="X-Actor",
        max_length=210,
        description="On whose behalf: member:<id>, provider:<id>, operator:<id> or platform:<id>",
    ),
]
RequiredActorHeader = Annotated[
    str,
    Header(
        alias="X-Actor",
        max_length=210,
        description="On whose behalf: member:<id>, provider:<id>, operator:<id> or platform:<id>",
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        description="Repeat a request with the same key and body to get the first response again",
    ),
]


def acting_party(
    caller: Caller, x_actor: str | None, default: str | None = None, *, system: bool = False
) -> str:
    """The actor a command records; refuses kinds a caller may not claim. With ``system``, the
    calling backend may also name itself ``system:<name>`` (a billing service adding credits)."""
    if x_actor is None:
        if default is None:
            raise HTTPProblem(
                422, "invalid_input", "header X-Actor is required: member:<id>, provider:<id>, ..."
            )
        return default
    actor = Actor.parse(x_actor)
    kinds = (*ACTING_KINDS, "system") if system else ACTING_KINDS
    if actor.kind not in kinds:
        raise HTTPProblem(
            422, "invalid_input", f"X-Actor kind must be one of {', '.join(kinds)}; got {actor.kind!r}"
        )
    if actor.kind == OPERATOR and caller.role != OPERATOR:
        raise HTTPProblem(403, "not_allowed", "only an operator token may act as an operator")
    return str(actor)


def command_id(command: str, key: str | None) -> str | None:
    """The service's command id for an Idempotency-Key, namespaced so routes never collide."""
    if key is None:
        return None
    if not key.isprintable() or not key.strip():
        raise HTTPProblem(422, "invalid_input", "Idempotency-Key must be printable and not blank")
    return f"http:{command}:{key}"


_CHALLENGE = {"WWW-Authenticate": "Bearer"}
