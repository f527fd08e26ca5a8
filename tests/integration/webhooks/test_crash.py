"""kill -9 of the delivery process mid-delivery: after a restart nothing is missing.

2,000 events go to two endpoints, one answering 500 to every other request. The deliverer
runs as a real ``booking deliver`` process and is killed with SIGKILL part-way through.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from commands.service import BookingService
from commands.webhooks import WebhookCommands
from tests.integration.webhooks.support import published_ids, record_credits_added, register
from tests.receiver import Receiver, receiver

EVENTS = 2000


def start_deliverer(database_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOOKING_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "entrypoints", "deliver", "--poll-interval", "0.05"]
    command += ["--refresh-interval", "0.1", "--retry-base", "0.002", "--retry-cap", "0.01"]
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def in_order(hook: Receiver) -> list[int]:
    first: dict[str, int] = {}
    for received in hook.accepted():
        first.setdefault(received.webhook_id, received.event["position"])
    return list(first.values())


@pytest.mark.slow
def test_a_killed_deliverer_resumes_and_every_event_reaches_each_endpoint(
    database_url: str, system_service: BookingService, commands: WebhookCommands, tmp_path: Path
) -> None:
    log = (tmp_path / "deliver.log").open("wb")
    with receiver() as healthy, receiver() as flaky:
        flaky.answer = lambda n: 500 if n % 2 else 200
        for hook in (healthy, flaky):
            hook.secret = register(commands, hook.url, ["CreditsAdded"])[1]
        record_credits_added(system_service, "maya", EVENTS, datetime.now(UTC))
        expected = set(published_ids(system_service, ["CreditsAdded"]))
        assert len(expected) == EVENTS

        first = start_deliverer(database_url, log)
        try:
            healthy.wait_for(lambda h: h.accepted_count() >= EVENTS // 4, timeout=120)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        assert healthy.accepted_count() < EVENTS, "the kill came mid-delivery"

        second = start_deliverer(database_url, log)
        try:
            for hook in (healthy, flaky):
                hook.wait_for(lambda h: h.accepted_count() >= EVENTS, timeout=180)
        finally:
            second.terminate()
            second.wait(timeout=30)
            log.close()
        assert second.returncode == 0, (tmp_path / "deliver.log").read_text()[-2000:]

    for hook in (healthy, flaky):
        assert hook.accepted_ids() == expected, "every event arrived, none is missing"
        unverified = [r for r in hook.received if not r.verified]
        assert len(unverified) <= 1, "only a request cut short by the kill may fail to verify"
        bodies: dict[str, set[str]] = {}
        for r in hook.accepted():
            assert r.event["id"] == r.webhook_id
            bodies.setdefault(r.webhook_id, set()).add(r.event["stream_version"].__str__())
        assert all(len(versions) == 1 for versions in bodies.values()), "a duplicate is the same event"
        positions = in_order(hook)
        assert all(a < b for a, b in itertools.pairwise(positions)), "first arrivals are in log order"
    assert any(r.status == 500 for r in flaky.received)
