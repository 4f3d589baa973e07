"""The shadow challenger end to end: two registered versions, the better one the
challenger; real gunicorn shadows production traffic into the log, labels arrive, the
real monitor compares both versions on the same rows, and `housing promote` shows the
evidence and refuses when the gate asks for more."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from housing.config import FEATURES, TARGET

pytestmark = pytest.mark.slow

KEY = "shadow-test-key-0123456789abcdef"
ROWS = 600


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, register_small_model, repo_root, store_in) -> Path:
    """A store with version 1 in production and the better version 2 as challenger."""
    from housing.models import release

    ws = tmp_path_factory.mktemp("shadow")
    with store_in(ws):
        register_small_model(ws, max_iter=10)
        register_small_model(ws, max_iter=150)    # better: the gate promotes it ...
        release.rollback(version=1, reason="test")  # ... and production goes back to 1
        from housing.registry import store

        assert str(store.version_by_alias("california-housing", "challenger").version) == "2"
    (ws / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    return ws


def env_for(ws: Path) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}"}


def housing(ws: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["housing", *args], cwd=ws, env={**os.environ, **env_for(ws)},
                          capture_output=True, text=True, timeout=600, check=check)


def post(base: str, rows: pd.DataFrame, offset: int) -> dict:
    body = json.dumps(rows[list(FEATURES)].to_dict(orient="records")).encode()
    request = urllib.request.Request(f"{base}/predict", data=body, headers={
        "Content-Type": "application/json", "X-API-Key": KEY,
        "X-Housing-Batch": f"shadow-1@{offset}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def shadowed(workspace, gunicorn_service, housing_frame):
    """ROWS districts sent through the real service, in requests of 50 rows; the log's
    lines once the service has stopped (a graceful stop writes everything queued)."""
    sample = housing_frame.sample(n=ROWS, random_state=21).reset_index(drop=True)
    log = workspace / "data" / "predictions"
    env = {**env_for(workspace), "HOUSING_API_KEY": KEY, "HOUSING_PREDICTION_LOG_DIR": str(log)}
    with gunicorn_service(workspace, env) as (base, _, _):
        request = urllib.request.Request(f"{base}/model", headers={"X-API-Key": KEY})
        with urllib.request.urlopen(request, timeout=10) as answer:
            model = json.loads(answer.read())
        answers = [post(base, sample.iloc[i:i + 50], i) for i in range(0, ROWS, 50)]
    lines = [json.loads(line) for path in sorted(log.glob("*.jsonl"))
             for line in path.read_text().splitlines()]
    return sample, model, answers, lines


def test_every_answer_is_production_and_every_logged_row_carries_the_challenger(
        shadowed, workspace, store_in):
    sample, model, answers, lines = shadowed
    assert model["version"] == "1"
    assert model["shadow"] == {"alias": "challenger", "share": 1.0, "version": "2"}
    assert all(a["model"]["version"] == "1" for a in answers)
    assert len(lines) == ROWS
    assert {line["model_version"] for line in lines} == {"1"}
    assert {line["challenger_version"] for line in lines} == {"2"}
    by_offset = {int(line["offset"]) + line["row"]: line for line in lines}
    expected = registered(workspace, "2", store_in).predict(sample[list(FEATURES)])
    got = np.array([by_offset[i]["challenger_prediction"] for i in range(ROWS)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    served = [p["value"] for a in answers for p in a["predictions"]]
    assert [by_offset[i]["prediction"] for i in range(ROWS)] == served


def registered(ws: Path, version: str, store_in):
    """A registered version's Pipeline, loaded from the store as the monitor loads it."""
    from housing.registry import store

    with store_in(ws):
        return store.load_model("california-housing", version)


@pytest.fixture(scope="module")
def monitored(shadowed, workspace):
    """Labels for every shadowed row arrive; the real monitor runs."""
    sample = shadowed[0]
    labels = workspace / "data" / "production" / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"record_id": [f"shadow-1/{i}" for i in range(ROWS)],
                  TARGET: sample[TARGET].to_numpy()}).to_parquet(labels / "shadow-1.parquet")
    housing(workspace, "monitor")
    return json.loads((workspace / "reports/monitoring/latest.json").read_text())


def test_the_monitor_compares_both_versions_on_the_same_labelled_rows(shadowed, monitored):
    sample, _, _, lines = shadowed
    (evidence,) = monitored["shadow"]
    assert (evidence["production_version"], evidence["challenger_version"]) == (1, 2)
    assert evidence["labelled_rows"] == ROWS
    y = sample[TARGET].to_numpy()
    by_offset = {int(line["offset"]) + line["row"]: line for line in lines}
    served = np.array([by_offset[i]["prediction"] for i in range(ROWS)])
    challenger = np.array([by_offset[i]["challenger_prediction"] for i in range(ROWS)])
    assert evidence["production_rmse"] == pytest.approx(np.sqrt(np.mean((y - served) ** 2)),
                                                        abs=1e-6)
    assert evidence["challenger_rmse"] == pytest.approx(
        np.sqrt(np.mean((y - challenger) ** 2)), abs=1e-6)
    low, high = evidence["interval"]
    assert low <= evidence["difference"] <= high < 0  # the better version, shown better


def test_history_and_promote_show_the_evidence_and_the_gate_can_require_it(
        monitored, workspace):
    history = housing(workspace, "history").stdout
    assert "shadow: challenger 2 against production 1 on 600 labelled live rows" in history
    strict = yaml.safe_load((workspace / "params.yaml").read_text())
    # the small models' thresholds (conftest's register_small_model), and live evidence
    strict["register"].update(max_rmse=0.9, min_r2=0.3, min_live_rows=10 * ROWS)
    (workspace / "strict.yaml").write_text(yaml.safe_dump(strict))
    refused = housing(workspace, "promote", "--version", "2", "--reason", "live",
                      "--params", "strict.yaml", check=False)
    assert refused.returncode != 0
    assert f"600 labelled live rows, register.min_live_rows is {10 * ROWS}" in refused.stderr
    strict["register"]["min_live_rows"] = ROWS
    (workspace / "strict.yaml").write_text(yaml.safe_dump(strict))
    promoted = housing(workspace, "promote", "--version", "2", "--reason", "live",
                       "--params", "strict.yaml")
    event = json.loads(promoted.stdout.strip().splitlines()[-1])
    assert event["version"] == 2 and event["forced"] is False
    assert event["live"]["labelled_rows"] == ROWS and event["live"]["interval"][1] < 0
