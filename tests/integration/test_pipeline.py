"""The real `dvc repro` and `dvc exp run` in a temporary git copy, with small params."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from housing.workspace import TRAINING_STAGES, model_versions, run

pytestmark = pytest.mark.slow


def registry_client(workspace: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")


def alias_version(workspace: Path, alias: str) -> int:
    client = registry_client(workspace)
    return int(client.get_model_version_by_alias("california-housing", alias).version)


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
    for stage in ("monitor", *TRAINING_STAGES, "report"):
        assert f"  {stage}:" in lock
    report = (ws / "Project_Report.md").read_text()
    metrics = json.loads((ws / "reports/metrics.json").read_text())
    assert f"**{metrics['model']['rmse']:.4f}**" in report and "TabR" in report


def test_metrics_are_sane(pipeline_workspace):
    metrics = json.loads((pipeline_workspace / "reports/metrics.json").read_text())
    model, base = metrics["model"], metrics["baselines"]
    assert metrics["test_rows"] == 4128
    assert model["rmse"] < base["linear_regression"]["rmse"] < base["mean"]["rmse"]
    assert 0.6 < model["r2"] < 1.0


def test_first_model_is_in_production(pipeline_workspace):
    decision = json.loads((pipeline_workspace / "reports/registry.json").read_text())
    assert decision["aliases"] == ["challenger", "staging", "production"]
    assert model_versions(pipeline_workspace) == [1]
    assert alias_version(pipeline_workspace, "production") == 1
    tags = registry_client(pipeline_workspace).get_model_version("california-housing", "1").tags
    assert float(tags["test_rmse"]) == pytest.approx(decision["candidate"]["rmse"])


def test_second_repro_runs_only_the_monitor(pipeline_workspace):
    """monitor always runs (it reads the registry and new data); training is skipped."""
    ws = pipeline_workspace
    locks = []
    # The first of these sees the model the first run registered (its report says so);
    # after that nothing outside changes, so neither does dvc.lock.
    for _ in range(2):
        result = run(["dvc", "repro"], ws)
        assert "Running stage 'monitor'" in result.stdout
        for stage in TRAINING_STAGES:
            assert f"Running stage '{stage}'" not in result.stdout
            assert f"Stage '{stage}' didn't change, skipping" in result.stdout
        locks.append((ws / "dvc.lock").read_text())
    assert locks[0] == locks[1]
    assert set(json.loads(run(["dvc", "status", "--json"], ws).stdout)) == {"monitor"}
    assert model_versions(ws) == [1]


def test_evaluate_param_reruns_only_evaluate(pipeline_workspace):
    ws = pipeline_workspace
    params = (ws / "params.yaml").read_text()
    try:
        (ws / "params.yaml").write_text(params.replace("permutation_repeats: 1",
                                                       "permutation_repeats: 2"))
        changed = json.loads(run(["dvc", "status", "--json"], ws).stdout)
        assert set(changed) == {"monitor", "evaluate"}
    finally:
        (ws / "params.yaml").write_text(params)


def test_exp_run_with_another_family_registers_in_the_same_store(pipeline_workspace):
    ws = pipeline_workspace
    result = run(["dvc", "exp", "run", "-S", "tune.model=elastic_net"], ws)
    assert "Running stage 'tune'" in result.stdout
    assert "Running stage 'prepare'" not in result.stdout
    assert model_versions(ws) == [1, 2]
    best = json.loads((ws / "models/best_params.json").read_text())
    assert best["model"] == "elastic_net"
    decision = json.loads((ws / "reports/registry.json").read_text())
    # The gate never promotes a model that does not beat production.
    assert decision["promoted"] == (decision["candidate"]["rmse"] < decision["production"]["rmse"])
    shown = run(["dvc", "exp", "show", "--json"], ws).stdout
    assert "elastic_net" in shown


def test_temp_experiment_logs_to_the_workspace_store(pipeline_workspace):
    ws = pipeline_workspace
    before = model_versions(ws)
    run(["dvc", "exp", "run", "--temp", "-S", "tune.model=random_forest"], ws)
    after = model_versions(ws)
    assert after == [*before, before[-1] + 1]
    tags = registry_client(ws).get_model_version("california-housing", str(after[-1])).tags
    assert "test_rmse" in tags
    assert not list((ws / ".dvc").rglob("mlflow.db"))
