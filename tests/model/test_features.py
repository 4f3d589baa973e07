"""The service's feature path equals the Pipeline's own transform, bit for bit, on every
test-set row of the committed params: one row at a time (as the service mostly sees
them) and as one batch."""

from __future__ import annotations

import numpy as np
import pytest

from housing.config import FEATURES, TARGET
from housing.deployment.predict.features import ArrayFeatures, UnsupportedFeatures


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


def test_non_finite_rows_keep_numpy_semantics(fitted):
    import pandas as pd

    features, test = fitted
    fast = ArrayFeatures(features, FEATURES)
    row = test.to_numpy()[:1].copy()
    row[0, FEATURES.index("AveOccup")] = 0.0  # per-person ratios divide by zero
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = features.transform(pd.DataFrame(row, columns=list(FEATURES))).to_numpy()
        got = fast.transform(row)
    assert not np.isfinite(got).all()
    np.testing.assert_array_equal(got, expected)  # inf and nan as NumPy


def test_negative_zero_and_extremes_match_the_pipeline(fitted):
    import pandas as pd

    features, test = fitted
    fast = ArrayFeatures(features, FEATURES)
    rows = np.repeat(test.to_numpy()[:1], 4, axis=0)
    rows[0, FEATURES.index("Population")] = -0.0  # log1p of clip(-0.0) is log1p(0.0)
    rows[1, FEATURES.index("AveBedrms")] = -3.5   # clipped to 0 before log1p
    rows[2, FEATURES.index("Latitude")] = 89.999  # far from every district
    rows[3, FEATURES.index("Longitude")] = 179.9
    expected = features.transform(pd.DataFrame(rows, columns=list(FEATURES))).to_numpy()
    got = np.vstack([fast.transform(rows[i:i + 1]) for i in range(len(rows))])
    assert np.array_equal(got, expected)
    assert np.signbit(got[0]).tolist() == np.signbit(expected[0]).tolist()


def test_flat_map_neighbours_are_bit_identical_too(fitted, housing_frame):
    from sklearn.base import clone

    features, test = fitted
    degrees = clone(features).set_params(neighbors__coordinates="degrees")
    train = housing_frame.sample(n=3000, random_state=0)
    degrees.fit(train[list(FEATURES)], train[TARGET])
    fast = ArrayFeatures(degrees, FEATURES)
    rows = test.to_numpy()[:200]
    expected = degrees.transform(test.head(200)).to_numpy()
    assert np.array_equal(fast.transform(rows[:1]), expected[:1])
    assert np.array_equal(fast.transform(rows), expected)


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
