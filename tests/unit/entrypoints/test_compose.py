"""docker-compose.yml and the settings module cannot drift: every BOOKING_* setting the settings
module reads (and the README documents) reaches every container that uses it. And what an
operator runs works: the README's ``.env`` recipe, then ``docker compose config`` on it (there
is no Docker engine to ``up`` here), with the password required and the API scalable."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[3]
BOOKING_SERVICES = ("api", "projector", "scheduler", "deliverer")
API_ONLY = {
    "BOOKING_API_TOKENS",
    "BOOKING_API_TOKENS_FILE",
    "BOOKING_HTTP_HOST",
    "BOOKING_HTTP_PORT",
    "BOOKING_HTTP_MAX_CONNECTIONS",
}
NOT_IN_COMPOSE = {"BOOKING_DATA_DIR": "the embedded SQLite default only; compose runs on PostgreSQL"}


def settings_variables() -> set[str]:
    tree = ast.parse((REPOSITORY / "entrypoints" / "settings.py").read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"BOOKING_[A-Z_]+", node.value)
    }


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text()))


def test_every_setting_reaches_every_container_that_uses_it() -> None:
    services = compose()["services"]
    assert {"api", "projector", "scheduler"} <= set(services)
    for name in [name for name in BOOKING_SERVICES if name in services]:
        passed = set(services[name]["environment"])
        wanted = settings_variables() - set(NOT_IN_COMPOSE) - (set() if name == "api" else API_ONLY)
        assert wanted - passed == set(), f"{name} misses {sorted(wanted - passed)}"
        assert {v for v in passed if v.startswith("BOOKING_")} <= settings_variables(), name


def test_the_readme_documents_every_setting_and_no_other() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    first_cells = [line.split("|")[1] for line in readme.splitlines() if line.startswith("| `BOOKING_")]
    documented = {name for cell in first_cells for name in re.findall(r"`(BOOKING_[A-Z_]+)`", cell)}
    assert documented == settings_variables()


# --- what an operator runs: the README's recipe, then compose -----------------------------------


def readme_recipe() -> str:
    """The shell lines of the README's production recipe that make the ``.env`` (not ``up``)."""
    readme = (REPOSITORY / "README.md").read_text()
    section = readme[readme.index("## Running in production") :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    lines = block[: block.index("```")].splitlines()
    return "\n".join(line for line in lines if not line.startswith("docker compose"))


def made_env(directory: Path, recipe: str | None = None) -> dict[str, str]:
    subprocess.run(["bash", "-euc", recipe or readme_recipe()], cwd=directory, check=True)
    lines = (directory / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_readme_recipe_makes_a_service_and_an_operator_token_and_the_database_password(
    tmp_path: Path,
) -> None:
    env = made_env(tmp_path)
    tokens: dict[str, str] = {}
    for pair in env["BOOKING_API_TOKENS"].split(","):
        token, role = pair.rsplit(":", 1)
        tokens[role] = token
    assert set(tokens) == {"service", "operator"}
    assert all(len(token) >= 32 for token in tokens.values()) and len(set(tokens.values())) == 2
    assert len(env["POSTGRES_PASSWORD"]) >= 32
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0, "the secrets are readable by the owner only"


def test_the_database_password_is_required_and_never_defaulted() -> None:
    text = (REPOSITORY / "docker-compose.yml").read_text()
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert len(uses) == 2, "the database and the processes' URL"
    assert all(use.startswith(":?") for use in uses), uses


def test_the_api_can_be_scaled_it_publishes_no_fixed_host_port() -> None:
    for port in compose()["services"]["api"].get("ports", []):
        published = port.get("published") if isinstance(port, dict) else str(port).rpartition(":")[0]
        assert not published, f"a fixed host port stops --scale api=N: {port!r}"


def test_the_deliverer_is_health_checked_on_the_file_it_touches() -> None:
    deliverer = compose()["services"]["deliverer"]
    command = deliverer["command"]
    alive = command[command.index("--alive-file") + 1]
    assert alive in " ".join(deliverer["healthcheck"]["test"])
    directory = str(Path(alive).parent)
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    assert f"install -d -o booking {directory}" in dockerfile, "the image's user can write the file"


def test_webhooks_to_private_networks_are_refused() -> None:
    environment = compose()["x-booking"]["environment"]
    assert environment["BOOKING_WEBHOOK_PRIVATE_NETWORKS"].endswith(":-deny}")


def test_the_image_installs_the_pinned_dependencies_in_a_layer_before_the_code() -> None:
    steps = [
        line for line in (REPOSITORY / "Dockerfile").read_text().splitlines() if line[:4] in ("COPY", "RUN ")
    ]
    pinned = next(i for i, step in enumerate(steps) if "-r constraints.txt" in step)
    code = next(i for i, step in enumerate(steps) if step.startswith("COPY . "))
    assert steps[pinned - 1] == "COPY constraints.txt /app/" and pinned < code
    assert "--no-deps ." in steps[code + 1], "the project installs against exactly the pins"


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) where installed, else ``docker-compose`` (v1), else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_accepts_the_recipes_env_and_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("neither docker compose nor docker-compose is installed")
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(REPOSITORY / name, tmp_path / name)
    env = made_env(tmp_path)
    checked = subprocess.run([*command, "config"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    resolved = yaml.safe_load(checked.stdout)["services"]
    assert resolved["postgres"]["environment"]["POSTGRES_PASSWORD"] == env["POSTGRES_PASSWORD"]
    assert f":{env['POSTGRES_PASSWORD']}@" in resolved["api"]["environment"]["BOOKING_DATABASE_URL"]
    assert resolved["deliverer"]["environment"]["BOOKING_WEBHOOK_PRIVATE_NETWORKS"] == "deny"
    assert "healthcheck" in resolved["deliverer"]

    (tmp_path / ".env").write_text(f"BOOKING_API_TOKENS={env['BOOKING_API_TOKENS']}\n")
    refused = subprocess.run([*command, "config"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr
