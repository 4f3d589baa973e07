"""The model holder swaps versions when the alias moves (the polling path)."""

from mlflow.tracking import MlflowClient

from housing.deployment.holder import ModelHolder


def test_refresh_follows_the_alias(mlflow_store, tmp_path, register_small_model):
    register_small_model(tmp_path, max_iter=40)
    holder = ModelHolder("california-housing", "production")
    assert holder.refresh() and holder.current.version == "1"
    assert not holder.refresh()  # unchanged alias: nothing reloaded
    register_small_model(tmp_path, max_iter=10)
    MlflowClient().set_registered_model_alias("california-housing", "production", "2")
    assert holder.refresh() and holder.current.version == "2"
    assert holder.last_error is None


def test_trees_move_to_lleaves_in_the_background(mlflow_store, tmp_path,
                                                 register_small_model):
    import numpy as np

    from housing.deployment.predict.compiled import TOLERANCE
    from housing.deployment.predict.prepare import check_rows

    register_small_model(tmp_path, max_iter=40)
    holder = ModelHolder("california-housing", "production", tree_cache=tmp_path / "trees")
    assert holder.refresh()
    first = holder.current
    assert first.predict.trees == ("lightgbm",)  # served at once, before any compiling
    holder._native_thread.join(timeout=300)
    assert holder.native_error is None
    native = holder.current
    assert native is not first and native.version == first.version
    assert native.predict.trees == ("lleaves",) and native.describe()["runtime"]["trees"] \
        == ["lleaves"]
    rows = check_rows(native.ranges, n=64)
    np.testing.assert_allclose(native.predict(rows), first.predict(rows), rtol=0,
                               atol=TOLERANCE)
    # a second holder (another worker) finds the libraries and starts on lleaves
    again = ModelHolder("california-housing", "production", tree_cache=tmp_path / "trees")
    assert again.refresh() and again.current.predict.trees == ("lleaves",)
    assert again._native_thread is None


def test_missing_alias_keeps_serving_nothing_with_a_reason(mlflow_store):
    holder = ModelHolder("california-housing", "production")
    assert not holder.refresh()
    assert holder.current is None and "california-housing" in holder.last_error
