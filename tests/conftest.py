"""Shared fixtures: offline settings, the scikit-learn cache, small real data."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from housing.config import FEATURES, TARGET, go_offline

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    from tests.integration.conftest import default_data_cache

    go_offline()
    default_data_cache()


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


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A real MLflow store (SQLite plus a local artifact folder) in a temporary folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def build_small_model(train: pd.DataFrame, *, max_iter: int = 60):
    """A small served-shape Pipeline (feature steps + HGB) fitted on ``train``."""
    from sklearn.pipeline import Pipeline

    from housing.features.featurize import build_feature_pipeline
    from housing.models.spaces import build_regressor

    features = build_feature_pipeline(log_columns=("Population", "AveOccup"),
                                      rotation_angles=(30.0, 60.0), city_distances=True)
    X = features.fit_transform(train[list(FEATURES)])
    regressor = build_regressor("hist_gradient_boosting", {"max_iter": max_iter}, seed=0)
    return Pipeline([("features", features), ("regressor", regressor.fit(X, train[TARGET]))])


def register_small_model(workspace: Path, housing_frame: pd.DataFrame, *, max_iter: int = 60,
                         train_rows: int = 1500) -> dict:
    """Run the real register stage on a small model, inside ``workspace``."""
    from housing.data.split import split_dataset
    from housing.io import write_joblib, write_json, write_parquet
    from housing.models import registry
    from housing.models.evaluate import regression_metrics

    splits = split_dataset(housing_frame, stream_fraction=0.1, seed=0,
                           train_sample_rows=train_rows)
    model = build_small_model(splits.train, max_iter=max_iter)
    paths = {name: workspace / f"{name}.parquet" for name in ("train", "test")}
    write_parquet(splits.train, paths["train"])
    write_parquet(splits.test, paths["test"])
    write_joblib(model, workspace / "model.joblib")
    metrics = regression_metrics(splits.test[TARGET], model.predict(splits.test[list(FEATURES)]))
    write_json({"model": metrics}, workspace / "metrics.json")
    (workspace / "params.yaml").write_text("tune:\n  model: hist_gradient_boosting\n")
    return registry.run(model_path=workspace / "model.joblib", train_path=paths["train"],
                        test_path=paths["test"], metrics_path=workspace / "metrics.json",
                        params_path=workspace / "params.yaml",
                        registry_path=workspace / "registry.json", max_rmse=0.9, min_r2=0.3,
                        min_improvement=0.0)


@pytest.fixture(scope="session")
def registered_store(tmp_path_factory, housing_frame) -> Path:
    """A real MLflow store (SQLite + local artifacts) holding one production version."""
    workspace = tmp_path_factory.mktemp("registry")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workspace / 'mlflow.db'}"
    cwd = os.getcwd()
    os.chdir(workspace)
    try:
        register_small_model(workspace, housing_frame)
    finally:
        os.chdir(cwd)
    yield workspace
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
