"""The tune stage: seeded Optuna search with K-fold CV, tracked in MLflow, then a refit."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from housing.config import TARGET, optuna_storage
from housing.data.split import ROW_ID
from housing.io import read_joblib, write_joblib, write_json
from housing.models.spaces import ENSEMBLE, build_regressor, check_family, suggest_params
from housing.models.tracking import configure_mlflow, file_md5, redact_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVResult:
    rmse_mean: float
    rmse_std: float
    fold_rmse: tuple[float, ...]


def cross_validate(model: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, *,
                   cv_folds: int, seed: int, trial=None, log_target: bool = False) -> CVResult:
    """K-fold RMSE of one configuration; reports the running mean to ``trial`` for pruning."""
    import optuna
    from sklearn.model_selection import KFold

    fold_rmse: list[float] = []
    folds = KFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    for step, (fit_idx, val_idx) in enumerate(folds.split(X)):
        estimator = build_regressor(model, params, seed=seed, log_target=log_target)
        estimator.fit(X.iloc[fit_idx], y[fit_idx])
        residual = estimator.predict(X.iloc[val_idx]) - y[val_idx]
        fold_rmse.append(float(np.sqrt(np.mean(residual**2))))
        if trial is not None:
            trial.report(float(np.mean(fold_rmse)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1}")
    return CVResult(float(np.mean(fold_rmse)), float(np.std(fold_rmse)), tuple(fold_rmse))


def study_name_for(*, model: str, n_trials: int, cv_folds: int, seed: int, data_md5: str,
                   log_target: bool = False) -> str:
    """A name that changes whenever the search would: family, budget, folds, seed, target
    transform, data, code."""
    code = b"".join(Path(__file__).with_name(f).read_bytes()
                    for f in ("spaces.py", "tune.py", "lgbm.py"))
    key = json.dumps([model, n_trials, cv_folds, seed, data_md5, log_target,
                      hashlib.md5(code).hexdigest()]).encode()
    return f"housing-{model}-{hashlib.sha256(key).hexdigest()[:12]}"


def make_study(*, study_name: str, storage: str, seed: int, n_trials: int):
    """Create or join the study: seeded TPE sampler, median pruner over folds."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(5, min(10, n_trials // 3)))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.create_study(study_name=study_name, storage=storage, direction="minimize",
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def run_trials(study, X: pd.DataFrame, y: np.ndarray, *, model: str, n_trials: int,
               cv_folds: int, seed: int, timeout: float | None, log_target: bool = False) -> None:
    """Run trials until the study holds ``n_trials`` finished ones (across all its workers)."""
    import mlflow
    import optuna
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=finished))
    if remaining <= 0:
        logger.info("study %s already holds %d finished trials", study.study_name, n_trials)
        return

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, model)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(params)
            mlflow.set_tag("optuna.trial_number", trial.number)
            try:
                result = cross_validate(model, params, X, y, cv_folds=cv_folds, seed=seed,
                                        trial=trial, log_target=log_target)
            except optuna.TrialPruned:
                mlflow.set_tag("optuna.state", "PRUNED")
                raise
            mlflow.set_tag("optuna.state", "COMPLETE")
            mlflow.log_metrics({"cv_rmse_mean": result.rmse_mean, "cv_rmse_std": result.rmse_std})
        trial.set_user_attr("cv_rmse_std", result.rmse_std)
        return result.rmse_mean

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=remaining, timeout=timeout, show_progress_bar=True,
                   callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=finished)])


def split_matrix(matrix: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The featurized training matrix as (X, y)."""
    X = matrix.drop(columns=[ROW_ID, TARGET])
    return X, matrix[TARGET].to_numpy(dtype=float)


def blend_weights(oof: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative blend weights fitted on out-of-fold predictions (never the test set)."""
    from scipy.optimize import nnls

    weights, _ = nnls(oof, y)
    if weights.sum() <= 0:
        return np.full(oof.shape[1], 1.0 / oof.shape[1])
    return weights / weights.sum()


def tune_family(family: str, X: pd.DataFrame, y: np.ndarray, *, n_trials: int, cv_folds: int,
                seed: int, timeout: float | None, storage: str, study_name: str,
                data_md5: str, log_target: bool, worker: int) -> dict[str, Any]:
    """Best params and CV RMSE of one family: an Optuna study, or its defaults when
    ``n_trials`` is 0 (the untuned reference point)."""
    import optuna

    if n_trials == 0:
        result = cross_validate(family, {}, X, y, cv_folds=cv_folds, seed=seed,
                                log_target=log_target)
        return {"params": {}, "cv_rmse_mean": result.rmse_mean, "cv_rmse_std": result.rmse_std,
                "study_name": None, "n_complete": 0, "n_pruned": 0}
    name = study_name or study_name_for(model=family, n_trials=n_trials, cv_folds=cv_folds,
                                        seed=seed, data_md5=data_md5, log_target=log_target)
    # Extra workers sample with their own seed so they do not repeat each other's trials.
    study = make_study(study_name=name, storage=storage, seed=seed + worker, n_trials=n_trials)
    logger.info("study %s in %s", name, redact_url(storage))
    run_trials(study, X, y, model=family, n_trials=n_trials, cv_folds=cv_folds, seed=seed,
               timeout=timeout, log_target=log_target)
    best = study.best_trial
    states = optuna.trial.TrialState
    logger.info("%s: best trial %d, CV RMSE %.4f with %s", family, best.number, best.value,
                best.params)
    return {"params": dict(best.params), "cv_rmse_mean": best.value,
            "cv_rmse_std": best.user_attrs.get("cv_rmse_std"), "study_name": name,
            "n_complete": len(study.get_trials(deepcopy=False, states=(states.COMPLETE,))),
            "n_pruned": len(study.get_trials(deepcopy=False, states=(states.PRUNED,)))}


def fit_ensemble(members: dict[str, dict], X: pd.DataFrame, y: np.ndarray, *, cv_folds: int,
                 seed: int, log_target: bool):
    """Blend the tuned members: weights from out-of-fold predictions, then a refit on all rows."""
    from sklearn.ensemble import VotingRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    folds = KFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    estimators = [(family, build_regressor(family, found["params"], seed=seed,
                                           log_target=log_target))
                  for family, found in members.items()]
    oof = np.column_stack([cross_val_predict(est, X, y, cv=folds) for _, est in estimators])
    weights = blend_weights(oof, y)
    blended = oof @ weights
    fold_rmse = [float(np.sqrt(np.mean((blended[idx] - y[idx]) ** 2)))
                 for _, idx in folds.split(X)]
    regressor = VotingRegressor(estimators, weights=weights.tolist()).fit(X, y)
    return regressor, weights, float(np.mean(fold_rmse)), float(np.std(fold_rmse))


def run(*, matrix_path: Path, featurizer_path: Path, model_path: Path, best_params_path: Path,
        metrics_path: Path, model: str, n_trials: int, cv_folds: int, seed: int,
        timeout: float | None = None, storage: str = "", study_name: str = "",
        trials_only: bool = False, worker: int = 0, log_target: bool = False,
        ensemble_members: tuple[str, ...] = ("hist_gradient_boosting", "lightgbm")) -> None:
    """Tune ``model`` on the training matrix; write the refit model and its best params.

    ``model="ensemble"`` tunes each of ``ensemble_members`` and blends them; ``n_trials=0``
    uses each family's defaults; ``trials_only`` runs an extra worker that joins the shared
    study and writes nothing.
    """
    import mlflow
    from sklearn.pipeline import Pipeline

    check_family(model, allow_ensemble=True)
    families = tuple(ensemble_members) if model == ENSEMBLE else (model,)
    for family in families:
        check_family(family)
    if n_trials < 0 or cv_folds < 2:
        raise ValueError(f"need tune.n_trials >= 0 and tune.cv_folds >= 2, got {n_trials}, "
                         f"{cv_folds}")
    if model == ENSEMBLE and len(families) < 2:
        raise ValueError(f"tune.ensemble_members needs two or more families, got {families}")
    matrix = pd.read_parquet(matrix_path)
    X, y = split_matrix(matrix)
    storage_url = optuna_storage(storage)
    data_md5 = file_md5(matrix_path)

    configure_mlflow()
    with mlflow.start_run(run_name=f"tune-{model}"):
        mlflow.set_tags({"stage": "tune", "optuna.storage": redact_url(storage_url),
                         "worker": worker})
        mlflow.log_params({"model": model, "n_trials": n_trials, "cv_folds": cv_folds,
                           "seed": seed, "log_target": log_target, "train_rows": len(X),
                           "n_features": X.shape[1]})
        found = {}
        for family in families:
            name = f"{study_name}-{family}" if study_name and model == ENSEMBLE else study_name
            found[family] = tune_family(family, X, y, n_trials=n_trials, cv_folds=cv_folds,
                                        seed=seed, timeout=timeout, storage=storage_url,
                                        study_name=name, data_md5=data_md5,
                                        log_target=log_target, worker=worker)
            mlflow.log_params({f"best.{family}.{k}": v
                               for k, v in found[family]["params"].items()})
        if trials_only:
            return
        if model == ENSEMBLE:
            regressor, weights, cv_mean, cv_std = fit_ensemble(
                found, X, y, cv_folds=cv_folds, seed=seed, log_target=log_target)
            best = {"model": model, "log_target": log_target, "seed": seed,
                    "weights": dict(zip(families, np.round(weights, 6).tolist())),
                    "members": {f: {"params": v["params"], "study_name": v["study_name"]}
                                for f, v in found.items()}}
        else:
            only = found[model]
            regressor = build_regressor(model, only["params"], seed=seed,
                                        log_target=log_target).fit(X, y)
            cv_mean, cv_std = only["cv_rmse_mean"], only["cv_rmse_std"]
            best = {"model": model, "params": only["params"], "study_name": only["study_name"],
                    "log_target": log_target, "seed": seed}
        summary = {"cv_rmse_mean": cv_mean, "cv_rmse_std": cv_std,
                   "n_complete": sum(v["n_complete"] for v in found.values()),
                   "n_pruned": sum(v["n_pruned"] for v in found.values())}
        mlflow.log_metrics({"best_cv_rmse_mean": cv_mean})
        pipeline = Pipeline([("features", read_joblib(featurizer_path)),
                             ("regressor", regressor)])
        write_joblib(pipeline, model_path)
        write_json(best, best_params_path)
        write_json(summary, metrics_path)
