"""Model families: their Optuna search spaces and how to build each regressor."""

from __future__ import annotations

from typing import Any, get_args

from sklearn.base import RegressorMixin

from housing.params import Family, TuneParams

MODEL_FAMILIES: tuple[str, ...] = get_args(Family)
ENSEMBLE = "ensemble"


def check_family(model: str) -> str:
    if model not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family '{model}'; choose from "
                         f"{', '.join(MODEL_FAMILIES)}")
    return model


SIGNIFICANT_DIGITS = 10


def stable_hyper(hyper: dict[str, Any]) -> dict[str, Any]:
    """Float hyperparameters rounded to 10 significant digits.

    Optuna's TPE samples through numpy's exp and log, whose last bits follow the CPU's SIMD
    kernels. The models are built from the rounded values, so they do not.
    """
    return {k: float(f"{v:.{SIGNIFICANT_DIGITS}g}") if isinstance(v, float) else v
            for k, v in hyper.items()}


def suggest_params(trial, model: str, max_rounds: int = 0) -> dict[str, Any]:
    """Sample one configuration of ``model``'s hyperparameters from the trial (rounded with
    stable_hyper, as every model is built); ``max_rounds`` > 0 caps the boosting rounds."""
    return stable_hyper(_suggest(trial, model, max_rounds))


def _rounds(trial, name: str, low: int, high: int, step: int, cap: int) -> int:
    """Boosting rounds from ``low`` to ``high``; a cap > 0 lowers both bounds to at most
    ``cap`` (a quick run fits fewer, cheaper trees; 0 leaves the range as it is)."""
    if cap:
        low, high = min(low, cap), min(high, cap)
        high = low + (high - low) // step * step
    return trial.suggest_int(name, low, high, step=step)


def _suggest(trial, model: str, max_rounds: int = 0) -> dict[str, Any]:
    check_family(model)
    if model == "hist_gradient_boosting":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_iter": _rounds(trial, "max_iter", 200, 1000, 100, max_rounds),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 15, 127, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 3, 80, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
            "max_features": trial.suggest_float("max_features", 0.4, 1.0),
        }
    if model == "lightgbm":
        return {
            "n_estimators": _rounds(trial, "n_estimators", 300, 1200, 100, max_rounds),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 3, 100, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-6, 10.0, log=True),
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


def build_regressor(family: str, hyper: dict[str, Any], params: TuneParams) -> RegressorMixin:
    """An unfitted regressor of ``family`` with hyperparameters ``hyper``, seeded by
    ``params.seed``; with ``params.log_target`` it learns log(MedHouseVal) and predicts back
    in 100k USD."""
    check_family(family)
    hyper, seed = stable_hyper(hyper), params.seed
    if params.log_target:
        import numpy as np
        from sklearn.compose import TransformedTargetRegressor

        inner = build_regressor(family, hyper, params.model_copy(update={"log_target": False}))
        return TransformedTargetRegressor(regressor=inner, func=np.log, inverse_func=np.exp)
    if family == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(early_stopping=False, random_state=seed, **hyper)
    if family == "lightgbm":
        from housing.models.lgbm import LightGBMRegressor

        return LightGBMRegressor(random_state=seed, **hyper)
    if family == "random_forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_jobs=-1, random_state=seed, **hyper)
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("scale", StandardScaler()),
        ("elastic_net", ElasticNet(max_iter=10_000, random_state=seed, **hyper)),
    ])
