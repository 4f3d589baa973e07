"""models.ensemble: the one walk through a fitted regressor, on a real small blend inside a
log target inside an interval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_predict

from housing.models.ensemble import fold, tree_members
from housing.models.intervals import IntervalRegressor


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(400, 3)), rng.uniform(0.5, 5, 400)
    blend = VotingRegressor([("hgb", HistGradientBoostingRegressor(max_iter=3)),
                             ("ridge", Ridge())], weights=[0.75, 0.25])
    point = TransformedTargetRegressor(blend, func=np.log, inverse_func=np.exp)
    oof = cross_val_predict(point, X, y, cv=3)
    model = IntervalRegressor(point.fit(X, y), coverage=0.9).fit(X, y, oof=oof, folds=3)
    return model, X


def test_the_members_are_the_models_at_the_bottom(fitted):
    model, _ = fitted
    assert [type(m).__name__ for m in tree_members(model)] == [
        "HistGradientBoostingRegressor", "Ridge"]


def test_a_fold_rebuilds_the_point_prediction(fitted):
    model, X = fitted

    def blended(node, parts):
        weights = np.asarray(node.weights) / np.sum(node.weights)
        return np.column_stack(parts) @ weights

    point = fold(model, leaf=lambda member: member.predict(X), blended=blended,
                 transformed=lambda node, inner: node.inverse_func(inner))
    np.testing.assert_allclose(point, model.regressor_.predict(X), rtol=1e-12)
