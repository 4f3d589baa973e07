"""The served predict (array features + lleaves-compiled trees) equals the Pipeline's
own predict; without compiled trees the Pipeline serves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import VotingRegressor
from sklearn.pipeline import Pipeline

from housing.config import FEATURES, TARGET
from housing.deployment.predict import compiled, tree_text
from housing.deployment.predict import trees as native_trees
from housing.deployment.predict.compiled import TOLERANCE, compile_pipeline
from housing.deployment.predict.prepare import build_libraries, cached_native
from housing.models.ensemble import tree_members
from housing.models.intervals import IntervalRegressor, pipeline_interval
from housing.models.spaces import build_regressor


@pytest.fixture(scope="module")
def splits(housing_frame, pipeline_params):
    from housing.data.split import split_dataset

    prepare = pipeline_params.prepare
    return split_dataset(housing_frame, stream_fraction=prepare.stream_fraction,
                         seed=prepare.seed)


@pytest.fixture(scope="module")
def features(splits, pipeline_params):
    """The committed featurize params (every step, neighbours included), fitted."""
    from housing.features.featurize import build_feature_pipeline

    pipeline = build_feature_pipeline(pipeline_params.featurize)
    X = pipeline.fit_transform(splits.train[list(FEATURES)], splits.train[TARGET])
    return pipeline, X


def served_shape(features, regressor) -> Pipeline:
    return Pipeline([("features", features[0]), ("regressor", regressor)])


@pytest.fixture(scope="module")
def ensemble(features, splits, tune_params):
    """The default model's shape: HistGradientBoosting and LightGBM, blended, inside its
    conformal interval."""
    from sklearn.model_selection import KFold, cross_val_predict

    _, X = features
    y = splits.train[TARGET].to_numpy()
    blend = VotingRegressor([
        ("hist_gradient_boosting", build_regressor(
            "hist_gradient_boosting", {"max_iter": 120, "max_leaf_nodes": 40}, tune_params)),
        ("lightgbm", build_regressor("lightgbm", {"n_estimators": 120, "num_leaves": 40},
                                     tune_params)),
    ], weights=[0.354, 0.646])
    folds = KFold(3, shuffle=True, random_state=0)
    oof = cross_val_predict(blend, X, y, cv=folds)
    final = IntervalRegressor(blend.fit(X, y)).fit(X, y, oof=oof, folds=folds)
    return served_shape(features, final)


def assert_served_equals_the_pipeline(served, model, frame):
    """Point and bounds, for all rows at once and row by row, within TOLERANCE."""
    rows = frame[list(FEATURES)].to_numpy()
    expected = pipeline_interval(model, frame[list(FEATURES)])
    np.testing.assert_allclose(served(rows), expected[0], rtol=0, atol=TOLERANCE)
    for got, want in zip(served.predict_interval(rows), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
    for i in range(0, len(rows), 7):
        for got, want in zip(served.predict_interval(rows[i:i + 1]), expected):
            np.testing.assert_allclose(got, want[i:i + 1], rtol=0, atol=TOLERANCE)


@pytest.fixture(scope="module")
def native(ensemble, tmp_path_factory):
    """lleaves libraries of the ensemble's members, built as the service builds them."""
    cache = tmp_path_factory.mktemp("trees")
    build_libraries(ensemble[-1], cache)
    return cache, cached_native(cache)


def compiled_in(cache, model):
    """``cached_native`` over ``cache`` after building ``model``'s libraries there."""
    build_libraries(model[-1], cache)
    return cached_native(cache)


def test_without_compiled_trees_the_pipeline_serves(ensemble, splits, tmp_path):
    rows = splits.test[list(FEATURES)].to_numpy()[:64]
    for native, reason in ((None, "HOUSING_TREE_CACHE is off"),
                           (cached_native(tmp_path), "no verified lleaves library")):
        served = compile_pipeline(ensemble, rows, native)
        assert served.runtime == "pipeline" and reason in served.reason
        assert not served.native and served.trees == ()
        assert_served_equals_the_pipeline(served, ensemble, splits.test[:64])
    assert list(tmp_path.iterdir()) == []  # loading never compiles


def test_lleaves_members_equal_the_pipeline_on_every_test_row(ensemble, splits, native):
    rows = splits.test[list(FEATURES)].to_numpy()
    served = compile_pipeline(ensemble, rows[:256], native=native[1])
    assert served.runtime == "compiled" and served.trees == ("lleaves", "lleaves")
    assert served.native and served.max_abs_diff <= TOLERANCE
    assert_served_equals_the_pipeline(served, ensemble, splits.test)
    point, lower, upper = served.predict_interval(rows)
    assert np.all(lower < point) and np.all(point < upper)


def test_libraries_are_compiled_once_and_keyed_by_the_model(ensemble, native):
    cache, _ = native
    hgb, lgbm = tree_members(ensemble[-1])
    libraries = sorted(cache.glob("trees-*.o"))
    assert len(libraries) == 2
    stamps = [p.stat().st_mtime_ns for p in libraries]
    again = native_trees.ensure_library(tree_text.member_text(hgb), cache)
    assert again in libraries and [p.stat().st_mtime_ns for p in libraries] == stamps
    for other in (tree_text.member_text(lgbm), tree_text.member_text(hgb) + "\n"):
        assert native_trees.library_path(cache, other) != again


def test_a_cache_others_can_write_is_refused(tmp_path, ensemble):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    text = tree_text.member_text(tree_members(ensemble[-1])[0])
    with pytest.raises(tree_text.NativeUnavailable, match="writable by others"):
        native_trees.ensure_library(text, shared)


def test_a_failed_compile_names_the_error_and_leaves_nothing(tmp_path):
    with pytest.raises(tree_text.NativeUnavailable, match="compile failed"):
        native_trees.ensure_library("not a LightGBM model\n", tmp_path / "trees")
    assert not list((tmp_path / "trees").glob("trees-*.o"))
    assert not list((tmp_path / "trees").glob("*.tmp"))


def test_log_target_members_compile_and_agree(features, splits, tune_params, tmp_path):
    _, X = features
    log_target = tune_params.model_copy(update={"log_target": True})
    blend = VotingRegressor([
        ("hgb", build_regressor("hist_gradient_boosting", {"max_iter": 40}, log_target)),
        ("lgbm", build_regressor("lightgbm", {"n_estimators": 40}, log_target)),
    ], weights=[0.7, 0.3]).fit(X, splits.train[TARGET])
    model = served_shape(features, blend)
    rows = splits.test[list(FEATURES)].to_numpy()[:300]
    served = compile_pipeline(model, rows, compiled_in(tmp_path, model))
    assert served.runtime == "compiled" and served.trees == ("lleaves", "lleaves")
    np.testing.assert_allclose(served(rows), model.predict(splits.test[list(FEATURES)][:300]),
                               rtol=0, atol=TOLERANCE)


def test_missing_values_follow_the_trained_direction(housing_frame, tune_params, tmp_path):
    train = housing_frame.sample(n=2000, random_state=1)
    X = train[list(FEATURES)].copy()
    X.loc[X.sample(frac=0.2, random_state=2).index, "MedInc"] = np.nan
    model = build_regressor("hist_gradient_boosting", {"max_iter": 50}, tune_params).fit(
        X, train[TARGET])
    build_libraries(model, tmp_path / "trees")
    trees, n_trees, runtimes = compiled.compile_regressor(model, cached_native(tmp_path / "trees"))
    # LightGBM's format holds the baseline as a one-leaf tree
    assert n_trees == model.n_iter_ + 1 and runtimes == ("lleaves",)
    probe = X.head(300).to_numpy()
    assert np.isnan(probe).any()
    # through LightGBM's format and lleaves, missing values go the trained way
    np.testing.assert_allclose(trees(probe), model.predict(probe), rtol=0, atol=TOLERANCE)


def test_rows_with_non_finite_features_take_the_pipeline(ensemble, splits, native):
    rows = splits.test[list(FEATURES)].to_numpy()[:5].copy()
    rows[2, FEATURES.index("AveOccup")] = 0.0  # per-person ratios become infinite
    served = compile_pipeline(ensemble, splits.test[list(FEATURES)].to_numpy()[:64],
                              native[1])
    assert served.runtime == "compiled"
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(FEATURES))
    assert_served_equals_the_pipeline(served, ensemble, frame)
    assert np.isfinite(served.predict_interval(rows)[1][2])


def test_a_version_without_an_interval_answers_no_bounds(features, splits, tune_params,
                                                         tmp_path):
    _, X = features
    bare = served_shape(features, build_regressor(
        "hist_gradient_boosting", {"max_iter": 20}, tune_params).fit(X, splits.train[TARGET]))
    rows = splits.test[list(FEATURES)].to_numpy()[:32]
    served = compile_pipeline(bare, rows, compiled_in(tmp_path, bare))
    assert served.runtime == "compiled"
    point, lower, upper = served.predict_interval(rows)
    assert lower is None and upper is None
    np.testing.assert_allclose(point, bare.predict(splits.test[list(FEATURES)][:32]),
                               rtol=0, atol=TOLERANCE)


def test_other_families_are_served_by_the_pipeline(features, splits, tune_params):
    _, X = features
    forest = served_shape(features, build_regressor(
        "random_forest", {"n_estimators": 5}, tune_params).fit(X, splits.train[TARGET]))
    served = compile_pipeline(forest, splits.test[list(FEATURES)].to_numpy()[:32])
    assert served.runtime == "pipeline" and "RandomForest" in served.reason
    assert forest[-1].n_jobs == 1


def test_disagreement_falls_back_to_the_pipeline(ensemble, splits, native, monkeypatch):
    monkeypatch.setattr(native_trees.NativeTrees, "__call__", lambda self, X: np.zeros(len(X)))
    served = compile_pipeline(ensemble, splits.test[list(FEATURES)].to_numpy()[:32],
                              native[1])
    assert served.runtime == "pipeline" and served.max_abs_diff > TOLERANCE
    rows = splits.test[list(FEATURES)].to_numpy()[:3]
    np.testing.assert_array_equal(served(rows),
                                  ensemble.predict(splits.test[list(FEATURES)][:3]))
    for got, want in zip(served.predict_interval(rows),
                         pipeline_interval(ensemble, splits.test[list(FEATURES)][:3])):
        np.testing.assert_array_equal(got, want)
