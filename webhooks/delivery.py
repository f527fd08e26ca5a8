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
import time
from collections.abc import Callable
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

DURABLE_PAUSE = timedelta(seconds=1)
"""Back-off pauses this long or longer are stored, so they survive a restart."""

RECORD_EVERY = 1.0
"""Failed attempts reach ``GET /webhooks/{id}/deliveries`` within about this many seconds."""

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
class Backoff:
    """A worker's in-memory back-off for the event after ``position``."""

    position: int
    failures: int
    failing_since: datetime
    next_attempt_at: datetime


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

    def run_forever(self, stop: threading.Event, alive: Callable[[], None] | None = None) -> None:
        """Reconcile the workers with the registry every ``refresh_interval`` until ``stop``;
        ``alive`` is called after each round that could read the registry (a health signal:
        the loop turns and the database answers)."""
        try:
            while not stop.is_set():
                try:
                    self.reconcile()
                except TRANSIENT_ERRORS as error:
                    log.warning("cannot read the webhook registry, retrying: %s", error)
                else:
                    if alive is not None:
                        alive()
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
    """Delivers to one endpoint. It keeps, on top of the stored state (``_base``), the events
    delivered but not yet committed (``_ahead``, at most ``GROUP``), the failed attempts not
    yet recorded, and a short back-off; all are committed together, by compare-and-set."""

    def __init__(self, deliverer: Deliverer, endpoint: dict[str, Any]) -> None:
        super().__init__(name=f"webhook-{endpoint['id'][:8]}", daemon=True)
        self.deliverer = deliverer
        self.endpoint = endpoint
        self._halt = threading.Event()
        self._secrets: dict[str, str] = {}
        self._base: DeliveryState | None = None
        self._ahead: list[Attempt] = []
        self._unrecorded: list[Attempt] = []
        self._backoff: Backoff | None = None
        self._recorded_at = 0.0
        self._page: tuple[list[dict[str, Any]], int, dict[str, Any]] | None = None
        """The page being delivered: its events, next_after, and the endpoint as it was read."""

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
            self._flush()  # what was delivered before stopping
        except Exception:
            log.exception("webhook %s: could not record the last deliveries", self.endpoint["id"])
        finally:
            sender.close()

    @property
    def position(self) -> int:
        """Every event up to here was delivered (or is not for this endpoint)."""
        assert self._base is not None
        return self._ahead[-1].position if self._ahead else self._base.position

    def step(self, sender: Sender) -> bool:
        """Deliver what is due now; True if there may be more to do at once."""
        store, clock, settings = self.deliverer.store, self.deliverer.clock, self.deliverer.settings
        endpoint = self.endpoint
        state = store.start(endpoint["id"], endpoint["from_position"] - 1)
        if self._base is None or _key(state) != _key(self._base):
            self._forget(state)  # first step, a replay, or another process moved it
        if endpoint["replays"] > state.replays:
            position = endpoint["replay_from"] - 1 if endpoint["replay_from"] else self.position
            self._flush()
            if self._base is not None and store.replay(self._base, endpoint["replays"], position):
                log.info("webhook %s: replaying from position %s", endpoint["id"], position + 1)
            self._base = None
            return True
        now = clock.now()
        backoff = self._backoff if self._backoff and self._backoff.position == self.position else None
        next_attempt_at = backoff.next_attempt_at if backoff else state.next_attempt_at
        if next_attempt_at is not None and now < next_attempt_at:
            self._halt.wait(min((next_attempt_at - now).total_seconds(), settings.poll_interval))
            return True
        events, next_after, endpoint = self._unsent()
        if events is None:
            page = self.deliverer.feed.page(self.position, settings.batch, FeedFilter.of(endpoint["types"]))
            if not page.events:
                if page.next_after > self.position or self._ahead:
                    return self._flush(page.next_after)
                return False
            # Read the endpoint again *after* the page: every event in it was committed before
            # this read, so a rotation committed before any of them is seen, and signs it.
            endpoint = self.deliverer.commands.registry().endpoints.get(endpoint["id"]) or {}
            if endpoint.get("status") != ACTIVE:
                self.stop()
                return False
            self.endpoint = endpoint
            self._page = (page.events, page.next_after, endpoint)
            events, next_after = page.events, page.next_after
        secrets = self._signing_secrets(endpoint, now)
        for event in events:
            if self._halt.is_set() or changed(self.endpoint, endpoint):
                return True  # stopping, or the endpoint changed (rotation, replay): re-read
            body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
            sent_at = clock.now()
            outcome = sender.send(endpoint["url"], secrets, event["id"], body, int(sent_at.timestamp()))
            attempt = Attempt(
                event["position"], event["id"], sent_at, outcome.latency_ms,
                outcome.status_code, outcome.error, outcome.excerpt,
            )  # fmt: skip
            if not outcome.delivered:
                self._failed(attempt, sent_at)
                return True
            self._ahead.append(attempt)
            self._backoff = None
            if len(self._ahead) >= GROUP and not self._flush():
                return True
        self._page = None
        return self._flush(next_after) if next_after > self.position else False

    def _unsent(self) -> tuple[list[dict[str, Any]] | None, int, dict[str, Any]]:
        """What is left of the page being delivered, unless the endpoint changed meanwhile."""
        if self._page is not None:
            events, next_after, endpoint = self._page
            left = [e for e in events if e["position"] > self.position]
            if left and not changed(self.endpoint, endpoint):
                return left, next_after, endpoint
        self._page = None
        return None, 0, self.endpoint

    def _forget(self, state: DeliveryState) -> None:
        self._base, self._ahead, self._backoff, self._page = state, [], None, None

    def _flush(self, position: int | None = None) -> bool:
        """Commit the position (past the delivered events, or to ``position``) and the attempts."""
        if self._base is None:
            return False
        target = max(position or 0, self.position)
        if target == self._base.position and not self._unrecorded:
            return False
        if not self.deliverer.store.advance(self._base, target, [*self._unrecorded, *self._ahead]):
            log.info("webhook %s: position moved by another process; re-reading", self.endpoint["id"])
            self._base = None
            return False
        self._unrecorded = []
        self._forget(
            replace(self._base, position=target, attempts=0, failing_since=None, next_attempt_at=None)
        )
        return True

    def _failed(self, attempt: Attempt, now: datetime) -> None:
        """Schedule the next try. Short pauses stay in memory (a crash merely retries sooner);
        from ``DURABLE_PAUSE`` on, the back-off is stored with the position and the attempts."""
        assert self._base is not None
        deliverer, position = self.deliverer, self.position
        retry = deliverer.settings.retry
        known = self._backoff if self._backoff and self._backoff.position == position else None
        stored = self._base if self._base.position == position else None
        failures = (known.failures if known else stored.attempts if stored else 0) + 1
        failing_since = (known.failing_since if known else stored.failing_since if stored else None) or now
        self._unrecorded.append(attempt)
        if (now - failing_since).total_seconds() >= retry.give_up_after:
            self._store_failure(position, failures, failing_since, now)
            reason = f"position {attempt.position} failed since {failing_since.isoformat()}: {attempt.error}"
            if deliverer.commands.mark_failing(self.endpoint["id"], attempt.position, failing_since, reason):
                log.warning("webhook %s marked failing: %s", self.endpoint["id"], reason)
            self.stop()
            return
        pause = retry.delay(failures)
        self._backoff = Backoff(position, failures, failing_since, now + pause)
        overdue = time.monotonic() - self._recorded_at >= RECORD_EVERY
        if pause >= DURABLE_PAUSE or len(self._unrecorded) >= GROUP or overdue:
            self._store_failure(position, failures, failing_since, now + pause)
        log.info(
            "webhook %s: position %s failed (%s); next attempt in %.3f s",
            self.endpoint["id"], attempt.position, attempt.error, pause.total_seconds(),
        )  # fmt: skip

    def _store_failure(self, position: int, failures: int, since: datetime, next_at: datetime) -> None:
        assert self._base is not None
        records = [*self._unrecorded, *self._ahead]
        if self.deliverer.store.failed(self._base, position, records, failures, since, next_at):
            self._unrecorded, self._recorded_at = [], time.monotonic()
            backoff = self._backoff
            self._forget(
                replace(
                    self._base,
                    position=position,
                    attempts=failures,
                    failing_since=since,
                    next_attempt_at=next_at,
                )
            )
            self._backoff = backoff
        else:
            self._base = None

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


def _key(state: DeliveryState) -> tuple[int, int, int]:
    return state.position, state.replays, state.attempts
