"""Snapshots are caches: one whose shape cannot be upcast is ignored, the aggregate replayed.

An aggregate's ``upcast_vN_vM`` raises ``SnapshotOutdated`` when the newer state holds what
only the events know (for example the references of old credit additions). Every path that
starts from a snapshot (the service's own loads and the library's repository, used when a
snapshot is taken) then replays the whole stream instead, as if there were no snapshot.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProjectorFunction, Repository
from eventsourcing.domain import TMutableOrImmutableAggregate

from domain.errors import SnapshotOutdated


def restored(snapshot: Any) -> Any | None:
    """The aggregate ``snapshot`` holds, upcast to its class's current version; None when the
    snapshot is outdated (replay from the first event instead)."""
    try:
        return snapshot.mutate(None)
    except SnapshotOutdated:
        return None


class SnapshotTolerantRepository(Repository[UUID]):
    """The library's repository, replaying from the first event past an outdated snapshot."""

    def _reconstruct_aggregate(
        self,
        aggregate_id: UUID,
        version: int | None,
        projector_func: ProjectorFunction[TMutableOrImmutableAggregate, Any],
    ) -> TMutableOrImmutableAggregate:
        try:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        except SnapshotOutdated:
            aggregate = projector_func(None, self.event_store.get(originator_id=aggregate_id, lte=version))
            if aggregate is None:
                raise AggregateNotFoundError(
                    f"Aggregate {aggregate_id!r} version {version!r} not found."
                ) from None
            return aggregate
