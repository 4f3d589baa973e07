"""Bad params through the real CLI and through `dvc exp run -S`: a clear error naming the
key, the value and what is allowed, a non-zero exit within seconds, and nothing written."""

from __future__ import annotations

import pytest
import yaml

from housing.dev.workspace import run

pytestmark = pytest.mark.slow

# (params.yaml edit, `dvc exp run -S` override, text the error must contain)
CASES = {
    "unknown key": ({"tune": {"n_trial": 5}}, "+tune.n_trial=5",
                    "tune.n_trial: unknown key (given 5); allowed keys here:"),
    "missing key": ({"prepare": {"seed": None}}, "~prepare.seed", "prepare.seed: missing key"),
    "wrong type": ({"tune": {"n_trials": "many"}}, "tune.n_trials=many",
                   "tune.n_trials: 'many' is not an integer"),
    "out of range": ({"tune": {"cv_folds": 1}}, "tune.cv_folds=1",
                     "tune.cv_folds: 1 is not allowed: should be greater than or equal to 2"),
    "stream fraction": ({"prepare": {"stream_fraction": 1.5}}, "prepare.stream_fraction=1.5",
                        "prepare.stream_fraction: 1.5 is not allowed"),
    "unknown family": ({"tune": {"model": "xgboost"}}, "tune.model=xgboost",
                       "tune.model: 'xgboost' is not allowed: should be 'hist_gradient_boosting'"),
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, new_workspace):
    # its own DVC cache, inside the workspace: "nothing written" covers it too
    return new_workspace(tmp_path_factory.mktemp("params") / "housing", shared_cache=False)


def files(ws) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file in the workspace, git-ignored ones included (mlflow.db,
    optuna.db, mlruns/, logs/, the DVC cache), but for git's and DVC's own temporary
    bookkeeping (.git/, .dvc/tmp/)."""
    found = {}
    for path in ws.rglob("*"):
        name = path.relative_to(ws).as_posix()
        if path.is_file() and not name.startswith((".git/", ".dvc/tmp/")):
            found[name] = (path.stat().st_size, path.stat().st_mtime_ns)
    return found


def written(ws, before: dict[str, tuple[int, int]]) -> set[str]:
    """Files created, changed or removed since ``before``, but for the params files the
    test edits."""
    after = files(ws)
    changed = {name for name in before.keys() | after.keys()
               if before.get(name) != after.get(name)}
    return changed - {"params.yaml", "bad_params.yaml"}


def bad_params_file(ws, edit: dict) -> str:
    params = yaml.safe_load((ws / "params.yaml").read_text())
    for group, values in edit.items():
        for key, value in values.items():
            if value is None:
                del params[group][key]
            else:
                params[group][key] = value
    path = ws / "bad_params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path.name


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stage", ["prepare", "tune", "monitor"])
def test_cli_names_the_bad_key_and_writes_only_its_log(workspace, case, stage):
    edit, _, message = CASES[case]
    name = bad_params_file(workspace, edit)
    before = files(workspace)
    # The timeout only stops a hang; what shows the check comes first is that nothing
    # but the log was written, and that the log holds the error and no work.
    result = run(["housing", stage, "--params", name], workspace, check=False, timeout=60)
    assert result.returncode == 1
    assert message in result.stderr and name in result.stderr
    # No output is written; the one file that changes is the stage's log, naming the error.
    assert written(workspace, before) == {f"logs/{stage}.log"}
    log = (workspace / f"logs/{stage}.log").read_text()
    assert message in log and " INFO " not in log


@pytest.mark.parametrize("case", list(CASES))
def test_dvc_exp_run_set_param_fails_before_any_stage_writes(workspace, case):
    _, override, message = CASES[case]
    lock, before = (workspace / "dvc.lock").read_bytes(), files(workspace)
    result = run(["dvc", "exp", "run", "-S", override], workspace, check=False, timeout=120)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Running stage 'prepare'" not in result.stdout  # monitor, the first stage, refused
    assert written(workspace, before) == {"logs/monitor.log"}  # its log names the error
    assert message in (workspace / "logs/monitor.log").read_text()
    assert (workspace / "dvc.lock").read_bytes() == lock
    run(["git", "checkout", "--", "params.yaml"], workspace)
