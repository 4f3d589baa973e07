"""tune's pure helpers: the portable fitted model and the warm start's params."""

import pickle

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.linear_model import Ridge

from housing.models import tune


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    return X, np.exp(0.3 * X[:, 0]) + rng.uniform(0.5, 1.0, size=300)


def test_portable_clears_every_recorded_thread_count_and_keeps_predictions():
    X, y = data()
    hgb = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    model = VotingRegressor([("hgb", hgb), ("log", TransformedTargetRegressor(
        regressor=HistGradientBoostingRegressor(max_iter=20, random_state=0),
        func=np.log, inverse_func=np.exp)), ("ridge", Ridge())]).fit(X, y)
    before = model.predict(X)
    assert model.estimators_[0]._bin_mapper.n_threads is not None
    assert tune.portable(model) is model
    assert model.estimators_[0]._bin_mapper.n_threads is None
    assert model.estimators_[1].regressor_._bin_mapper.n_threads is None
    assert (model.predict(X) == before).all()
    assert (pickle.loads(pickle.dumps(model)).predict(X) == before).all()


def test_warm_params_are_a_family_s_registered_best_params_rounded():
    warm = {"production_version": 3, "best_params": {"members": {
        "lightgbm": {"params": {"learning_rate": 0.0123456789012, "num_leaves": 40}},
        "hist_gradient_boosting": {"params": {}}}}}
    assert tune.warm_params(warm, "lightgbm") == {"learning_rate": 0.0123456789,
                                                  "num_leaves": 40}
    assert tune.warm_params(warm, "hist_gradient_boosting") == {}
    assert tune.warm_params(warm, "random_forest") == {}
    assert tune.warm_params({}, "lightgbm") == {}
