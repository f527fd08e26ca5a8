"""``GET /health``: liveness, whether the database answers, and how far the views lag.

Open to anyone (load balancers, compose health checks); it reveals counts, never data.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from entrypoints.http.problems import problem, problem_responses
from entrypoints.http.responses import Health
from entrypoints.version import version

router = APIRouter()
log = logging.getLogger("booking.http")


@router.get("/health", tags=["operations"], response_model=Health, responses=problem_responses(503))
def get_health(request: Request) -> Any:
    """200 when the database answers and no view is stalled; otherwise 503 with the reason.

    ``version`` is the release this process runs (several may answer during a rolling upgrade).
    ``views`` gives each view's position, lag and, when it cannot apply an event, that event's
    position and the error; ``projection_lag`` repeats the lags for older probes.
    ``scheduler`` is the in-process scheduler's health, or else what the ``booking schedule``
    processes last recorded, with the last fire (``absent`` if none ever ran: not a 503).
    """
    state = request.app.state
    try:
        head = state.service.recorder.max_notification_id() or 0
    except Exception as error:
        log.warning("health: database unreachable: %s", type(error).__name__)
        return problem(
            503,
            "database_unavailable",
            "the database cannot be reached",
            database="unreachable",
            version=version(),
        )
    report: dict[str, Any] = {
        "status": "ok",
        "version": version(),
        "database": "reachable",
        "head_position": head,
    }
    status = 200
    try:
        positions = state.read_models.positions()
        stalls = state.read_models.stalls()
        versions = state.read_models.schema_versions()
    except Exception as error:  # the views may not exist yet while the projector starts
        report["projection_lag"] = None
        report["projections"] = f"unavailable ({type(error).__name__})"
    else:
        report["projection_lag"] = {view: max(0, head - (pos or 0)) for view, pos in positions.items()}
        report["views"] = {  # one entry per view: what each view reports about itself goes here
            view: {
                "position": pos,
                "lag": max(0, head - (pos or 0)),
                "stalled": view in stalls,
                **(
                    {
                        "error": stalls[view]["error"],
                        "event_position": stalls[view]["event_position"],
                        "event_type": stalls[view]["event_type"],
                    }
                    if view in stalls
                    else {}
                ),
                **_version(versions[view], head),
            }
            for view, pos in positions.items()
        }
        if any("rebuilding" in entry for entry in report["views"].values()):
            report["status"] = "rebuilding"
        if stalls:
            report["status"] = "stalled"
            status = 503
    scheduler = getattr(state, "scheduler", None)
    if scheduler is not None:
        report["scheduler"] = _plain(scheduler.health())
    else:  # the scheduler runs as its own process (``booking schedule``): read its heartbeat
        try:
            report["scheduler"] = _plain(state.read_models.scheduler_heartbeat())
        except Exception as error:
            report["scheduler"] = {"status": f"unavailable ({type(error).__name__})", "last_fire": None}
    return JSONResponse(report, status_code=status)


def _version(recorded: dict[str, Any], head: int) -> dict[str, Any]:
    """A view's schema version and, while its live tables hold another than this release's,
    the rebuild beside them (or its wait for one: position 0)."""
    entry: dict[str, Any] = {"schema_version": recorded["schema_version"]}
    if recorded["schema_version"] != recorded["expected"]:
        building = recorded["building"] or {"schema_version": recorded["expected"], "position": 0}
        position = building["position"]
        entry["rebuilding"] = {
            "schema_version": building["schema_version"],
            "position": position,
            "progress": round(min(1.0, position / head), 4) if head else 1.0,
        }
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
