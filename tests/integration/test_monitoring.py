"""The retrain loop end to end: real dvc, real NannyML, a real MLflow store, small params."""

from __future__ import annotations

import json

import pytest

from housing.workspace import TRAINING_STAGES, model_versions, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, new_workspace):
    ws = new_workspace(tmp_path_factory.mktemp("monitoring") / "housing")
    first = run(["dvc", "repro"], ws)
    assert "no production model yet" in first.stderr + first.stdout
    assert model_versions(ws) == [1]
    return ws


def monitoring(ws) -> dict:
    """The monitor's local state: per-batch findings, the verdict, what it saw."""
    return json.loads((ws / "reports/monitoring/latest.json").read_text())


def review_metrics(ws) -> dict:
    """The monitor's DVC metric."""
    return json.loads((ws / "reports/monitoring.json").read_text())


def test_iid_batch_skips_training(workspace):
    run(["housing", "simulate", "--scenario", "none", "--rows", "1000", "--seed", "1",
         "--labels"], workspace)
    result = run(["dvc", "repro"], workspace)
    assert "Running stage 'monitor'" in result.stdout
    for stage in TRAINING_STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout
    report = monitoring(workspace)
    assert report["retrain"] is False and report["rows_analysed"] == 1000
    batch = report["batches"]["none-s1"]
    assert batch["drifted_features"] == 0 and batch["realized_rmse"] is not None
    assert json.loads((workspace / "data/accepted_batches.json").read_text()) == {"batches": []}
    assert review_metrics(workspace) == {"accepted_batches": 0, "accepted_rows": 0}
    assert model_versions(workspace) == [1]


def test_covariate_shift_with_labels_retrains_and_registers(workspace):
    run(["housing", "simulate", "--scenario", "geo_inland", "--rows", "1000", "--seed", "2",
         "--labels"], workspace)
    result = run(["dvc", "repro"], workspace)
    for stage in TRAINING_STAGES:
        assert f"Running stage '{stage}'" in result.stdout
    report = monitoring(workspace)
    assert report["retrain"] is True
    assert any("geo_inland-s2" in reason for reason in report["reasons"])
    accepted = json.loads((workspace / "data/accepted_batches.json").read_text())["batches"]
    assert {b["batch"] for b in accepted} == {"none-s1", "geo_inland-s2"}
    assert review_metrics(workspace) == {"accepted_batches": 2, "accepted_rows": 2000}
    assert model_versions(workspace) == [1, 2]
    # The accepted rows joined the training set; the test set did not change.
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    assert metrics["test_rows"] == 4128
    # Nothing new since: the monitor sees no new data and training is skipped again.
    again = run(["dvc", "repro"], workspace)
    assert "Running stage 'prepare'" not in again.stdout
    assert monitoring(workspace)["reasons"] == ["no new production data"]
