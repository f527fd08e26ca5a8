"""``verify``: replay every stream once, in log order, and check what must always hold.

Checks, each breach reported as one sentence naming the stream (and event version):
- the hash chain of every stream (an edited, inserted or deleted event breaks it);
- credits are conserved per member: every credit is added once and only moves
  available -> held -> available | consumed | forfeited -> available (restored);
- no provider has two overlapping sessions that occupy their time (pending, confirmed,
  completed, no-show);
- each booking's credit movements (derived from its own events) equal the ledger entries
  that name it;
- no deadline event is recorded twice for a booking;
- each deadline outcome recorded late is the one the booking's status implied from the instant
  it took effect (``effective_at``), so every read about money agreed with it meanwhile;
- (``verify_all``) each snapshotted stream's latest snapshot equals the replay of its events;
- (``verify_all``) the read models equal a rebuild from the events, through the view check
  its caller passes in (``projections.verify``; this package never imports the views).

Reads only; never repairs anything. Pure over the recorder's rows, so a bench can time it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from audit.log import decode, event_type, read_log
from commands.chain import link, unseal
from commands.snapshots import restored
from domain.actors import SCHEDULER
from domain.booking import COMPLETED, CONFIRMED, NO_SHOW, PENDING, Booking
from domain.credits import CREDIT_MOVES, CreditAccount
from domain.lifecycle import unrecorded_credit_status
from domain.time import iso

OCCUPYING = (PENDING, CONFIRMED, COMPLETED, NO_SHOW)
DEADLINE_OUTCOMES: dict[type, str] = {
    Booking.ConfirmationExpired: "available",
    Booking.SessionCompleted: "consumed",
    Booking.NoShowRecorded: "forfeited",
}
"""Events that may record a deadline's outcome, and what each does with the booking's credit."""
Movement = tuple[str, str]  # (movement, credit id)


@dataclass
class Report:
    events: int = 0
    streams: int = 0
    breaches: list[str] = field(default_factory=list)
    views_checked: bool = False
    snapshots_checked: int = 0
    stream_kinds: dict[str, list[UUID | str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "views_checked": self.views_checked,
            "snapshots_checked": self.snapshots_checked,
            "breaches": self.breaches,
        }


@dataclass
class _Stream:
    version: int = 0
    link: str = ""
    aggregate: Any = None
    kind: str = "?"


class _Checker:
    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        self.report = Report()
        self.streams: dict[UUID | str, _Stream] = {}
        self.booking_side: dict[str, Counter[Movement]] = defaultdict(Counter)
        self.ledger_side: dict[str, Counter[Movement]] = defaultdict(Counter)
        self.current_credit: dict[str, str] = {}
        self.deadlines: dict[str, Counter[str]] = defaultdict(Counter)
        self.added: Counter[str] = Counter()

    def breach(self, text: str) -> None:
        self.report.breaches.append(text)

    # --- one stored event ------------------------------------------------------------------

    def feed(self, row: Notification) -> None:
        self.report.events += 1
        stream = self.streams.get(row.originator_id)
        if stream is None:
            stream = self.streams[row.originator_id] = _Stream()
        where = f"stream {row.originator_id} v{row.originator_version} ({row.topic.rpartition(':')[2]})"
        self._check_link(stream, row, where)
        try:
            event = decode(self.mapper, row)
        except Exception as error:  # a tampered row may not even decode
            self.breach(f"{where}: cannot be decoded: {error}")
            stream.aggregate = None
            return
        self._check_meaning(event, stream, where)
        if stream.aggregate is not None and stream.aggregate.version != row.originator_version - 1:
            stream.aggregate.version = row.originator_version - 1  # a gap, already reported: carry on
        try:
            stream.aggregate = event.mutate(stream.aggregate)
            stream.kind = type(stream.aggregate).__name__
        except Exception as error:
            self.breach(f"{where}: does not apply to the state before it: {type(error).__name__}: {error}")

    def _check_link(self, stream: _Stream, row: Notification, where: str) -> None:
        version = row.originator_version
        if version != stream.version + 1:
            if version > stream.version + 1:
                missing = f"v{stream.version + 1}" + (
                    f"-v{version - 1}" if version - 1 > stream.version + 1 else ""
                )
                self.breach(f"{where}: {missing} of this stream is missing (deleted?)")
            else:
                self.breach(f"{where}: recorded out of order after v{stream.version}")
        unsealed = unseal(row.state)
        if unsealed.link is None:
            self.breach(f"{where}: carries no hash-chain link (written outside the service or edited)")
        else:
            expected = link(stream.link, row.originator_id, version, row.topic, unsealed.state)
            if expected != unsealed.link and version == stream.version + 1:
                self.breach(f"{where}: hash-chain link does not match its content and predecessor (edited?)")
            stream.link = unsealed.link
        stream.version = max(stream.version, version)

    # --- what the events mean ----------------------------------------------------------------

    def _check_meaning(self, event: Any, stream: _Stream, where: str) -> None:
        if isinstance(event, Booking.Event | Booking.SessionReserved):
            self._booking_event(event, str(event.originator_id))
            if type(event) in DEADLINE_OUTCOMES and isinstance(stream.aggregate, Booking):
                self._check_effective(event, stream.aggregate, where)
        elif isinstance(event, CreditAccount.Event) and not isinstance(event, CreditAccount.AccountOpened):
            self._ledger_event(event, stream.aggregate, where)

    def _booking_event(self, event: Any, booking_id: str) -> None:
        side = self.booking_side[booking_id]
        current = self.current_credit.get(booking_id)
        if isinstance(event, Booking.SessionReserved):
            side["held", event.credit_id] += 1
            self.current_credit[booking_id] = event.credit_id
        elif isinstance(event, Booking.Rescheduled):
            if not event.free:
                side["held", event.credit_id] += 1
            self.current_credit[booking_id] = event.credit_id
        elif (
            isinstance(
                event, Booking.ProviderDeclined | Booking.ConfirmationExpired | Booking.CancelledForMember
            )
            or (isinstance(event, Booking.Cancelled) and event.free)
            or (isinstance(event, Booking.NoShowRecorded) and event.absent_party == "provider")
        ):
            side["released", str(current)] += 1
        elif isinstance(event, Booking.CreditForfeited):
            side["forfeited", event.credit_id] += 1
        elif isinstance(event, Booking.SessionCompleted):
            side["consumed", event.credit_id] += 1
        elif isinstance(event, Booking.ForfeitRevoked):
            side["restored", event.credit_id] += 1
        if isinstance(
            event, Booking.ConfirmationExpired | Booking.FreeCancellationClosed | Booking.SessionReminderDue
        ):
            self.deadlines[booking_id][f"{event_type(event)} due {iso(event.due)}"] += 1
        if isinstance(event, Booking.SessionCompleted | Booking.NoShowRecorded):
            self.deadlines[booking_id]["session end (completed or no-show)"] += 1

    def _check_effective(self, event: Any, before: Booking, where: str) -> None:
        """A deadline's outcome recorded after the instant it took effect: from that instant
        until its recording, every read about money (the booking's status, the live balance,
        ``?as_of=``, the audit ledger) counted the credit as the booking's status implied
        (``unrecorded_credit_status``). The recorded outcome must be that same one, or those
        answers disagreed with what was recorded."""
        effective = event.effective_at
        if effective > event.timestamp:
            self.breach(f"{where}: takes effect at {iso(effective)}, after it was recorded")
            return
        if effective == event.timestamp and event.actor != str(SCHEDULER):
            return  # a party's report: it took effect when made
        expected = DEADLINE_OUTCOMES[type(event)]
        if isinstance(event, Booking.NoShowRecorded) and event.absent_party != "member":
            expected = "available"
        implied = unrecorded_credit_status(before.timeline, effective)
        if implied != expected:
            self.breach(
                f"{where}: records the credit {expected} from {iso(effective)}, but the booking's "
                f"status then ({before.status_at(effective)}) implied "
                f"{implied or 'no change'}: reads about money disagreed until it was recorded"
            )

    def _ledger_event(self, event: Any, account: CreditAccount | None, where: str) -> None:
        name = event_type(event)
        if name == "CreditsAdded" and account is not None:
            self.added[account.member_id] += event.count
        move = CREDIT_MOVES.get(type(event))
        if move is None or account is None:
            return
        movement, allowed = move.movement, (move.leaves,)
        self.ledger_side[event.booking_id][movement, event.credit_id] += 1
        credit = account.credit(event.credit_id)
        if credit is None:
            self.breach(
                f"{where}: member {account.member_id}: {name} of credit {event.credit_id}, never added"
            )
        elif credit["status"] not in allowed or (
            movement != "held" and credit["booking_id"] not in (event.booking_id, None)
        ):
            self.breach(
                f"{where}: member {account.member_id}: {name} of credit {event.credit_id} "
                f"for booking {event.booking_id} while it was {credit['status']}"
                + (f" for booking {credit['booking_id']}" if credit["booking_id"] else "")
                + " (credits not conserved)"
            )

    # --- after the whole log -----------------------------------------------------------------

    def finish(self) -> Report:
        self.report.streams = len(self.streams)
        for ident, stream in self.streams.items():
            self.report.stream_kinds.setdefault(stream.kind, []).append(ident)
        bookings = [s.aggregate for s in self.streams.values() if isinstance(s.aggregate, Booking)]
        self._check_accounts()
        self._check_booking_ledgers()
        self._check_deadlines()
        self._check_overlaps(bookings)
        return self.report

    def _check_accounts(self) -> None:
        for stream in self.streams.values():
            account = stream.aggregate
            if not isinstance(account, CreditAccount):
                continue
            added = self.added.get(account.member_id, 0)
            statuses = Counter({k: v for k, v in account.balance().items() if v})
            if sum(statuses.values()) != added or set(statuses) - {
                "available",
                "held",
                "consumed",
                "forfeited",
            }:
                self.breach(
                    f"member {account.member_id}: credit statuses {dict(statuses)} do not add up to {added}"
                )

    def _check_booking_ledgers(self) -> None:
        for booking_id in sorted(set(self.booking_side) | set(self.ledger_side)):
            ours, ledger = (
                self.booking_side.get(booking_id, Counter()),
                self.ledger_side.get(booking_id, Counter()),
            )
            if ours == ledger:
                continue
            missing = ", ".join(f"{m} {c}" for (m, c), n in sorted((ours - ledger).items()) for _ in range(n))
            extra = ", ".join(f"{m} {c}" for (m, c), n in sorted((ledger - ours).items()) for _ in range(n))
            text = f"booking {booking_id}: credit movements differ from the ledger"
            text += f"; booking says {missing} but the ledger has no such entry" if missing else ""
            text += f"; the ledger has {extra} that the booking does not explain" if extra else ""
            self.breach(text)

    def _check_deadlines(self) -> None:
        for booking_id, counts in self.deadlines.items():
            for what, n in sorted(counts.items()):
                if n > 1:
                    self.breach(f"booking {booking_id}: {what} recorded {n} times")

    def _check_overlaps(self, bookings: list[Booking]) -> None:
        by_provider: dict[str, list[Booking]] = defaultdict(list)
        for booking in bookings:
            if booking.status in OCCUPYING:
                by_provider[booking.provider_id].append(booking)
        for provider_id, sessions in by_provider.items():
            sessions.sort(key=lambda b: b.starts_at)
            latest: Booking | None = None
            for booking in sessions:
                if latest is not None and booking.starts_at < latest.ends_at:
                    self.breach(
                        f"provider {provider_id}: sessions overlap: booking {latest.id} "
                        f"({iso(latest.starts_at)}-{iso(latest.ends_at)}, {latest.status}) and booking "
                        f"{booking.id} ({iso(booking.starts_at)}-{iso(booking.ends_at)}, {booking.status})"
                    )
                if latest is None or booking.ends_at > latest.ends_at:
                    latest = booking


def verify_rows(rows: Iterable[Notification], mapper: Mapper[UUID]) -> Report:
    """Check an ordered sequence of stored events (the whole log)."""
    checker = _Checker(mapper)
    for row in rows:
        checker.feed(row)
    return checker.finish()


def verify_store(
    recorder: ApplicationRecorder, mapper: Mapper[UUID], progress: Callable[[int], None] | None = None
) -> Report:
    def counted() -> Iterable[Notification]:
        for row in read_log(recorder):
            yield row
            if progress is not None:
                progress(1)

    return verify_rows(counted(), mapper)


def verify_snapshots(app: Application[UUID], report: Report) -> None:
    """The latest snapshot of each snapshotted stream must equal the replay to its version (one
    of an outdated shape is not checked: loads ignore it, see ``commands.snapshots``).

    Loading an aggregate starts from its latest snapshot, so an edited snapshot would change
    what commands decide without touching an event; this names it.
    """
    if app.snapshots is None:
        return
    kinds = {cls.__name__ for cls in getattr(app, "snapshotting_intervals", None) or {}}
    for kind in sorted(kinds):
        for ident in report.stream_kinds.get(kind, []):
            latest: list[Any] = list(app.snapshots.get(UUID(str(ident)), desc=True, limit=1))
            if not latest:
                continue
            snapshot = latest[0]
            version = snapshot.originator_version
            try:
                loaded = restored(snapshot)
            except Exception as error:
                report.snapshots_checked += 1
                report.breaches.append(
                    f"snapshot of stream {ident} v{version} ({kind}): cannot be loaded: {error}"
                )
                continue
            if loaded is None:  # of an outdated shape: every load ignores it and replays the events
                continue
            report.snapshots_checked += 1
            from_snapshot = vars(loaded)
            replayed: Any = None
            event: Any
            try:
                for event in app.events.get(UUID(str(ident)), lte=version):
                    replayed = event.mutate(replayed)
            except Exception as error:  # a missing or unreadable event: named by the chain check too
                report.breaches.append(
                    f"snapshot of stream {ident} v{version} ({kind}): its events cannot be replayed to "
                    f"compare it: {type(error).__name__}: {error}"
                )
                continue
            if replayed is None or from_snapshot != vars(replayed):
                report.breaches.append(
                    f"snapshot of stream {ident} v{version} ({kind}): differs from the replay of its "
                    "events (edited?); delete it to make the service replay the events"
                )


ViewCheck = Callable[[], Iterable[str]]
"""Compares the read models with a rebuild from the events; yields one line per difference.
The entry point passes it in (``projections.verify.verify_views`` over the same database)."""


def verify_all(
    app: Application[UUID],
    views: ViewCheck | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """The event checks, the latest snapshots, then (when given) the views' check."""
    report = verify_store(app.recorder, app.mapper, progress)
    verify_snapshots(app, report)
    if views is None:
        return report
    report.views_checked = True
    try:
        differences = list(views())
    except Exception as error:  # never let one check hide the others' findings
        differences = [f"the views cannot be compared: {type(error).__name__}: {error}"]
    report.breaches.extend(f"view: {difference}" for difference in differences)
    return report
