"""Prediction intervals: normalised split-conformal calibration on out-of-fold residuals.

The served model's last step is an ``IntervalRegressor``: the tuned regressor, unchanged,
and a half-width ``quantile_ * sigma(x)`` around its prediction, where

- ``sigma(x) = exp(linear(x, prediction, log prediction))`` estimates how hard a district
  is: a ridge fit of log |residual| on the engineered features and the point prediction
  (the neighbour-target spread and the price level carry most of it);
- ``quantile_`` is the conformal quantile of the normalised scores |residual| / sigma at
  the configured coverage, computed by crepes from the tune stage's out-of-fold residuals
  and out-of-fold sigmas (the same K folds), so no row calibrates a sigma it trained.

With exchangeable rows, ``[prediction - half, prediction + half]`` covers the true value
at the configured rate (up to the finite-sample correction crepes applies); adaptivity
comes from sigma. The served path (deployment/predict) calls the same ``half_width`` on
the same feature matrix, so its interval is the Pipeline's.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

# Added to |residual| before the log: a residual of exactly 0 has no logarithm.
RESIDUAL_FLOOR = 1e-3
# Predictions below this are taken at it inside the log (the target's minimum is 0.15).
PREDICTION_FLOOR = 0.1


def significant(values, digits: int = 9):
    """``values`` rounded to ``digits`` significant digits (an array, or a float)."""
    rounded = np.array([float(f"{v:.{digits}g}") for v in np.ravel(values)])
    return rounded.reshape(np.shape(values)) if np.ndim(values) else float(rounded[0])


def scale_inputs(X, point: np.ndarray) -> np.ndarray:
    """The scale model's inputs: the feature matrix, the point prediction and its log."""
    X, point = np.asarray(X, dtype=float), np.asarray(point, dtype=float)
    # Filled in place (a fraction of column_stack's cost), in X's memory order as
    # column_stack keeps it: the ridge's BLAS sums, and so its last bits, follow the order.
    order = "F" if X.ndim == 2 and X.shape[0] > 1 and X.strides[0] < X.strides[1] else "C"
    inputs = np.empty((X.shape[0], X.shape[1] + 2), order=order)
    inputs[:, :-2] = X
    inputs[:, -2] = point
    inputs[:, -1] = np.log(np.maximum(point, PREDICTION_FLOOR))
    return inputs


def log_residual(y, prediction) -> np.ndarray:
    """The scale model's target."""
    return np.log(np.abs(np.asarray(y, float) - np.asarray(prediction, float))
                  + RESIDUAL_FLOOR)


def conformal_quantile(residuals: np.ndarray, sigmas: np.ndarray, coverage: float) -> float:
    """The normalised half-width (at sigma 1) that covers ``coverage`` of new rows."""
    from crepes import ConformalRegressor

    calibrated = ConformalRegressor().fit(residuals=residuals, sigmas=sigmas)
    _, upper = calibrated.predict_int(np.zeros(1), sigmas=np.ones(1),
                                          confidence=coverage)[0]
    if not np.isfinite(upper):
        raise ValueError(f"{len(residuals)} calibration rows are too few for a "
                         f"{coverage:.0%} interval")
    return float(upper)


class IntervalRegressor(RegressorMixin, BaseEstimator):
    """A fitted point regressor with a conformal interval around its predictions.

    ``fit(X, y, oof=..., folds=...)`` calibrates around ``regressor``, already fitted on
    (X, y) (MAPIE's "prefit"): ``oof`` are its out-of-fold predictions over ``folds``.
    ``predict`` is the regressor's own; ``predict_interval`` adds the bounds.
    """

    def __init__(self, regressor=None, coverage: float = 0.9, alpha: float = 1.0):
        self.regressor = regressor
        self.coverage = coverage
        self.alpha = alpha

    def fit(self, X, y, *, oof, folds):
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import cross_val_predict

        if not 0 < self.coverage < 1:
            raise ValueError(f"coverage must lie in (0, 1), got {self.coverage}")
        X = np.asarray(X, dtype=float)
        y, oof = np.asarray(y, dtype=float), np.asarray(oof, dtype=float)
        inputs, target = scale_inputs(X, oof), log_residual(y, oof)
        sigma_oof = np.exp(cross_val_predict(Ridge(alpha=self.alpha), inputs, target,
                                             cv=folds))
        scale = Ridge(alpha=self.alpha).fit(inputs, target)
        # Rounded, as the blend's weights are: the solver's last bits follow the CPU's BLAS
        # kernels, and the saved model should not.
        scale.coef_, scale.intercept_ = significant(scale.coef_), significant(scale.intercept_)
        self.regressor_ = self.regressor
        self.scale_ = scale
        self.low_, self.high_ = inputs.min(axis=0), inputs.max(axis=0)
        self.sigma_max_ = float(np.exp(scale.predict(inputs)).max())
        self.quantile_ = round(conformal_quantile(y - oof, sigma_oof, self.coverage), 6)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "regressor_")
        return self.regressor_.predict(X)

    def half_width(self, X, point: np.ndarray) -> np.ndarray:
        """``quantile_ * sigma(x)``, by plain NumPy on the fitted coefficients (the served
        path calls this same method). Inputs are held to the calibration rows' range, so a
        district far outside it (or with an infinite ratio) gets the widest sigma the
        training rows saw in that direction, not an extrapolation; a row whose inputs are
        not numbers gets the widest of all."""
        inputs = np.clip(scale_inputs(X, point), self.low_, self.high_)
        sigma = np.exp(inputs @ self.scale_.coef_ + self.scale_.intercept_)
        return self.quantile_ * np.where(np.isnan(sigma), self.sigma_max_, sigma)

    def predict_interval(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, lower, upper) for the rows of X."""
        point = np.asarray(self.predict(X), dtype=float)
        half = self.half_width(X, point)
        return point, point - half, point + half


def pipeline_interval(pipeline, X) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(prediction, lower, upper) of a served Pipeline for raw rows X, or None when its
    last step holds no interval (a version registered before intervals)."""
    final = pipeline[-1]
    if not isinstance(final, IntervalRegressor):
        return None
    return final.predict_interval(pipeline[:-1].transform(X))
