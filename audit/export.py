"""Export the event log as JSON lines, and import such an export into an empty database.

One line per stored event: its notification id, stream id, version, topic and stored state
(the exact bytes, as UTF-8 text, or base64 when they are not valid UTF-8). The state keeps its
hash-chain link, so an imported log verifies like the original. Reading is paged; nothing is
held in memory beyond one page. Import refuses a database that already holds events, and
writes one page per transaction in the original order (notification ids are assigned afresh
by the target database; streams, versions, topics, instants and state bytes are kept).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification, StoredEvent

from audit.log import PAGE, read_log
from commands.chain import unseal
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.errors import InvalidInput

Progress = Callable[[int], None]


def export_line(row: Notification) -> str:
    record: dict[str, Any] = {
        "notification_id": row.id,
        "originator_id": str(row.originator_id),
        "originator_version": row.originator_version,
        "topic": row.topic,
    }
    try:
        record["state"] = row.state.decode("utf-8")
    except UnicodeDecodeError:
        record["state_b64"] = base64.b64encode(row.state).decode("ascii")
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def select_part(
    rows: Iterable[Notification], member_id: str | None = None, provider_id: str | None = None
) -> Iterator[Notification]:
    """Only the streams of one member (or provider): ledger/calendar, rooms and bookings.

    A stream belongs to the party when its first event names them; streams start before
    they continue, so one pass in notification order suffices.
    """
    if member_id is None and provider_id is None:
        yield from rows
        return
    key, party = ("member_id", member_id) if member_id is not None else ("provider_id", provider_id)
    owned: set[UUID | str] = {
        CreditAccount.id_for(member_id)
        if member_id is not None
        else ProviderCalendar.id_for(str(provider_id))
    }
    for row in rows:
        if row.originator_version == 1 and row.originator_id not in owned:
            state = json.loads(unseal(row.state).state)
            if state.get(key) == party:
                owned.add(row.originator_id)
        if row.originator_id in owned:
            yield row


def export_events(
    recorder: ApplicationRecorder,
    out: IO[str],
    member_id: str | None = None,
    provider_id: str | None = None,
    progress: Progress | None = None,
    page: int = PAGE,
) -> int:
    """Write the log (or one party's part) as JSON lines; return how many lines were written."""
    if member_id is not None and provider_id is not None:
        raise InvalidInput("export one member's or one provider's part, not both")

    def counted(rows: Iterable[Notification]) -> Iterator[Notification]:
        for row in rows:
            yield row
            if progress is not None:
                progress(1)

    written = 0
    for row in select_part(counted(read_log(recorder, page)), member_id, provider_id):
        out.write(export_line(row) + "\n")
        written += 1
    return written


def parse_line(line: str, number: int) -> StoredEvent:
    try:
        record = json.loads(line)
        state = (
            record["state"].encode("utf-8")
            if "state" in record
            else base64.b64decode(record["state_b64"], validate=True)
        )
        version = record["originator_version"]
        if not isinstance(version, int) or version < 1 or not isinstance(record["topic"], str):
            raise ValueError("bad version or topic")
        return StoredEvent(UUID(record["originator_id"]), version, record["topic"], state)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(f"line {number} of the export is not an exported event: {error}") from None


def import_events(
    recorder: ApplicationRecorder,
    open_lines: Callable[[], Iterable[str]],
    progress: Progress | None = None,
    page: int = PAGE,
) -> int:
    """Insert every exported event, in order, into an empty event store; return the count.

    ``open_lines`` is called twice: a first pass checks every line, so a bad export writes
    nothing; the second inserts ``page`` events per transaction.
    """
    if recorder.max_notification_id():
        raise InvalidInput("the target database already holds events; import needs an empty one")
    for number, line in enumerate(open_lines(), start=1):
        if line.strip():
            parse_line(line, number)
    batch: list[StoredEvent] = []
    imported = 0
    for number, line in enumerate(open_lines(), start=1):
        if line.strip():
            batch.append(parse_line(line, number))
        if len(batch) >= page:
            imported += _insert(recorder, batch, progress)
            batch = []
    return imported + (_insert(recorder, batch, progress) if batch else 0)


def _insert(recorder: ApplicationRecorder, batch: list[StoredEvent], progress: Progress | None) -> int:
    recorder.insert_events(batch)
    if progress is not None:
        progress(len(batch))
    return len(batch)
