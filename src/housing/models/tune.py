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
from housing.models.spaces import build_regressor, check_family, suggest_params
from housing.models.tracking import configure_mlflow, file_md5, redact_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVResult:
    rmse_mean: float
    rmse_std: float
    fold_rmse: tuple[float, ...]


def cross_validate(model: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, *,
                   cv_folds: int, seed: int, trial=None) -> CVResult:
    """K-fold RMSE of one configuration; reports the running mean to ``trial`` for pruning."""
    import optuna
    from sklearn.model_selection import KFold

    fold_rmse: list[float] = []
    folds = KFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    for step, (fit_idx, val_idx) in enumerate(folds.split(X)):
        estimator = build_regressor(model, params, seed=seed)
        estimator.fit(X.iloc[fit_idx], y[fit_idx])
        residual = estimator.predict(X.iloc[val_idx]) - y[val_idx]
        fold_rmse.append(float(np.sqrt(np.mean(residual**2))))
        if trial is not None:
            trial.report(float(np.mean(fold_rmse)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1}")
    return CVResult(float(np.mean(fold_rmse)), float(np.std(fold_rmse)), tuple(fold_rmse))


def study_name_for(*, model: str, n_trials: int, cv_folds: int, seed: int, data_md5: str) -> str:
    """A name that changes whenever the search would: family, budget, folds, seed, data, code."""
    code = b"".join(Path(__file__).with_name(f).read_bytes() for f in ("spaces.py", "tune.py"))
    key = json.dumps([model, n_trials, cv_folds, seed, data_md5,
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
               cv_folds: int, seed: int, timeout: float | None) -> None:
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
                                        trial=trial)
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


def refit_best(study, X: pd.DataFrame, y: np.ndarray, featurizer, *, model: str, seed: int):
    """The served Pipeline: fitted feature steps, then the best configuration refit on all rows."""
    from sklearn.pipeline import Pipeline

    regressor = build_regressor(model, dict(study.best_trial.params), seed=seed).fit(X, y)
    return Pipeline([("features", featurizer), ("regressor", regressor)])


def run(*, matrix_path: Path, featurizer_path: Path, model_path: Path, best_params_path: Path,
        metrics_path: Path, model: str, n_trials: int, cv_folds: int, seed: int,
        timeout: float | None = None, storage: str = "", study_name: str = "",
        trials_only: bool = False, worker: int = 0) -> None:
    """Tune ``model`` on the training matrix; write the refit model and its best params.

    ``trials_only`` runs an extra worker that joins the shared study and writes nothing.
    """
    import mlflow
    import optuna

    check_family(model)
    if n_trials < 1 or cv_folds < 2:
        raise ValueError(f"need tune.n_trials >= 1 and tune.cv_folds >= 2, got {n_trials}, "
                         f"{cv_folds}")
    matrix = pd.read_parquet(matrix_path)
    X, y = split_matrix(matrix)
    storage_url = optuna_storage(storage)
    name = study_name or study_name_for(model=model, n_trials=n_trials, cv_folds=cv_folds,
                                        seed=seed, data_md5=file_md5(matrix_path))
    # Extra workers sample with their own seed so they do not repeat each other's trials.
    study = make_study(study_name=name, storage=storage_url, seed=seed + worker,
                       n_trials=n_trials)
    logger.info("study %s in %s", name, redact_url(storage_url))

    configure_mlflow()
    with mlflow.start_run(run_name=f"tune-{model}"):
        mlflow.set_tags({"stage": "tune", "optuna.study_name": name,
                         "optuna.storage": redact_url(storage_url), "worker": worker})
        mlflow.log_params({"model": model, "n_trials": n_trials, "cv_folds": cv_folds,
                           "seed": seed, "train_rows": len(X), "n_features": X.shape[1]})
        run_trials(study, X, y, model=model, n_trials=n_trials, cv_folds=cv_folds, seed=seed,
                   timeout=timeout)
        if trials_only:
            return
        best = study.best_trial
        summary = {
            "cv_rmse_mean": best.value,
            "cv_rmse_std": best.user_attrs.get("cv_rmse_std"),
            "best_trial": best.number,
            "n_complete": len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))),
            "n_pruned": len(study.get_trials(states=(optuna.trial.TrialState.PRUNED,))),
        }
        mlflow.log_params({f"best.{k}": v for k, v in best.params.items()})
        mlflow.log_metrics({"best_cv_rmse_mean": best.value})
        logger.info("best trial %d: CV RMSE %.4f with %s", best.number, best.value, best.params)

        pipeline = refit_best(study, X, y, read_joblib(featurizer_path), model=model, seed=seed)
        write_joblib(pipeline, model_path)
        write_json({"model": model, "params": best.params, "study_name": name, "seed": seed},
                   best_params_path)
        write_json(summary, metrics_path)

