"""MLflow's tracking store and Model Registry, behind one set of functions: tracking runs,
registered versions and their aliases and tags, and loading what a version holds.

Everything here imports MLflow lazily and reads its store from ``config.tracking_uri``
(MLFLOW_TRACKING_URI, else the workspace's embedded SQLite store)."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from housing.config import EXPERIMENT_NAME, artifact_location, experiment_context, tracking_uri
from housing.io import read_json
from housing.registry.serialization import load_skops_model

if TYPE_CHECKING:
    import pandas as pd

MODEL_ARTIFACT = "model"
REFERENCE_ARTIFACT = "reference/test_predictions.json"
RANGES_ARTIFACT = "feature_ranges.json"
BEST_PARAMS_ARTIFACT = "best_params.json"
DECISION_ARTIFACT = "promotion_decision.json"
# What loading and predicting with a registered version imports: the project (its
# transformers and the LightGBM wrapper), the skops format and the model libraries.
MODEL_DISTRIBUTIONS = ("housing", "scikit-learn", "skops", "lightgbm", "numpy", "pandas",
                       "scipy")


def model_requirements() -> list[str]:
    """The pip requirements logged with a version: ``MODEL_DISTRIBUTIONS`` pinned to the
    installed versions. Given explicitly, MLflow skips its inference, which loads the model
    again in a subprocess (about 7 s) and, because LightGBM is imported only when a
    member trains or predicts, leaves it out."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_DISTRIBUTIONS]


def client(uri: str | None = None):
    """An MlflowClient on ``uri``, or on the configured store."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri or tracking_uri())


def configure_tracking(experiment: str = EXPERIMENT_NAME) -> str:
    """Point MLflow's fluent API at the configured store and experiment; return its id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_location())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def experiment_tags() -> dict[str, str]:
    """Tags that name the `dvc exp run` this process runs in (none outside experiments)."""
    exp = experiment_context()
    return {} if exp is None else {"experiment": exp.name, "baseline_rev": exp.baseline_rev}


@contextlib.contextmanager
def tracking_run(run_name: str, *, tags: dict[str, Any] | None = None) -> Iterator[str]:
    """A run in the configured experiment, tagged with the DVC experiment; yields its id."""
    import mlflow

    tags = {k: str(v) for k, v in {**experiment_tags(), **(tags or {})}.items()}
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        yield run.info.run_id


@contextlib.contextmanager
def child_run(run_name: str, *, tags: dict[str, Any] | None = None) -> Iterator[str]:
    """A child of the active run (a tuning trial), tagged with the DVC experiment; yields
    its id. Created and ended through the client: one request each, and none of the
    fluent API's look-ups (source, git, user) that the parent run already holds. It ends
    FINISHED, or FAILED when its body raises."""
    import mlflow
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    parent = mlflow.active_run()
    if parent is None:
        raise RuntimeError(f"child run {run_name!r} outside a tracking run")
    tags = {k: str(v) for k, v in {**experiment_tags(), **(tags or {}),
                                    MLFLOW_PARENT_RUN_ID: parent.info.run_id}.items()}
    tracking = client()
    run_id = tracking.create_run(parent.info.experiment_id, run_name=run_name,
                                 tags=tags).info.run_id
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    finally:
        tracking.set_terminated(run_id, status)


def log(run_id: str, *, params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None, metrics: dict[str, float] | None = None) -> None:
    """Params, tags and metrics of a run in one request (a tracking server answers each
    request in tens of milliseconds)."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    client().log_batch(
        run_id, metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()])


# ---------------------------------------------------------------- registered versions

def register_model(model: Any, *, name: str, example: pd.DataFrame, predictions: Any,
                   reference: pd.DataFrame, trusted_types: list[str],
                   documents: dict[str, dict], params: dict[str, Any],
                   metrics: dict[str, float], tags: dict[str, str]) -> tuple[str, str]:
    """Log ``model`` in MLflow's skops format with its monitoring reference and documents,
    in a run of its own, and register it as a new version of ``name``: (version, run id)."""
    import mlflow
    from mlflow.models import infer_signature

    configure_tracking()
    with tracking_run("register", tags={"stage": "register", **tags}) as run_id:
        log(run_id, params=params, metrics={f"test_{k}": v for k, v in metrics.items()})
        info = mlflow.sklearn.log_model(
            model, name=MODEL_ARTIFACT, registered_model_name=name,
            signature=infer_signature(example, predictions[: len(example)]),
            input_example=example.head(3), serialization_format="skops",
            skops_trusted_types=trusted_types, pip_requirements=model_requirements())
        mlflow.log_table(reference, artifact_file=REFERENCE_ARTIFACT)
        for artifact, document in documents.items():
            mlflow.log_dict(document, artifact)
    return str(info.registered_model_version), run_id


def get_version(name: str, version: int | str):
    """A registered version; ValueError naming it when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version(name, str(version))
    except MlflowException as err:
        raise ValueError(f"{name} has no version {version}") from err


def version_by_alias(name: str, alias: str):
    """The version ``alias`` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def aliased_version(name: str, alias: str) -> str:
    """The version number ``alias`` points at now; the registry's own error when it names
    nothing or the registry cannot be reached (the service tells the two apart)."""
    return str(client().get_model_version_by_alias(name, alias).version)


def versions(name: str, *, experiment: str | None = None, uri: str | None = None) -> list:
    """Every version of ``name`` (of one DVC experiment, if given), oldest first."""
    from housing.registry.lookup import filter_literal

    search = f"name = '{filter_literal(name)}'" + (
        f" and tags.experiment = '{filter_literal(experiment)}'" if experiment else "")
    found = client(uri).search_model_versions(search, max_results=10_000)
    return sorted(found, key=lambda v: int(v.version))


def aliases(name: str) -> dict[str, int]:
    """Every alias of ``name`` and the version it names."""
    return {alias: int(v) for alias, v in client().get_registered_model(name).aliases.items()}


def version_metrics(mv) -> dict[str, float]:
    """The test metrics recorded on a version's tags (test_rmse, ...; not test_md5)."""
    return {k.removeprefix("test_"): float(v) for k, v in mv.tags.items()
            if k.startswith("test_") and k != "test_md5"}


def set_alias(name: str, alias: str, version: int | str) -> None:
    client().set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str) -> None:
    client().delete_registered_model_alias(name, alias)


def set_version_tags(name: str, version: int | str, tags: dict[str, Any]) -> None:
    c = client()
    for key, value in tags.items():
        c.set_model_version_tag(name, str(version), key, str(value))


# ---------------------------------------------------------------- what a version holds

def download_model(name: str, version: int | str, dst: Path) -> Path:
    """Download a version's skops file into the folder ``dst``; its path.

    The version's storage location comes from this module's client: MLflow resolves a
    ``models:/`` URI against its process-wide registry URI, which an earlier
    ``configure_tracking`` may have pointed at another store."""
    import mlflow

    location = client().get_model_version_download_uri(name, str(version))
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=location, dst_path=str(dst), tracking_uri=tracking_uri()))
    return local / "model.skops"


def load_model(name: str, version: int | str) -> Any:
    """Download a version's skops file and load it with the project's allow-list (the
    code's list, never the one stored beside the model)."""
    with tempfile.TemporaryDirectory(prefix="housing-model-") as tmp:
        return load_skops_model(download_model(name, version, Path(tmp)))


def reference_frame(run_id: str) -> pd.DataFrame:
    """The test features, targets and predictions logged with a registered version.

    Read from the run's artifacts through this module's client, as MLflow's ``load_table``
    reads them (JSON, pandas' split orient). ``load_table`` itself finds the run with the
    process-wide ``mlflow.search_runs``, whose store is the working directory's default
    unless something set it: in a queued experiment's copy that is an empty store."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="housing-reference-") as tmp:
        local = client().download_artifacts(run_id, REFERENCE_ARTIFACT, tmp)
        return pd.read_json(local, orient="split")


def run_document(run_id: str, artifact: str) -> dict:
    """A JSON document logged with a run ({} for a run logged without it)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        with tempfile.TemporaryDirectory(prefix="housing-document-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{client().get_run(run_id).info.artifact_uri}/{artifact}",
                dst_path=tmp, tracking_uri=tracking_uri())
            return read_json(local)
    except (MlflowException, OSError):
        return {}


def feature_ranges(run_id: str) -> dict[str, dict[str, float]]:
    """The training ranges logged with a version ({} for a version logged without)."""
    return run_document(run_id, RANGES_ARTIFACT)


def best_params(run_id: str) -> dict:
    """models/best_params.json as registered with a version ({} for one logged without)."""
    return run_document(run_id, BEST_PARAMS_ARTIFACT)


def run_data(run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(tags, params) of a run."""
    run = client().get_run(run_id)
    return dict(run.data.tags), dict(run.data.params)
