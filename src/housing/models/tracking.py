"""MLflow set-up shared by the stages that track runs or touch the registry."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from housing.config import EXPERIMENT_NAME, artifact_location, tracking_uri


def configure_mlflow(experiment: str = EXPERIMENT_NAME) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_location())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def file_md5(path: Path) -> str:
    """MD5 of a file, as DVC records it in dvc.lock."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: Path | None = None) -> str:
    """The checked-out commit, or 'unknown' outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def redact_url(url: str) -> str:
    """A storage URL without credentials, fit for logging."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
