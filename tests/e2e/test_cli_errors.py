"""Every CLI command turns a database error or a bad argument into one clear line and a
non-zero exit: no traceback, and never the password of a database URL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_SERVER_URL, require_postgres
from tests.integration.operations.support import environment, run_cli

SECRET = "s3cret-Pa55"
BOOKING_ID = "3f2b6a52-5d0e-4a8e-9a53-0c1f3d2b7e10"

COMMANDS = [
    ["rebuild"],
    ["verify"],
    ["audit", "history", BOOKING_ID],
    ["audit", "as-of", BOOKING_ID, "--version", "1"],
    ["audit", "ledger", "maya"],
    ["audit", "export", "--no-progress"],
    ["audit", "verify", "--no-progress"],
    ["serve", "--port", "1"],
]


def _one_clear_line(stderr: str) -> str:
    lines = [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.lstrip().startswith(("{", "rebuild"))
    ]
    assert "Traceback" not in stderr, stderr
    assert SECRET not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.postgres
@pytest.mark.slow
def test_every_command_reports_a_database_it_cannot_use_in_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    require_postgres()
    server = POSTGRES_SERVER_URL.split("://", 1)[1].split("@", 1)[-1].split("/", 1)[0]
    url = f"postgresql://postgres:{SECRET}@{server}/booking_test_no_such_database"
    env = environment(BOOKING_DATABASE_URL=url, BOOKING_API_TOKENS="cli-errors-token-0123456789:service")

    def run(args: list[str]) -> tuple[list[str], int, str]:
        result = run_cli(*args, env=env, cwd=tmp_path, timeout=120)
        return args, result.returncode, result.stderr

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, COMMANDS))
    for args, code, stderr in results:
        assert code != 0, args
        line = _one_clear_line(stderr)
        assert line.startswith("booking: "), (args, line)
        assert "does not exist" in line, (args, line)


def test_a_bad_database_url_is_a_configuration_error_that_hides_its_password(tmp_path: Path) -> None:
    env = environment(BOOKING_DATABASE_URL=f"mysql://admin:{SECRET}@db.example/booking")
    result = run_cli("rebuild", env=env, cwd=tmp_path)
    assert result.returncode == 2
    line = _one_clear_line(result.stderr)
    assert line.startswith("booking: configuration error: BOOKING_DATABASE_URL") and "admin:***@" in line


def test_a_bad_argument_value_is_one_line(tmp_path: Path, sqlite_url: str) -> None:
    env = environment(BOOKING_DATABASE_URL=sqlite_url)
    result = run_cli("audit", "as-of", BOOKING_ID, "--at", "yesterday", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert _one_clear_line(result.stderr).startswith(("booking: invalid_input: ", "booking: not_found: "))
