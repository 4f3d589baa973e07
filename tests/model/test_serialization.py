import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline

from housing.config import FEATURES
from housing.models.spaces import MODEL_FAMILIES, build_regressor
from housing.registry.serialization import (
    TRUSTED_TYPES,
    UntrustedModelError,
    load_skops_model,
    required_trusted_types,
)

SMALL = {"hist_gradient_boosting": {"max_iter": 20}, "random_forest": {"n_estimators": 5},
         "lightgbm": {"n_estimators": 20},
         "elastic_net": {"alpha": 0.01}}


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_each_family_round_trips_through_skops(family, small_matrix, small_train, tmp_path,
                                               tune_params):
    import skops.io

    featurizer, X, y = small_matrix
    pipe = Pipeline([("features", featurizer),
                     ("regressor", build_regressor(family, SMALL[family], tune_params).fit(X, y))])
    needed = required_trusted_types(pipe)
    assert set(needed) <= TRUSTED_TYPES
    assert "housing.features.transformers.GeoFeatures" in needed
    path = tmp_path / "model.skops"
    skops.io.dump(pipe, path)
    loaded = load_skops_model(path)
    raw = small_train[list(FEATURES)]
    np.testing.assert_allclose(loaded.predict(raw), pipe.predict(raw))


class Smuggled(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_unknown_types_are_refused(small_matrix, tmp_path):
    import skops.io

    featurizer, X, y = small_matrix
    pipe = Pipeline([("features", featurizer), ("regressor", Smuggled().fit(X, y))])
    with pytest.raises(UntrustedModelError, match="Smuggled"):
        required_trusted_types(pipe)
    skops.io.dump(pipe, tmp_path / "m.skops")
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        load_skops_model(tmp_path / "m.skops")
