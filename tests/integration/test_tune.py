"""Real Optuna studies in a temporary SQLite storage, tracked in a real temporary MLflow store."""

import optuna
import pytest

from housing.models import study, tune
from housing.registry.store import configure_tracking


@pytest.fixture
def run_study(tune_params):
    """run_study(X, y, storage, name, n_trials=..): real trials of elastic_net, seed 5."""
    import mlflow

    def run(X, y, storage, name, *, n_trials, seed=5, family="elastic_net"):
        params = tune_params.model_copy(update={"model": family, "n_trials": n_trials,
                                                "seed": seed, "timeout": 0.0})
        configure_tracking()
        with mlflow.start_run():
            study.optimize(name, study.make_storage(storage),
                           tune.make_objective(X, y, family, params, n_trials),
                           n_trials=n_trials,
                           seed=seed, worker=0)
        return optuna.load_study(study_name=name, storage=storage)

    return run


def test_same_seed_same_study(small_matrix, mlflow_store, tmp_path, run_study):
    _, X, y = small_matrix
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    a = run_study(X, y, storage, "a", n_trials=6)
    b = run_study(X, y, storage, "b", n_trials=6)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_value == b.best_value


def test_study_resumes_up_to_n_trials(small_matrix, mlflow_store, tmp_path, run_study):
    _, X, y = small_matrix
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run_study(X, y, storage, "s", n_trials=4)
    study = run_study(X, y, storage, "s", n_trials=4)  # already complete: adds nothing
    assert len(study.trials) == 4
    study = run_study(X, y, storage, "s", n_trials=6)
    assert len(study.trials) == 6


def test_trials_are_child_runs_in_mlflow(small_matrix, mlflow_store, tmp_path, run_study):
    from mlflow.tracking import MlflowClient

    _, X, y = small_matrix
    run_study(X, y, f"sqlite:///{tmp_path / 'optuna.db'}", "m", n_trials=3)
    runs = MlflowClient().search_runs(experiment_ids=[configure_tracking()])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 3
    assert all("cv_rmse_mean" in r.data.metrics for r in children)


def test_bad_folds_prune_against_the_median(small_matrix, tune_params):
    _, X, y = small_matrix
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1,
                                                                    n_warmup_steps=0))

    def objective(trial):
        hyper = tune.suggest_params(trial, "elastic_net")
        return tune.cross_validate("elastic_net", hyper, X, y, tune_params,
                                   trial=trial).rmse_mean

    study.enqueue_trial({"alpha": 1e-4, "l1_ratio": 0.5})
    study.optimize(objective, n_trials=1)
    study.enqueue_trial({"alpha": 1.0, "l1_ratio": 1.0})  # a heavily regularized, worse model
    study.optimize(objective, n_trials=1)
    assert study.trials[1].state == optuna.trial.TrialState.PRUNED


def test_study_name_changes_with_every_tune_param(pipeline_params):
    base = pipeline_params.tune
    name = tune.study_name_for("lightgbm", base, "abc")
    assert name == tune.study_name_for("lightgbm", base, "abc")
    assert name != tune.study_name_for("lightgbm", base, "abd")
    assert name != tune.study_name_for("hist_gradient_boosting", base, "abc")
    changed = {"n_trials": 6, "seed": 2, "cv_folds": 4, "log_target": True, "timeout": 5.0,
               "storage": "sqlite:///other.db", "model": "lightgbm",
               "ensemble_members": ("lightgbm", "random_forest"), "n_threads": 1,
               "retrain_trials": 9, "max_rounds": 50}
    after_the_search = {"interval_coverage": 0.8}  # calibrated on the best trial's folds
    assert set(changed) | set(after_the_search) == set(type(base).model_fields)
    for key, value in changed.items():
        assert tune.study_name_for("lightgbm", base.model_copy(update={key: value}),
                                   "abc") != name, key
    for key, value in after_the_search.items():
        assert tune.study_name_for("lightgbm", base.model_copy(update={key: value}),
                                   "abc") == name, key


def test_a_retrain_starts_from_production_best_params(small_matrix, mlflow_store, tmp_path,
                                                     tune_params):
    """With a warm start the study's first trial is production's best params, it runs
    retrain_trials trials, and its name differs from the scratch study's."""
    import mlflow

    _, X, y = small_matrix
    params = tune_params.model_copy(update={"model": "elastic_net", "n_trials": 6,
                                            "retrain_trials": 2, "timeout": 0.0})
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    warm = {"alpha": 0.00123, "l1_ratio": 0.25}
    configure_tracking()
    with mlflow.start_run():
        found = tune.tune_family("elastic_net", X, y, params, storage=storage,
                                 data_md5="x", warm=warm)
    trials = optuna.load_study(study_name=found["study_name"], storage=storage).trials
    assert len(trials) == 2 and trials[0].params == warm
    assert trials[1].params != warm
    assert found["study_name"] != tune.study_name_for("elastic_net", params, "x")
    assert tune.warm_params({"best_params": {"members": {"elastic_net": {"params": warm}}}},
                            "elastic_net") == warm
    assert tune.warm_params({}, "elastic_net") == {}


def test_zero_trials_means_the_family_defaults(small_matrix, tune_params):
    _, X, y = small_matrix
    found = tune.tune_family("hist_gradient_boosting", X, y,
                             tune_params.model_copy(update={"n_trials": 0}), storage="",
                             data_md5="x")
    assert found["params"] == {} and found["study_name"] is None
    assert 0 < found["cv_rmse_mean"] < 1.0


def toy_objective(trial) -> float:
    """Two parameters, then ``mark_sampled``: the shape of every tune objective."""
    a = trial.suggest_float("a", 0.0, 1.0)
    b = trial.suggest_float("b", 0.0, 1.0)
    study.mark_sampled(trial)
    return (a - 0.3) ** 2 + b


def die_in_trial(storage, name: str, seed: int, *, draw: tuple[str, ...],
                 marked: bool) -> None:
    """A worker that starts trial 0 with the seeded sampler, draws ``draw``, beats once and
    dies (the trial stays RUNNING with a heartbeat, as after a SIGKILL)."""
    s = optuna.load_study(study_name=name, storage=storage,
                          sampler=study.sampler(study.trial_seed(seed, 0, 0), 4))
    trial = s.ask()
    for param in draw:
        trial.suggest_float(param, 0.0, 1.0)
    if marked:
        study.mark_sampled(trial)
    storage.record_heartbeat(trial._trial_id)


@pytest.mark.parametrize("draw, marked", [(("a",), False), (("a", "b"), True)],
                         ids=["killed-while-drawing", "killed-after-drawing"])
def test_a_dead_workers_trial_is_rerun_as_the_uninterrupted_study_ran_it(tmp_path, draw,
                                                                         marked):
    seed, n_trials = 3, 4
    storage = study.make_storage(f"sqlite:///{tmp_path / 'optuna.db'}", grace_seconds=1)
    study.create_study("whole", storage, n_trials)
    study.optimize("whole", storage, toy_objective, n_trials=n_trials, seed=seed, worker=0)
    whole = optuna.load_study(study_name="whole", storage=storage)

    study.create_study("crashed", storage, n_trials)
    die_in_trial(storage, "crashed", seed, draw=draw, marked=marked)
    study.optimize("crashed", storage, toy_objective, n_trials=n_trials, seed=seed, worker=0)
    crashed = optuna.load_study(study_name="crashed", storage=storage)

    states = [t.state.name for t in crashed.trials]
    assert states[0] == "FAIL" and states[1:] == ["COMPLETE"] * n_trials
    # A copy keeps the dead trial's parameters only when it had drawn them all; either
    # way the finished trials are the uninterrupted study's, in order.
    copied = "failed_trial" in crashed.trials[1].system_attrs
    assert copied == marked
    assert [t.params for t in crashed.trials[1:]] == [t.params for t in whole.trials]
    assert crashed.best_value == whole.best_value
