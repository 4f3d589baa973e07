"""The tune stage: seeded Optuna search with K-fold CV, tracked in MLflow, then a refit."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from housing.config import ROW_ID, TARGET, TunePaths, optuna_storage
from housing.connections import redact_url
from housing.io import file_md5, read_joblib, read_json, write_joblib, write_json
from housing.models import study
from housing.models.ensemble import tree_members
from housing.models.intervals import IntervalRegressor
from housing.models.metrics import rmse
from housing.models.spaces import ENSEMBLE, build_regressor, stable_hyper, suggest_params
from housing.params import TuneParams
from housing.registry import store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVResult:
    rmse_mean: float
    rmse_std: float
    fold_rmse: tuple[float, ...]
    oof: np.ndarray = field(repr=False, compare=False)  # each row's out-of-fold prediction


def cross_validate(family: str, hyper: dict[str, Any], X: pd.DataFrame, y: np.ndarray,
                   params: TuneParams, trial=None) -> CVResult:
    """K-fold RMSE of one configuration; reports the running mean to ``trial`` for pruning."""
    import optuna

    fold_rmse: list[float] = []
    oof = np.empty(len(y))
    for step, (fit_idx, val_idx) in enumerate(cv_folds(params).split(X)):
        estimator = build_regressor(family, hyper, params)
        estimator.fit(X.iloc[fit_idx], y[fit_idx])
        oof[val_idx] = estimator.predict(X.iloc[val_idx])
        fold_rmse.append(rmse(y[val_idx], oof[val_idx]))
        if trial is not None:
            trial.report(float(np.mean(fold_rmse)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1}")
    return CVResult(float(np.mean(fold_rmse)), float(np.std(fold_rmse)), tuple(fold_rmse),
                    oof)


def cv_folds(params: TuneParams):
    """The K folds every trial and the blend use."""
    from sklearn.model_selection import KFold

    return KFold(n_splits=params.cv_folds, shuffle=True, random_state=params.seed)


def study_name_for(family: str, params: TuneParams, data_md5: str,
                   warm: dict[str, Any] | None = None) -> str:
    """A name that changes whenever the search would: every tune param, the family, the
    training data, the warm start and the code tune runs (dvc.yaml's walk: code_deps)."""
    from housing import code_deps

    code = code_deps.digest(code_deps.modules(__name__, loads_models=True)).encode()
    search = params.model_dump(mode="json", exclude={"interval_coverage"})  # after the search
    key = json.dumps([family, search, data_md5,
                      hashlib.md5(code).hexdigest()] + ([warm] if warm else []),
                     sort_keys=True).encode()
    return f"housing-{family}-{hashlib.sha256(key).hexdigest()[:12]}"


def make_objective(X: pd.DataFrame, y: np.ndarray, family: str, params: TuneParams,
                   n_trials: int, oof: dict[int, np.ndarray] | None = None):
    """One Optuna trial: K-fold CV of sampled hyperparameters, a child run in MLflow.
    ``oof`` collects each finished trial's out-of-fold predictions by trial number."""
    import optuna

    def objective(trial: optuna.Trial) -> float:
        study.check_budget(trial.study, trial, n_trials)
        hyper = suggest_params(trial, family, params.max_rounds)
        study.mark_sampled(trial)
        with store.child_run(f"trial-{trial.number}",
                             tags={"optuna.trial_number": trial.number}) as run_id:
            try:
                result = cross_validate(family, hyper, X, y, params, trial=trial)
            except optuna.TrialPruned:
                store.log(run_id, params=hyper, tags={"optuna.state": "PRUNED"})
                raise
            store.log(run_id, params=hyper, tags={"optuna.state": "COMPLETE"},
                      metrics={"cv_rmse_mean": result.rmse_mean,
                               "cv_rmse_std": result.rmse_std})
        trial.set_user_attr("cv_rmse_std", result.rmse_std)
        if oof is not None:
            oof[trial.number] = result.oof
        return result.rmse_mean

    return objective


def features_and_target(matrix: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The featurized training matrix as (X, y)."""
    X = matrix.drop(columns=[ROW_ID, TARGET])
    return X, matrix[TARGET].to_numpy(dtype=float)


def blend_weights(oof: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative blend weights fitted on out-of-fold predictions (never the test set).

    Rounded to 6 decimals: the solver's last bits follow the CPU's BLAS kernels, and the
    served blend should not.
    """
    from scipy.optimize import nnls

    weights, _ = nnls(oof, y)
    if weights.sum() <= 0:
        weights = np.ones(oof.shape[1])
    return np.round(weights / weights.sum(), 6)


def warm_params(warm_start: dict[str, Any], family: str) -> dict[str, Any]:
    """The production version's best params of ``family`` from data/warm_start.json ({}
    when the file names none)."""
    members = warm_start.get("best_params", {}).get("members", {})
    return stable_hyper(dict(members.get(family, {}).get("params") or {}))


def tune_family(family: str, X: pd.DataFrame, y: np.ndarray, params: TuneParams, *,
                storage: str, data_md5: str, worker: int = 0,
                warm: dict[str, Any] | None = None) -> dict[str, Any]:
    """Best params and CV RMSE of one family: an Optuna study, or its defaults when
    ``n_trials`` is 0 (the untuned reference point).

    With ``warm`` (the production version's best params, when the training set grew by
    accepted batches) the study's first trial is those params and it runs
    ``retrain_trials`` trials in all (at most ``n_trials``): the search starts from the
    best prior there is."""
    import optuna

    if params.n_trials == 0:
        result = cross_validate(family, {}, X, y, params)
        return {"params": {}, "cv_rmse_mean": result.rmse_mean, "cv_rmse_std": result.rmse_std,
                "study_name": None, "n_complete": 0, "n_pruned": 0, "oof": result.oof}
    name = study_name_for(family, params, data_md5, warm)
    n_trials = min(params.retrain_trials, params.n_trials) if warm else params.n_trials
    logger.info("study %s in %s%s", name, redact_url(storage),
                f": {n_trials} trials from production's best params {warm}" if warm else "")
    rdb = study.make_storage(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Extra workers sample with their own seeds so they do not repeat each other's trials.
    oof: dict[int, np.ndarray] = {}
    study.optimize(name, rdb, make_objective(X, y, family, params, n_trials, oof),
                   n_trials=n_trials,
                   seed=params.seed, worker=worker, timeout=params.timeout or None,
                   enqueue=warm or None)
    found = optuna.load_study(study_name=name, storage=rdb)
    best = found.best_trial
    states = optuna.trial.TrialState
    logger.info("%s: best trial %d, CV RMSE %.4f with %s", family, best.number, best.value,
                best.params)
    return {"params": dict(best.params), "cv_rmse_mean": best.value,
            "cv_rmse_std": best.user_attrs.get("cv_rmse_std"), "study_name": name,
            "n_complete": len(found.get_trials(deepcopy=False, states=(states.COMPLETE,))),
            "n_pruned": len(found.get_trials(deepcopy=False, states=(states.PRUNED,))),
            "oof": oof.get(best.number)}  # None when another worker ran the best trial


def fit_ensemble(members: dict[str, dict], X: pd.DataFrame, y: np.ndarray, params: TuneParams):
    """Blend the tuned members: weights from out-of-fold predictions, then a refit on all rows.

    A member's out-of-fold predictions are its best trial's when this process ran it,
    otherwise the same K folds again (the same fits, so the same bits)."""
    from sklearn.ensemble import VotingRegressor

    folds = cv_folds(params)
    estimators = [(family, build_regressor(family, found["params"], params))
                  for family, found in members.items()]
    oof = np.column_stack([
        found["oof"] if found.get("oof") is not None
        else cross_validate(family, found["params"], X, y, params).oof
        for family, found in members.items()])
    weights = blend_weights(oof, y)
    blended = (oof * weights).sum(axis=1)  # not a BLAS matmul: the same bits on every CPU
    fold_rmse = [rmse(y[idx], blended[idx]) for _, idx in folds.split(X)]
    regressor = portable(VotingRegressor(estimators, weights=weights.tolist()).fit(X, y))
    return regressor, weights, float(np.mean(fold_rmse)), float(np.std(fold_rmse)), blended


def portable(regressor):
    """``regressor`` without the OpenMP thread count a fitted HistGradientBoosting keeps
    from its fit (``_bin_mapper.n_threads``, which only binning the training data reads):
    so the saved model has the same bytes whatever the machine's or tune's thread count."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    for member in tree_members(regressor):
        if isinstance(member, HistGradientBoostingRegressor):
            member._bin_mapper.n_threads = None
    return regressor


def best_params_record(params: TuneParams, found: dict[str, dict],
                       weights: dict[str, float]) -> dict[str, Any]:
    """models/best_params.json: one layout for every family (a single model has weight 1)."""
    return {"model": params.model, "log_target": params.log_target, "seed": params.seed,
            "weights": weights,
            "members": {f: {"params": stable_hyper(v["params"]), "study_name": v["study_name"]}
                        for f, v in found.items()}}


@contextlib.contextmanager
def training_threads(n: int) -> Iterator[None]:
    """Cap every native thread pool this process trains with at ``n`` threads: the OpenMP
    runtimes of scikit-learn and of LightGBM (each wheel loads its own) and OpenBLAS.
    threadpoolctl limits only libraries already loaded, so LightGBM is loaded first;
    otherwise its runtime keeps one thread per core and workers that share a machine
    oversubscribe it. Logs each pool's effective threads."""
    import lightgbm  # noqa: F401  (loads LightGBM's OpenMP runtime before the limit)
    import sklearn.ensemble  # noqa: F401  (and scikit-learn's)
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=n):
        pools = {f"{pool['internal_api']} {Path(pool['filepath']).name}": pool["num_threads"]
                 for pool in threadpool_info()}
        logger.info("training threads: %s",
                    ", ".join(f"{name}: {threads}" for name, threads in sorted(pools.items())))
        yield


def refit(found: dict[str, dict], X: pd.DataFrame, y: np.ndarray, params: TuneParams):
    """The final regressor on the whole training set (the blend of every family's best, or
    the one family's best) inside its conformal interval; with its cross-validated RMSE
    and the blend's weights."""
    if params.model == ENSEMBLE:
        regressor, weights, cv_mean, cv_std, oof = fit_ensemble(found, X, y, params)
        blend = dict(zip(params.families, weights.tolist()))
    else:
        only = found[params.model]
        regressor = portable(build_regressor(params.model, only["params"], params).fit(X, y))
        cv_mean, cv_std, blend = only["cv_rmse_mean"], only["cv_rmse_std"], {params.model: 1.0}
        oof = only["oof"] if only.get("oof") is not None \
            else cross_validate(params.model, only["params"], X, y, params).oof
    model = IntervalRegressor(regressor, coverage=params.interval_coverage).fit(
        X, y, oof=oof, folds=cv_folds(params))
    return model, cv_mean, cv_std, blend


def run(params: TuneParams, paths: TunePaths, *, trials_only: bool = False,
        worker: int = 0) -> None:
    """Tune on the training matrix; write the refit model and its best params.

    ``model: ensemble`` tunes each of ``ensemble_members`` and blends them; ``n_trials: 0``
    uses each family's defaults; ``trials_only`` runs an extra worker that joins the shared
    studies and writes nothing.
    """
    from sklearn.pipeline import Pipeline

    matrix = pd.read_parquet(paths.matrix)
    X, y = features_and_target(matrix)
    storage_url = optuna_storage(params.storage)
    data_md5 = file_md5(paths.matrix)
    warm_start = read_json(paths.warm_start, {})

    store.configure_tracking()
    with training_threads(params.n_threads), \
            store.tracking_run(f"tune-{params.model}", tags={
                "stage": "tune", "optuna.storage": redact_url(storage_url),
                "worker": worker}) as run_id:
        store.log(run_id, params={**params.model_dump(exclude={"storage"}),
                                  "train_rows": len(X), "n_features": X.shape[1]})
        found = {}
        for family in params.families:
            found[family] = tune_family(family, X, y, params, storage=storage_url,
                                        data_md5=data_md5, worker=worker,
                                        warm=warm_params(warm_start, family))
            store.log(run_id, params={f"best.{family}.{k}": v
                                      for k, v in found[family]["params"].items()})
        if trials_only:
            return
        regressor, cv_mean, cv_std, blend = refit(found, X, y, params)
        summary = {"cv_rmse_mean": round(cv_mean, 6),
                   "cv_rmse_std": None if cv_std is None else round(cv_std, 6),
                   "n_complete": sum(v["n_complete"] for v in found.values()),
                   "n_pruned": sum(v["n_pruned"] for v in found.values())}
        store.log(run_id, metrics={"best_cv_rmse_mean": cv_mean})
        pipeline = Pipeline([("features", read_joblib(paths.featurizer)),
                             ("regressor", regressor)])
        write_joblib(pipeline, paths.model)
        write_json(best_params_record(params, found, blend), paths.best_params)
        write_json(summary, paths.metrics)
