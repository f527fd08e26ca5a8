"""The hash chain's links and the mapper that writes them (no database: the library's mapper
and transcoder only)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import MapperDeserialisationError

from commands.chain import ChainedMapper, link, seal, unseal
from domain.actors import Actor
from domain.credits import CreditAccount

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mapper() -> ChainedMapper:
    return ChainedMapper(Application(env={}).construct_transcoder())


def test_sealing_then_unsealing_gives_back_the_exact_bytes_and_the_link() -> None:
    state = b'{"timestamp":"x","count":2}'
    sealed = seal(state, "a" * 64)
    assert sealed.startswith(b'{"_chain":"' + b"a" * 64 + b'",')
    assert unseal(sealed).state == state and unseal(sealed).link == "a" * 64
    assert unseal(seal(b"{}", "b" * 64)).state == b"{}"
    assert unseal(state).link is None and unseal(state).state == state


def test_a_link_changes_with_the_previous_link_stream_version_topic_or_any_byte() -> None:
    base = link("p", "id", 2, "t", b"{}")
    assert len({base, link("q", "id", 2, "t", b"{}"), link("p", "id2", 2, "t", b"{}")}) == 3
    assert base != link("p", "id", 3, "t", b"{}")
    assert base != link("p", "id", 2, "u", b"{}")
    assert base != link("p", "id", 2, "t", b"{ }")


def test_each_stored_event_links_to_the_one_before_it_and_reads_back_unchanged() -> None:
    chained = mapper()
    account = CreditAccount.open("maya", NOW)
    account.add("purchase", 2, "order-1", Actor("member", "maya"), NOW)
    account.hold("booking-1", NOW + timedelta(days=2), Actor("member", "maya"), NOW)
    events = account.collect_events()
    stored = [chained.to_stored_event(e) for e in events]
    previous = ""
    for row in stored:
        unsealed = unseal(row.state)
        assert unsealed.link == link(
            previous, row.originator_id, row.originator_version, row.topic, unsealed.state
        )
        previous = unsealed.link
    replayed = [chained.to_domain_event(row) for row in stored]
    assert [vars(e) for e in replayed] == [vars(e) for e in events]


def test_after_a_read_the_next_link_follows_the_event_read_not_a_stale_one() -> None:
    chained = mapper()
    account = CreditAccount.open("maya", NOW)
    first = chained.to_stored_event(account.collect_events()[0])
    # a save that then lost a version conflict: its link must not be reused
    rival = CreditAccount.open("maya", NOW)
    rival.add("employer", 1, "acme", Actor("system", "x"), NOW)
    lost = chained.to_stored_event(rival.collect_events()[1])
    chained.to_domain_event(first)  # reloading reads what was really stored
    account.add("purchase", 1, "order-2", Actor("system", "x"), NOW)
    saved = chained.to_stored_event(account.collect_events()[0])
    unsealed = unseal(saved.state)
    assert unsealed.link == link(
        unseal(first.state).link or "", saved.originator_id, 2, saved.topic, unsealed.state
    )
    assert unsealed.link != unseal(lost.state).link


def test_a_reader_decodes_sealed_and_unsealed_states_to_the_events_written() -> None:
    chained = mapper()
    account = CreditAccount.open("maya", NOW)
    account.add("purchase", 2, "order-1", Actor("member", "maya"), NOW)
    events = account.collect_events()
    stored = [chained.to_stored_event(e) for e in events]
    unsealed = [replace(row, state=unseal(row.state).state) for row in stored]
    for rows in (stored, unsealed):
        assert [vars(chained.read_domain_event(row)) for row in rows] == [vars(e) for e in events]


def test_a_reader_decodes_a_state_not_as_the_encoder_writes_it_the_transcoders_way() -> None:
    chained = mapper()
    event = CreditAccount.open("maya", NOW).collect_events()[0]
    row = chained.to_stored_event(event)
    spaced = replace(row, state=row.state[:-1] + b" }\n")
    assert vars(chained.read_domain_event(spaced)) == vars(event)
    for broken in (row.state[:-1], b"\xff"):
        with pytest.raises(MapperDeserialisationError):
            chained.read_domain_event(replace(row, state=broken))
