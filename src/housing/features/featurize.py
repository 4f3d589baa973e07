"""The featurize stage: build and fit the feature pipeline on training data only."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from housing.config import FEATURES, TARGET
from housing.data.split import ROW_ID
from housing.features.neighbors import NeighborTargetFeatures
from housing.features.transformers import GeoFeatures, HouseholdRatios, LogFeatures
from housing.io import write_joblib, write_parquet

logger = logging.getLogger(__name__)


def build_feature_pipeline(
    *,
    log_columns: tuple[str, ...],
    rotation_angles: tuple[float, ...],
    city_distances: bool,
    neighbor_ks: tuple[int, ...] = (),
    neighbor_weighting: str = "uniform",
    neighbor_coordinates: str = "sphere",
    seed: int = 0,
) -> Pipeline:
    """The feature steps of the served model, from featurize params."""
    steps = [
        ("ratios", HouseholdRatios()),
        ("logs", LogFeatures(columns=tuple(log_columns))),
        ("geo", GeoFeatures(rotation_angles=tuple(float(a) for a in rotation_angles),
                            city_distances=city_distances)),
    ]
    if neighbor_ks:
        steps.append(("neighbors", NeighborTargetFeatures(
            ks=tuple(int(k) for k in neighbor_ks), weighting=neighbor_weighting,
            coordinates=neighbor_coordinates, random_state=seed)))
    return Pipeline(steps)


def fit_features(train: pd.DataFrame, pipeline: Pipeline) -> tuple[Pipeline, pd.DataFrame]:
    """Fit ``pipeline`` on the training features; return it and the transformed matrix."""
    X = train[list(FEATURES)]
    matrix = pipeline.fit_transform(X, train[TARGET])
    return pipeline, matrix


def run(*, train_path: Path, matrix_path: Path, featurizer_path: Path,
        log_columns: tuple[str, ...], rotation_angles: tuple[float, ...],
        city_distances: bool, neighbor_ks: tuple[int, ...] = (),
        neighbor_weighting: str = "uniform", neighbor_coordinates: str = "sphere",
        seed: int = 0) -> None:
    """Fit the feature pipeline on the training set; write it and the training matrix.

    Neighbour-target features in the matrix are out-of-fold (see NeighborTargetFeatures).
    """
    train = pd.read_parquet(train_path)
    pipeline = build_feature_pipeline(
        log_columns=log_columns, rotation_angles=rotation_angles, city_distances=city_distances,
        neighbor_ks=neighbor_ks, neighbor_weighting=neighbor_weighting,
        neighbor_coordinates=neighbor_coordinates, seed=seed,
    )
    pipeline, matrix = fit_features(train, pipeline)
    matrix.insert(0, ROW_ID, train[ROW_ID].to_numpy())
    matrix[TARGET] = train[TARGET].to_numpy()
    write_parquet(matrix, matrix_path)
    write_joblib(pipeline, featurizer_path)
    logger.info("training matrix: %d rows x %d features", len(matrix), matrix.shape[1] - 2)
