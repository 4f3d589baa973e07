"""The register stage and rollback: MLflow Model Registry I/O around the promotion gate."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from housing.config import FEATURES, MODEL_NAME, TARGET, RegisterPaths, tracking_uri
from housing.io import read_joblib, read_json, write_json
from housing.models.evaluate import regression_metrics
from housing.models.promotion import PRODUCTION, promotion_decision
from housing.models.serialization import load_registered_model, required_trusted_types
from housing.models.tracking import configure_mlflow, file_md5, git_commit
from housing.params import RegisterParams

logger = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
REFERENCE_ARTIFACT = "reference"
RANGES_ARTIFACT = "feature_ranges.json"


def feature_ranges(train: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Min and max of each raw feature over the training set (the service flags values outside)."""
    return {c: {"min": float(train[c].min()), "max": float(train[c].max())} for c in FEATURES}


def version_for_alias(client, alias: str, name: str = MODEL_NAME):
    """The ModelVersion that ``alias`` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def lineage_tags(*, data_paths: list[Path], model_path: Path) -> dict[str, str]:
    """Git commit and the DVC (md5) hashes of the data and model this version came from."""
    tags = {"git_commit": git_commit(), f"dvc_md5.{model_path.as_posix()}": file_md5(model_path)}
    tags.update({f"dvc_md5.{p.as_posix()}": file_md5(p) for p in data_paths})
    return tags


EVENT_TAG = "housing.event."


def record_event(client, model_name: str, version: int | str, event: dict) -> dict:
    """Record a registry decision or a rollback as a tag of the version it concerns, so
    every machine that reads the registry reads the same history."""
    now = dt.datetime.now(dt.UTC)
    event = {"at": now.isoformat(timespec="microseconds"), "model_name": model_name,
             "version": int(version), **event}
    client.set_model_version_tag(model_name, str(version),
                                 EVENT_TAG + now.strftime("%Y%m%dT%H%M%S.%fZ"),
                                 json.dumps(event, sort_keys=True))
    return event


def history(client, model_name: str = MODEL_NAME) -> list[dict]:
    """Every recorded registration and rollback of ``model_name``, oldest first."""
    events = [json.loads(value) for mv in client.search_model_versions(f"name='{model_name}'")
              for key, value in mv.tags.items() if key.startswith(EVENT_TAG)]
    return sorted(events, key=lambda e: e["at"])


def format_event(event: dict) -> str:
    """One line of `housing history`."""
    if event["event"] == "rollback":
        what = (f"rollback: production {event['previous']} -> {event['version']}"
                + (f" ({event['reason']})" if event.get("reason") else ""))
    else:
        what = (f"register version {event['version']}: {', '.join(event['aliases'])}; "
                f"RMSE {event['rmse']:.4f}" + (f" vs production {event['production_rmse']:.4f}"
                                               if event.get("production_rmse") else ""))
    return f"{event['at']}  {what}"


def run(params: RegisterParams, paths: RegisterPaths, *, model_name: str = MODEL_NAME) -> dict:
    """Register the tuned model, decide its aliases and record the decision."""
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    model = read_joblib(paths.model)
    test = pd.read_parquet(paths.test)
    X_test, y_test = test[list(FEATURES)], test[TARGET].to_numpy(dtype=float)
    candidate = read_json(paths.metrics)["model"]
    trusted = required_trusted_types(model)

    configure_mlflow()
    client = MlflowClient()
    current = version_for_alias(client, PRODUCTION, model_name)
    production = None
    if current is not None:
        production_model = load_registered_model(current.name, current.version)
        production = {"version": int(current.version),
                      **regression_metrics(y_test, production_model.predict(X_test))}
    decision = promotion_decision(candidate, production, params)

    predictions = model.predict(X_test)
    reference = test.assign(prediction=predictions)
    with mlflow.start_run(run_name="register") as run_:
        mlflow.set_tags({"stage": "register", **lineage_tags(
            data_paths=[paths.train, paths.test], model_path=paths.model)})
        mlflow.log_params(flatten({"register": params.model_dump(),
                                   "best": read_json(paths.best_params)}))
        mlflow.log_metrics({f"test_{k}": v for k, v in candidate.items()})
        info = mlflow.sklearn.log_model(
            model, name=MODEL_ARTIFACT, registered_model_name=model_name,
            signature=infer_signature(X_test, predictions),
            input_example=X_test.head(3), serialization_format="skops",
            skops_trusted_types=trusted,
        )
        # The monitoring reference (test features, targets, predictions) travels with the model.
        mlflow.log_table(reference, artifact_file=f"{REFERENCE_ARTIFACT}/test_predictions.json")
        mlflow.log_dict(decision.to_dict(), "promotion_decision.json")
        mlflow.log_dict(feature_ranges(pd.read_parquet(paths.train)), RANGES_ARTIFACT)
        run_id = run_.info.run_id

    version = str(info.registered_model_version)
    for alias in decision.aliases:
        client.set_registered_model_alias(model_name, alias, version)
    for key, value in candidate.items():
        client.set_model_version_tag(model_name, version, f"test_{key}", str(value))
    client.set_model_version_tag(model_name, version, "run_id", run_id)

    outcome = {"model_name": model_name, "version": int(version), "run_id": run_id,
               "trusted_types": trusted, **decision.to_dict()}
    write_json(outcome, paths.registry)
    record_event(client, model_name, version, {
        "event": "register", "aliases": list(decision.aliases), "promoted": decision.promoted,
        "reasons": list(decision.reasons), "rmse": candidate["rmse"], "run_id": run_id,
        "production_version": production["version"] if production else None,
        "production_rmse": production["rmse"] if production else None})
    logger.info("registered %s version %s with aliases %s", model_name, version,
                ", ".join(decision.aliases))
    return outcome


def rollback(*, version: int, reason: str = "", model_name: str = MODEL_NAME) -> dict:
    """Point the production alias back at an earlier registered version."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    configure_mlflow()
    client = MlflowClient()
    try:
        target = client.get_model_version(model_name, str(version))
    except MlflowException as err:
        raise ValueError(f"{model_name} has no version {version}") from err
    previous = version_for_alias(client, PRODUCTION, model_name)
    client.set_registered_model_alias(model_name, PRODUCTION, target.version)
    event = record_event(client, model_name, target.version, {
        "event": "rollback", "previous": int(previous.version) if previous else None,
        "reason": reason})
    logger.info("production alias of %s moved from %s to %s", model_name,
                event["previous"], target.version)
    return event


def reference_frame(run_id: str) -> pd.DataFrame:
    """The test features, targets and predictions logged with a registered version."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri())
    experiment_id = client.get_run(run_id).info.experiment_id
    return client.load_table(experiment_id, f"{REFERENCE_ARTIFACT}/test_predictions.json",
                             run_ids=[run_id])

