"""Behaviour of a small tuned-family model on real data, not exact numbers."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from housing.config import FEATURES, TARGET
from housing.features.featurize import build_feature_pipeline
from housing.models.spaces import build_regressor


@pytest.fixture(scope="module")
def model_and_rows(housing_frame, small_featurize, tune_params):
    train = housing_frame.sample(n=5000, random_state=1)
    rows = housing_frame.drop(train.index).sample(n=500, random_state=2)
    features = build_feature_pipeline(small_featurize)
    X = features.fit_transform(train[list(FEATURES)])
    regressor = build_regressor("hist_gradient_boosting", {"max_iter": 200}, tune_params)
    model = Pipeline([("features", features), ("regressor", regressor.fit(X, train[TARGET]))])
    return model, rows


def test_richer_districts_are_not_predicted_cheaper(model_and_rows):
    model, rows = model_and_rows
    X = rows[list(FEATURES)]
    base = model.predict(X)
    richer = model.predict(X.assign(MedInc=X["MedInc"] * 1.5))
    assert richer.mean() > base.mean()
    assert (richer >= base - 0.25).mean() > 0.95


def test_coastal_premium(model_and_rows):
    """Moving the same districts next to San Francisco raises their average value."""
    model, rows = model_and_rows
    X = rows[list(FEATURES)]
    moved = X.assign(Latitude=37.77, Longitude=-122.42)
    assert model.predict(moved).mean() > model.predict(X).mean()


def test_predictions_stay_in_a_plausible_range(model_and_rows):
    model, rows = model_and_rows
    pred = model.predict(rows[list(FEATURES)])
    assert np.all(np.isfinite(pred))
    assert pred.min() > -1.0 and pred.max() < 7.0
