"""dvc.yaml agrees with the code: each stage's params are exactly its params object's keys,
its commands carry no parameters, and its deps and outputs are the stage's declared paths."""

from __future__ import annotations

import pytest
import yaml

from housing.stages import STAGE, STAGES


@pytest.fixture(scope="module")
def dvc_yaml(repo_root) -> dict:
    return yaml.safe_load((repo_root / "dvc.yaml").read_text())


@pytest.fixture(scope="module")
def params_yaml(repo_root) -> dict:
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def declared_keys(entries: list, params_yaml: dict) -> set[str]:
    """dvc.yaml's `params:` of a stage as dotted keys (a section name means all its keys)."""
    keys: set[str] = set()
    for entry in entries:
        assert isinstance(entry, str), f"params from another file are not used here: {entry}"
        if "." in entry:
            keys.add(entry)
        else:
            keys |= {f"{entry}.{k}" for k in params_yaml[entry]}
    return keys


def outputs(stage: dict) -> set[str]:
    return {next(iter(o)) if isinstance(o, dict) else o
            for kind in ("outs", "metrics", "plots") for o in stage.get(kind, [])}


def test_every_stage_is_known(dvc_yaml):
    assert list(dvc_yaml["stages"]) == [stage.name for stage in STAGES]


@pytest.mark.parametrize("stage", list(STAGE))
def test_params_are_exactly_the_objects_keys(stage, dvc_yaml, params_yaml):
    declared = declared_keys(dvc_yaml["stages"][stage]["params"], params_yaml)
    assert declared == STAGE[stage].param_keys()


@pytest.mark.parametrize("stage", list(STAGE))
def test_commands_carry_no_parameters(stage, dvc_yaml):
    assert dvc_yaml["stages"][stage]["cmd"] == f"housing {stage}"


@pytest.mark.parametrize("stage", list(STAGE))
def test_deps_and_outs_are_the_stages_paths(stage, dvc_yaml):
    spec, paths = dvc_yaml["stages"][stage], STAGE[stage].paths()
    deps = set(spec.get("deps", []))
    for path in paths.role("dep").values():
        assert path.as_posix() in deps, f"{stage} reads {path} but does not declare it"
    outs = outputs(spec)
    written = [p.as_posix() for p in paths.role("out").values()]
    for out in outs:  # every declared output is one the stage writes (or a file in its folder)
        assert any(out == w or out.startswith(w + "/") for w in written), out
    for w in written:  # every path the stage writes is declared
        assert any(out == w or out.startswith(w + "/") for out in outs), w
    data_deps = {d for d in deps if not d.startswith("src/")}
    assert data_deps == {p.as_posix() for p in paths.role("dep").values()}


def test_the_agreement_test_catches_drift(dvc_yaml, params_yaml):
    """Drop one key from a stage's object view, or add one to dvc.yaml: they disagree."""
    tune = dvc_yaml["stages"]["tune"]["params"]
    assert declared_keys([*tune, "evaluate.seed"], params_yaml) != STAGE["tune"].param_keys()
    assert declared_keys(tune, params_yaml) - {"tune.seed"} != STAGE["tune"].param_keys()
