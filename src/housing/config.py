"""Paths, names and deployment settings, in one place. Nothing here has side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from housing.environment import tool_environment

MODEL_NAME = "california-housing"
EXPERIMENT_NAME = "california-housing"
TARGET = "MedHouseVal"
FEATURES: tuple[str, ...] = (
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
)
TARGET_UNIT_USD = 100_000  # MedHouseVal is in units of 100,000 USD
ROW_ID = "row_id"  # each district's row in the raw data, carried through every split

# Relative to the project root (the DVC workspace).
PREDICTIONS_DIR = Path("data/predictions")
PRODUCTION_DIR = Path("data/production")
LOGS_DIR = Path("logs")


def _path(path: str, role: str) -> Any:
    return field(default=Path(path), metadata={"role": role})


def dep(path: str) -> Any:
    """A file or folder the stage reads; dvc.yaml lists it under ``deps``."""
    return _path(path, "dep")


def out(path: str) -> Any:
    """A file or folder the stage writes; dvc.yaml lists it (or the files in it) as outputs."""
    return _path(path, "out")


def external(path: str) -> Any:
    """State that arrives from outside the pipeline, read from the workspace (not a DVC dep)."""
    return _path(path, "external")


def local(path: str) -> Any:
    """What a stage writes about this machine's stores and production data: git-ignored,
    never in dvc.lock (a committed output depends only on what git and DVC hold), and
    resolved against the workspace, so experiments share it."""
    return _path(path, "local")


@dataclass(frozen=True)
class StagePaths:
    """Base of each stage's paths: the defaults are the paths dvc.yaml uses (tested)."""

    def role(self, role: str) -> dict[str, Path]:
        """The paths of one role (dep, out, external, local), by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["role"] == role}

    def resolved(self) -> StagePaths:
        """External and local state resolved against the workspace, so temp experiments
        see it too."""
        outside = {**self.role("external"), **self.role("local")}
        return replace(self, **{k: external_path(v) for k, v in outside.items()})


@dataclass(frozen=True)
class MonitorPaths(StagePaths):
    production_dir: Path = external("data/production")
    predictions_dir: Path = external("data/predictions")
    accepted: Path = out("data/accepted_batches.json")
    accepted_dir: Path = out("data/accepted")
    warm_start: Path = out("data/warm_start.json")
    metrics: Path = out("reports/monitoring.json")
    state: Path = local("reports/monitoring/latest.json")
    plots: Path = local("reports/monitoring/batches.csv")


@dataclass(frozen=True)
class PreparePaths(StagePaths):
    accepted: Path = dep("data/accepted_batches.json")
    accepted_dir: Path = dep("data/accepted")
    raw: Path = out("data/raw/california_housing.parquet")
    train: Path = out("data/processed/train.parquet")
    test: Path = out("data/processed/test.parquet")
    stream: Path = out("data/processed/stream.parquet")


@dataclass(frozen=True)
class FeaturizePaths(StagePaths):
    train: Path = dep("data/processed/train.parquet")
    matrix: Path = out("data/processed/train_features.parquet")
    featurizer: Path = out("models/featurizer.joblib")


@dataclass(frozen=True)
class TunePaths(StagePaths):
    matrix: Path = dep("data/processed/train_features.parquet")
    featurizer: Path = dep("models/featurizer.joblib")
    warm_start: Path = dep("data/warm_start.json")
    model: Path = out("models/model.joblib")
    best_params: Path = out("models/best_params.json")
    metrics: Path = out("reports/tune.json")


@dataclass(frozen=True)
class EvaluatePaths(StagePaths):
    model: Path = dep("models/model.joblib")
    train: Path = dep("data/processed/train.parquet")
    test: Path = dep("data/processed/test.parquet")
    metrics: Path = out("reports/metrics.json")
    plots_dir: Path = out("reports/plots")
    figures_dir: Path = out("reports/figures")


@dataclass(frozen=True)
class RegisterPaths(StagePaths):
    model: Path = dep("models/model.joblib")
    best_params: Path = dep("models/best_params.json")
    train: Path = dep("data/processed/train.parquet")
    test: Path = dep("data/processed/test.parquet")
    metrics: Path = dep("reports/metrics.json")
    registry: Path = local("reports/registry.json")


@dataclass(frozen=True)
class ReportPaths(StagePaths):
    metrics: Path = dep("reports/metrics.json")
    tune: Path = dep("reports/tune.json")
    best_params: Path = dep("models/best_params.json")
    monitoring: Path = dep("reports/monitoring.json")
    ablation: Path = dep("reports/ablation.md")
    raw: Path = dep("data/raw/california_housing.parquet")
    train: Path = dep("data/processed/train.parquet")
    test: Path = dep("data/processed/test.parquet")
    stream: Path = dep("data/processed/stream.parquet")
    model: Path = dep("models/model.joblib")
    report: Path = out("Project_Report.md")


# Everything that phones home by default, switched off for every entry point.
OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "NML_DISABLE_USAGE_LOGGING": "1",
    "DVC_NO_ANALYTICS": "1",
    # Not network, but noise in stage logs: per-file download bars for local artifacts.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}

_EXPS_TMP = (".dvc", "tmp", "exps")


# MLflow's HTTP client retries for minutes by default: a stage should fail within seconds.
FAIL_FAST_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def go_offline() -> None:
    """Switch off MLflow telemetry, NannyML usage logging and DVC analytics for this process,
    and make MLflow's HTTP client give up quickly (a user's own settings win)."""
    for key, value in {**OFFLINE_ENV, **FAIL_FAST_ENV}.items():
        os.environ.setdefault(key, value)


def workspace_root(start: Path | None = None) -> Path:
    """The user's DVC workspace, also from inside `dvc exp run --temp` or a queued experiment.

    DVC runs those in ``<workspace>/.dvc/tmp/exps/<tmpdir>``, a copy without git-ignored
    files; local stores (MLflow, Optuna) must resolve to the workspace so that every
    experiment logs to, and registers into, the same store.
    """
    here = Path(start or tool_environment().dvc_root or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - len(_EXPS_TMP) + 1):
        if parts[i : i + len(_EXPS_TMP)] == _EXPS_TMP:
            return Path(*parts[:i])
    return here


def external_path(path: Path | str) -> Path:
    """A path to state that arrives from outside the pipeline (production batches, labels,
    the prediction log), resolved against the workspace so temp experiments see it too."""
    path = Path(path)
    return path if path.is_absolute() else workspace_root() / path


@dataclass(frozen=True)
class Experiment:
    """The `dvc exp run` this process runs in (workspace, --temp or --queue)."""

    name: str
    baseline_rev: str


def experiment_context() -> Experiment | None:
    """The experiment DVC runs this stage in, from the variables DVC sets for its stages;
    None for a plain `dvc repro` or a hand-run stage."""
    env = tool_environment()
    return Experiment(env.dvc_exp_name, env.dvc_exp_baseline_rev) if env.dvc_exp_name else None


def tracking_uri() -> str:
    """MLflow tracking URI: MLFLOW_TRACKING_URI, else the workspace's embedded SQLite store."""
    return (tool_environment().mlflow_tracking_uri
            or f"sqlite:///{workspace_root() / 'mlflow.db'}")


def artifact_location() -> str | None:
    """Artifact root for new experiments in the embedded store (a server decides its own)."""
    if tool_environment().mlflow_tracking_uri:
        return None
    return (workspace_root() / "mlruns").as_uri()


def optuna_storage(configured: str = "") -> str:
    """Optuna storage URL: the configured one (any RDB or journal URL), else the embedded SQLite."""
    return configured or tool_environment().optuna_storage or (
        f"sqlite:///{workspace_root() / 'optuna.db'}"
    )
