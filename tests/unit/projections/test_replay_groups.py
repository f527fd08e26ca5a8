"""A rebuild's views in groups, each replayed by a process: views that apply the same events
share one, and there are never more groups than processes."""

from __future__ import annotations

from projections.catalog import REPLAY_GROUPS, VIEW_NAMES
from projections.rebuild import replay_groups


def test_views_are_grouped_by_the_events_they_apply_at_most_one_group_per_process() -> None:
    assert replay_groups(VIEW_NAMES, 2) == [list(group) for group in REPLAY_GROUPS]
    assert replay_groups(VIEW_NAMES, 8) == [list(group) for group in REPLAY_GROUPS]
    assert replay_groups(VIEW_NAMES, 1) == [list(VIEW_NAMES)]
    assert replay_groups(["credit_balances", "pending_deadlines"], 2) == [
        ["pending_deadlines"],
        ["credit_balances"],
    ]
    assert replay_groups(["credit_balances"], 2) == [["credit_balances"]]
