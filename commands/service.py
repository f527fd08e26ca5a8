"""BookingService: every command of the product, and the queries that read aggregates.

Each command is data (``commands.messages``) with one handler (``commands.handlers``) that
loads the aggregates and takes one domain decision; ``handle`` lets ``_execute`` save every
changed aggregate in one atomic transaction, retrying on a version conflict and honouring
caller-chosen command ids. Refused commands raise a ``BookingError`` and write nothing.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Container, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

import eventsourcing.postgres
import psycopg_pool
from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    InternalError,
    Mapper,
    OperationalError,
)
from eventsourcing.utils import Environment, EnvType

from commands import messages as m
from commands.cache import AggregateCache, is_immutable, private_copy
from commands.chain import ChainedMapper
from commands.clock import SystemClock
from commands.counts import ACCEPTED, CONFLICT, FAILED, REFUSED, REPLAYED, CommandCounts
from commands.handlers import HANDLERS, booking_outcome
from commands.idempotency import CommandRecord, check_command_id, fingerprint
from commands.messages import Command
from commands.recorder import select_streams, streams_moved
from commands.snapshots import SnapshotTolerantRepository, restored
from commands.storage import PoolBudget, event_store_env
from domain.actors import SCHEDULER, Actor
from domain.booking import EXPIRED, Booking, needs_ledger
from domain.calendar import ProviderCalendar, check_length
from domain.credits import CreditAccount
from domain.errors import BookingError, ConcurrencyConflict, InvalidInput, NotAllowed, NotFound
from domain.policy import Policy
from domain.preview import preview
from domain.room import Room
from domain.time import Clock, iso, to_utc

A = TypeVar("A", bound=Aggregate)
Decision = Callable[[datetime], tuple[Sequence[Aggregate], dict[str, Any]]]

MAX_ATTEMPTS = 12
OVERFLOW_IDLE_SECONDS = 60.0
REFUSED_WAIT = 0.25
CACHE_SIZE = 5000  # aggregates kept per service object
SERVICE = "system:service"
RECORD_DEADLINE = m.RecordDeadline.name


class BookingService(Application[UUID]):
    name = "booking"
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {  # type: ignore[assignment]
        ProviderCalendar: 50,
        CreditAccount: 50,
    }

    def __init__(self, clock: Clock, policy: Policy | None = None, env: dict[str, str] | None = None) -> None:
        try:
            super().__init__(env=env)
        except BaseException:  # e.g. a concurrent start-up's CREATE: release the pool already opened
            factory = getattr(self, "factory", None)
            if factory is not None:
                factory.close()
            raise
        self._cache = AggregateCache(CACHE_SIZE)
        self._local = threading.local()
        self.command_counts = CommandCounts()
        self.clock = clock
        self.policy = policy or Policy()

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the values handed in configure the store: unlike the library's default, never
        ``os.environ`` (``PERSISTENCE_MODULE``, ``BOOKING_PERSISTENCE_MODULE``, ...), so
        ``entrypoints.settings`` stays the one place the environment configures anything."""
        values = dict(type(self).env)
        if type(self).is_snapshotting_enabled or type(self).snapshotting_intervals:
            values["IS_SNAPSHOTTING_ENABLED"] = "y"
        values.update(env or {})
        return Environment(name, values)

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        """On PostgreSQL, open the pool before first use and wait for its ``size`` connections:
        otherwise psycopg's pool, still connecting in the background, grows past its size for
        the very first query. Connections above the size close after a minute unused."""
        factory = super().construct_factory(env)
        pool = getattr(getattr(factory, "datastore", None), "pool", None)
        if isinstance(pool, eventsourcing.postgres.ConnectionPool):
            pool.__class__ = ShortWaitWhenRefusedPool
            pool.max_idle = OVERFLOW_IDLE_SECONDS
            try:
                pool.open(wait=True, timeout=pool.timeout)
            except psycopg_pool.PoolTimeout as error:
                reason = getattr(pool, "last_refusal", None) or error
                raise OperationalError(f"cannot connect to the event store: {reason}") from error
        return factory

    @classmethod
    def open(
        cls,
        database_url: str,
        clock: Clock | None = None,
        policy: Policy | None = None,
        attempts: int = 6,
        *,
        pools: PoolBudget | None = None,
        create_tables: bool = True,
    ) -> BookingService:
        """Construct the service on a database URL, riding out concurrent start-ups.

        Construction re-runs the library's CREATE statements, which PostgreSQL may refuse
        ("tuple concurrently updated") while another process does the same at that moment;
        with ``create_tables=False`` (the database prepared by ``migrations.prepare``) it runs none.
        """
        env = event_store_env(database_url, pools, create_tables=create_tables)
        for attempt in range(attempts):
            try:
                return cls(clock or SystemClock(), policy, env=env)
            except InternalError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save atomically; once committed, the mapper keeps the new chain heads in memory,
        so the next save of these streams needs no read to find its previous link."""
        mapper = cast(ChainedMapper, self.mapper)
        mapper.begin_save()
        # As the library's save, but an aggregate's events are collected without the library's
        # isinstance checks against its runtime protocols (slow: a twentieth of a command's CPU).
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        mapper.commit_save()
        return recordings

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository (used when a snapshot is taken), replaying past an outdated
        snapshot as the service's own loads do."""
        repository = super().construct_repository()
        repository.__class__ = SnapshotTolerantRepository
        return repository

    def construct_mapper(self) -> Mapper[UUID]:
        """Every stored event carries its stream's hash-chain link (see ``commands.chain``)."""
        return ChainedMapper(self.construct_transcoder(), recorder_of=lambda: self.recorder)

    # --- commands ---------------------------------------------------------------------------

    def handle(self, command: Command, command_id: str | None = None) -> dict[str, Any]:
        """Run the command's handler (see ``commands.handlers``) through ``_execute``; the
        command's fields are its idempotency fingerprint, its class its name."""
        handler = HANDLERS[type(command)]
        return self._execute(
            command.name, command.arguments(), command_id, lambda now: handler(self, command, now)
        )

    def open_room(
        self, member_id: str, provider_id: str, *, actor: str | Actor = SERVICE, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.OpenRoom(member_id, provider_id, str(actor)), command_id)

    def publish_availability(
        self,
        provider_id: str,
        availability: dict[str, Any],
        *,
        actor: str | Actor = SERVICE,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        return self.handle(m.PublishAvailability(provider_id, availability, str(actor)), command_id)

    def add_credits(
        self,
        member_id: str,
        source: str,
        count: int,
        reference: str,
        *,
        actor: str | Actor = SERVICE,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        return self.handle(m.AddCredits(member_id, source, count, reference, str(actor)), command_id)

    def reserve_session(
        self,
        room_id: str,
        starts_at: datetime | str,
        length_minutes: int,
        format: str,
        *,
        actor: str | Actor,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        command = m.ReserveSession(
            room_id, to_utc(starts_at, "starts_at"), length_minutes, format, str(actor)
        )
        return self.handle(command, command_id)

    def confirm_session(
        self, booking_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.ConfirmSession(booking_id, str(actor)), command_id)

    def decline_session(
        self, booking_id: str, reason: str = "", *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.DeclineSession(booking_id, reason, str(actor)), command_id)

    def reschedule_session(
        self,
        booking_id: str,
        starts_at: datetime | str,
        accept_forfeit: bool = False,
        *,
        actor: str | Actor,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        command = m.RescheduleSession(booking_id, to_utc(starts_at, "starts_at"), accept_forfeit, str(actor))
        return self.handle(command, command_id)

    def cancel_session(
        self,
        booking_id: str,
        reason: str = "",
        accept_forfeit: bool = False,
        *,
        actor: str | Actor,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        return self.handle(m.CancelSession(booking_id, reason, accept_forfeit, str(actor)), command_id)

    def record_member_joined(
        self, booking_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.RecordMemberJoined(booking_id, str(actor)), command_id)

    def propose_start(
        self, booking_id: str, starts_at: datetime | str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.ProposeStart(booking_id, to_utc(starts_at, "starts_at"), str(actor)), command_id)

    def accept_proposal(
        self, booking_id: str, proposal_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.AcceptProposal(booking_id, proposal_id, str(actor)), command_id)

    def decline_proposal(
        self, booking_id: str, proposal_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.DeclineProposal(booking_id, proposal_id, str(actor)), command_id)

    def record_provider_joined(
        self, booking_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.RecordProviderJoined(booking_id, str(actor)), command_id)

    def complete_session(
        self, booking_id: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.CompleteSession(booking_id, str(actor)), command_id)

    def report_no_show(
        self, booking_id: str, absent_party: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.ReportNoShow(booking_id, absent_party, str(actor)), command_id)

    def revoke_forfeit(
        self, booking_id: str, reason: str, *, actor: str | Actor, command_id: str | None = None
    ) -> dict[str, Any]:
        return self.handle(m.RevokeForfeit(booking_id, reason, str(actor)), command_id)

    def record_deadline(self, booking_id: str, kind: str, due: datetime | str) -> dict[str, Any]:
        """The scheduler's command: records the deadline event only if it is still current."""
        return self.handle(m.RecordDeadline(booking_id, kind, to_utc(due, "due")))

    def record_deadlines(
        self, deadlines: Sequence[tuple[str, str, datetime]]
    ) -> list[dict[str, Any] | Exception]:
        """``record_deadline`` for several deadlines, reading and saving together what it can.

        First their bookings, accounts and calendars not yet cached are read into the cache in
        two queries (``warm_up``). Then each deadline is decided on its own, exactly as the
        first attempt of ``record_deadline`` decides it (on cached aggregates, checked later).
        The decisions that touch no aggregate an earlier one of the batch touched, and whose
        unchanged cached aggregates are still current (one query for all), are saved in one
        atomic save: one round trip and one take of the events table's lock for them all. If
        that save meets a version conflict (a stale cached aggregate), its aggregates are
        evicted and those deadlines go round once more, read anew. Every other deadline (a
        refusal, a stale unchanged aggregate, an aggregate shared with an earlier deadline, a
        second conflict) is then recorded alone by ``record_deadline``, with its retries and
        guards. Returns each deadline's
        outcome, in order, or the error ``record_deadline`` raised for it.
        """
        results: dict[int, dict[str, Any] | Exception] = {}
        alone: list[int] = []
        pending = list(range(len(deadlines)))
        for _ in range(2):  # a version conflict: once more, on what the conflict evicted, read anew
            with contextlib.suppress(Exception):  # only an optimisation: decisions read what is not cached
                wanted = [deadlines[index] for index in pending]
                ledgers = {booking_id for booking_id, kind, _ in wanted if needs_ledger(kind)}
                self.warm_up([booking_id for booking_id, _, _ in wanted], with_ledgers=ledgers)
            decided: list[_Decided] = []
            touched: set[UUID] = set()
            for index in pending:
                one = self._decide_first(index, deadlines[index])
                if one is None or one.ids & touched:
                    alone.append(index)
                    continue
                touched |= one.ids
                decided.append(one)
            saved = self._save_together(decided)
            results.update((one.index, one.outcome) for one in saved)
            pending = [one.index for one in decided if one not in saved]
        for index in sorted([*alone, *pending]):
            try:
                results[index] = self.record_deadline(*deadlines[index])
            except Exception as error:  # the caller decides per deadline, as for a single one
                results[index] = error
        return [results[index] for index in range(len(deadlines))]

    def _decide_first(self, index: int, deadline: tuple[str, str, datetime]) -> _Decided | None:
        """The deadline's first-attempt decision, or None if it refused (or failed): then the
        single path decides it again, fresh if it must, and answers for it."""
        loads = self._begin_attempt(False)
        try:
            booking_id, kind, due = deadline
            command = m.RecordDeadline(booking_id, kind, to_utc(due, "due"))
            aggregates, outcome = HANDLERS[type(command)](self, command, self.clock.now())
        except Exception:
            return None
        finally:
            self._local.loads = None
        return _Decided(index, command.name, list({id(a): a for a in aggregates}.values()), outcome, loads)

    def _save_together(self, decided: list[_Decided]) -> list[_Decided]:
        """Save the decisions whose unchanged cached aggregates are current, in one save;
        returns those saved (none if the save met a version conflict)."""
        moved = self._evict_moved([a for one in decided for a in one.loads.unchecked])
        current = [one for one in decided if not any(a.id in moved for a in one.loads.unchecked)]
        changed = [a for one in current for a in one.aggregates if a.pending_events]
        positions: dict[UUID, int] = {}
        if changed:
            try:
                recordings = self.save(*changed)
            except IntegrityError:
                self.command_counts.version_conflict(RECORD_DEADLINE)
                self._evict([a for one in current for a in (*one.loads.unchecked, *one.aggregates)])
                return []
            for recording in recordings:
                ident = recording.domain_event.originator_id
                positions[ident] = max(positions.get(ident, 0), recording.notification.id)
        for one in current:
            for aggregate in one.aggregates:
                self._cache.put(aggregate)
            position = max((positions[i] for i in one.ids if i in positions), default=None)
            one.outcome = {**one.outcome, "position": position}
            self.command_counts.outcome(one.command, ACCEPTED)
        return current

    def warm_up(self, booking_ids: Iterable[str], with_ledgers: Container[str] | None = None) -> int:
        """Read these bookings, then their members' credit accounts and their providers'
        calendars (only those of ``with_ledgers`` if given: a deadline that moves no credit
        needs neither), into the cache, many streams per query (two round trips on PostgreSQL),
        so that commands on them start warm: ``record_deadlines`` calls it for a group of
        due deadlines, each of which would otherwise read three streams one by one before its
        one write. What is cached already is not read again (a stale copy is caught at save,
        evicted, and read by the next warm-up). Only an optimisation: the cache's rules
        (``commands.cache``) apply to what it puts there as to anything else. Returns how many
        aggregates it read."""
        bookings: list[Aggregate] = []
        wanted: dict[UUID, type[Aggregate]] = {}
        for booking_id in booking_ids:
            try:
                ident = UUID(booking_id)
            except ValueError:
                continue  # the command will refuse it as it would without warming
            cached = self._cache.get(ident)
            if cached is None:
                wanted[ident] = Booking
            else:
                bookings.append(cached)
        read = self._read_into_cache(wanted)
        ledgers: dict[UUID, type[Aggregate]] = {}
        for booking in [*bookings, *read]:
            if isinstance(booking, Booking) and (with_ledgers is None or str(booking.id) in with_ledgers):
                ledgers[CreditAccount.id_for(booking.member_id)] = CreditAccount
                ledgers[ProviderCalendar.id_for(booking.provider_id)] = ProviderCalendar
        uncached = {i: cls for i, cls in ledgers.items() if self._cache.get(i) is None}
        return len(read) + len(self._read_into_cache(uncached))

    def _read_into_cache(self, wanted: dict[UUID, type[Aggregate]]) -> list[Aggregate]:
        """Reconstruct the aggregates ``wanted`` (id -> class) as ``_reconstruct`` would, in
        one read, and cache each one that exists and is of its class."""
        if not wanted:
            return []
        snapshotting = [i for i, cls in wanted.items() if cls in self.snapshotting_intervals]
        snapshot_store = self.snapshots if snapshotting else None
        streams = select_streams(
            self.recorder, snapshot_store.recorder if snapshot_store else None, list(wanted), snapshotting
        )
        loaded: list[Aggregate] = []
        for ident, cls in wanted.items():
            # Every event is decoded, the one at the snapshot's version too: the mapper then
            # knows each stream's last hash-chain link, and the next save needs no read for it.
            events = [self.events.mapper.to_domain_event(e) for e in streams.events.get(ident, [])]
            start: Any = None
            snapshot = streams.snapshots.get(ident)
            if snapshot is not None and snapshot_store is not None:
                start = restored(snapshot_store.mapper.to_domain_event(snapshot))
                if start is None:  # outdated: the whole stream instead
                    events = list(self.events.get(ident))
                else:
                    events = [e for e in events if e.originator_version > snapshot.originator_version]
            aggregate = replayed(start, events)
            if isinstance(aggregate, cls):
                self._cache.put(aggregate)
                loaded.append(aggregate)
        return loaded

    # --- queries on aggregates -------------------------------------------------------------

    def get_booking(self, booking_id: str, version: int | None = None) -> Booking:
        return self._load(Booking, booking_id, "booking", version=version)

    def get_room(self, room_id: str) -> Room:
        return self._load(Room, room_id, "room")

    def get_account(self, member_id: str) -> CreditAccount:
        return self._account(member_id, self.clock.now())

    def get_calendar(self, provider_id: str) -> ProviderCalendar:
        return self._calendar(provider_id, self.clock.now())

    def review_policy(self, booking_id: str, starts_at: datetime | str | None = None) -> dict[str, Any]:
        """What cancelling or rescheduling this booking would do right now; given a new
        start, also what rescheduling to it would mean (its deadlines, whether it is free)."""
        now = self.clock.now()
        booking = self.get_booking(booking_id)
        review = {k: iso(v) if isinstance(v, datetime) else v for k, v in booking.review_policy(now).items()}
        if starts_at is not None:
            start = to_utc(starts_at, "starts_at")
            length = timedelta(minutes=booking.length_minutes)
            target = preview(booking.policy, start, length, now)
            if target["bookable_now"]:
                target.update(self._reschedule_refusal(booking, start, now))
            review["reschedule_to"] = target
        return review

    def _reschedule_refusal(self, booking: Booking, starts_at: datetime, now: datetime) -> dict[str, Any]:
        """Whether the member's reschedule to ``starts_at`` (acknowledging any forfeit) would be
        accepted now: the command's own decision, taken on private copies and never saved, so
        what is previewed is what the command does (the calendar, the credits it needs, the
        start it already has, deadlines the scheduler has not recorded yet)."""
        command = m.RescheduleSession(
            str(booking.id), starts_at, True, str(Actor("member", booking.member_id))
        )
        try:
            HANDLERS[type(command)](self, command, now)
        except BookingError as refusal:
            return {"bookable_now": False, "not_bookable": {"code": refusal.code, "detail": refusal.message}}
        return {}

    def preview_policy(
        self, starts_at: datetime | str, length_minutes: int | None = None, member_id: str | None = None
    ) -> dict[str, Any]:
        """The policy for a prospective start, under the policy new bookings get; given the
        member, a start they have no credit for is not bookable now (``no_credit_available``)."""
        length = check_length(
            length_minutes if length_minutes is not None else self.policy.lengths[0], self.policy
        )
        now = self.clock.now()
        target = preview(self.policy, to_utc(starts_at, "starts_at"), length, now)
        if (
            target["bookable_now"]
            and member_id is not None
            and self.credits_available_at(member_id, now) == 0
        ):
            detail = f"member {member_id} has no available credit to reserve a session with"
            target.update(bookable_now=False, not_bookable={"code": "no_credit_available", "detail": detail})
        return target

    def credits_available_at(self, member_id: str, now: datetime) -> int:
        """The member's credits a reservation could hold at ``now``: those available, and those
        held by bookings expired by ``now`` whose expiry the scheduler has not recorded yet
        (a reservation records that expiry first, see ``_settle_blockers``)."""
        account = self._account(member_id, now)
        count = account.balance()["available"]
        for booking_id in account.holds_to_settle(now):
            holder = self._find(Booking, UUID(booking_id))
            if holder is not None and holder.status_at(now) == EXPIRED:
                count += 1
        return count

    def available_starts(
        self,
        provider_id: str,
        length_minutes: int,
        begin: datetime | str,
        end: datetime | str,
        excluding: str | None = None,
        actor: str | Actor | None = None,
    ) -> list[datetime]:
        """The starts bookable right now; ``excluding`` a booking of this provider, also those
        that overlap that booking's current slot (its member is rescheduling it). Only that
        booking's member or provider, or an operator (``actor``), may see what its slot frees:
        to anyone else those starts are not free."""
        length = check_length(length_minutes, self.policy)
        start, finish = to_utc(begin, "from"), to_utc(end, "to")
        if finish < start:
            raise InvalidInput("'to' must not be before 'from'")
        if excluding is not None:
            moving = self.get_booking(excluding)
            if moving.provider_id != provider_id:
                raise InvalidInput(
                    f"booking {excluding} is with provider {moving.provider_id}, not {provider_id}"
                )
            _check_may_exclude(moving, actor)
            excluding = str(moving.id)
        return self.get_calendar(provider_id).available_starts(
            length, start, finish, self.policy, self.clock.now(), ignoring=excluding
        )

    # --- machinery -------------------------------------------------------------------------

    def _execute(
        self, command: str, arguments: dict[str, Any], command_id: str | None, decide: Decision
    ) -> dict[str, Any]:
        """Run ``_attempts`` and count the command by its outcome (see ``commands.counts``)."""
        counts = self.command_counts
        try:
            result, outcome = self._attempts(command, arguments, command_id, decide)
        except ConcurrencyConflict as error:
            counts.outcome(command, CONFLICT, error.code)
            raise
        except BookingError as error:
            counts.outcome(command, REFUSED, error.code)
            raise
        except Exception:
            counts.outcome(command, FAILED)
            raise
        counts.outcome(command, outcome)
        return result

    def _attempts(
        self, command: str, arguments: dict[str, Any], command_id: str | None, decide: Decision
    ) -> tuple[dict[str, Any], str]:
        """Decide and save atomically; retry on version conflicts; replay known command ids.

        Aggregates come from the cache without a read; a stale one is caught by the store's
        version check (evicted and reloaded), and a decision that refuses, or that relied on a
        cached aggregate it does not save, is taken again on freshly read aggregates first.
        """
        record_id = CommandRecord.id_for(check_command_id(command_id)) if command_id is not None else None
        digest = fingerprint(command, arguments) if command_id is not None else ""  # only records use it
        fresh = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self.command_counts.retry(command)
            if record_id is not None:
                existing = self._find(CommandRecord, record_id)
                if existing is not None:
                    replay = {
                        **existing.replay(command, digest),
                        "position": self.recorder.max_notification_id(),
                    }
                    return replay, REPLAYED
            now = self.clock.now()
            loads = self._begin_attempt(fresh)
            try:
                aggregates, outcome = decide(now)
            except BookingError:
                if loads.unchecked:
                    self._evict(loads.unchecked)  # refused on possibly stale state: decide again
                    fresh = True
                    continue
                # A concurrent twin (same command id) may have just committed and changed the
                # state this decision refused on: then answer with the twin's outcome.
                if record_id is not None and self._find(CommandRecord, record_id) is not None:
                    continue
                raise
            finally:
                self._local.loads = None
            if not self._unchanged_are_current(loads):
                fresh = True
                continue
            aggregates = list({id(a): a for a in aggregates}.values())
            if command_id is not None:
                aggregates = [*aggregates, CommandRecord.record(command_id, command, digest, outcome, now)]
            if not aggregates:
                # Nothing to record (the answer is already in the store): the head includes it.
                return {**outcome, "position": self.recorder.max_notification_id()}, ACCEPTED
            try:
                recordings = self.save(*aggregates)
            except IntegrityError:
                self.command_counts.version_conflict(command)
                self._evict([*loads.unchecked, *aggregates])
                fresh = True
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
                continue
            for aggregate in aggregates:
                self._cache.put(aggregate)
            position = max((r.notification.id for r in recordings), default=None)
            return {**outcome, "position": position}, ACCEPTED
        raise ConcurrencyConflict(f"{command} kept conflicting with concurrent changes; try again")

    def _begin_attempt(self, fresh: bool) -> _Loads:
        loads = _Loads(fresh)
        self._local.loads = loads
        return loads

    def _unchanged_are_current(self, loads: _Loads) -> bool:
        """Cached aggregates the decision read but does not change escape the version check
        at save, so check that no event was recorded after them (else evict them)."""
        return not self._evict_moved(loads.unchecked)

    def _evict_moved(self, aggregates: Sequence[Aggregate]) -> set[UUID]:
        """Evict those of the unchanged ``aggregates`` that have an event after their version
        (one query for all of them); return their ids."""
        unchanged = [a for a in aggregates if not a.pending_events]
        moved = streams_moved(self.recorder, [(a.id, a.version) for a in unchanged])
        self._evict([a for a in unchanged if a.id in moved])
        return moved

    def _evict(self, aggregates: Sequence[Aggregate]) -> None:
        for aggregate in aggregates:
            self._cache.evict(aggregate.id)

    def _load(self, cls: type[A], ident: str | UUID, what: str, version: int | None = None) -> A:
        try:
            uuid = ident if isinstance(ident, UUID) else UUID(str(ident))
        except ValueError:
            raise NotFound(f"no {what} with id {ident!r}") from None
        if not isinstance(ident, UUID) and str(uuid) != ident:  # one spelling, as every view keys it
            raise NotFound(f"no {what} with id {ident!r}; ids are lowercase UUIDs such as {uuid}")
        aggregate = self._find(cls, uuid, version)
        if aggregate is None or not isinstance(aggregate, cls):
            raise NotFound(f"no {what} with id {ident!r}")
        return aggregate

    def _find(self, cls: type[A], uuid: UUID, version: int | None = None) -> A | None:
        """A private copy of the aggregate. Inside a command's first attempt, straight from
        the cache (checked later); otherwise brought up to date with the store first."""
        if version is not None:
            return self._reconstruct(cls, uuid, version)
        cached = self._cache.get(uuid)
        if cached is None:
            loaded = self._reconstruct(cls, uuid, None)
            if loaded is not None:
                self._cache.put(private_copy(loaded))
            return loaded
        if not isinstance(cached, cls):
            return None
        aggregate = private_copy(cached)
        if is_immutable(cls):
            return aggregate
        loads: _Loads | None = getattr(self._local, "loads", None)
        if loads is not None and not loads.fresh:
            loads.unchecked.append(aggregate)
            return aggregate
        new_events = list(self.events.get(uuid, gt=aggregate.version))
        if new_events:
            aggregate = cast(A, replayed(aggregate, new_events))
            self._cache.put(private_copy(aggregate))
        return aggregate

    def _reconstruct(self, cls: type[A], uuid: UUID, version: int | None) -> A | None:
        """Replay from the latest snapshot (only read for classes that take them), or from the
        first event when there is none or it is outdated (``commands.snapshots``)."""
        start: Any = None
        if self.snapshots is not None and cls in self.snapshotting_intervals:
            for snapshot in self.snapshots.get(uuid, desc=True, limit=1, lte=version):
                start = restored(snapshot)
        gt = start.version if start is not None else None
        aggregate = replayed(start, self.events.get(uuid, gt=gt, lte=version))
        return aggregate if isinstance(aggregate, cls) else None

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot from the saved aggregate itself when it is at the snapshot's version
        (no read); otherwise as the library does."""
        if self.snapshots is None:
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))  # type: ignore[arg-type]
            if aggregate is None or interval is None or event.originator_version % interval:
                continue
            if aggregate.version == event.originator_version:
                snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                assert snapshot_class is not None
                self.snapshots.put([snapshot_class.take(aggregate)])
            else:
                self.take_snapshot(event.originator_id, version=event.originator_version)

    def _account(self, member_id: str, now: datetime) -> CreditAccount:
        return self._find(CreditAccount, CreditAccount.id_for(member_id)) or CreditAccount.open(
            member_id, now
        )

    def _calendar(self, provider_id: str, now: datetime) -> ProviderCalendar:
        return self._find(ProviderCalendar, ProviderCalendar.id_for(provider_id)) or ProviderCalendar.open(
            provider_id, now
        )

    def _booking_with_ledger(
        self, booking_id: str, now: datetime, settle: bool = True
    ) -> tuple[Booking, CreditAccount, ProviderCalendar]:
        """The booking with its member's account and its provider's calendar; unless told
        otherwise, with the booking's overdue deadlines recorded first (see ``Booking.settle``)."""
        booking = self._load(Booking, booking_id, "booking")
        account = self._account(booking.member_id, now)
        calendar = self._calendar(booking.provider_id, now)
        if settle:
            booking.settle(account, calendar, now)
        return booking, account, calendar

    def _settle_blockers(
        self,
        account: CreditAccount,
        calendar: ProviderCalendar,
        starts_at: datetime,
        length_minutes: object,
        now: datetime,
        ignoring: str | None = None,
    ) -> list[Aggregate]:
        """Settle the other bookings that could stand in this decision's way only because the
        scheduler has not recorded their due deadlines yet: those holding one of the member's
        credits past their confirmation deadline, and those holding an overlapping slot."""
        suspects = set(account.holds_to_settle(now))
        if isinstance(length_minutes, int):
            ends_at = starts_at + timedelta(minutes=length_minutes)
            suspects.update(calendar.overlapping_bookings(starts_at, ends_at, ignoring))
        suspects.discard(ignoring or "")
        changed: list[Aggregate] = []
        for booking_id in sorted(suspects):
            other = self._find(Booking, UUID(booking_id))
            if other is None or not other.overdue_deadlines(now):
                continue
            its_account = (
                account if other.member_id == account.member_id else self._account(other.member_id, now)
            )
            its_calendar = (
                calendar
                if other.provider_id == calendar.provider_id
                else self._calendar(other.provider_id, now)
            )
            other.settle(its_account, its_calendar, now)
            changed += [other, its_account, its_calendar]
        return changed


class ShortWaitWhenRefusedPool(eventsourcing.postgres.ConnectionPool):
    """The library's pool, except that while the server refuses new connections (down, or
    out of connections: "too many clients") a caller waits at most ``REFUSED_WAIT`` seconds
    for a connection instead of the full timeout. The library retries a failed read ten
    times, so a request then fails with a clear error within seconds, not minutes."""

    refused_since: float | None = None
    last_refusal: str = ""

    def _connect(self, timeout: float | None = None) -> Any:
        try:
            connection = super()._connect(timeout=timeout)
        except Exception as error:
            self.refused_since = self.refused_since or time.monotonic()
            self.last_refusal = " ".join(str(error).split())[:300]
            raise
        self.refused_since = None
        return connection

    def getconn(self, timeout: float | None = None) -> Any:
        if timeout is None and self.refused_since is not None:
            timeout = min(self.timeout, REFUSED_WAIT)
        return super().getconn(timeout=timeout)


def _check_may_exclude(booking: Booking, actor: str | Actor | None) -> None:
    party = Actor.parse(actor) if isinstance(actor, str) else actor
    if party is None or not (
        party.kind == "operator"
        or party.is_("member", booking.member_id)
        or party.is_("provider", booking.provider_id)
    ):
        raise NotAllowed(
            f"{party or 'an unnamed caller'} may not look past booking {booking.id}'s slot; only "
            f"member {booking.member_id}, provider {booking.provider_id} or an operator may "
            "(name yourself in X-Actor)"
        )


class _Decided:
    """One command's first-attempt decision, waiting to be saved with others."""

    def __init__(
        self, index: int, command: str, aggregates: list[Aggregate], outcome: dict[str, Any], loads: _Loads
    ) -> None:
        self.index = index
        self.command = command
        self.aggregates = aggregates
        self.outcome = outcome
        self.loads = loads
        self.ids = {a.id for a in (*aggregates, *loads.unchecked)}


class _Loads:
    """What one attempt of a command took from the cache without reading the store."""

    def __init__(self, fresh: bool) -> None:
        self.fresh = fresh
        self.unchecked: list[Aggregate] = []


__all__ = ["SCHEDULER", "BookingService", "booking_outcome"]


def replayed(aggregate: Any, events: Iterable[Any]) -> Any:
    """The aggregate after ``events``, as the library's ``project_aggregate`` makes it, without
    its check that each event fits a runtime-checkable protocol: such an ``isinstance`` inspects
    the protocol's members on every call, a tenth of a deadline's CPU when the scheduler loads
    the bookings falling due."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
