"""The project code a stage runs, found by one walk: every module its own module imports (at
any depth, function-local imports included) and, for a stage that loads a model, every
module the model's estimators live in (the skops trusted types) and what those import.

dvc.yaml's `src/` deps are this walk's answer (`housing code-deps --write` writes them and
tests/unit/test_code_deps.py checks them), and tune names its Optuna study with a digest of
the same files, so a change to code a stage runs reruns it and starts a new study."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]  # the folder holding the housing package
PACKAGE = SRC / "housing"

# Imported by every stage, and no dep on purpose: params.py validates the values DVC tracks
# under params: (it holds no defaults and computes nothing), and the CLI only dispatches.
NOT_DEPS = frozenset({"housing.params", "housing.cli"})


def module_file(name: str) -> Path | None:
    """The source file of a project module or package, or None if it is not one."""
    if name != "housing" and not name.startswith("housing."):
        return None
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported(name: str) -> set[str]:
    """The project modules that module ``name`` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module_file(name).read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from housing.registry import store` imports the submodule store
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if module_file(m)}


def closure(roots: set[str]) -> set[str]:
    """``roots`` and every project module they import, transitively."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imported(name) - seen)
    return seen


def carries_code(path: Path) -> bool:
    """A package's __init__ that holds only its docstring runs nothing."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text()).body
    return not (len(body) <= 1 and all(isinstance(n, ast.Expr) for n in body))


def model_modules() -> set[str]:
    """The modules of the project's estimators, the only project code a stored model may
    name (registry.serialization's trusted types)."""
    from housing.registry.serialization import TRUSTED_TYPES

    return {t.rsplit(".", 1)[0] for t in TRUSTED_TYPES if module_file(t.rsplit(".", 1)[0])}


def modules(root: str, loads_models: bool) -> set[str]:
    """The project modules a stage whose ``run`` lives in ``root`` runs."""
    needed = closure({root} | (model_modules() if loads_models else set()))
    return {m for m in needed - NOT_DEPS if carries_code(module_file(m))}


def _is_data(path: Path) -> bool:
    return path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts


def _files(folder: Path) -> set[Path]:
    """The files of ``folder`` a stage can run or read: code, and package data."""
    return {p for p in folder.rglob("*") if p.is_file()
            and (_is_data(p) or (p.suffix == ".py" and carries_code(p)))}


def files(names: set[str]) -> set[Path]:
    """The modules' sources and the package data beside them (a template a module renders
    lives in its package's folder)."""
    sources = {module_file(m) for m in names}
    return sources | {p for source in sources for p in source.parent.rglob("*")
                      if p.is_file() and _is_data(p) and source.parent != PACKAGE}


def dep_paths(names: set[str]) -> list[str]:
    """dvc.yaml's `src/` deps for ``names``: each file, or the highest folder below the
    package whose every file (code and data) is needed, sorted."""
    needed = files(names)
    deps = set()
    for path in needed:
        chosen = path
        for folder in path.parents:
            if folder == PACKAGE or PACKAGE not in folder.parents:
                break
            if _files(folder) <= needed:
                chosen = folder
        deps.add(chosen.relative_to(SRC.parent).as_posix())
    return sorted(deps)


def digest(names: set[str]) -> str:
    """MD5 of the modules' files (sources and package data), in the order of their paths:
    the same code, the same digest on every machine."""
    hashed = hashlib.md5()
    for path in sorted(files(names)):
        hashed.update(path.relative_to(SRC).as_posix().encode() + b"\0" + path.read_bytes())
    return hashed.hexdigest()


_STAGE = re.compile(r"^  (\w+):\s*$")
_SRC_DEP = re.compile(r"^      - src/\S+\s*$")


def rewrite_dvc_yaml(text: str, deps: dict[str, list[str]]) -> str:
    """dvc.yaml's text with each named stage's `src/` deps replaced by ``deps[stage]``, in
    the place of the first of them; everything else (comments, order) as it was."""
    out: list[str] = []
    stage, written = None, set()
    for line in text.splitlines(keepends=True):
        found = _STAGE.match(line)
        if found:
            stage = found.group(1)
        if stage in deps and _SRC_DEP.match(line):
            if stage not in written:
                out.extend(f"      - {path}\n" for path in deps[stage])
                written.add(stage)
            continue
        out.append(line)
    if set(deps) - written:
        raise ValueError(f"dvc.yaml: no src/ deps to replace in {sorted(set(deps) - written)}")
    return "".join(out)
