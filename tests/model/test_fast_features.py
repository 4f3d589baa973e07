"""The service's array path of the feature steps equals the Pipeline's own transform, bit for
bit, on every test-set row of the committed params (one row at a time, as the service
mostly sees them, and as one batch)."""

from __future__ import annotations

import numpy as np
import pytest

from housing.config import FEATURES, TARGET
from housing.deployment.fast_features import ArrayFeatures, UnsupportedFeatures


@pytest.fixture(scope="module")
def fitted(housing_frame, pipeline_params):
    from housing.data.split import split_dataset
    from housing.features.featurize import build_feature_pipeline

    prepare = pipeline_params.prepare
    splits = split_dataset(housing_frame, stream_fraction=prepare.stream_fraction,
                           seed=prepare.seed, train_sample_rows=prepare.train_sample_rows)
    features = build_feature_pipeline(pipeline_params.featurize)
    features.fit(splits.train[list(FEATURES)], splits.train[TARGET])
    return features, splits.test[list(FEATURES)]


def test_every_test_row_is_bit_identical(fitted):
    features, test = fitted
    assert "neighbors" in features.named_steps  # the committed params: every step type
    expected = features.transform(test).to_numpy()
    fast = ArrayFeatures(features, FEATURES)
    rows = test.to_numpy()
    one_at_a_time = np.vstack([fast.transform(rows[i:i + 1]) for i in range(len(rows))])
    assert one_at_a_time.shape == expected.shape == (len(test), len(fast.names))
    assert np.array_equal(one_at_a_time, expected)
    assert np.array_equal(fast.transform(rows), expected)
    assert list(fast.names) == list(features.transform(test.head(1)).columns)


def test_wrong_shapes_are_refused(fitted):
    fast = ArrayFeatures(fitted[0], FEATURES)
    with pytest.raises(ValueError, match="8 features"):
        fast.transform(np.ones((2, 7)))


def test_a_step_without_new_columns_is_unsupported(fitted):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, test = fitted
    mixed = Pipeline([*features.steps, ("scale", StandardScaler().fit(
        features.transform(test)))])
    with pytest.raises(UnsupportedFeatures, match="scale"):
        ArrayFeatures(mixed, FEATURES)
