"""The install sets: requirements.txt (the runtime set) holds every package the pipeline, the
service, the monitor and `housing review` import; the team and test sets only add to it."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SETS = ("requirements.txt", "requirements-team.txt", "requirements-test.txt")
# Tools for the tests and the team stack: never imported by a stage or by the service
# (tests/unit/test_import_rules.py checks that).
DEV_ONLY = REPO_ROOT / "src/housing/dev"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of one file (its -r includes left out)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def imported_modules(root: Path) -> set[str]:
    """Top-level names of every absolute import in the project's modules outside dev/."""
    names = set()
    for path in root.rglob("*.py"):
        if path.is_relative_to(DEV_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"housing", "__future__"}


def test_every_set_is_pinned_exactly_and_each_package_once():
    seen: dict[str, str] = {}
    for name in SETS:
        text = (REPO_ROOT / name).read_text()
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        for line in lines:
            assert "==" in line or line.startswith("-r ") or line == "-e .", (name, line)
        for package in pins(REPO_ROOT / name):
            assert package not in seen, f"{package} is pinned in {seen[package]} and {name}"
            seen[package] = name
    assert "-r requirements.txt" in (REPO_ROOT / SETS[1]).read_text()
    assert "-r requirements-team.txt" in (REPO_ROOT / SETS[2]).read_text()


def test_the_runtime_set_holds_what_the_project_imports():
    runtime = pins(REPO_ROOT / "requirements.txt")
    provided = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(imported_modules(REPO_ROOT / "src/housing")):
        dists = {canonical(d) for d in provided.get(module, [])}
        assert dists, f"no installed distribution provides the module {module}"
        if not dists & set(runtime):
            missing[module] = sorted(dists)
    assert missing == {}, f"imported by the project but not in requirements.txt: {missing}"


@pytest.mark.parametrize("package", ["pytest", "playwright", "schemathesis", "ruff",
                                     "vl-convert-python", "psycopg", "mlflow"])
def test_tools_and_servers_stay_out_of_the_runtime_set(package):
    assert package not in pins(REPO_ROOT / "requirements.txt")


def test_the_team_stack_asks_for_the_team_set_when_it_is_missing(monkeypatch, tmp_path):
    from housing.dev import stack

    assert stack.missing_team_packages() == []  # the test set holds the team set
    monkeypatch.setattr(stack, "TEAM_PACKAGES", ("mlflow", "no-such-distribution"))
    with pytest.raises(RuntimeError, match=r"no-such-distribution is not installed: run "
                                           r"`make install-team`"):
        stack.up(stack.Stack(postgres="postgresql://nobody@127.0.0.1:1", prefix="t",
                             host="127.0.0.1", port=1, folder=tmp_path / "stack"), tmp_path)
    assert not (tmp_path / "stack").exists()  # refused before anything was made
