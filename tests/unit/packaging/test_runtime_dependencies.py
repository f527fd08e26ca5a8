"""What the product imports at run time is installed by the README's first command: every
third-party module imported outside ``tests/`` and ``bench/`` belongs to a runtime dependency
in ``pyproject.toml``, not only to the ``test`` extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OWN = {pattern.rstrip("*") for pattern in PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


RUNTIME = {_name(r) for r in PROJECT["project"]["dependencies"]}


def imported_modules() -> set[str]:
    modules: set[str] = set()
    for package in OWN:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return modules - OWN - set(sys.stdlib_module_names) - {"__future__"}


def test_every_third_party_import_of_the_product_is_a_runtime_dependency() -> None:
    distributions = packages_distributions()
    missing = {
        module: distributions.get(module, ["?"])
        for module in imported_modules()
        if not any(d.lower().replace("_", "-") in RUNTIME for d in distributions.get(module, [module]))
    }
    # installed only as a dependency of a runtime dependency is fine for these
    transitive = {"pydantic", "starlette", "psycopg_pool", "eventsourcing", "typing_extensions"}
    assert {m: d for m, d in missing.items() if m not in transitive} == {}
