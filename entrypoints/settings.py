"""Configuration: read once from the environment at start-up; nothing else reads os.environ.

A bad value stops start-up with a ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from commands.clock import ScaledClock, SystemClock
from commands.storage import PoolBudget, redact_url
from domain.errors import InvalidInput
from domain.policy import Policy
from domain.time import Clock, parse_duration, to_utc


class SettingsError(ValueError):
    pass


POLICY_VARIABLES = {
    "BOOKING_FREE_CANCEL_WINDOW": "free_cancel_window",
    "BOOKING_CONFIRM_WINDOW": "confirm_window",
    "BOOKING_MIN_NOTICE": "min_notice",
    "BOOKING_HORIZON": "horizon",
    "BOOKING_NO_SHOW_GRACE": "no_show_grace",
    "BOOKING_SLOT_STEP": "slot_step",
    "BOOKING_JOIN_OPENS_BEFORE": "join_opens_before",
    "BOOKING_PROVIDER_LATE_GRACE": "provider_late_grace",
    "BOOKING_MEMBER_LATE_GRACE": "member_late_grace",
    "BOOKING_MIN_CONFIRM_TIME": "min_confirm_time",
    "BOOKING_REMINDER_LEAD": "reminder_lead",
}


@dataclass(frozen=True)
class Settings:
    database_url: str
    policy: Policy = field(default_factory=Policy)
    data_dir: Path = Path("data")
    api_tokens: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (token, role); never logged
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    pools: PoolBudget = field(default_factory=PoolBudget)
    http_max_connections: int = 256
    webhook_timeout: timedelta = timedelta(seconds=10)
    webhook_retry_for: timedelta = timedelta(days=1)
    webhook_private_networks: str = "allow"
    clock_speed: float = 1.0  # above 1 only for test and rehearsal deployments
    clock_origin: datetime | None = None

    def clock(self) -> Clock:
        """The system clock, or the scaled one that ``BOOKING_CLOCK_SPEED`` asks for."""
        if self.clock_speed == 1.0:
            return SystemClock()
        assert self.clock_origin is not None
        return ScaledClock(self.clock_origin, self.clock_speed)

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("BOOKING_DATA_DIR") or "data")
        database_url = env.get("BOOKING_DATABASE_URL") or f"sqlite:///{data_dir / 'booking.db'}"
        if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError(
                "BOOKING_DATABASE_URL must be sqlite:///path or postgresql://user@host:port/db; "
                f"got {redact_url(database_url)!r}"
            )
        return cls(
            database_url=database_url,
            policy=policy_from_env(env),
            data_dir=data_dir,
            api_tokens=api_tokens_from_env(env),
            http_host=env.get("BOOKING_HTTP_HOST") or "127.0.0.1",
            http_port=_port(env.get("BOOKING_HTTP_PORT") or "8000"),
            pools=pools_from_env(env),
            http_max_connections=_whole(env, "BOOKING_HTTP_MAX_CONNECTIONS", 256, minimum=1, maximum=100_000),
            **webhook_settings_from_env(env),
            **_clock(env),
        )


def pools_from_env(env: Mapping[str, str]) -> PoolBudget:
    """``BOOKING_DB_POOL_SIZE`` (1) and ``BOOKING_DB_MAX_OVERFLOW`` (4), for each of the two pools."""
    default = PoolBudget()
    size = _whole(env, "BOOKING_DB_POOL_SIZE", default.size, minimum=1)
    overflow = _whole(env, "BOOKING_DB_MAX_OVERFLOW", default.max_overflow, minimum=0)
    return PoolBudget(size=size, max_overflow=overflow)


def _whole(env: Mapping[str, str], variable: str, default: int, *, minimum: int, maximum: int = 1000) -> int:
    text = env.get(variable)
    if not text:
        return default
    if not text.strip().isdigit() or not minimum <= int(text) <= maximum:
        raise SettingsError(f"{variable} must be a whole number from {minimum} to {maximum}; got {text!r}")
    return int(text)


def policy_from_env(env: Mapping[str, str]) -> Policy:
    values: dict[str, object] = {}
    for variable, name in POLICY_VARIABLES.items():
        if env.get(variable):
            values[name] = _duration(env, variable)
    if "member_late_grace" not in values and "provider_late_grace" in values:
        # Unset, the member gets the provider's grace: a configuration valid before the member's
        # grace existed stays valid (the same rule bounds both), and both parties wait alike.
        values["member_late_grace"] = values["provider_late_grace"]
    if env.get("BOOKING_LENGTHS"):
        try:
            values["lengths"] = tuple(int(part) for part in env["BOOKING_LENGTHS"].split(","))
        except ValueError:
            raise SettingsError(
                f"BOOKING_LENGTHS must be minutes separated by commas, e.g. 30,45,60; "
                f"got {env['BOOKING_LENGTHS']!r}"
            ) from None
    try:
        return Policy(**values)  # type: ignore[arg-type]
    except ValueError as error:
        message = str(error)
        for variable, name in (*POLICY_VARIABLES.items(), ("BOOKING_LENGTHS", "lengths")):
            message = message.replace(name, variable)  # name the variable the operator sets
        raise SettingsError(f"booking policy settings are inconsistent: {message}") from None


def _clock(env: Mapping[str, str]) -> dict[str, Any]:
    """``BOOKING_CLOCK_SPEED`` (default 1) and, when it is not 1, ``BOOKING_CLOCK_ORIGIN``: the
    instant from which the clock runs that many times faster than real time."""
    text = env.get("BOOKING_CLOCK_SPEED") or "1"
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not 0 < speed < float("inf"):
        raise SettingsError(f"BOOKING_CLOCK_SPEED must be a positive number such as 1 or 10; got {text!r}")
    if speed == 1.0:
        return {}
    origin_text = env.get("BOOKING_CLOCK_ORIGIN") or ""
    try:
        origin = to_utc(origin_text, "BOOKING_CLOCK_ORIGIN")
    except InvalidInput:
        raise SettingsError(
            "BOOKING_CLOCK_ORIGIN must be an instant with its offset, e.g. 2026-03-02T09:00:00Z, "
            f"when BOOKING_CLOCK_SPEED is not 1; got {origin_text!r}"
        ) from None
    return {"clock_speed": speed, "clock_origin": origin}


def _duration(env: Mapping[str, str], variable: str) -> timedelta:
    try:
        return parse_duration(env[variable])
    except ValueError:
        raise SettingsError(
            f"{variable} must be an ISO 8601 duration such as PT48H or P60D; got {env[variable]!r}"
        ) from None


def webhook_settings_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if env.get("BOOKING_WEBHOOK_TIMEOUT"):
        timeout = _duration(env, "BOOKING_WEBHOOK_TIMEOUT")
        if not timedelta(seconds=1) <= timeout <= timedelta(seconds=60):
            raise SettingsError("BOOKING_WEBHOOK_TIMEOUT must lie between PT1S and PT60S")
        values["webhook_timeout"] = timeout
    if env.get("BOOKING_WEBHOOK_RETRY_FOR"):
        retry_for = _duration(env, "BOOKING_WEBHOOK_RETRY_FOR")
        if retry_for <= timedelta(0):
            raise SettingsError("BOOKING_WEBHOOK_RETRY_FOR must be a positive duration, e.g. P1D")
        values["webhook_retry_for"] = retry_for
    if env.get("BOOKING_WEBHOOK_PRIVATE_NETWORKS"):
        choice = env["BOOKING_WEBHOOK_PRIVATE_NETWORKS"].strip().lower()
        if choice not in ("allow", "deny"):
            raise SettingsError(f"BOOKING_WEBHOOK_PRIVATE_NETWORKS must be allow or deny; got {choice!r}")
        values["webhook_private_networks"] = choice
    return values


API_ROLES = ("service", "auditor", "operator")


def api_tokens_from_env(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``BOOKING_API_TOKENS=tok1:service,tok2:auditor`` and/or a file of ``token:role`` lines."""
    entries = [part for part in (env.get("BOOKING_API_TOKENS") or "").split(",") if part.strip()]
    if env.get("BOOKING_API_TOKENS_FILE"):
        path = Path(env["BOOKING_API_TOKENS_FILE"])
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise SettingsError(
                f"BOOKING_API_TOKENS_FILE {str(path)!r} cannot be read: {error.strerror}"
            ) from None
        entries += [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    tokens: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        token, _, role = entry.strip().rpartition(":")
        if not token or role not in API_ROLES:
            raise SettingsError(
                f"API token entry {number} must look like <token>:<role> with role one of "
                f"{', '.join(API_ROLES)} (the token itself is not shown)"
            )
        if len(token) < 16:
            raise SettingsError(f"API token entry {number} is shorter than 16 characters")
        if tokens.get(token, role) != role:
            raise SettingsError(
                f"API token entry {number} repeats an earlier token with another role "
                f"({tokens[token]} then {role}); give each token one role (the token itself is not shown)"
            )
        tokens[token] = role
    return tuple(tokens.items())


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(f"BOOKING_HTTP_PORT must be a port number from 1 to 65535; got {text!r}")
    return int(text)


METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""The client library's own variable for its multiprocess mode: it reads it itself, in each
worker, so it is set here, in the environment the workers inherit."""


def shared_metrics_dir() -> str | None:
    """The directory the API processes share their metrics through, if ``booking serve`` made one."""
    return os.environ.get(METRICS_DIR_VARIABLE) or None


def share_metrics_through(directory: str) -> None:
    """Name ``directory`` to the workers ``booking serve --workers`` starts after this call."""
    os.environ[METRICS_DIR_VARIABLE] = directory
