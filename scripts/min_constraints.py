"""Constraints that pin every direct dependency to its lower bound in pyproject.toml (`>=X` becomes
`==X`), for `make test-min`: the oldest versions a user may get must be ones the tests have seen.

The runtime dependencies and those of every extra but `dev` are pinned to their lower bounds; a
requirement without a lower bound is an error (its oldest version would be anyone's guess). Tools
named on the command line (the test runner and its plugins) are pinned as requirements.lock has
them: they are not what users get, only what runs the tests.

    python scripts/min_constraints.py [--pyproject FILE] [--lock FILE] [TOOL ...] > constraints.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Extras that are not what a user installs for a feature: the developer's tools, and the sum.
SKIPPED_EXTRAS = frozenset({"dev", "all"})
_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*)")


class NoLowerBound(ValueError):
    """A requirement says nothing about the oldest version it works with."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lower_bound(requirement: str) -> tuple[str, str]:
    """("PyJWT", "2.10") for "PyJWT[crypto]>=2.10,<3": the name without extras, and its `>=` version."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    name = match["name"]
    bounds = [part.strip()[2:].strip() for part in match["spec"].split(",") if part.strip().startswith(">=")]
    if len(bounds) != 1:
        raise NoLowerBound(f"{requirement!r} needs exactly one lower bound (>=) for `make test-min`")
    return name, bounds[0]


def project_requirements(pyproject: dict[str, object]) -> list[str]:
    """The runtime dependencies and those of the extras a user installs, not the self-references."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    name = canonical(str(project["name"]))
    found = list(project.get("dependencies", []))
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra not in SKIPPED_EXTRAS:
            found += [r for r in requirements if canonical(requirement_name(r)) != name]
    return found


def requirement_name(requirement: str) -> str:
    match = _REQUIREMENT.match(requirement)
    return match["name"] if match else requirement


def locked(lock: Iterable[str]) -> dict[str, str]:
    """name → version of a `pip freeze` file."""
    pins: dict[str, str] = {}
    for line in lock:
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[canonical(name)] = version
    return pins


def constraints(pyproject: dict[str, object], lock: Iterable[str], tools: Sequence[str]) -> list[str]:
    lines = [f"{name}=={version}" for name, version in map(lower_bound, project_requirements(pyproject))]
    pins = locked(lock)
    for tool in tools:
        if canonical(tool) not in pins:
            raise ValueError(f"{tool} is not in the lock file")
        lines.append(f"{tool}=={pins[canonical(tool)]}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("tools", nargs="*", help="pinned as the lock has them")
    args = parser.parse_args(argv)
    pyproject = tomllib.loads(args.pyproject.read_text())
    try:
        lines = constraints(pyproject, args.lock.read_text().splitlines(), args.tools)
    except ValueError as exc:
        print(f"min_constraints: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
