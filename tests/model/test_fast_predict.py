import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from housing.config import FEATURES, TARGET
from housing.deployment import fast_predict
from housing.deployment.fast_predict import CompiledTrees, compile_pipeline
from housing.models.spaces import build_regressor


@pytest.fixture(scope="module")
def rows(housing_frame):
    return housing_frame.sample(n=300, random_state=5)[list(FEATURES)]


@pytest.fixture(scope="module")
def hgb_pipeline(housing_frame, build_small_model):
    return build_small_model(housing_frame.sample(n=3000, random_state=4), max_iter=150)


def test_compiled_trees_match_scikit_learn(hgb_pipeline, rows):
    compiled = CompiledTrees(hgb_pipeline[-1])
    X = hgb_pipeline[:-1].transform(rows)
    np.testing.assert_allclose(compiled.predict(X.to_numpy()), hgb_pipeline[-1].predict(X),
                               rtol=0, atol=1e-9)


def test_missing_values_follow_the_trained_direction(housing_frame, tune_params):
    train = housing_frame.sample(n=2000, random_state=1)
    X = train[list(FEATURES)].copy()
    X.loc[X.sample(frac=0.2, random_state=2).index, "MedInc"] = np.nan
    model = build_regressor("hist_gradient_boosting", {"max_iter": 50}, tune_params).fit(
        X, train[TARGET])
    probe = X.head(200).to_numpy()
    np.testing.assert_allclose(CompiledTrees(model).predict(probe), model.predict(probe),
                               atol=1e-9)


@pytest.mark.parametrize("n", [1, 7, fast_predict.MAX_COMPILED_ROWS + 1, 300])
def test_served_predict_equals_pipeline_for_any_batch(hgb_pipeline, rows, n):
    predict = compile_pipeline(hgb_pipeline, rows)
    assert predict is not hgb_pipeline.predict
    np.testing.assert_allclose(predict(rows.head(n)), hgb_pipeline.predict(rows.head(n)),
                               atol=1e-9)


def test_other_families_use_their_own_predict(hgb_pipeline, rows, housing_frame, tune_params):
    train = housing_frame.sample(n=500, random_state=3)
    features = hgb_pipeline[:-1]
    X = features.transform(train[list(FEATURES)])
    forest = Pipeline([("features", features), ("regressor", build_regressor(
        "random_forest", {"n_estimators": 5}, tune_params).fit(X, train[TARGET]))])
    assert compile_pipeline(forest, rows) == forest.predict
    assert forest[-1].n_jobs == 1


def test_log_target_ensembles_compile_and_agree(hgb_pipeline, rows, housing_frame, tune_params):
    from sklearn.ensemble import VotingRegressor

    train = housing_frame.sample(n=1500, random_state=6)
    features = hgb_pipeline[:-1]
    X = features.transform(train[list(FEATURES)])
    log_target = tune_params.model_copy(update={"log_target": True})
    blend = VotingRegressor([
        ("hgb", build_regressor("hist_gradient_boosting", {"max_iter": 60}, log_target)),
        ("lgbm", build_regressor("lightgbm", {"n_estimators": 60}, log_target)),
    ], weights=[0.7, 0.3]).fit(X, train[TARGET])
    model = Pipeline([("features", features), ("regressor", blend)])
    predict = compile_pipeline(model, rows)
    assert predict is not model.predict
    np.testing.assert_allclose(predict(rows.head(5)), model.predict(rows.head(5)), atol=1e-9)


def test_disagreement_falls_back(hgb_pipeline, rows, monkeypatch):
    monkeypatch.setattr(CompiledTrees, "predict", lambda self, X: np.zeros(len(X)))
    assert compile_pipeline(hgb_pipeline, rows) == hgb_pipeline.predict
