"""A small production-like deployment for the scheduler's integration tests.

Real processes on PostgreSQL: ``booking project`` and one or more ``booking schedule``,
started as subprocesses, plus a booking service in the test process that reserves sessions.
Every one of them reads the same clock from the settings: the system clock run ``SPEED`` times
faster from the deployment's start (``BOOKING_CLOCK_SPEED`` / ``BOOKING_CLOCK_ORIGIN``), so a
policy of one-minute sessions on a one-minute grid plays out in seconds of real time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from commands.clock import ScaledClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import align_up, weekly_hours
from entrypoints.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[3]
SPEED = 10  # simulated seconds per real second
POLICY_ENV = {  # in simulated time; divide by SPEED for real seconds
    "BOOKING_CONFIRM_WINDOW": "PT50S",
    "BOOKING_MIN_NOTICE": "PT50S",
    "BOOKING_FREE_CANCEL_WINDOW": "PT80S",
    "BOOKING_NO_SHOW_GRACE": "PT20S",
    "BOOKING_PROVIDER_LATE_GRACE": "PT10S",
    "BOOKING_MIN_CONFIRM_TIME": "PT10S",
    "BOOKING_REMINDER_LEAD": "PT40S",
    "BOOKING_SLOT_STEP": "PT1M",
    "BOOKING_LENGTHS": "1",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY_UTC = weekly_hours("UTC", "00:00", "24:00", WEEKDAYS)
STEP = timedelta(minutes=1)
SESSION_END = timedelta(minutes=1, seconds=20)  # length plus no-show grace
LEAD = timedelta(seconds=150)  # time to reserve a batch before the deadlines start falling due


class Deployment:
    def __init__(self, database_url: str, folder: Path) -> None:
        self.database_url = database_url
        self.folder = folder
        self.clock_env = {
            **POLICY_ENV,
            "BOOKING_CLOCK_SPEED": str(SPEED),
            "BOOKING_CLOCK_ORIGIN": datetime.now(UTC).isoformat(),
        }
        settings = Settings.from_env({**self.clock_env, "BOOKING_DATABASE_URL": database_url})
        clock = settings.clock()
        assert isinstance(clock, ScaledClock)
        self.clock = clock
        self.service = BookingService(self.clock, settings.policy, env=event_store_env(database_url))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}
        self._members = 0

    # --- processes -------------------------------------------------------------------------

    def spawn(self, *command: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **self.clock_env,
            "BOOKING_DATABASE_URL": self.database_url,
            "PYTHONPATH": str(REPOSITORY),
        }
        log = self.folder / f"{command[0]}-{len(self.processes)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "entrypoints", *command],
                cwd=REPOSITORY,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def project(self) -> subprocess.Popen[bytes]:
        return self.spawn("project", "--poll-interval", "0.1")

    def schedule(self, *options: str) -> subprocess.Popen[bytes]:
        return self.spawn("schedule", "--health-interval", "0.5", *options)

    def log_lines(self, process: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
        lines = []
        for raw in self.logs[process.pid].read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines

    def scheduler_id(self, process: subprocess.Popen[bytes]) -> str:
        """The id a ``booking schedule`` process beats under (``scheduler.heartbeat``)."""
        return f"{socket.gethostname()}:{process.pid}"

    def live_schedulers(self, process: subprocess.Popen[bytes]) -> int:
        """How many live schedulers the process last said it shares the deadlines with (0: none yet)."""
        shares = [
            line for line in self.log_lines(process) if line["message"].startswith("sharing the deadlines")
        ]
        return len(shares[-1]["schedulers"]) if shares else 0

    def fires(self) -> dict[str, int]:
        """Deadlines fired so far by each scheduler, by its id, as its last heartbeat says."""
        with psycopg.connect(self.database_url) as conn:
            return dict(conn.execute("SELECT scheduler_id, fired FROM scheduler_heartbeats").fetchall())

    def recorded_by(self, process: subprocess.Popen[bytes], kind: str) -> set[str]:
        """The bookings whose ``kind`` deadline the process logged as recorded by itself."""
        prefix = f"recorded {kind} deadline of booking "
        return {
            line["message"][len(prefix) :].split(" ", 1)[0]
            for line in self.log_lines(process)
            if line["message"].startswith(prefix)
        }

    def terminate(self, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        self.service.close()

    # --- bookings --------------------------------------------------------------------------

    def next_start(self) -> datetime:
        """The earliest grid start whose every deadline is at least a couple of seconds ahead."""
        return align_up(self.clock.now() + LEAD, STEP)

    def book(self, start: datetime, *, confirm: bool = False) -> str:
        """Reserve a one-minute session with a provider of its own (so many can share ``start``)."""
        self._members += 1
        member, provider = f"member-{self._members}", f"provider-{self._members}"
        self.service.publish_availability(provider, ALL_DAY_UTC, actor=f"provider:{provider}")
        room = self.service.open_room(member, provider)["room_id"]
        self.service.add_credits(member, "purchase", 1, f"order-{uuid.uuid4()}", actor=f"member:{member}")
        booking_id = self.service.reserve_session(room, start, 1, "video", actor=f"member:{member}")[
            "booking_id"
        ]
        if confirm:
            self.service.confirm_session(booking_id, actor=f"provider:{provider}")
        return str(booking_id)

    def status(self, booking_id: str) -> str:
        return str(self.service.get_booking(booking_id).status)

    def balance(self, booking_id: str) -> dict[str, int]:
        return self.service.get_account(self.service.get_booking(booking_id).member_id).balance()

    def deadline_events(self) -> Counter[tuple[str, str]]:
        """(booking id, event name) of every deadline event in the store, counted."""
        names = (
            "ConfirmationExpired",
            "FreeCancellationClosed",
            "NoShowRecorded",
            "SessionCompleted",
            "SessionReminderDue",
        )
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT originator_id, topic FROM booking_events WHERE topic LIKE %s",
                ("domain.booking:Booking.%",),
            ).fetchall()
        found = ((str(o), t.rsplit(".", 1)[-1]) for o, t in rows)
        return Counter(f for f in found if f[1] in names)

    def seconds_until(self, instant: datetime) -> float:
        """Real seconds until the deployment's clock reads ``instant`` (0 once it has)."""
        return max(0.0, self.clock.real_seconds(instant - self.clock.now()))
