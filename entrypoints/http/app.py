"""``create_app``: the FastAPI application over a command service and the read models.

It wires routes, error rendering, the body limit and the access log. It never opens
databases or starts background work itself; ``booking serve`` does that and hands them in.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from fastapi import FastAPI

from entrypoints.http import commands, health, reads
from entrypoints.http.auth import TokenAuthority
from entrypoints.http.middleware import AccessLog, BodyLimit
from entrypoints.http.problems import install_problem_handlers
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from commands.service import BookingService
    from projections.queries import ReadModels

OPTIONAL_ROUTERS = ("entrypoints.http.audit", "entrypoints.http.events", "entrypoints.http.webhooks")
"""Other areas' routers, included when their module exists."""


def create_app(settings: Settings, service: BookingService, read_models: ReadModels) -> FastAPI:
    app = FastAPI(
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
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(commands.router)
    app.include_router(reads.router)
    for name in OPTIONAL_ROUTERS:
        if importlib.util.find_spec(name) is not None:
            app.include_router(importlib.import_module(name).router)
    app.add_middleware(BodyLimit)
    app.add_middleware(AccessLog)  # added last, so outermost: it sees every response
    return app
