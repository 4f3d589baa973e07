"""The model holder swaps versions when the alias moves (the polling path)."""

from mlflow.tracking import MlflowClient

from housing.deployment.served_model import ModelHolder


def test_refresh_follows_the_alias(mlflow_store, tmp_path, register_small_model):
    register_small_model(tmp_path, max_iter=40)
    holder = ModelHolder("california-housing", "production")
    assert holder.refresh() and holder.current.version == "1"
    assert not holder.refresh()  # unchanged alias: nothing reloaded
    register_small_model(tmp_path, max_iter=10)
    MlflowClient().set_registered_model_alias("california-housing", "production", "2")
    assert holder.refresh() and holder.current.version == "2"
    assert holder.last_error is None


def test_a_version_is_adopted_on_lleaves_and_never_swapped(mlflow_store, tmp_path,
                                                          register_small_model):
    """Its trees compile before the version is adopted (in the probe's process): the
    first predict it serves is already lleaves, equal to the Pipeline's."""
    import numpy as np

    from housing.deployment.predict.compiled import TOLERANCE, pipeline_predict
    from housing.deployment.predict.prepare import check_rows

    register_small_model(tmp_path, max_iter=40)
    holder = ModelHolder("california-housing", "production", tree_cache=tmp_path / "trees")
    assert holder.refresh()
    first = holder.current
    assert first.predict.trees == ("lleaves",) and first.describe()["runtime"]["trees"] \
        == ["lleaves"]
    rows = check_rows(first.ranges, n=64)
    np.testing.assert_allclose(first.predict(rows), pipeline_predict(first.model)(rows),
                               rtol=0, atol=TOLERANCE)
    assert not any(t.name == "tree-compiler" for t in __import__("threading").enumerate())
    assert list((tmp_path / "trees").glob("trees-*.o"))  # built once, in the cache
    # a second holder (another worker) finds the libraries and starts on lleaves
    again = ModelHolder("california-housing", "production", tree_cache=tmp_path / "trees")
    assert again.refresh() and again.current.predict.trees == ("lleaves",)


def test_missing_alias_keeps_serving_nothing_with_a_reason(mlflow_store):
    holder = ModelHolder("california-housing", "production")
    assert not holder.refresh()
    assert holder.current is None and "california-housing" in holder.last_error
