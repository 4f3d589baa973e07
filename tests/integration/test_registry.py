"""The register stage and rollback against a real MLflow store in a temporary folder."""


import pytest
from mlflow.tracking import MlflowClient

from housing.models import registry


@pytest.fixture
def two_versions(mlflow_store, tmp_path, register_small_model):
    first = register_small_model(tmp_path, max_iter=80)
    second = register_small_model(tmp_path, max_iter=10)  # a worse model
    return first, second


def test_worse_model_is_not_promoted_and_history_is_kept(two_versions):
    first, second = two_versions
    assert first["promoted"] and first["production"] is None
    assert not second["promoted"] and second["aliases"][0] == "challenger"
    assert second["production"]["version"] == 1
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("california-housing", "production").version) == "1"
    version = client.get_model_version("california-housing", "2")
    assert {"run_id", "test_rmse"} <= set(version.tags)
    run_tags = client.get_run(version.run_id).data.tags
    assert "git_commit" in run_tags and any(k.startswith("dvc_md5.") for k in run_tags)
    events = registry.history(client)
    assert [(e["event"], e["version"], e["promoted"]) for e in events] == [
        ("register", 1, True), ("register", 2, False)]
    assert events[1]["production_version"] == 1


def test_rollback_moves_production_and_is_recorded(two_versions):
    client = MlflowClient()
    client.set_registered_model_alias("california-housing", "production", "2")
    event = registry.rollback(version=1, reason="bad batch")
    assert {k: v for k, v in event.items() if k != "at"} == {
        "event": "rollback", "model_name": "california-housing", "version": 1, "previous": 2,
        "reason": "bad batch"}
    assert str(client.get_model_version_by_alias("california-housing", "production").version) == "1"
    assert registry.history(client)[-1] == event
    assert "rollback: production 2 -> 1 (bad batch)" in registry.format_event(event)


def test_rollback_to_a_missing_version_is_a_clear_error(two_versions):
    with pytest.raises(ValueError, match="no version 7"):
        registry.rollback(version=7)


def test_reference_travels_with_the_version(two_versions):
    first, _ = two_versions
    reference = registry.reference_frame(first["run_id"])
    assert len(reference) == 4128
    assert {"MedHouseVal", "prediction", "MedInc"} <= set(reference.columns)


def test_alias_look_up_without_mlflow_agrees_with_the_client(two_versions, mlflow_store,
                                                            tmp_path):
    """The monitor's cheap registry check reads the same answer as MlflowClient."""
    from housing.models.tracking import alias_version

    client = MlflowClient()
    for alias in ("production", "challenger", "staging"):
        expected = int(client.get_model_version_by_alias("california-housing", alias).version)
        assert alias_version("california-housing", alias) == expected
    client.set_registered_model_alias("california-housing", "production", "2")
    assert alias_version("california-housing", "production") == 2
    assert alias_version("california-housing", "no-such-alias") is None
    assert alias_version("no-such-model", "production") is None
    assert alias_version("california-housing", "production",
                         f"sqlite:///{tmp_path / 'missing.db'}") is None
