"""``constraints.txt`` (the image's pinned dependencies, see the Dockerfile) stays in step with
``pyproject.toml``: every runtime dependency is pinned at a version its specifier allows, and so
is everything those need in turn (else the image, which installs the project itself without
resolving again, would lack it)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = [
    Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
]


def pins() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
            assert match, f"not a name==version pin: {line!r}"
            pinned[canonicalize_name(match[1])] = match[2]
    return pinned


def applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def test_every_runtime_dependency_is_pinned_at_an_allowed_version() -> None:
    pinned = pins()
    for requirement in RUNTIME:
        if not applies(requirement, set()):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's {requirement}"
        )


def test_everything_the_runtime_dependencies_need_is_pinned() -> None:
    """The installed packages' own requirements, followed from pyproject's (with their extras)."""
    pinned = pins()
    needed: set[str] = set()
    todo = [(r, set(r.extras)) for r in RUNTIME if applies(r, set())]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in needed:
            continue
        needed.add(key)
        try:
            declared = requires(name) or []
        except PackageNotFoundError:
            continue  # not installed here (another platform's marker): nothing to follow
        for text in declared:
            sub = Requirement(text)
            if applies(sub, extras):
                todo.append((sub, set(sub.extras)))
    missing = {key.split("[")[0] for key in needed} - set(pinned)
    assert not missing, f"needed but not pinned in constraints.txt: {sorted(missing)}"
