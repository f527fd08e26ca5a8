"""Real processes against PostgreSQL, each under a role of its own, so its connections can be
counted (``pg_stat_activity.usename``) and capped (``CONNECTION LIMIT``) without touching
anyone else's share of the shared server."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse, urlunparse

import psycopg

from tests.conftest import POSTGRES_SERVER_URL, TEST_DATABASE_PREFIX, drop_postgres_database, require_postgres

REPOSITORY = Path(__file__).resolve().parents[3]
T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, seconds: float = 60) -> T:
    """Poll ``condition`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Role:
    """A login role owning a fresh database of its own."""

    name: str
    url: str  # the role's URL to its database
    admin_url: str  # the same database as the server's test user

    def connections(self) -> int:
        with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self.name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def connections_by_process(self) -> dict[int, int]:
        """How many of the role's connections each local process holds (pid -> count), from the
        client ports the server sees and the sockets each process has open."""
        with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
            ports = [
                int(row[0])
                for row in conn.execute(
                    "SELECT client_port FROM pg_stat_activity WHERE usename = %s AND client_port > 0",
                    (self.name,),
                )
            ]
        inodes: dict[str, int] = {}  # socket inode -> local port
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
        wanted = {inode for inode, port in inodes.items() if port in ports}
        counts: dict[int, int] = {}
        for fd_dir in Path("/proc").glob("[0-9]*/fd"):
            try:
                links = [os.readlink(fd) for fd in fd_dir.iterdir()]
            except OSError:
                continue
            held = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in wanted)
            if held:
                counts[int(fd_dir.parent.name)] = held
        return counts

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def terminate_connections(self) -> None:
        with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (self.name,)
            )


@contextmanager
def postgres_role(connection_limit: int = -1) -> Iterator[Role]:
    """A role (with at most ``connection_limit`` connections) and its own database; dropped after."""
    require_postgres()
    name = f"budget_{uuid.uuid4().hex[:12]}"
    database = f"{TEST_DATABASE_PREFIX}{name}"
    with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT {int(connection_limit)}')
        conn.execute(f'CREATE DATABASE "{database}" OWNER "{name}" TEMPLATE template0')
    server = urlparse(POSTGRES_SERVER_URL)
    netloc = f"{name}@{server.hostname or '127.0.0.1'}:{server.port or 5432}"
    role = Role(
        name,
        urlunparse(server._replace(netloc=netloc, path=f"/{database}", query="")),
        urlunparse(server._replace(path=f"/{database}", query="")),
    )
    try:
        yield role
    finally:
        role.terminate_connections()
        drop_postgres_database(role.admin_url)
        with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def environment(**settings: str) -> dict[str, str]:
    """The parent's environment without any BOOKING_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_")}
    return {**env, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1", **settings}


@dataclass
class Process:
    """``booking <args>`` as a child process, its output in files."""

    args: list[str]
    env: dict[str, str]
    directory: Path
    popen: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.out, self.err = self.directory / "stdout.txt", self.directory / "stderr.txt"
        with self.out.open("wb") as stdout, self.err.open("wb") as stderr:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "entrypoints", *self.args],
                cwd=self.directory,
                env=self.env,
                stdout=stdout,
                stderr=stderr,
            )

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return int(self.popen.returncode)

    def search(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.stdout() + self.stderr())


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
