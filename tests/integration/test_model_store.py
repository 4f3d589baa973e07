"""The model holder swaps versions when the alias moves (the polling path)."""

from mlflow.tracking import MlflowClient

from housing.deployment.model_store import ModelHolder


def test_refresh_follows_the_alias(mlflow_store, tmp_path, register_small_model):
    register_small_model(tmp_path, max_iter=40)
    holder = ModelHolder("california-housing", "production")
    assert holder.refresh() and holder.current.version == "1"
    assert not holder.refresh()  # unchanged alias: nothing reloaded
    register_small_model(tmp_path, max_iter=10)
    MlflowClient().set_registered_model_alias("california-housing", "production", "2")
    assert holder.refresh() and holder.current.version == "2"
    assert holder.last_error is None


def test_missing_alias_keeps_serving_nothing_with_a_reason(mlflow_store):
    holder = ModelHolder("california-housing", "production")
    assert not holder.refresh()
    assert holder.current is None and "california-housing" in holder.last_error
