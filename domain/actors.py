"""Who caused a decision: ``member:<id>``, ``provider:<id>``, ``operator:<id>``,
``platform:<id>`` (the live-session platform) or ``system:<id>`` (scheduler, services)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidInput

KINDS = ("member", "provider", "operator", "platform", "system")


@dataclass(frozen=True)
class Actor:
    kind: str
    id: str

    @classmethod
    def parse(cls, text: str | Actor) -> Actor:
        if isinstance(text, Actor):
            return text
        kind, sep, ident = str(text).partition(":")
        if not sep or kind not in KINDS or not ident.strip() or len(ident) > 200 or _has_control(ident):
            raise InvalidInput(
                f"actor must look like '<kind>:<id>' with kind one of {', '.join(KINDS)}; got {text!r}"
            )
        return cls(kind, ident)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    def is_(self, kind: str, ident: str) -> bool:
        return self.kind == kind and self.id == ident


SCHEDULER = Actor("system", "scheduler")


def check_party_id(value: object, name: str) -> str:
    """Member and provider ids: printable, non-empty, at most 200 characters, no ':'."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 200
        or ":" in value
        or _has_control(value)
    ):
        raise InvalidInput(
            f"{name} must be a non-empty printable string of at most 200 characters without ':'"
        )
    return value


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)
