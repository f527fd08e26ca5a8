"""Schemathesis generates requests from the OpenAPI document; none may get a 5xx.

Every operation is exercised with valid-by-schema and invalid-by-schema requests (a few
examples each, derandomised so the run is bounded and repeatable) against the live server,
with a seeded room and booking so generated requests have something real to meet.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.e2e.conftest import MEMBER, PROVIDER, TOKENS, Api

EXAMPLES_PER_OPERATION = 10


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(api: Api, booked: dict[str, Any]) -> None:
    document = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    operations = [result.ok() for result in document.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 18
    seen: dict[str, set[int]] = {}
    real = {
        "booking_id": booked["id"],
        "room_id": booked["room_id"],
        "member_id": MEMBER,
        "provider_id": PROVIDER,
    }
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        pinned: dict[GenerationMode, dict[str, Any]] = {
            # valid-by-schema requests aimed at the seeded booking, acting as its member
            GenerationMode.POSITIVE: {
                "headers": {"X-Actor": f"member:{MEMBER}"},
                "path_parameters": {k: v for k, v in real.items() if k in names} or None,
            },
            GenerationMode.NEGATIVE: {},
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            statuses = seen.setdefault(f"{operation.method.upper()} {operation.path}", set())
            try:
                _exercise(operation.as_strategy(generation_mode=mode, **pinned[mode]), statuses)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break in a parameterless request
    server_errors = {op: codes for op, codes in seen.items() if any(c >= 500 for c in codes)}
    assert server_errors == {}
    assert any(200 <= c < 300 for codes in seen.values() for c in codes)


def _exercise(strategy: Any, statuses: set[int]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKENS['operator']}"}
        response = case.call(headers=headers)
        statuses.add(response.status_code)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"

    run()
