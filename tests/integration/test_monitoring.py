"""The retrain loop end to end: real dvc, real NannyML, a real MLflow store, small params."""

from __future__ import annotations

import json

import pytest

from housing.dev.workspace import TRAINING_STAGES, model_versions, run

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


NOTHING = {"accepted_batches": 0, "accepted_rows": 0, "quarantined_batches": 0,
           "quarantined_rows": 0, "unreliable_estimates": 0}


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
    assert batch["drifted_features"] == [] and batch["realized_rmse"] is not None
    assert report["rmse_bar"] > report["reference_rmse"]
    assert json.loads((workspace / "data/accepted_batches.json").read_text()) == {"batches": []}
    assert review_metrics(workspace) == NOTHING
    assert model_versions(workspace) == [1]


def test_a_marked_burst_leaves_the_verdict_unchanged(workspace, gunicorn_service):
    """A shifted burst sent through the real service by `housing simulate --url`, which
    marks its rows as test traffic: logged, and left out by the monitor."""
    before = review_metrics(workspace), monitoring(workspace)["rows_analysed"]
    with gunicorn_service(workspace, {}) as (base, _, _):
        run(["housing", "simulate", "--scenario", "geo_inland", "--rows", "1500", "--seed",
             "9", "--batch", "load-burst", "--no-features", "--url", base], workspace)
    logged = [json.loads(line) for path in (workspace / "data/predictions").glob("*.jsonl")
              for line in path.read_text().splitlines()]
    assert len(logged) == 1500 and all(line["traffic"] == "test" for line in logged)
    # and a log file the monitor cannot read as rows: skipped and counted, never a crash
    (workspace / "data/predictions/predictions-broken-1.jsonl").write_bytes(
        b'{"row": \xff}\n[1, 2]\n{"row": Infinity}\n')
    run(["dvc", "repro"], workspace)
    report = monitoring(workspace)
    assert (review_metrics(workspace), report["rows_analysed"]) == before
    assert "load-burst" not in report["batches"] and report["retrain"] is False
    assert report["unreadable_log_lines"] == 3


def test_a_labelled_data_bug_is_quarantined_never_trained_on_and_dropped(workspace):
    """Population sent in thousands, with labels: "data quality", not drift; the batch is
    quarantined in the gate file, the report and the history, and no training stage runs
    (prepare reruns on the changed gate file and writes the same outputs)."""
    run(["housing", "simulate", "--scenario", "bug_population_thousands", "--rows", "1000",
         "--seed", "3", "--labels"], workspace)
    result = run(["dvc", "repro"], workspace)
    for stage in TRAINING_STAGES[1:]:
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout
    report = monitoring(workspace)
    batch = report["batches"]["bug_population_thousands-s3"]
    assert report["quarantined"] == ["bug_population_thousands-s3"] and not report["retrain"]
    assert batch["status"] == "data quality" and batch["estimate_reliable"] is False
    assert any("Population: median" in r and "1/10^3" in r for r in report["reasons"])
    assert not any("drift in" in r for r in report["reasons"])
    gate = json.loads((workspace / "data/accepted_batches.json").read_text())
    assert gate["batches"] == [] and gate["quarantined"][0]["rows"] == 1000
    assert review_metrics(workspace) == {**NOTHING, "quarantined_batches": 1,
                                         "quarantined_rows": 1000, "unreliable_estimates": 1}
    history = run(["housing", "history"], workspace).stdout
    assert "quarantine: batch bug_population_thousands-s3 (1000 rows)" in history
    dropped = run(["housing", "quarantine", "drop", "bug_population_thousands-s3"], workspace)
    assert "dropped batch 'bug_population_thousands-s3' (1000 rows)" in dropped.stdout
    run(["dvc", "repro"], workspace)
    assert "bug_population_thousands-s3" not in monitoring(workspace)["batches"]
    assert review_metrics(workspace) == NOTHING
    listed = run(["housing", "quarantine"], workspace).stdout
    assert listed.startswith("dropped: bug_population_thousands-s3")


def test_a_released_batch_is_judged_on_drift_alone(workspace):
    """`housing quarantine release` reaches the next monitor run: the batch leaves
    quarantine, its entry says it was released, and its data-quality finding no longer holds
    it back."""
    name = "bug_population_thousands-s4"
    run(["housing", "simulate", "--scenario", "bug_population_thousands", "--rows", "1000",
         "--seed", "4"], workspace)
    run(["housing", "monitor"], workspace)
    assert monitoring(workspace)["quarantined"] == [name]
    released = run(["housing", "quarantine", "release", name], workspace)
    assert f"released batch '{name}' (1000 rows)" in released.stdout
    run(["housing", "monitor"], workspace)
    report = monitoring(workspace)
    assert report["quarantined"] == [] and report["released"] == [name]
    assert report["batches"][name]["released"] is True
    assert any(r.startswith(f"{name}: released from quarantine by an operator")
               for r in report["reasons"]), report["reasons"]
    gate = json.loads((workspace / "data/accepted_batches.json").read_text())
    assert [e["batch"] for e in gate["released"]] == [name] and "quarantined" not in gate
    run(["housing", "quarantine", "drop", name], workspace)  # as the next test expects


def test_covariate_shift_with_labels_retrains_and_registers(workspace):
    import yaml

    production_best = json.loads((workspace / "models/best_params.json").read_text())
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
    assert review_metrics(workspace) == {**NOTHING, "accepted_batches": 2, "accepted_rows": 2000}
    assert model_versions(workspace) == [1, 2]
    # The retrain's studies started from version 1's best params, with retrain_trials each.
    warm = json.loads((workspace / "data/warm_start.json").read_text())
    assert warm == {"production_version": 1, "best_params": production_best}
    tune = yaml.safe_load((workspace / "params.yaml").read_text())["tune"]
    tuned = json.loads((workspace / "reports/tune.json").read_text())
    assert tuned["n_complete"] + tuned["n_pruned"] == 2 * min(tune["retrain_trials"],
                                                              tune["n_trials"])
    assert "trials from production's best params" in (workspace / "logs/tune.log").read_text()
    # The accepted rows joined the training set; the test set did not change.
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    assert metrics["test_rows"] == 4128
    # Nothing new since: the monitor sees no new data and training is skipped again.
    again = run(["dvc", "repro"], workspace)
    assert "Running stage 'prepare'" not in again.stdout
    assert monitoring(workspace)["reasons"] == ["no new production data"]
