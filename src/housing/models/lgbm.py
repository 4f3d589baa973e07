"""LightGBM as a scikit-learn regressor over LightGBM's own training API.

LightGBM's bundled scikit-learn wrapper (4.5, the newest NannyML allows) calls a
validation argument that scikit-learn 1.8 removed, so this small estimator drives
``lightgbm.train`` directly. The fitted booster is kept as LightGBM's text model, which
is deterministic and serializes with skops as a plain string: no pickled C++ objects.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted


class LightGBMRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, n_estimators: int = 500, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 20, subsample: float = 1.0,
                 colsample_bytree: float = 1.0, reg_lambda: float = 0.0, reg_alpha: float = 0.0,
                 random_state: int = 0, n_jobs: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict:
        return {
            "objective": "regression", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample, "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree, "lambda_l2": self.reg_lambda,
            "lambda_l1": self.reg_alpha, "seed": self.random_state,
            "num_threads": self.n_jobs, "deterministic": True, "force_row_wise": True,
            "verbosity": -1,
        }

    def fit(self, X, y):
        import lightgbm

        X = np.asarray(X, dtype=float)
        self.n_features_in_ = X.shape[1]
        booster = lightgbm.train(self._params(), lightgbm.Dataset(X, np.asarray(y, float)),
                                 num_boost_round=self.n_estimators)
        self.model_text_ = booster.model_to_string()
        return self

    def _booster(self):
        import lightgbm

        cached = self.__dict__.get("_booster_cache")
        if cached is None or cached[0] is not self.model_text_:
            cached = (self.model_text_, lightgbm.Booster(model_str=self.model_text_))
            self.__dict__["_booster_cache"] = cached
        return cached[1]

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "model_text_")
        X = np.asarray(X, dtype=float)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {X.shape[1]}")
        return self._booster().predict(X, num_threads=self.n_jobs or 0)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_booster_cache", None)  # rebuilt from model_text_ on first predict
        return state
