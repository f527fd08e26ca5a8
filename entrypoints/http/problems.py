"""RFC 9457 problem responses: the one shape every HTTP error takes.

Domain refusals keep their stable ``code``; the status follows from it. Errors must never
leak internals: an unexpected exception becomes a bare 500 with a request id and its traceback
goes to the log (``boundary.ErrorBoundary``).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from domain.errors import BookingError
from entrypoints.http.schemas import PATTERN_MEANINGS

PROBLEM_JSON = "application/problem+json"

STATUS_BY_CODE = {
    "not_found": 404,
    "not_allowed": 403,
    "invalid_input": 422,
    "idempotency_conflict": 422,
}
"""Domain codes with their own status; every other refusal (state, policy, conflict) is 409."""

TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Refused",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    503: "Unavailable",
}

log = logging.getLogger("booking.http")


class Problem(BaseModel):
    """What every error response carries (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


class HTTPProblem(Exception):
    """Raised by the edge (auth, headers, read-your-writes) to answer with a problem."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def status_for(error: BookingError) -> int:
    return STATUS_BY_CODE.get(error.code, 409)


def describe_validation(errors: list[Any]) -> tuple[int, str, str]:
    """(status, code, detail) for pydantic/FastAPI validation errors; each names its field."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed_json", "the request body is not valid JSON"
    parts = []
    for error in errors[:10]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        pattern = (error.get("ctx") or {}).get("pattern")
        if error.get("type") == "string_pattern_mismatch" and pattern in PATTERN_MEANINGS:
            message = PATTERN_MEANINGS[pattern]
        parts.append(f"{where}: {message}" if where else message)
    return 422, "invalid_input", "; ".join(parts)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route declares: each a ``Problem`` as ``application/problem+json``."""
    return {status: {"model": Problem, "description": TITLES[status]} for status in statuses}


AUTH_PROBLEMS = (401, 403)
READ_PROBLEMS = problem_responses(*AUTH_PROBLEMS, 404, 422)
WRITE_PROBLEMS = problem_responses(400, *AUTH_PROBLEMS, 404, 409, 413, 422)
PROBLEM_RESPONSES = problem_responses(400, *AUTH_PROBLEMS, 404, 409, 413, 422)
"""Every 4xx this API answers; for routers that do not list their own."""


def problems_as_problem_json(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the OpenAPI document so every error answer is ``application/problem+json`` with the
    ``Problem`` schema (FastAPI would list it under ``application/json``)."""
    schema = {"$ref": "#/components/schemas/Problem"}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": schema}}
    return document


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(BookingError)
    async def _refusal(request: Request, error: BookingError) -> JSONResponse:
        return problem(status_for(error), error.code, error.message)

    @app.exception_handler(HTTPProblem)
    async def _edge(request: Request, error: HTTPProblem) -> JSONResponse:
        return problem(error.status, error.code, error.detail, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        status, code, detail = describe_validation(list(error.errors()))
        return problem(status, code, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        detail = "no such resource" if error.status_code == 404 else str(error.detail)
        headers = dict(error.headers or {})
        if error.status_code == 400:  # FastAPI could not parse the body at all (e.g. nested too deeply)
            code, detail = "malformed_json", "the request body is not valid JSON (or is nested too deeply)"
        if error.status_code == 405:  # every method of the path, not only the first route's
            allowed = allowed_methods(request)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
                detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        return problem(error.status_code, code, detail, headers or None)

    async def _outage(request: Request, error: Exception) -> JSONResponse:
        log.warning("database unavailable: %s: %s", type(error).__name__, _first_line(error))
        return problem(
            503, "database_unavailable", "the database cannot be reached; retry later", {"Retry-After": "1"}
        )

    # The event store's errors, and the read models' (SQLAlchemy: a refused connection, e.g.
    # "too many clients", or no pooled connection free within the pool's timeout).
    for outage in (OperationalError, InterfaceError, sa.exc.OperationalError, sa.exc.InterfaceError):
        app.add_exception_handler(outage, _outage)
    app.add_exception_handler(sa.exc.TimeoutError, _outage)

    # Any other exception is answered by ``boundary.ErrorBoundary``, not by a handler here:
    # Starlette re-raises after its catch-all handler answers, and the server then closes the
    # keep-alive connection.


def _first_line(error: BaseException) -> str:
    """The gist of a driver error for the log (its first line; never a URL's password)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else ""


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the application accepts on the request's path."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed
