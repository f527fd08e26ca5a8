"""The stored shape of every event class and every snapshotted aggregate, by class version.

``current_shapes()`` reads the shapes from the code; ``tests/unit/domain/stored/stored_shapes.json``
keeps every shape ever stored, by class version, so that a shape that changes without a new
class version (and its upcaster) fails ``test_stored_shapes``. After adding the upcaster,
``python -m tests.unit.domain.event_shapes`` adds the new versions to the file (it never
edits a version already there).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

import commands
import domain
from domain.booking import Booking
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.policy import Policy

STORED = Path(__file__).parent / "stored" / "stored_shapes.json"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
LIBRARY_STATE = {"_id", "_version", "_pending_events", "_created_on", "_modified_on"}

NESTED: dict[type, dict[str, Callable[[], dict[str, Any]]]] = {
    Booking.SessionReserved: {"policy": lambda: Policy().to_dict()},
}
"""Dicts stored inside an event whose keys are part of its shape (``policy.<number>``)."""

SNAPSHOTTED: dict[type[Aggregate], Callable[[], Aggregate]] = {
    CreditAccount: lambda: CreditAccount.open("member", NOW),
    ProviderCalendar: lambda: ProviderCalendar.open("provider", NOW),
}
"""A fresh instance of each aggregate the service snapshots (its state is the snapshot's)."""


def stored_classes() -> list[type[Aggregate]]:
    """Every aggregate class defined in ``domain`` and ``commands``."""
    found: list[type[Aggregate]] = []
    for package in (domain, commands):
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            found += [
                value
                for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, Aggregate) and value.__module__ == info.name
            ]
    return found


def event_classes(aggregate: type[Aggregate]) -> list[type[Aggregate.Event]]:
    return [
        value
        for name, value in vars(aggregate).items()
        if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in ("Event", "Created")
    ]


def event_shape(cls: type) -> list[str]:
    names = [f.name for f in dataclasses.fields(cls) if f.name not in BASE_FIELDS]
    for field, example in NESTED.get(cls, {}).items():
        names += [f"{field}.{key}" for key in example()]
    return sorted(names)


def snapshot_shape(aggregate: Aggregate) -> list[str]:
    return sorted(set(vars(aggregate)) - LIBRARY_STATE)


def current_shapes() -> dict[str, dict[str, tuple[int, list[str]]]]:
    """``{"events": {topic: (class_version, fields)}, "snapshots": {topic: (class_version, state)}}``."""
    events = {
        get_topic(cls): (getattr(cls, "class_version", 1), event_shape(cls))
        for aggregate in stored_classes()
        for cls in event_classes(aggregate)
    }
    snapshots = {
        get_topic(cls): (getattr(cls, "class_version", 1), snapshot_shape(make()))
        for cls, make in SNAPSHOTTED.items()
    }
    return {"events": events, "snapshots": snapshots}


def load_stored() -> dict[str, dict[str, dict[str, list[str]]]]:
    stored: dict[str, dict[str, dict[str, list[str]]]] = json.loads(STORED.read_text())
    return stored


def shape_problems(
    current: dict[str, dict[str, tuple[int, list[str]]]], stored: dict[str, dict[str, dict[str, list[str]]]]
) -> list[str]:
    """What is wrong with the code's shapes against the kept ones, as instructions."""
    problems: list[str] = []
    for kind, shapes in current.items():
        kept_kind = stored.get(kind, {})
        for topic, (version, names) in shapes.items():
            kept = kept_kind.get(topic, {})
            if str(version) not in kept:
                problems.append(
                    f"{topic}: class_version {version} is not in {STORED.name}; once its upcasters are "
                    "written, run `python -m tests.unit.domain.event_shapes` to add it"
                )
            elif kept[str(version)] != names:
                added = sorted(set(names) - set(kept[str(version)]))
                removed = sorted(set(kept[str(version)]) - set(names))
                problems.append(
                    f"{topic}: its stored shape changed (added {added}, removed {removed}) but its "
                    f"class_version is still {version}: set class_version = {version + 1}, add "
                    f"`@staticmethod def upcast_v{version}_v{version + 1}(state: dict) -> None` turning a "
                    f"version-{version} state into the new shape (fill a new field with the value that keeps "
                    "what old events meant), then run `python -m tests.unit.domain.event_shapes`"
                )
            if sorted(kept, key=int) != [str(n) for n in range(1, len(kept) + 1)] or len(kept) > version:
                problems.append(f"{topic}: kept versions {sorted(kept, key=int)} do not run 1..{version}")
        for topic in sorted(set(kept_kind) - set(shapes)):
            problems.append(f"{topic}: stored by a release but no longer defined; its states cannot load")
    return problems


def missing_upcasters(classes: list[type]) -> list[str]:
    """Each step from version 1 to a class's ``class_version`` needs its static upcaster."""
    missing = []
    for cls in classes:
        for n in range(1, getattr(cls, "class_version", 1)):
            name = f"upcast_v{n}_v{n + 1}"
            if not isinstance(inspect.getattr_static(cls, name, None), staticmethod):
                missing.append(f"{get_topic(cls)}.{name}")
    return missing


def write_new_versions() -> None:
    """Add each class's current version to the file when missing; never change one there."""
    stored = load_stored() if STORED.exists() else {"events": {}, "snapshots": {}}
    for kind, shapes in current_shapes().items():
        for topic, (version, names) in shapes.items():
            stored[kind].setdefault(topic, {}).setdefault(str(version), names)
    STORED.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_new_versions()
