"""dvc.yaml's code deps are derived, not kept by hand: every project module a stage imports
(at any depth, function-local imports included) and every project module its input models
unpickle is covered by one of the stage's `src/` deps, so a change to code a stage runs
reruns that stage."""

from __future__ import annotations

import ast
import pickle
import pickletools
from pathlib import Path

import pytest
import yaml

from housing.stages import STAGE

SRC = Path(__file__).resolve().parents[2] / "src"

# Imported by every stage, and no dep on purpose: params.py validates the values DVC tracks
# under params: (it holds no defaults and computes nothing), and the CLI only dispatches.
NOT_DEPS = {"housing.params", "housing.cli"}

# The pickles the pipeline writes and later stages load, and the stage that loads the
# registry's production version instead.
MODEL_FILES = {"models/model.joblib", "models/featurizer.joblib"}
LOADS_PRODUCTION = {"monitor"}


def module_file(name: str) -> Path | None:
    """The source file of a project module or package, or None if it is not one."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported(name: str) -> set[str]:
    """The project modules that module ``name`` imports anywhere in its source."""
    tree = ast.parse(module_file(name).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("housing")}
        elif isinstance(node, ast.ImportFrom) and node.module \
                and node.module.startswith("housing") and node.level == 0:
            found.add(node.module)
            # `from housing.registry import store` imports the submodule store
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if module_file(f"{node.module}.{a.name}")}
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


def carries_code(name: str) -> bool:
    """A package's __init__ that holds only its docstring runs nothing."""
    path = module_file(name)
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text()).body
    return not (len(body) <= 1 and all(isinstance(n, ast.Expr) for n in body))


def covered(name: str, deps: list[str]) -> bool:
    rel = module_file(name).relative_to(SRC.parent).as_posix()
    folder = rel.rsplit("/", 1)[0]
    return any(rel == d or rel.startswith(d.rstrip("/") + "/")
               or (rel.endswith("__init__.py") and folder == d) for d in deps)


def pickled_modules(obj) -> set[str]:
    """The project modules whose classes or functions a pickle of ``obj`` names."""
    names: set[str] = set()
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            names.add(strings[-2])
        elif op.name == "GLOBAL":
            names.add(arg.split(" ")[0])
    return {n for n in names if n.startswith("housing") and module_file(n)}


@pytest.fixture(scope="module")
def dvc_stages(repo_root) -> dict:
    return yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]


@pytest.fixture(scope="module")
def unpickled(pipeline_params) -> set[str]:
    """What loading the pipeline's models imports: the featurizer and the blended model of
    the committed params (inside its interval), fitted on synthetic districts as tune fits them."""
    import numpy as np
    import pandas as pd

    from housing.config import FEATURES
    from housing.features.featurize import build_feature_pipeline
    from housing.models.tune import refit

    rng = np.random.default_rng(0)
    rows = 300
    frame = pd.DataFrame({
        "MedInc": rng.uniform(1, 10, rows), "HouseAge": rng.integers(1, 52, rows).astype(float),
        "AveRooms": rng.uniform(3, 8, rows), "AveBedrms": rng.uniform(0.9, 1.3, rows),
        "Population": rng.uniform(100, 3000, rows), "AveOccup": rng.uniform(1.5, 4, rows),
        "Latitude": rng.uniform(32.6, 41.9, rows), "Longitude": rng.uniform(-124.3, -114.4, rows),
    })[list(FEATURES)]
    y = rng.uniform(0.5, 5, rows)
    featurizer = build_feature_pipeline(pipeline_params.featurize)
    X = featurizer.fit_transform(frame, y)
    tune = pipeline_params.tune
    members = {f: {"params": {"max_iter": 5} if f == "hist_gradient_boosting"
                   else {"n_estimators": 5}} for f in tune.ensemble_members}
    model = refit(members, X, y, tune.model_copy(update={"n_threads": 1}))[0]
    return pickled_modules(featurizer) | pickled_modules(model)


def runs(stage: str, spec: dict, unpickled: set[str]) -> set[str]:
    """The project modules ``stage`` runs: its module's imports, and what its models load."""
    needed = closure({STAGE[stage].module})
    if MODEL_FILES & set(spec.get("deps", [])) or stage in LOADS_PRODUCTION:
        needed |= closure(unpickled)
    return {m for m in needed - NOT_DEPS if carries_code(m)}


def undeclared(stage: str, spec: dict, unpickled: set[str]) -> list[str]:
    """The project modules ``stage`` runs that none of its `src/` deps covers."""
    deps = [d for d in spec.get("deps", []) if d.startswith("src/")]
    return sorted(m for m in runs(stage, spec, unpickled) if not covered(m, deps))


def unneeded(stage: str, spec: dict, unpickled: set[str]) -> list[str]:
    """The `src/` deps of ``stage`` that cover no module it runs (needless reruns)."""
    modules = runs(stage, spec, unpickled)
    return [d for d in spec.get("deps", []) if d.startswith("src/")
            and not any(covered(m, [d]) for m in modules)]


@pytest.mark.parametrize("stage", list(STAGE))
def test_every_module_a_stage_runs_is_a_dep(stage, dvc_stages, unpickled):
    missing = undeclared(stage, dvc_stages[stage], unpickled)
    assert not missing, f"{stage} runs code dvc.yaml does not declare: {missing}"


@pytest.mark.parametrize("stage", list(STAGE))
def test_every_code_dep_is_code_the_stage_runs(stage, dvc_stages, unpickled):
    extra = unneeded(stage, dvc_stages[stage], unpickled)
    assert not extra, f"{stage} declares code it does not run: {extra}"


def test_an_extra_dep_is_caught(dvc_stages, unpickled):
    spec = dict(dvc_stages["prepare"])
    spec["deps"] = [*spec["deps"], "src/housing/models/lgbm.py"]
    assert unneeded("prepare", spec, unpickled) == ["src/housing/models/lgbm.py"]


def test_a_dropped_dep_is_caught(dvc_stages, unpickled):
    spec = dict(dvc_stages["evaluate"])
    spec["deps"] = [d for d in spec["deps"] if d != "src/housing/models/lgbm.py"]
    assert undeclared("evaluate", spec, unpickled) == ["housing.models.lgbm"]


def test_the_model_pickle_names_the_project_s_estimators(unpickled):
    """The derivation sees what loading a model imports (else the test above proves less)."""
    assert {"housing.models.lgbm", "housing.features.transformers"} <= unpickled


def test_the_walk_follows_function_local_and_submodule_imports():
    # tune imports study and the registry's store inside functions
    assert {"housing.models.study", "housing.registry.store"} <= closure({"housing.models.tune"})
