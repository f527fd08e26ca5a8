"""Deliverer: follows the event log and posts every matching event to every active endpoint.

Each endpoint has its own worker thread, HTTP client and position, so a slow or dead endpoint
only ever delays itself. A worker posts the endpoint's events one at a time in log order
(hence in order per booking), and its position moves past an event only after a 2xx answer
(successes are committed in small groups; a crash re-sends at most one group, with the same
``webhook-id``). A failure is retried with exponential back-off and full jitter; once an
event has failed for ``give_up_after`` (a day by default) the endpoint is marked failing (an
event) and left alone until an operator replays it. The registry of endpoints is re-read
every ``refresh_interval``, so registrations, removals, rotations and replays take effect
without a restart. SIGTERM (``stop``) ends the process after the requests in flight.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from commands.service import BookingService
from commands.webhooks import WebhookCommands
from domain.time import Clock
from domain.webhooks import ACTIVE
from feed.reader import EventFeed, FeedFilter
from projections.runner import TRANSIENT_ERRORS
from webhooks.sender import Sender
from webhooks.store import Attempt, DeliveryState, WebhookStore

log = logging.getLogger("booking.webhooks")

ROTATION_OVERLAP = timedelta(hours=24)
"""After a rotation, deliveries carry a signature by the previous secret too, for this long."""

GROUP = 50
"""Successful deliveries committed together (at most this many are re-sent after a crash)."""


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 5.0
    cap: float = 3600.0
    give_up_after: float = 86400.0

    def delay(self, failures: int) -> timedelta:
        """Full jitter: uniform in [0.5, 1] of base·2^(failures-1), capped."""
        ceiling = min(self.cap, self.base * 2 ** min(failures - 1, 40))
        return timedelta(seconds=random.uniform(0.5, 1.0) * ceiling)


@dataclass(frozen=True)
class DeliverySettings:
    poll_interval: float = 0.2
    refresh_interval: float = 1.0
    batch: int = 100
    timeout: float = 10.0
    private_networks: str = "allow"
    retry: RetryPolicy = RetryPolicy()


class Deliverer:
    def __init__(
        self,
        service: BookingService,
        store: WebhookStore,
        clock: Clock,
        settings: DeliverySettings | None = None,
    ) -> None:
        self.settings = settings or DeliverySettings()
        self.clock = clock
        self.store = store
        self.commands = WebhookCommands(service, store)
        self.feed = EventFeed(service.recorder, service.mapper)
        self.workers: dict[str, EndpointWorker] = {}

    def run_forever(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.reconcile()
                except TRANSIENT_ERRORS as error:
                    log.warning("cannot read the webhook registry, retrying: %s", error)
                stop.wait(self.settings.refresh_interval)
        finally:
            self.stop_workers()

    def reconcile(self) -> None:
        """Start a worker per active endpoint; hand changes to running ones; stop the rest."""
        endpoints = self.commands.registry().endpoints
        for endpoint_id, worker in list(self.workers.items()):
            endpoint = endpoints.get(endpoint_id)
            if endpoint is None or endpoint["status"] != ACTIVE or not worker.is_alive():
                worker.stop()
                del self.workers[endpoint_id]
                if endpoint is None:
                    self.store.forget(endpoint_id)
            else:
                worker.endpoint = endpoint
        for endpoint_id, endpoint in endpoints.items():
            if endpoint["status"] == ACTIVE and endpoint_id not in self.workers:
                worker = EndpointWorker(self, endpoint)
                self.workers[endpoint_id] = worker
                worker.start()

    def stop_workers(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for worker in self.workers.values():
            worker.join(timeout=self.settings.timeout + 5)
        self.workers.clear()


def changed(now: dict[str, Any], before: dict[str, Any]) -> bool:
    """Whether an endpoint changed in a way that matters to deliveries in progress."""
    keys = ("url", "types", "secret_fingerprint", "status", "replays")
    return any(now.get(k) != before.get(k) for k in keys)


class EndpointWorker(threading.Thread):
    def __init__(self, deliverer: Deliverer, endpoint: dict[str, Any]) -> None:
        super().__init__(name=f"webhook-{endpoint['id'][:8]}", daemon=True)
        self.deliverer = deliverer
        self.endpoint = endpoint
        self._halt = threading.Event()
        self._secrets: dict[str, str] = {}

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        settings = self.deliverer.settings
        sender = Sender(settings.timeout, settings.private_networks)
        pause = settings.poll_interval
        try:
            while not self._halt.is_set():
                try:
                    busy = self.step(sender)
                    pause = settings.poll_interval
                except TRANSIENT_ERRORS as error:
                    log.warning("webhook %s: database error, retrying: %s", self.endpoint["id"], error)
                    busy, pause = False, min(pause * 2, 5.0)
                except Exception:
                    log.exception("webhook %s: unexpected error, retrying", self.endpoint["id"])
                    busy, pause = False, min(pause * 2, 5.0)
                if not busy:
                    self._halt.wait(pause)
        finally:
            sender.close()

    def step(self, sender: Sender) -> bool:
        """Deliver what is due now; True if there may be more to do at once."""
        store, clock, settings = self.deliverer.store, self.deliverer.clock, self.deliverer.settings
        endpoint = self.endpoint
        state = store.start(endpoint["id"], endpoint["from_position"] - 1)
        if endpoint["replays"] > state.replays:
            position = endpoint["replay_from"] - 1 if endpoint["replay_from"] else state.position
            store.replay(state, endpoint["replays"], position)
            log.info("webhook %s: replaying from position %s", endpoint["id"], position + 1)
            return True
        now = clock.now()
        if state.next_attempt_at is not None and now < state.next_attempt_at:
            self._halt.wait(min((state.next_attempt_at - now).total_seconds(), settings.poll_interval))
            return True
        page = self.deliverer.feed.page(state.position, settings.batch, FeedFilter.of(endpoint["types"]))
        if not page.events:
            return page.next_after > state.position and self._commit(state, [], page.next_after) is not None
        # Read the endpoint again *after* the page: every event in it was committed before this
        # read, so a rotation committed before any of them is seen, and signs it.
        endpoint = self.deliverer.commands.registry().endpoints.get(endpoint["id"]) or {}
        if endpoint.get("status") != ACTIVE:
            self.stop()
            return False
        self.endpoint = endpoint
        secrets = self._signing_secrets(endpoint, now)
        delivered: list[Attempt] = []
        for event in page.events:
            if self._halt.is_set() or changed(self.endpoint, endpoint):
                # stopping, or the endpoint changed (rotation, replay): keep what was done, re-read
                return not delivered or self._commit(state, delivered) is not None
            body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
            sent_at = clock.now()
            outcome = sender.send(endpoint["url"], secrets, event["id"], body, int(sent_at.timestamp()))
            attempt = Attempt(
                event["position"], event["id"], sent_at, outcome.latency_ms,
                outcome.status_code, outcome.error, outcome.excerpt,
            )  # fmt: skip
            if not outcome.delivered:
                current = self._commit(state, delivered) if delivered else state
                if current is not None:
                    self._failed(current, attempt, sent_at)
                return True
            delivered.append(attempt)
            if len(delivered) >= GROUP:
                current = self._commit(state, delivered)
                if current is None:
                    return True
                state, delivered = current, []
        if page.next_after > state.position:  # past the rest of the page, filtered out or not
            return self._commit(state, delivered, page.next_after) is not None
        return False

    def _commit(
        self, state: DeliveryState, delivered: list[Attempt], position: int | None = None
    ) -> DeliveryState | None:
        last = position if position is not None else delivered[-1].position
        if not self.deliverer.store.advance(state, last, delivered):
            log.info("webhook %s: position moved by another process; re-reading", self.endpoint["id"])
            return None
        return replace(state, position=last, attempts=0, failing_since=None, next_attempt_at=None)

    def _failed(self, state: DeliveryState, attempt: Attempt, now: datetime) -> None:
        deliverer = self.deliverer
        retry = deliverer.settings.retry
        failing_since = state.failing_since or now
        if (now - failing_since).total_seconds() >= retry.give_up_after:
            deliverer.store.failed(state, attempt, failing_since, now)
            reason = f"position {attempt.position} failed since {failing_since.isoformat()}: {attempt.error}"
            if deliverer.commands.mark_failing(self.endpoint["id"], attempt.position, failing_since, reason):
                log.warning("webhook %s marked failing: %s", self.endpoint["id"], reason)
            self.stop()
            return
        next_attempt = now + retry.delay(state.attempts + 1)
        deliverer.store.failed(state, attempt, failing_since, next_attempt)
        log.info(
            "webhook %s: position %s failed (%s); next attempt at %s",
            self.endpoint["id"], attempt.position, attempt.error, next_attempt.isoformat(),
        )  # fmt: skip

    def _signing_secrets(self, endpoint: dict[str, Any], now: datetime) -> list[str]:
        """The current secret, and the previous one for ``ROTATION_OVERLAP`` after a rotation."""
        secrets = [self._secret(endpoint["secret_fingerprint"])]
        rotated_at = endpoint.get("rotated_at")
        if endpoint.get("previous_fingerprint") and rotated_at and now - rotated_at < ROTATION_OVERLAP:
            secrets.append(self._secret(endpoint["previous_fingerprint"]))
        return secrets

    def _secret(self, fingerprint: str) -> str:
        if fingerprint not in self._secrets:
            secret = self.deliverer.store.secret(fingerprint)
            if secret is None:
                raise LookupError(f"webhook {self.endpoint['id']}: its signing secret is missing")
            self._secrets[fingerprint] = secret
        return self._secrets[fingerprint]
