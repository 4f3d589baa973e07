"""The real `dvc repro`, `dvc exp run` and `dvc queue` in a temporary git copy, with small
params, and the release steps and review report on what they register."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from housing.dev.workspace import ALWAYS_RUN, TRAINING_STAGES, clean_env, model_versions, run

pytestmark = pytest.mark.slow

NAME = "california-housing"


def registry_client(workspace: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")


def alias_version(workspace: Path, alias: str) -> int:
    client = registry_client(workspace)
    return int(client.get_model_version_by_alias(NAME, alias).version)


def version_tags(workspace: Path, version: int) -> dict[str, str]:
    return registry_client(workspace).get_model_version(NAME, str(version)).tags


def test_outputs_exist(pipeline_workspace):
    ws = pipeline_workspace
    for rel in ["data/raw/california_housing.parquet", "data/processed/train.parquet",
                "data/processed/test.parquet", "data/processed/stream.parquet",
                "models/model.joblib", "models/best_params.json", "reports/metrics.json",
                "reports/registry.json", "reports/plots/predictions.csv",
                "reports/figures/predicted_vs_actual.png", "logs/tune.log",
                "Project_Report.md"]:
        assert (ws / rel).is_file(), rel
    lock = (ws / "dvc.lock").read_text()
    for stage in ("monitor", *TRAINING_STAGES, "register", "report"):
        assert f"  {stage}:" in lock
    assert "reports/registry.json" not in lock  # this machine's store: in no lock
    report = (ws / "Project_Report.md").read_text()
    metrics = json.loads((ws / "reports/metrics.json").read_text())
    assert f"**{metrics['model']['rmse']:.4f}**" in report and "TabR" in report
    assert "This model passes the thresholds" in report
    assert not re.search(r"version \d", report)  # the registry's state is not the report's


def test_metrics_are_sane(pipeline_workspace):
    metrics = json.loads((pipeline_workspace / "reports/metrics.json").read_text())
    model, base = metrics["model"], metrics["baselines"]
    assert metrics["test_rows"] == 4128
    assert model["rmse"] < base["linear_regression"]["rmse"] < base["mean"]["rmse"]
    assert 0.6 < model["r2"] < 1.0


def test_first_model_is_in_production(pipeline_workspace):
    decision = json.loads((pipeline_workspace / "reports/registry.json").read_text())
    assert decision["aliases"] == ["staging", "production"] and decision["registered"]
    assert model_versions(pipeline_workspace) == [1]
    assert alias_version(pipeline_workspace, "production") == 1
    tags = version_tags(pipeline_workspace, 1)
    assert float(tags["test_rmse"]) == pytest.approx(decision["candidate"]["rmse"])
    assert tags["fingerprint"] == decision["fingerprint"] and "experiment" not in tags


def test_second_repro_trains_nothing_and_registers_nothing(pipeline_workspace):
    """monitor and register always run (they read the registry); training is skipped, the
    store already holds the model, and dvc.lock stays as it is."""
    ws = pipeline_workspace
    locks = []
    for _ in range(2):
        result = run(["dvc", "repro"], ws)
        for stage in ALWAYS_RUN:
            assert f"Running stage '{stage}'" in result.stdout
        for stage in TRAINING_STAGES:
            assert f"Stage '{stage}' didn't change, skipping" in result.stdout
        assert "already holds this model" in result.stderr
        locks.append((ws / "dvc.lock").read_text())
    assert locks[0] == locks[1]
    assert set(json.loads(run(["dvc", "status", "--json"], ws).stdout)) == set(ALWAYS_RUN)
    assert model_versions(ws) == [1]


def test_evaluate_param_reruns_only_evaluate(pipeline_workspace):
    ws = pipeline_workspace
    params = (ws / "params.yaml").read_text()
    try:
        (ws / "params.yaml").write_text(params.replace("permutation_repeats: 1",
                                                       "permutation_repeats: 2"))
        changed = json.loads(run(["dvc", "status", "--json"], ws).stdout)
        assert set(changed) == {*ALWAYS_RUN, "evaluate"}
    finally:
        (ws / "params.yaml").write_text(params)


def test_metrics_diff_shows_the_model_and_no_production_batches(pipeline_workspace):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], pipeline_workspace).stdout)
    metrics = shown[next(iter(shown))]["data"]
    assert set(metrics) == {"reports/metrics.json", "reports/tune.json",
                            "reports/monitoring.json"}
    assert metrics["reports/monitoring.json"]["data"] == {
        "accepted_batches": 0, "accepted_rows": 0, "quarantined_batches": 0,
        "quarantined_rows": 0, "unreliable_estimates": 0}


def test_exp_run_registers_a_tagged_version_and_leaves_production(pipeline_workspace):
    ws = pipeline_workspace
    result = run(["dvc", "exp", "run", "-n", "try-elastic", "-S", "tune.model=elastic_net"], ws)
    assert "Running stage 'tune'" in result.stdout
    assert "Running stage 'prepare'" not in result.stdout
    assert model_versions(ws) == [1, 2]
    decision = json.loads((ws / "reports/registry.json").read_text())
    assert decision["experiment"] == "try-elastic" and decision["aliases"] == []
    assert decision["would_promote"] == (
        decision["candidate"]["rmse"] < decision["production"]["rmse"])
    assert alias_version(ws, "production") == 1 and alias_version(ws, "staging") == 1
    tags = version_tags(ws, 2)
    assert tags["experiment"] == "try-elastic" and len(tags["baseline_rev"]) == 40
    assert "elastic_net" in run(["dvc", "exp", "show", "--json"], ws).stdout
    history = run(["housing", "history"], ws).stdout
    assert "register version 2 in experiment try-elastic" in history


def test_review_report_compares_with_base_and_production(pipeline_workspace):
    ws = pipeline_workspace
    run(["housing", "review", "--base", "HEAD", "--out", "review"], ws)
    report = (ws / "review/report.md").read_text()
    assert "| params.yaml | tune.model | ensemble | elastic_net |" in report
    assert "| reports/metrics.json | model.rmse |" in report
    assert "accepted" not in report and "batch" not in report.lower()
    assert "| rmse |" in report and "(version 1)" in report
    assert "Release gate: **" in report
    # The evaluate stage's own figures, the base's (as git holds them) beside the change's.
    figures = sorted((ws / "reports/figures").glob("*.png"))
    assert len(figures) == 4
    for figure in figures:
        slug = figure.stem.replace("_", "-")
        base = ws / "review/plots" / f"{slug}-base.png"
        change = ws / "review/plots" / f"{slug}-change.png"
        assert base.read_bytes() == subprocess.run(
            ["git", "show", f"HEAD:{figure.relative_to(ws)}"], cwd=ws, capture_output=True,
            check=True).stdout
        assert change.read_bytes() == figure.read_bytes() != base.read_bytes()
        assert f"(plots/{base.name})" in report and f"(plots/{change.name})" in report


def test_plots_page_draws_offline(pipeline_workspace):
    """`dvc plots show` writes a page whose charts draw with every network request refused."""
    from housing.dev.browser import chromium, chromium_path

    ws = pipeline_workspace
    run(["dvc", "plots", "show"], ws)
    page_file = ws / "dvc_plots/index.html"
    assert "cdn.jsdelivr" not in page_file.read_text()
    if chromium_path() is None:
        reason = "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
        pytest.skip(reason)
    requested: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.route("**/*", lambda route: (requested.append(route.request.url),
                                          route.abort() if not route.request.url.startswith(
                                              "file:") else route.continue_()))
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_file.as_uri())
        page.wait_for_selector(".vega-embed svg, .vega-embed canvas", timeout=30_000)
        drawn = page.locator(".vega-embed").count()
    assert drawn >= 4 and not errors
    assert [u for u in requested if not u.startswith("file:")] == []


def test_promote_and_rollback_from_the_cli(pipeline_workspace):
    ws = pipeline_workspace
    refused = run(["housing", "promote", "--experiment", "try-elastic", "--reason", "try"],
                  ws, check=False)
    decision = json.loads((ws / "reports/registry.json").read_text())
    if not decision["would_promote"]:
        assert refused.returncode == 1 and "the gate refuses version 2" in refused.stderr
        run(["housing", "promote", "--version", "2", "--reason", "drill", "--force"], ws)
    assert alias_version(ws, "production") == 2
    run(["housing", "rollback", "--version", "1", "--reason", "drill over"], ws)
    assert alias_version(ws, "production") == 1
    lines = run(["housing", "history"], ws).stdout.splitlines()
    assert "promote: production 1 -> 2" in lines[-2] and "rollback: production 2 -> 1" in lines[-1]


def test_temp_experiment_logs_to_the_workspace_store(pipeline_workspace):
    ws = pipeline_workspace
    before = model_versions(ws)
    run(["dvc", "exp", "run", "--temp", "-S", "tune.model=random_forest"], ws)
    after = model_versions(ws)
    assert after == [*before, before[-1] + 1]
    tags = version_tags(ws, after[-1])
    assert "test_rmse" in tags and tags["experiment"]
    assert alias_version(ws, "production") == 1
    assert not list((ws / ".dvc").rglob("mlflow.db"))


def answer_production_traffic(workspace: Path, rows: int = 600) -> None:
    """Rows the service answered, written by the service's own prediction log into the
    workspace's data/predictions: what a workspace next to a running service holds."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    from housing.config import FEATURES
    from housing.deployment.prediction_log import PredictionLog

    stream = pd.read_parquet(workspace / "data/processed/stream.parquet").head(rows)
    log = PredictionLog(workspace / "data/predictions")
    matrix = stream[list(FEATURES)].to_numpy(dtype=float)
    for i in range(0, rows, 50):
        log.write(request_id=f"r{i}", model_version="1", rows=matrix[i:i + 50],
                  predictions=np.full(len(matrix[i:i + 50]), 2.0), source=(None, 0, f"r{i}", None),
                  timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
    log.close()


def test_queued_sweep_runs_two_at_a_time_and_never_moves_production(pipeline_workspace):
    """With production traffic in the workspace: each queued experiment's monitor stage
    reads production's reference from the workspace's registry (in the copy DVC runs it
    in, where MLflow's process-wide default store is empty)."""
    ws = pipeline_workspace
    answer_production_traffic(ws)
    before = model_versions(ws)
    staging = alias_version(ws, "staging")
    run(["dvc", "exp", "run", "--queue", "-S", "tune.n_trials=2", "-S", "tune.cv_folds=2",
         "-S", "tune.n_threads=1", "-S", "tune.model=hist_gradient_boosting,lightgbm"], ws)
    # The queue's workers outlive `dvc queue start` and inherit its output: a pipe would
    # stay open until they exit, so its output goes to a file.
    with open(ws.parent / "queue-start.log", "w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=ws, env=clean_env(ws),
                       stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
    deadline = time.monotonic() + 600
    while True:
        status = run(["dvc", "queue", "status"], ws).stdout
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(3)
    assert status.count("Success") >= 2 and "Failed" not in status, status
    logs = "".join(run(["dvc", "queue", "logs", name], ws, check=False).stdout
                   for name in _queued_names(status))
    assert "database is locked" not in logs
    after = model_versions(ws)
    assert after == [*before, before[-1] + 1, before[-1] + 2]
    names = {version_tags(ws, v)["experiment"] for v in after[-2:]}
    assert names == set(_queued_names(status))
    assert alias_version(ws, "production") == 1 and alias_version(ws, "staging") == staging
    client = registry_client(ws)
    experiment_id = client.get_experiment_by_name(NAME).experiment_id
    for name in names:
        runs = client.search_runs([experiment_id], f"tags.experiment = '{name}'")
        assert {r.data.tags.get("mlflow.runName") for r in runs} >= {"register"}
        assert any(r.data.tags.get("mlflow.runName", "").startswith("trial-") for r in runs)


def _queued_names(status: str) -> list[str]:
    """Experiment names of the finished rows of `dvc queue status`."""
    return [line.split()[1] for line in status.splitlines()
            if line.split() and "Success" in line]
