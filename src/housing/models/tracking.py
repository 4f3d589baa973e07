"""MLflow set-up shared by the stages that track runs or touch the registry."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.parse
import urllib.request
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


def alias_version(name: str, alias: str, uri: str | None = None) -> int | None:
    """The version number an alias names, or None: a registry look-up without importing
    MLflow (over a second on every run of the always-run monitor stage).

    An embedded SQLite store is read through MLflow's alias table, read-only; a tracking
    server through MLflow's REST API; any other store through MlflowClient.
    """
    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):
        return _sqlite_alias_version(Path(uri.removeprefix("sqlite:///")), name, alias)
    if uri.startswith(("http://", "https://")):
        return _rest_alias_version(uri, name, alias)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return int(MlflowClient(uri).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _sqlite_alias_version(db: Path, name: str, alias: str) -> int | None:
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            row = conn.execute("SELECT version FROM registered_model_aliases "
                               "WHERE name = ? AND alias = ?", (name, alias)).fetchone()
        except sqlite3.OperationalError:  # a store MLflow has not initialised yet
            return None
    return int(row[0]) if row else None


def _rest_alias_version(server: str, name: str, alias: str) -> int | None:
    query = urllib.parse.urlencode({"name": name, "alias": alias})
    request = urllib.request.Request(
        f"{server.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}")
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(json.loads(response.read())["model_version"]["version"])
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            error = json.loads(body)
        except ValueError:
            error = {}
        # No such model (404, RESOURCE_DOES_NOT_EXIST) or alias (400, "... not found")
        if err.code == 404 or error.get("error_code") == "RESOURCE_DOES_NOT_EXIST" or (
                err.code == 400 and "not found" in str(error.get("message", ""))):
            return None
        raise RuntimeError(f"MLflow tracking server {redact_url(server)} answered {err.code} "
                           f"to the alias look-up: {body[:200]!r}") from err
    except urllib.error.URLError as err:
        raise RuntimeError(f"MLflow tracking server {redact_url(server)} is unreachable: "
                           f"{err.reason}") from err
