"""The featurize stage: build and fit the feature pipeline on training data only."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from housing.config import FEATURES, TARGET
from housing.data.split import ROW_ID
from housing.features.transformers import GeoFeatures, HouseholdRatios, LogFeatures
from housing.io import write_joblib, write_parquet

logger = logging.getLogger(__name__)


def build_feature_pipeline(
    *,
    log_columns: tuple[str, ...],
    rotation_angles: tuple[float, ...],
    city_distances: bool,
) -> Pipeline:
    """The feature steps of the served model, from featurize params."""
    return Pipeline([
        ("ratios", HouseholdRatios()),
        ("logs", LogFeatures(columns=tuple(log_columns))),
        ("geo", GeoFeatures(rotation_angles=tuple(float(a) for a in rotation_angles),
                            city_distances=city_distances)),
    ])


def fit_features(train: pd.DataFrame, pipeline: Pipeline) -> tuple[Pipeline, pd.DataFrame]:
    """Fit ``pipeline`` on the training features; return it and the transformed matrix."""
    X = train[list(FEATURES)]
    matrix = pipeline.fit_transform(X, train[TARGET])
    return pipeline, matrix


def run(*, train_path: Path, matrix_path: Path, featurizer_path: Path,
        log_columns: tuple[str, ...], rotation_angles: tuple[float, ...],
        city_distances: bool) -> None:
    """Fit the feature pipeline on the training set; write it and the training matrix."""
    train = pd.read_parquet(train_path)
    pipeline = build_feature_pipeline(
        log_columns=log_columns, rotation_angles=rotation_angles, city_distances=city_distances
    )
    pipeline, matrix = fit_features(train, pipeline)
    matrix.insert(0, ROW_ID, train[ROW_ID].to_numpy())
    matrix[TARGET] = train[TARGET].to_numpy()
    write_parquet(matrix, matrix_path)
    write_joblib(pipeline, featurizer_path)
    logger.info("training matrix: %d rows x %d features", len(matrix), matrix.shape[1] - 2)
