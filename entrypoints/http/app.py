"""``create_app``: the FastAPI application over a command service and the read models.

It wires routes, error rendering, the body limit and the access log. It never opens
databases or starts background work itself; ``booking serve`` does that and hands them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from entrypoints.http import audit, commands, events, health, reads, webhooks
from entrypoints.http.auth import TokenAuthority
from entrypoints.http.boundary import ErrorBoundary
from entrypoints.http.metrics import install_metrics
from entrypoints.http.middleware import AccessLog, BodyLimit
from entrypoints.http.problems import install_problem_handlers, problems_as_problem_json
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from commands.service import BookingService
    from projections.queries import ReadModels

ROUTERS = (health.router, commands.router, reads.router, audit.router, events.router, webhooks.router)


def operation_id(route: APIRoute) -> str:
    """A route's operationId is its function's name (``reserve_session``, ``get_room``): stable,
    and what a generated client names its method."""
    return route.name


def create_app(settings: Settings, service: BookingService, read_models: ReadModels) -> FastAPI:
    app = FastAPIOffline(  # /docs serves Swagger UI from the installed package, not a CDN
        redoc_url=None,
        generate_unique_id_function=operation_id,
        title="Live-session booking API",
        version="1",
        description=(
            "Book, reschedule and cancel live therapy sessions paid with session credits. "
            "Authenticate with `Authorization: Bearer <token>`; act for a party with "
            "`X-Actor: member:<id>` (or provider:, operator:, platform:). Every POST honours "
            "`Idempotency-Key`. Errors are `application/problem+json` with a stable `code`."
        ),
    )
    app.state.settings = settings
    app.state.service = service
    app.state.read_models = read_models
    app.state.tokens = TokenAuthority(settings.api_tokens)
    app.state.scheduler = None  # set by ``booking serve`` when it runs the scheduler in-process
    install_metrics(app, service, read_models)
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _declare_problem_json(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(ErrorBoundary)  # inside the access log, which then counts its 500s
    app.add_middleware(AccessLog)  # added last, so outermost: it sees every response
    return app


def _declare_problem_json(app: FastAPI) -> None:
    """Build the OpenAPI document once, with every error answer as ``application/problem+json``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems_as_problem_json(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
