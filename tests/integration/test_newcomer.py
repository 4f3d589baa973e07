"""The newcomer's path: a fresh clone of a committed workspace whose training stages are
up to date, its DVC outputs pulled from a remote (so nothing retrains), then the README's
`dvc repro` and the service. The clone ends with a production version in its own store,
served by the real gunicorn, and git status stays clean after a second run."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from housing.dev.workspace import TRAINING_STAGES, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def origin(tmp_path_factory, new_workspace):
    """A committed workspace after `dvc repro`, its outputs pushed to a DVC remote."""
    root = tmp_path_factory.mktemp("newcomer")
    ws = new_workspace(root / "origin")
    run(["dvc", "repro"], ws)
    run(["dvc", "remote", "add", "--local", "-d", "team", str(root / "remote")], ws)
    run(["dvc", "push"], ws)
    run(["git", "add", "-A"], ws)
    run(["git", "commit", "-qm", "trained"], ws)
    return ws


@pytest.fixture(scope="module")
def clone(origin, tmp_path_factory):
    dst = tmp_path_factory.mktemp("clone") / "housing"
    run(["git", "clone", "-q", str(origin), str(dst)], origin.parent)
    run(["dvc", "remote", "add", "--local", "-d", "team", str(origin.parent / "remote")], dst)
    run(["dvc", "pull"], dst)
    return dst


def porcelain(ws) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], ws).stdout


def test_fresh_clone_registers_without_retraining(clone, origin):
    assert not (clone / "mlflow.db").exists()
    result = run(["dvc", "repro"], clone)
    for stage in TRAINING_STAGES:
        assert f"Running stage '{stage}'" not in result.stdout, stage
    assert "Running stage 'register'" in result.stdout
    assert "registered california-housing version 1 with aliases staging, production" \
        in result.stderr
    assert porcelain(clone) == ""


def post(base: str, path: str, body) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "X-Housing-Traffic": "test"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def test_the_clone_serves_its_production_ensemble_compiled(clone, gunicorn_service, district,
                                                            store_in):
    """The production version the README's path registers (the blend of HistGradientBoosting
    and LightGBM), served by the real gunicorn once lleaves has compiled every tree member
    it serves: every prediction of the full test set is the registered model's."""
    import numpy as np
    import pandas as pd

    from housing.config import FEATURES, MODEL_NAME
    from housing.registry import store

    with gunicorn_service(clone, {}) as (base, _, _):
        with urllib.request.urlopen(base + "/ready", timeout=10) as resp:
            assert resp.status == 200
        body = post(base, "/predict", district)
        assert body["model"]["version"] == "1" and 0.2 < body["predictions"][0]["value"] < 6
        deadline, runtime = time.monotonic() + 300, {}
        while time.monotonic() < deadline:  # compiled in the background, then swapped in
            with urllib.request.urlopen(base + "/model", timeout=10) as resp:
                runtime = json.loads(resp.read())["runtime"]
            if runtime["trees"] and all(t == "lleaves" for t in runtime["trees"]):
                break
            time.sleep(1.0)
        assert runtime["trees"] and set(runtime["trees"]) == {"lleaves"}, runtime
        test = pd.read_parquet(clone / "data/processed/test.parquet")
        served = np.array([p["value"] for p in post(
            base, "/predict", test[list(FEATURES)].to_dict(orient="records"))["predictions"]])
    with store_in(clone):
        registered = store.load_model(MODEL_NAME, 1).predict(test[list(FEATURES)])
    assert len(served) == len(test) == 4128
    np.testing.assert_allclose(served, registered, rtol=0, atol=1e-9)


def test_a_second_repro_leaves_the_clone_clean(clone, origin):
    result = run(["dvc", "repro"], clone)
    assert "already holds this model" in result.stderr
    for stage in TRAINING_STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout
    assert porcelain(clone) == ""
    assert (clone / "dvc.lock").read_text() == (origin / "dvc.lock").read_text()
