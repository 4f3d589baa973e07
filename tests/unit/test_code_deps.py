"""dvc.yaml's code deps are derived, not kept by hand: each stage's `src/` deps are exactly
what housing.code_deps's walk finds (every project module the stage imports, at any depth,
and for a stage that loads a model every module its estimators live in), the walk sees
what a pickled model really names, and tune's study name follows the same code."""

from __future__ import annotations

import pickle
import pickletools

import pytest
import yaml

from housing import code_deps
from housing.stages import STAGE
from housing.stages import code_deps as stage_deps

# The pickles the pipeline writes and later stages load, and the stage that loads the
# registry's production version instead.
MODEL_FILES = {"models/model.joblib", "models/featurizer.joblib"}
LOADS_PRODUCTION = {"monitor"}


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
    return {n for n in names if n.startswith("housing") and code_deps.module_file(n)}


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


def src_deps(spec: dict) -> list[str]:
    return [d for d in spec.get("deps", []) if d.startswith("src/")]


@pytest.mark.parametrize("stage", list(STAGE))
def test_dvc_yaml_holds_the_derived_deps(stage, dvc_stages):
    assert src_deps(dvc_stages[stage]) == stage_deps(STAGE[stage]), (
        f"{stage}: dvc.yaml's src/ deps are not the derived ones; run `housing code-deps --write`")


@pytest.mark.parametrize("stage", list(STAGE))
def test_a_stage_loads_models_exactly_when_its_inputs_are_models(stage, dvc_stages):
    inputs = set(dvc_stages[stage].get("deps", []))
    assert STAGE[stage].loads_models == bool(
        (MODEL_FILES & inputs and stage != "report") or stage in LOADS_PRODUCTION)


def test_the_walk_covers_every_module_a_pickled_model_names(unpickled):
    """The trusted types' modules cover what loading a real model imports."""
    assert {"housing.models.lgbm", "housing.features.transformers",
            "housing.models.intervals"} <= unpickled
    assert unpickled <= code_deps.closure(code_deps.model_modules())


def test_the_walk_follows_function_local_and_submodule_imports():
    # tune imports study and the registry's store inside functions
    assert {"housing.models.study", "housing.registry.store"} <= code_deps.closure(
        {"housing.models.tune"})


def test_a_folder_is_named_only_when_every_file_in_it_is_needed():
    deps = stage_deps(STAGE["report"])
    assert "src/housing/reporting/templates" in deps  # the template it renders
    assert "src/housing/reporting" not in deps        # review.py is not the report's
    assert "src/housing/features" in stage_deps(STAGE["featurize"])


def test_rewriting_dvc_yaml_replaces_only_src_deps(repo_root):
    text = (repo_root / "dvc.yaml").read_text()
    changed = code_deps.rewrite_dvc_yaml(text, {"prepare": ["src/housing/x.py"]})
    prepare = yaml.safe_load(changed)["stages"]["prepare"]
    assert src_deps(prepare) == ["src/housing/x.py"]
    assert [d for d in prepare["deps"] if not d.startswith("src/")] == [
        d for d in yaml.safe_load(text)["stages"]["prepare"]["deps"] if not d.startswith("src/")]
    assert changed.count("\n  #") == text.count("\n  #")  # comments kept
    with pytest.raises(ValueError, match="nostage"):
        code_deps.rewrite_dvc_yaml(text, {"nostage": ["src/housing/x.py"]})


def test_the_study_name_follows_the_code_tune_runs(pipeline_params, monkeypatch):
    from housing.models import tune

    before = tune.study_name_for("lightgbm", pipeline_params.tune, "md5")
    assert before == tune.study_name_for("lightgbm", pipeline_params.tune, "md5")
    monkeypatch.setattr(code_deps, "digest", lambda names: "other code")
    assert tune.study_name_for("lightgbm", pipeline_params.tune, "md5") != before
