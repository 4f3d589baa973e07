import numpy as np
import pytest

from housing.models.lgbm import LightGBMRegressor
from housing.models.tune import blend_weights, fit_ensemble


def test_blend_weights_are_nonnegative_and_prefer_the_better_member():
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    good, bad = y + rng.normal(scale=0.1, size=500), y + rng.normal(scale=1.0, size=500)
    weights = blend_weights(np.column_stack([good, bad]), y)
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    assert weights[0] > 0.8


def test_ensemble_blends_tuned_members(small_matrix, tune_params):
    _, X, y = small_matrix
    members = {"hist_gradient_boosting": {"params": {"max_iter": 50}},
               "lightgbm": {"params": {"n_estimators": 50}}}
    params = tune_params.model_copy(update={"log_target": True})
    model, weights, cv_mean, cv_std, oof = fit_ensemble(members, X, y, params)
    assert weights.shape == (2,) and weights.sum() == pytest.approx(1.0)
    assert 0 < cv_mean < 1.0 and cv_std >= 0
    assert model.predict(X).shape == (len(X),) and oof.shape == (len(X),)


def test_lightgbm_wrapper_is_deterministic_and_checks_width(small_matrix):
    import skops.io

    _, X, y = small_matrix
    a = LightGBMRegressor(n_estimators=30, subsample=0.8).fit(X, y)
    b = LightGBMRegressor(n_estimators=30, subsample=0.8).fit(X, y)
    assert a.model_text_ == b.model_text_
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    restored = skops.io.loads(skops.io.dumps(a), trusted=["housing.models.lgbm.LightGBMRegressor"])
    np.testing.assert_array_equal(restored.predict(X), a.predict(X))
    with pytest.raises(ValueError, match="features"):
        a.predict(X.iloc[:, :3])
