"""Command metrics at ``/metrics``: each command counted by name and outcome (accepted, replayed,
refused with its code), and the version conflicts and retries a stale read costs."""

from __future__ import annotations

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.policy import Policy
from tests.e2e.conftest import MEMBER, Api
from tests.e2e.test_metrics import samples


def commands_scraped(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.get("/metrics", role=None)
    assert response.status_code == 200
    return {
        key: value for key, value in samples(response.text).items() if key[0].startswith("booking_command")
    }


def outcome(command: str, result: str, code: str = "") -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("booking_commands_total", (("code", code), ("command", command), ("outcome", result)))


def test_accepted_replayed_and_refused_commands_are_counted_by_name_and_outcome(api: Api) -> None:
    assert commands_scraped(api) == {}
    api.open_room()
    credits = {"source": "purchase", "count": 2, "reference": "order-7"}
    assert api.post(f"/members/{MEMBER}/credits", credits, key="k-1").status_code == 200
    assert api.post(f"/members/{MEMBER}/credits", credits, key="k-1").status_code == 200
    refused = api.post(f"/members/{MEMBER}/credits", {**credits, "count": 3})
    assert refused.status_code == 409 and refused.json()["code"] == "reference_conflict"

    found = commands_scraped(api)
    assert found[outcome("open_room", "accepted")] == 1
    assert found[outcome("add_credits", "accepted")] == 1
    assert found[outcome("add_credits", "replayed")] == 1
    assert found[outcome("add_credits", "refused", "reference_conflict")] == 1
    assert not any(name == "booking_command_version_conflicts_total" for name, _ in found)


def test_a_save_over_a_stale_read_counts_a_version_conflict_and_a_retry(
    api: Api, database_url: str, clock: ManualClock
) -> None:
    api.add_credits(count=1)  # the API's service now holds the member's account in its cache
    other = BookingService(clock, Policy(), env=event_store_env(database_url))
    try:
        other.add_credits(MEMBER, "purchase", 1, "elsewhere")  # ... which this makes stale
    finally:
        other.close()
    api.add_credits(count=1)

    found = commands_scraped(api)
    assert found[outcome("add_credits", "accepted")] == 2
    assert found[("booking_command_version_conflicts_total", (("command", "add_credits"),))] == 1
    assert found[("booking_command_retries_total", (("command", "add_credits"),))] == 1
