"""Tamper evidence: a hash chain per stream, written in the same atomic save as each event.

Design. ``ChainedMapper`` is the application's ``Mapper``. When it turns a domain event into
a stored event it computes

    link(v) = sha256(link(v-1) | originator_id | v | topic | state)

over the event's own stored bytes and the previous event's link (an empty string for version 1),
and splices the link into the stored JSON as a leading ``"_chain"`` member. The link therefore
travels inside the same row, written by the same ``insert_events`` transaction as the event: no
extra table, no extra write, and readers that know nothing of the chain still decode the JSON.

The previous link comes, in order of preference, from the event sealed just before on this
thread (events of one aggregate are consecutive in a save), from the heads this process knows
(links seen while loading, and links of its own saves once they committed: the service calls
``begin_save``/``commit_save`` around each save), or, when neither knows it (an aggregate loaded
from a snapshot or the cache, last written by another process), from one indexed read of the
previous stored event. Links sealed by a save that then lost a version conflict are never
remembered: ``begin_save`` forgets them and the "sealed just before" shortcut is forgotten on
every read.

The mapper never validates the chain while loading: ``audit.verify`` does that, naming the
first event of a stream whose bytes or predecessor no longer match. Snapshots are not chained
(they are derived state; verify compares the latest ones with a replay of the events).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent, Transcoder

PREFIX = b'{"_chain":"'
LINK_LENGTH = 64
SEALED_HEAD = len(PREFIX) + LINK_LENGTH + 2  # '{"_chain":"<64 hex>",'
HEADS_KEPT = 50_000


def link(previous: str, originator_id: UUID | str, version: int, topic: str, state: bytes) -> str:
    """The chain link of one stored event (hex sha256)."""
    digest = hashlib.sha256()
    digest.update(f"{previous}|{originator_id}|{version}|{topic}|".encode())
    digest.update(state)
    return digest.hexdigest()


def seal(state: bytes, chain_link: str) -> bytes:
    """Splice the link into the stored JSON object as its first member."""
    if state == b"{}":
        return PREFIX + chain_link.encode() + b'"}'
    if not state.startswith(b"{"):
        raise ValueError("only JSON object states can carry a chain link")
    return PREFIX + chain_link.encode() + b'",' + state[1:]


@dataclass(frozen=True)
class Unsealed:
    link: str | None  # None: the stored state carries no link
    state: bytes  # the state exactly as the transcoder wrote it


def unseal(state: bytes) -> Unsealed:
    if state.startswith(PREFIX):
        end = len(PREFIX) + LINK_LENGTH
        tail = state[end : end + 2]
        if tail == b'",':
            return Unsealed(state[len(PREFIX) : end].decode("ascii", "replace"), b"{" + state[SEALED_HEAD:])
        if tail == b'"}' and len(state) == end + 2:
            return Unsealed(state[len(PREFIX) : end].decode("ascii", "replace"), b"{}")
    return Unsealed(None, state)


class ChainedMapper(Mapper[UUID]):
    """A ``Mapper`` whose stored events each carry their stream's hash-chain link."""

    def __init__(
        self,
        transcoder: Transcoder,
        recorder_of: Callable[[], ApplicationRecorder] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(transcoder, **kwargs)
        self._recorder_of = recorder_of
        self._heads: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._reader: Mapper[UUID] = Mapper(SealedStateReader(transcoder))

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if isinstance(domain_event, Snapshot):
            return stored
        previous = self._previous_link(stored.originator_id, stored.originator_version)
        chain_link = link(
            previous, stored.originator_id, stored.originator_version, stored.topic, stored.state
        )
        self._local.last = (str(stored.originator_id), stored.originator_version, chain_link)
        self._sealed().append(self._local.last)
        return StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=seal(stored.state, chain_link),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        self._local.last = None
        unsealed = unseal(stored_event.state)
        if unsealed.link is not None:
            self._remember(str(stored_event.originator_id), stored_event.originator_version, unsealed.link)
            stored_event = StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=unsealed.state,
            )
        return super().to_domain_event(stored_event)

    def read_domain_event(self, stored_event: StoredEvent) -> Any:
        """The domain event of ``stored_event``, as ``to_domain_event`` decodes it, for a reader
        that never writes (the projections): the stream's link is not remembered, and a sealed
        state is decoded as it is stored (see ``SealedStateReader``)."""
        return self._reader.to_domain_event(stored_event)

    # --- where the previous link comes from ------------------------------------------------

    def _previous_link(self, originator_id: UUID | str, version: int) -> str:
        if version <= 1:
            return ""
        key = (str(originator_id), version - 1)
        last = getattr(self._local, "last", None)
        if last is not None and (last[0], last[1]) == key:
            return str(last[2])
        with self._lock:
            known = self._heads.get(key)
        if known is not None:
            return known
        return self._read_link(originator_id, version - 1)

    def _read_link(self, originator_id: UUID | str, version: int) -> str:
        if self._recorder_of is None:
            raise LookupError(
                f"no chain link known for {originator_id} v{version} and no recorder to read it"
            )
        rows = self._recorder_of().select_events(originator_id, gt=version - 1, lte=version)
        if not rows:
            raise LookupError(f"stream {originator_id} has no stored event v{version} to chain from")
        found = unseal(rows[0].state).link
        return found if found is not None else ""

    def begin_save(self) -> None:
        """Forget links sealed by an earlier save on this thread that never committed."""
        self._local.sealed = []

    def commit_save(self) -> None:
        """The save committed: its sealed links are now the streams' heads."""
        for originator_id, version, chain_link in self._sealed():
            self._remember(originator_id, version, chain_link)
        self._local.sealed = []

    def _sealed(self) -> list[tuple[str, int, str]]:
        sealed: list[tuple[str, int, str]] | None = getattr(self._local, "sealed", None)
        if sealed is None:
            sealed = self._local.sealed = []
        return sealed

    def _remember(self, originator_id: str, version: int, chain_link: str) -> None:
        with self._lock:
            self._heads[(originator_id, version)] = chain_link
            self._heads.move_to_end((originator_id, version))
            while len(self._heads) > HEADS_KEPT:
                self._heads.popitem(last=False)


class SealedStateReader(Transcoder):
    """Decodes stored states, sealed or not, to what ``transcoder`` decodes of their unsealed form.

    A sealed state is itself a JSON object whose first member is the link, so it is decoded as
    stored and the ``_chain`` member dropped: unsealing first (a copy of the bytes and two
    objects) cost a third as much as the decoding, which is most of a rebuild's reading. States
    are plain JSON (``seal`` refuses anything else), so no compressor nor cipher is involved.
    """

    def __init__(self, transcoder: Transcoder) -> None:
        self._transcoder = transcoder
        decoder = getattr(transcoder, "decoder", None)
        self._scan: Callable[[str, int], tuple[Any, int]] | None = (
            getattr(decoder, "scan_once", None) if isinstance(decoder, json.JSONDecoder) else None
        )

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError("a reader of stored states never encodes")

    def decode(self, data: bytes) -> Any:
        sealed = data.startswith(PREFIX)
        state = self._scanned(data)
        if state is None or (sealed and "_chain" not in state):  # not as written (say, edited)
            return self._transcoder.decode(unseal(data).state)
        if sealed:
            del state["_chain"]
        return state

    def _scanned(self, data: bytes) -> dict[str, Any] | None:
        """The JSON object that is all of ``data``, as the encoder writes it (no whitespace around),
        decoded by the transcoder's own scanner without the checks of its wrapper; else None."""
        if self._scan is None:
            return None
        try:
            text = data.decode("utf8")
            state, end = self._scan(text, 0)
        except (StopIteration, ValueError):
            return None
        return state if end == len(text) and type(state) is dict else None


def chain_onto(heads: dict[UUID | str, str], stored: StoredEvent) -> StoredEvent:
    """Seal a stored event onto its stream's chain whose last links ``heads`` tracks.

    For writers that bypass the service (bulk loading, tests); ``heads`` is updated.
    """
    chain_link = link(
        heads.get(stored.originator_id, ""),
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        stored.state,
    )
    heads[stored.originator_id] = chain_link
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=seal(stored.state, chain_link),
    )
