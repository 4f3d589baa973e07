"""The conformal interval around a fitted regressor (models/intervals)."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, cross_val_predict

from housing.models.intervals import IntervalRegressor, conformal_quantile, significant


def heteroscedastic(n: int, seed: int):
    """y = 2 x0 + noise whose spread grows tenfold with x1: some rows are hard."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, 3))
    y = 1 + 2 * X[:, 0] + rng.normal(scale=0.05 + 0.5 * X[:, 1], size=n)
    return X, y


def calibrated(X, y, coverage=0.9):
    folds = KFold(3, shuffle=True, random_state=0)
    oof = cross_val_predict(LinearRegression(), X, y, cv=folds)
    model = IntervalRegressor(LinearRegression().fit(X, y), coverage=coverage)
    return model.fit(X, y, oof=oof, folds=folds)


@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_new_rows_are_covered_at_the_target_rate(coverage):
    model = calibrated(*heteroscedastic(4000, 0), coverage=coverage)
    X, y = heteroscedastic(20_000, 1)
    point, lower, upper = model.predict_interval(X)
    np.testing.assert_array_equal(point, model.predict(X))
    covered = np.mean((y >= lower) & (y <= upper))
    assert abs(covered - coverage) < 0.015


def test_hard_rows_get_wider_intervals_than_easy_ones():
    model = calibrated(*heteroscedastic(4000, 0))
    X, _ = heteroscedastic(5000, 1)
    _, lower, upper = model.predict_interval(X)
    width = upper - lower
    hard, easy = X[:, 1] > 0.8, X[:, 1] < 0.2
    assert width[hard].mean() > 3 * width[easy].mean()


def test_the_fit_is_deterministic_and_rounded():
    X, y = heteroscedastic(2000, 0)
    a, b = calibrated(X, y), calibrated(X, y)
    assert a.quantile_ == b.quantile_ == round(a.quantile_, 6)
    np.testing.assert_array_equal(a.scale_.coef_, b.scale_.coef_)
    np.testing.assert_array_equal(a.scale_.coef_, significant(a.scale_.coef_))


def test_a_coverage_outside_0_and_1_is_refused():
    X, y = heteroscedastic(300, 0)
    with pytest.raises(ValueError, match="coverage"):
        calibrated(X, y, coverage=1.0)


def test_too_few_calibration_rows_for_the_coverage_is_an_error_not_an_infinite_interval():
    with pytest.raises(ValueError, match="too few"):
        conformal_quantile(np.ones(5), np.ones(5), 0.99)


def test_significant_keeps_nine_digits():
    assert significant(1.23456789123) == 1.23456789
    np.testing.assert_array_equal(significant(np.array([[1e-12 / 3]])), [[3.33333333e-13]])


def test_rows_outside_the_calibration_range_get_bounded_finite_intervals():
    model = calibrated(*heteroscedastic(2000, 0))
    X = np.array([[0.5, 0.5, 0.5], [0.5, 1e9, 0.5], [0.5, np.inf, 0.5], [0.5, np.nan, 0.5]])
    point = np.array([2.0, 2.0, 2.0, 2.0])
    half = model.half_width(X, point)
    assert np.all(np.isfinite(half)) and np.all(half > 0)
    assert half[1] == half[2] <= model.quantile_ * model.sigma_max_
    assert half[3] == model.quantile_ * model.sigma_max_
