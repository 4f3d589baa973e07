"""The service's feature paths equal the Pipeline's own transform, bit for bit, on every
test-set row of the committed params: the row path (Python floats, one row, as the
service mostly sees them), and the array path one row at a time and as one batch."""

from __future__ import annotations

import numpy as np
import pytest

from housing.config import FEATURES, TARGET
from housing.deployment.predict.features import (
    ROW_PATH_MAX,
    ArrayFeatures,
    RowFeatures,
    UnsupportedFeatures,
)


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


def test_the_row_path_is_bit_identical_on_every_test_row(fitted):
    features, test = fitted
    expected = features.transform(test).to_numpy()
    fast = ArrayFeatures(features, FEATURES)
    assert fast.rows is not None  # every step of the committed params has a row kernel
    rows = np.array([fast.rows.transform(row) for row in test.to_numpy().tolist()])
    assert rows.shape == expected.shape
    assert np.array_equal(rows, expected)
    # small requests take it through transform; larger ones the array path
    assert np.array_equal(fast.transform(test.to_numpy()[:ROW_PATH_MAX]),
                          expected[:ROW_PATH_MAX])


def test_the_row_path_hands_non_finite_rows_to_the_array_path(fitted):
    features, test = fitted
    fast = ArrayFeatures(features, FEATURES)
    row = test.to_numpy()[:1].copy()
    row[0, FEATURES.index("AveOccup")] = 0.0  # per-person ratios divide by zero
    assert fast.rows.transform(row[0].tolist()) is None
    import pandas as pd

    with np.errstate(divide="ignore", invalid="ignore"):
        expected = features.transform(pd.DataFrame(row, columns=list(FEATURES))).to_numpy()
        np.testing.assert_array_equal(fast.transform(row), expected)  # inf and nan as NumPy


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
    got = np.array([fast.rows.transform(r) for r in rows.tolist()])
    assert np.array_equal(got, expected)
    assert np.signbit(got[0]).tolist() == np.signbit(expected[0]).tolist()


def test_steps_without_a_row_kernel_use_the_array_path(fitted, housing_frame):
    from sklearn.base import clone

    features, test = fitted
    degrees = clone(features).set_params(neighbors__coordinates="degrees")
    train = housing_frame.sample(n=3000, random_state=0)
    degrees.fit(train[list(FEATURES)], train[TARGET])
    with pytest.raises(UnsupportedFeatures, match="degrees"):
        RowFeatures([step for _, step in degrees.steps], FEATURES)
    fast = ArrayFeatures(degrees, FEATURES)
    assert fast.rows is None
    assert np.array_equal(fast.transform(test.to_numpy()[:1]),
                          degrees.transform(test.head(1)).to_numpy())


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
