"""The featurize stage: build and fit the feature pipeline on training data only."""

from __future__ import annotations

import logging

import pandas as pd
from sklearn.pipeline import Pipeline

from housing.config import FEATURES, ROW_ID, TARGET, FeaturizePaths
from housing.features.neighbors import NeighborTargetFeatures
from housing.features.transformers import GeoFeatures, HouseholdRatios, LogFeatures
from housing.io import write_joblib, write_parquet
from housing.params import FeaturizeParams

logger = logging.getLogger(__name__)


def build_feature_pipeline(params: FeaturizeParams) -> Pipeline:
    """The feature steps of the served model, from featurize params."""
    steps = [
        ("ratios", HouseholdRatios()),
        ("logs", LogFeatures(columns=params.log_columns)),
        ("geo", GeoFeatures(rotation_angles=params.rotation_angles,
                            city_distances=params.city_distances)),
    ]
    if params.neighbor_ks:
        steps.append(("neighbors", NeighborTargetFeatures(
            ks=params.neighbor_ks, weighting=params.neighbor_weighting,
            coordinates=params.neighbor_coordinates, random_state=params.seed)))
    return Pipeline(steps)


def fit_features(train: pd.DataFrame, pipeline: Pipeline) -> tuple[Pipeline, pd.DataFrame]:
    """Fit ``pipeline`` on the training features; return it and the transformed matrix."""
    matrix = pipeline.fit_transform(train[list(FEATURES)], train[TARGET])
    return pipeline, matrix


def run(params: FeaturizeParams, paths: FeaturizePaths) -> None:
    """Fit the feature pipeline on the training set; write it and the training matrix.

    Neighbour-target features in the matrix are out-of-fold (see NeighborTargetFeatures).
    """
    train = pd.read_parquet(paths.train)
    pipeline, matrix = fit_features(train, build_feature_pipeline(params))
    matrix.insert(0, ROW_ID, train[ROW_ID].to_numpy())
    matrix[TARGET] = train[TARGET].to_numpy()
    write_parquet(matrix, paths.matrix)
    write_joblib(pipeline, paths.featurizer)
    logger.info("training matrix: %d rows x %d features", len(matrix), matrix.shape[1] - 2)
