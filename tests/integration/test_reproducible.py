"""Same inputs, same bytes: the data and feature outputs do not depend on the CPU's SIMD
extensions or on thread counts, tuning gives the same model whatever the OpenMP thread
count, and a tune killed with SIGKILL resumes to the model an uninterrupted run makes.
Every tune below is compared with one reference tune in a copy of the same workspace."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from housing.config import FEATURES, FeaturizePaths, PreparePaths
from housing.dev.workspace import clean_env, run, set_params
from housing.io import read_joblib

pytestmark = pytest.mark.slow

DATA_OUTPUTS = [*PreparePaths().role("out").values(), *FeaturizePaths().role("out").values()]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def wider_simd() -> str:
    """numpy's run-time SIMD extensions above its baseline that this CPU has."""
    code = ("from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__;"
            "print(' '.join(f for f in __cpu_dispatch__ if __cpu_features__.get(f)))")
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def data_workspace(tmp_path_factory, new_workspace):
    """The committed params (every training row), nothing run yet."""
    return new_workspace(tmp_path_factory.mktemp("repro") / "housing", small=False)


def build_data(ws: Path, env: dict[str, str]) -> dict[str, str]:
    for stage in ("prepare", "featurize"):
        run(["housing", stage], ws, env=env, timeout=300)
    return {p.as_posix(): md5(ws / p) for p in DATA_OUTPUTS}


def test_data_and_features_are_identical_without_wide_simd_and_at_any_thread_count(
        data_workspace):
    simd = wider_simd()
    if not simd:
        pytest.skip("this CPU has no SIMD extension above numpy's baseline to switch off")
    variants = {
        "default": {},
        f"NPY_DISABLE_CPU_FEATURES={simd}": {"NPY_DISABLE_CPU_FEATURES": simd},
        "1 thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        "3 threads": {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"},
    }
    hashes = {name: build_data(data_workspace, env) for name, env in variants.items()}
    for name, got in hashes.items():
        assert got == hashes["default"], name


@pytest.fixture(scope="module")
def tune_workspace(tmp_path_factory, new_workspace):
    """Small params, featurized: a copy of it tunes from the same matrix."""
    ws = new_workspace(tmp_path_factory.mktemp("tune") / "housing")
    # Both families (each with its own OpenMP runtime) and a pruned trial or two: the
    # pruner decides after each of 2 folds once 3 trials finished.
    set_params(ws, {"tune": {"model": "ensemble", "n_trials": 4, "cv_folds": 2,
                             "n_threads": 2}})
    run(["dvc", "repro", "featurize"], ws)
    return ws


def copy_of(ws: Path, name: str) -> Path:
    target = ws.parent.parent / name / "housing"
    shutil.copytree(ws, target)
    return target


def tuned(ws: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    run(["housing", "tune"], ws, env=env, timeout=600)
    return md5(ws / "models/model.joblib"), (ws / "models/best_params.json").read_text()


@pytest.fixture(scope="module")
def reference(tune_workspace) -> Path:
    """A copy of the workspace after one uninterrupted tune with the default environment."""
    ws = copy_of(tune_workspace, "reference")
    tuned(ws)
    return ws


@pytest.fixture(scope="module")
def reference_model(reference) -> tuple[str, str]:
    """(model md5, best params) of the reference tune."""
    return md5(reference / "models/model.joblib"), \
        (reference / "models/best_params.json").read_text()


def training_threads(ws: Path) -> set[int]:
    """The thread counts of every native pool the last tune trained with (its log)."""
    line = [ln for ln in (ws / "logs/tune.log").read_text().splitlines()
            if "training threads: " in ln][-1]
    return {int(pool.rsplit(": ", 1)[1]) for pool in line.split("training threads: ")[1]
            .split(", ")}


def without_study_names(best_params: str) -> str:
    """best_params.json without the study names (they follow every tune param)."""
    return "\n".join(ln for ln in best_params.splitlines() if '"study_name"' not in ln)


def test_tune_gives_the_same_model_at_another_thread_count(tune_workspace, reference,
                                                           reference_model):
    """A second tune, with one training thread in every pool (scikit-learn's and
    LightGBM's OpenMP runtimes, both OpenBLAS builds) instead of two: the same search, the
    same blend, the same predictions and the same bytes (the saved model keeps no thread
    count: tune.portable). The other tests below each rerun it once more."""
    assert training_threads(reference) == {2}
    one = copy_of(tune_workspace, "one-thread")
    set_params(one, {"tune": {"n_threads": 1}})
    model_md5, best_params = tuned(one)
    assert training_threads(one) == {1}
    assert without_study_names(best_params) == without_study_names(reference_model[1])
    test = pd.read_parquet(one / "data/processed/test.parquet")[list(FEATURES)]
    expected = read_joblib(reference / "models/model.joblib").predict(test)
    assert (read_joblib(one / "models/model.joblib").predict(test) == expected).all()
    assert model_md5 == reference_model[0]


def test_tune_without_wide_simd_gives_the_same_model(tune_workspace, reference_model):
    simd = wider_simd()
    if not simd:
        pytest.skip("this CPU has no SIMD extension above numpy's baseline to switch off")
    assert tuned(copy_of(tune_workspace, "no-wide-simd"), {"NPY_DISABLE_CPU_FEATURES": simd}) \
        == reference_model


def trial_states(ws: Path) -> list[str]:
    import sqlite3

    db = ws / "optuna.db"
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT state FROM trials ORDER BY trial_id")]
        except sqlite3.OperationalError:  # tables not created yet
            return []


def running_with_heartbeat(ws: Path) -> bool:
    """A trial is RUNNING and has written its first heartbeat (Optuna never counts a
    trial without one as stale: see the README on a worker killed in its first
    milliseconds)."""
    import sqlite3

    with sqlite3.connect(ws / "optuna.db", timeout=10) as conn:
        try:
            return conn.execute(
                "SELECT 1 FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
                "WHERE t.state = 'RUNNING'").fetchone() is not None
        except sqlite3.OperationalError:  # tables not created yet
            return False


def test_a_killed_tune_resumes_to_the_uninterrupted_model(tune_workspace, reference_model):
    ws = copy_of(tune_workspace, "killed")
    # Kill it mid-trial, after some trials finished. A short trial can end between the
    # last look and the kill: then the next run (which resumes the study) is killed again.
    for _ in range(5):
        proc = subprocess.Popen(["housing", "tune"], cwd=ws, env=clean_env(ws),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                states = trial_states(ws)
                if states.count("COMPLETE") + states.count("PRUNED") >= 2 \
                        and running_with_heartbeat(ws):
                    break
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        if "RUNNING" in trial_states(ws):
            break
    assert "RUNNING" in trial_states(ws)  # the killed trial, left behind
    resumed = tuned(ws)
    states = trial_states(ws)
    assert "RUNNING" not in states and "FAIL" in states  # the stale trial was failed...
    assert resumed == reference_model                      # ...and redone: the same model
