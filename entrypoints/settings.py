"""Configuration: read once from the environment at start-up; nothing else reads os.environ.

A bad value stops start-up with a ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from domain.policy import Policy
from domain.time import parse_duration


class SettingsError(ValueError):
    pass


POLICY_VARIABLES = {
    "BOOKING_FREE_CANCEL_WINDOW": "free_cancel_window",
    "BOOKING_CONFIRM_WINDOW": "confirm_window",
    "BOOKING_MIN_NOTICE": "min_notice",
    "BOOKING_HORIZON": "horizon",
    "BOOKING_NO_SHOW_GRACE": "no_show_grace",
    "BOOKING_SLOT_STEP": "slot_step",
}


@dataclass(frozen=True)
class Settings:
    database_url: str
    policy: Policy = field(default_factory=Policy)
    data_dir: Path = Path("data")

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
                f"got {database_url!r}"
            )
        return cls(database_url=database_url, policy=policy_from_env(env), data_dir=data_dir)


def policy_from_env(env: Mapping[str, str]) -> Policy:
    values: dict[str, object] = {}
    for variable, name in POLICY_VARIABLES.items():
        if env.get(variable):
            values[name] = _duration(env, variable)
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
        raise SettingsError(f"booking policy settings are inconsistent: {error}") from None


def _duration(env: Mapping[str, str], variable: str) -> timedelta:
    try:
        return parse_duration(env[variable])
    except ValueError:
        raise SettingsError(
            f"{variable} must be an ISO 8601 duration such as PT48H or P60D; got {env[variable]!r}"
        ) from None
