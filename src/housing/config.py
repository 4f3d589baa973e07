"""Paths, names and deployment settings, in one place. Nothing here has side effects."""

from __future__ import annotations

import os
from pathlib import Path

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
TARGET_UNIT_USD = 100_000

# Relative to the project root; dvc.yaml passes the same paths on the command line.
RAW_DIR = Path("data/raw")
PROCESSED_DIR = Path("data/processed")
PREDICTIONS_DIR = Path("data/predictions")
PRODUCTION_DIR = Path("data/production")
MODELS_DIR = Path("models")
REPORTS_DIR = Path("reports")
FIGURES_DIR = REPORTS_DIR / "figures"
LOGS_DIR = Path("logs")

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


def go_offline() -> None:
    """Switch off MLflow telemetry, NannyML usage logging and DVC analytics for this process."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def workspace_root(start: Path | None = None) -> Path:
    """The user's DVC workspace, also from inside `dvc exp run --temp` or a queued experiment.

    DVC runs those in ``<workspace>/.dvc/tmp/exps/<tmpdir>``, a copy without git-ignored
    files; local stores (MLflow, Optuna) must resolve to the workspace so that every
    experiment logs to, and registers into, the same store.
    """
    here = Path(start or os.environ.get("DVC_ROOT") or Path.cwd()).resolve()
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


def tracking_uri() -> str:
    """MLflow tracking URI: MLFLOW_TRACKING_URI, else the workspace's embedded SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workspace_root() / 'mlflow.db'}"


def artifact_location() -> str | None:
    """Artifact root for new experiments in the embedded store (a server decides its own)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (workspace_root() / "mlruns").as_uri()


def optuna_storage(configured: str = "") -> str:
    """Optuna storage URL: the configured one (any RDB or journal URL), else the embedded SQLite."""
    return configured or os.environ.get("OPTUNA_STORAGE") or (
        f"sqlite:///{workspace_root() / 'optuna.db'}"
    )


def promotion_history_path() -> Path:
    """The append-only log of registry decisions, beside the embedded store."""
    return workspace_root() / "registry" / "promotions.jsonl"
