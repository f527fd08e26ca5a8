"""``booking demo``: the member's story from the design page, told on a fresh SQLite file.

A simulated clock moves through the story, so deadlines fall due in seconds of real time.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.booking import CONFIRMATION
from domain.errors import ForfeitNotAcknowledged
from domain.time import iso
from entrypoints.bootstrap import booted
from entrypoints.settings import Settings

MEMBER, PROVIDER = "maya", "dr-okafor"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="play the member's story on a temporary SQLite file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as folder:
        settings = dataclasses.replace(
            Settings.from_env(), database_url=f"sqlite:///{Path(folder) / 'demo.db'}"
        )
        clock = ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
        with booted(settings, clock) as parts:
            tell_story(parts.service, clock)
    return 0


def tell_story(app: BookingService, clock: ManualClock) -> None:
    say = _Narrator(clock)
    room = app.open_room(MEMBER, PROVIDER, actor="system:demo")
    say(f"Room {room['room_id'][:8]} opened: member {MEMBER} with provider {PROVIDER}.")
    app.publish_availability(
        PROVIDER,
        weekly_hours("Europe/London", "09:00", "17:00", WEEKDAYS),
        actor=f"provider:{PROVIDER}",
    )
    say(f"{PROVIDER} publishes availability: weekdays 09:00-17:00 Europe/London.")
    app.add_credits(MEMBER, "purchase", 1, "order-1001", actor=f"member:{MEMBER}")
    say(f"{MEMBER} buys one session credit. Balance: {_balance(app)}.")

    options = app.available_starts(
        PROVIDER, 45, clock.now() + timedelta(days=4), clock.now() + timedelta(days=5)
    )
    booking = app.reserve_session(room["room_id"], options[4], 45, "video", actor=f"member:{MEMBER}")
    booking_id = booking["booking_id"]
    say(
        f"{MEMBER} reserves a 45-minute video session at {booking['starts_at']} "
        f"(confirm by {booking['confirm_by']}, free to cancel until {booking['free_until']})."
    )
    app.confirm_session(booking_id, actor=f"provider:{PROVIDER}")
    say(f"{PROVIDER} confirms.")

    clock.advance(timedelta(hours=2))
    later = app.available_starts(
        PROVIDER, 45, clock.now() + timedelta(days=7), clock.now() + timedelta(days=8)
    )
    moved = app.reschedule_session(booking_id, later[2], actor=f"member:{MEMBER}")
    say(
        f"{MEMBER} reschedules to {moved['starts_at']}: free, well before the 48-hour cut-off; "
        f"the provider must confirm again."
    )
    app.confirm_session(booking_id, actor=f"provider:{PROVIDER}")
    say(f"{PROVIDER} confirms the new time.")

    clock.set(datetime.fromisoformat(moved["free_until"]) + timedelta(hours=3))
    review = app.review_policy(booking_id)
    say(f"{MEMBER} reviews the cancellation policy: cancelling now is {review['cancel']} - {review['why']}.")
    try:
        app.cancel_session(booking_id, actor=f"member:{MEMBER}")
    except ForfeitNotAcknowledged as refusal:
        say(f"Cancel without acknowledgement is refused ({refusal.code}): {refusal.message}")
    app.cancel_session(booking_id, reason="work trip", accept_forfeit=True, actor=f"member:{MEMBER}")
    say(f"{MEMBER} cancels, accepting the forfeit. Balance: {_balance(app)}.")

    app.add_credits(MEMBER, "employer", 1, "acme-benefit-2026", actor="system:demo")
    say(f"{MEMBER}'s employer grants a credit. Balance: {_balance(app)}.")
    options = app.available_starts(
        PROVIDER, 30, clock.now() + timedelta(days=3), clock.now() + timedelta(days=4)
    )
    second = app.reserve_session(room["room_id"], options[0], 30, "chat", actor=f"member:{MEMBER}")
    say(f"{MEMBER} reserves a 30-minute chat session at {second['starts_at']}. Balance: {_balance(app)}.")
    clock.set(datetime.fromisoformat(second["confirm_by"]))
    fired = app.record_deadline(second["booking_id"], CONFIRMATION, second["confirm_by"])
    say(
        f"{PROVIDER} never confirms; at {second['confirm_by']} the reservation is {fired['status']} "
        f"and the credit returns. Balance: {_balance(app)}."
    )


def _balance(app: BookingService) -> str:
    return ", ".join(f"{k} {v}" for k, v in app.get_account(MEMBER).balance().items())


class _Narrator:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def __call__(self, line: str) -> None:
        print(f"[{iso(self.clock.now())}] {line}", flush=True)
