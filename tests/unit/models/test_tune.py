"""Real Optuna studies in a temporary SQLite storage, tracked in a real temporary MLflow store."""

import optuna
import pytest

from housing.models import tune
from housing.models.tracking import configure_mlflow


def run_study(X, y, storage, name, *, n_trials, seed=5, model="elastic_net"):
    import mlflow

    configure_mlflow()
    study = tune.make_study(study_name=name, storage=storage, seed=seed, n_trials=n_trials)
    with mlflow.start_run():
        tune.run_trials(study, X, y, model=model, n_trials=n_trials, cv_folds=3, seed=seed,
                        timeout=None)
    return study


def test_same_seed_same_study(small_matrix, mlflow_store, tmp_path):
    _, X, y = small_matrix
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    a = run_study(X, y, storage, "a", n_trials=6)
    b = run_study(X, y, storage, "b", n_trials=6)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_value == b.best_value


def test_study_resumes_up_to_n_trials(small_matrix, mlflow_store, tmp_path):
    _, X, y = small_matrix
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run_study(X, y, storage, "s", n_trials=4)
    study = run_study(X, y, storage, "s", n_trials=4)  # already complete: adds nothing
    assert len(study.trials) == 4
    study = run_study(X, y, storage, "s", n_trials=6)
    assert len(study.trials) == 6


def test_trials_are_child_runs_in_mlflow(small_matrix, mlflow_store, tmp_path):
    from mlflow.tracking import MlflowClient

    _, X, y = small_matrix
    run_study(X, y, f"sqlite:///{tmp_path / 'optuna.db'}", "m", n_trials=3)
    runs = MlflowClient().search_runs(experiment_ids=[configure_mlflow()])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 3
    assert all("cv_rmse_mean" in r.data.metrics for r in children)


def test_bad_folds_prune_against_the_median(small_matrix):
    _, X, y = small_matrix
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1,
                                                                    n_warmup_steps=0))

    def objective(trial):
        params = tune.suggest_params(trial, "elastic_net")
        return tune.cross_validate("elastic_net", params, X, y, cv_folds=3, seed=0,
                                   trial=trial).rmse_mean

    study.enqueue_trial({"alpha": 1e-4, "l1_ratio": 0.5})
    study.optimize(objective, n_trials=1)
    study.enqueue_trial({"alpha": 1.0, "l1_ratio": 1.0})  # a heavily regularized, worse model
    study.optimize(objective, n_trials=1)
    assert study.trials[1].state == optuna.trial.TrialState.PRUNED


def test_study_name_changes_with_inputs():
    base = dict(model="elastic_net", n_trials=5, cv_folds=3, seed=1, data_md5="abc")
    assert tune.study_name_for(**base) == tune.study_name_for(**base)
    for key, value in [("n_trials", 6), ("seed", 2), ("data_md5", "abd"), ("cv_folds", 4)]:
        assert tune.study_name_for(**{**base, key: value}) != tune.study_name_for(**base)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "xgb"}, "tune.model"),
    ({"n_trials": -1}, "n_trials"),
    ({"model": "ensemble", "ensemble_members": ("lightgbm",)}, "ensemble_members"),
    ({"cv_folds": 1}, "cv_folds"),
])
def test_bad_tune_params_are_named(kwargs, message, tmp_path):
    args = dict(matrix_path=tmp_path / "m", featurizer_path=tmp_path / "f",
                model_path=tmp_path / "o", best_params_path=tmp_path / "b",
                metrics_path=tmp_path / "t", model="elastic_net", n_trials=3, cv_folds=3, seed=0)
    with pytest.raises(ValueError, match=message):
        tune.run(**{**args, **kwargs})


def test_zero_trials_means_the_family_defaults(small_matrix):
    _, X, y = small_matrix
    found = tune.tune_family("hist_gradient_boosting", X, y, n_trials=0, cv_folds=3, seed=0,
                             timeout=None, storage="", study_name="", data_md5="x",
                             log_target=False, worker=0)
    assert found["params"] == {} and found["study_name"] is None
    assert 0 < found["cv_rmse_mean"] < 1.0
