"""``booking audit history|as-of|ledger|export|import|verify``: the auditor's commands.

Thin: parse, call one ``audit`` function, render (a readable text by default, ``--json`` for
machines). Only ``import`` writes, and only into an empty database.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from audit.asof import booking_as_of, ledger_as_of
from audit.export import export_events, import_events
from audit.history import booking_history, render_timeline
from audit.verify import verify_all
from commands.service import BookingService
from domain.errors import InvalidInput
from entrypoints.bootstrap import booted
from entrypoints.settings import Settings
from projections.verify import verify_views


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = subparsers.add_parser("audit", help="history, past state, export/import and verify of the events")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")

    def command(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_)
        parser.add_argument("--database-url", help="the event store (default: BOOKING_DATABASE_URL)")
        parser.set_defaults(func=func)
        return parser

    history = command("history", "every event of a booking and the credit movements it caused", run_history)
    history.add_argument("booking_id")
    history.add_argument("--json", action="store_true", help="machine-readable output")

    as_of = command("as-of", "a booking's state at an instant or version, replayed from events", run_as_of)
    as_of.add_argument("booking_id")
    when = as_of.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", help="an ISO 8601 instant with offset, e.g. 2026-03-04T10:00:00Z")
    when.add_argument("--version", type=int, help="the booking's version (1 = as reserved)")
    as_of.add_argument("--json", action="store_true", help="machine-readable output")

    ledger = command("ledger", "a member's credit ledger, now or at an instant", run_ledger)
    ledger.add_argument("member_id")
    ledger.add_argument("--at", help="an ISO 8601 instant with offset (default: now)")
    ledger.add_argument("--json", action="store_true", help="machine-readable output")

    export = command("export", "the event log (or one party's part) as JSON lines", run_export)
    part = export.add_mutually_exclusive_group()
    part.add_argument("--member", help="only this member's ledger, rooms and bookings")
    part.add_argument("--provider", help="only this provider's calendar, rooms and bookings")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    export.add_argument("--no-progress", action="store_true", help="no progress bar")

    import_ = command("import", "load an export into an empty database", run_import)
    import_.add_argument("file", type=Path)
    import_.add_argument("--no-progress", action="store_true", help="no progress bar")

    verify = command("verify", "check hash chains, invariants and views; exit 1 on any breach", run_verify)
    verify.add_argument("--no-views", action="store_true", help="skip the read-model comparison")
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[tuple[BookingService, str]]:
    settings = Settings.from_env()
    if args.database_url:
        settings = dataclasses.replace(settings, database_url=args.database_url)
    with booted(settings) as parts:
        yield parts.service, parts.database_url


@contextmanager
def progress_bar(app: BookingService, disabled: bool, unit: str = "event") -> Iterator[Any]:
    total = app.recorder.max_notification_id() or 0
    with tqdm(total=total, unit=unit, unit_scale=True, disable=disabled, file=sys.stderr) as bar:
        yield bar.update


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def run_history(args: argparse.Namespace) -> int:
    with opened(args) as (app, _):
        history = booking_history(app, args.booking_id)
    if args.json:
        _print(history)
    else:
        print(render_timeline(history))
    return 0


def run_as_of(args: argparse.Namespace) -> int:
    with opened(args) as (app, _):
        state = booking_as_of(app, args.booking_id, at=args.at, version=args.version)
    if args.json:
        _print(state)
    else:
        width = max(map(len, state))
        print("\n".join(f"{k:<{width}}  {v}" for k, v in state.items()))
    return 0


def run_ledger(args: argparse.Namespace) -> int:
    with opened(args) as (app, _):
        ledger = ledger_as_of(app, args.member_id, at=args.at)
    if args.json:
        _print(ledger)
        return 0
    balance = ", ".join(f"{k} {v}" for k, v in ledger["balance"].items())
    print(f"member {ledger['member_id']} as of {ledger['as_of']}: {balance}")
    for move in ledger["movements"]:
        detail = "  ".join(
            f"{k}={move[k]}" for k in ("credit_id", "booking_id", "source", "count", "reason") if k in move
        )
        print(f"{move['at']}  v{move['version']:<4} {move['type']:<16} {move['actor']:<24} {detail}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with opened(args) as (app, _), progress_bar(app, args.no_progress) as tick:
        if args.output is None:
            count = export_events(app.recorder, sys.stdout, args.member, args.provider, tick)
        else:
            with args.output.open("w", encoding="utf-8") as out:
                count = export_events(app.recorder, out, args.member, args.provider, tick)
    print(f"exported {count} events", file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise InvalidInput(f"no export file at {args.file}")

    def lines() -> Iterator[str]:
        with args.file.open(encoding="utf-8") as source:
            yield from source

    total = sum(1 for _ in lines())
    bar = tqdm(total=total, unit="event", unit_scale=True, disable=args.no_progress, file=sys.stderr)
    with opened(args) as (app, _), bar:
        count = import_events(app.recorder, lines, bar.update)
    print(f"imported {count} events; rebuild the views with `booking rebuild`", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    with opened(args) as (app, url), progress_bar(app, args.no_progress or args.json) as tick:
        check = (
            None if args.no_views else functools.partial(verify_views, url, pools=Settings.from_env().pools)
        )
        report = verify_all(app, check, tick)
    if args.json:
        _print(report.as_dict())
    else:
        views = "views compared" if report.views_checked else "views not compared"
        print(
            f"verified {report.events} events in {report.streams} streams, "
            f"{report.snapshots_checked} snapshots; {views}"
        )
        for breach in report.breaches:
            print(f"BREACH: {breach}")
        print("OK: every check holds" if report.ok else f"FAILED: {len(report.breaches)} breach(es)")
    return 0 if report.ok else 1
