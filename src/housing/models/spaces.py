"""Model families: their Optuna search spaces and how to build each regressor."""

from __future__ import annotations

from typing import Any

from sklearn.base import RegressorMixin

MODEL_FAMILIES: tuple[str, ...] = ("hist_gradient_boosting", "random_forest", "elastic_net")


def check_family(model: str) -> str:
    if model not in MODEL_FAMILIES:
        raise ValueError(f"tune.model must be one of {', '.join(MODEL_FAMILIES)}; got '{model}'")
    return model


def suggest_params(trial, model: str) -> dict[str, Any]:
    """Sample one configuration of ``model``'s hyperparameters from the trial."""
    check_family(model)
    if model == "hist_gradient_boosting":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_iter": trial.suggest_int("max_iter", 200, 1000, step=100),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 15, 63, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 80, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
            "max_features": trial.suggest_float("max_features", 0.4, 1.0),
        }
    if model == "random_forest":
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 400, step=50),
            "max_depth": trial.suggest_int("max_depth", 8, 32),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
            "max_features": trial.suggest_float("max_features", 0.3, 1.0),
        }
    return {
        "alpha": trial.suggest_float("alpha", 1e-5, 1.0, log=True),
        "l1_ratio": trial.suggest_float("l1_ratio", 0.0, 1.0),
    }


def build_regressor(model: str, params: dict[str, Any], *, seed: int) -> RegressorMixin:
    """An unfitted regressor of family ``model`` with ``params``, seeded."""
    check_family(model)
    if model == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(early_stopping=False, random_state=seed, **params)
    if model == "random_forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_jobs=-1, random_state=seed, **params)
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("scale", StandardScaler()),
        ("elastic_net", ElasticNet(max_iter=10_000, random_state=seed, **params)),
    ])
