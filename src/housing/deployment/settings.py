"""Deployment settings, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from housing.config import MODEL_NAME, PREDICTIONS_DIR, workspace_root


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError as err:
        raise ValueError(f"{name} must be an integer, got '{raw}'") from err


def _tree_cache(raw: str) -> Path | None:
    """HOUSING_TREE_CACHE: a directory, "off", or unset for the user's cache directory."""
    if raw.strip().lower() in {"off", "false", "0", "no"}:
        return None
    if raw.strip():
        return Path(raw.strip())
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "housing" / "trees"


@dataclass(frozen=True)
class Settings:
    model_name: str = MODEL_NAME
    model_alias: str = "production"
    api_key: str | None = None
    max_batch: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    prediction_log_dir: Path | None = None   # None: the prediction log is off
    poll_seconds: int = 60                   # 0: only reload on SIGHUP
    workspace: Path = Path(".")              # where the dashboard reads the monitor's outputs
    secure_cookies: bool = False             # mark the session cookie Secure (behind TLS)
    tree_cache: Path | None = None           # lleaves libraries; None: trees not compiled

    @classmethod
    def from_env(cls) -> Settings:
        """HOUSING_* variables; the MLflow store comes from MLFLOW_TRACKING_URI (see config)."""
        log_setting = os.environ.get("HOUSING_PREDICTION_LOG", "on").strip().lower()
        log_dir = None
        if log_setting not in {"off", "false", "0", "no"}:
            log_dir = Path(os.environ.get("HOUSING_PREDICTION_LOG_DIR")
                           or workspace_root() / PREDICTIONS_DIR)
        settings = cls(
            model_name=os.environ.get("HOUSING_MODEL_NAME", MODEL_NAME),
            model_alias=os.environ.get("HOUSING_MODEL_ALIAS", "production"),
            api_key=os.environ.get("HOUSING_API_KEY") or None,
            max_batch=_int("HOUSING_MAX_BATCH", 10_000),
            max_body_bytes=_int("HOUSING_MAX_BODY_BYTES", 8 * 1024 * 1024),
            prediction_log_dir=log_dir,
            poll_seconds=_int("HOUSING_MODEL_POLL_SECONDS", 60),
            workspace=Path(os.environ.get("HOUSING_WORKSPACE") or workspace_root()),
            secure_cookies=os.environ.get("HOUSING_SECURE_COOKIES", "").strip().lower()
            in {"1", "true", "yes", "on"},
            tree_cache=_tree_cache(os.environ.get("HOUSING_TREE_CACHE", "")),
        )
        if settings.max_batch < 1 or settings.max_body_bytes < 1 or settings.poll_seconds < 0:
            raise ValueError("HOUSING_MAX_BATCH and HOUSING_MAX_BODY_BYTES must be positive, "
                             "HOUSING_MODEL_POLL_SECONDS non-negative")
        return settings
