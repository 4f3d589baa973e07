"""The register stage, the release steps and the registry look-ups against a real MLflow
store (SQLite plus a local artifact folder) in a temporary folder."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from housing.models import release
from housing.registry import events, lookup, store

NAME = "california-housing"


def alias(name: str) -> int | None:
    found = store.version_by_alias(NAME, name)
    return None if found is None else int(found.version)


@pytest.fixture
def two_versions(mlflow_store, tmp_path, register_small_model):
    first = register_small_model(tmp_path, max_iter=80)
    second = register_small_model(tmp_path, max_iter=10)  # a worse model
    return first, second


@pytest.fixture
def gate(pipeline_params):
    return pipeline_params.register.model_copy(
        update={"max_rmse": 0.9, "min_r2": 0.3, "min_improvement": 0.0})


def test_worse_model_is_not_promoted_and_history_is_kept(two_versions):
    first, second = two_versions
    assert first["promoted"] and first["production"] is None
    assert first["aliases"] == ["staging", "production"]
    assert not second["promoted"] and second["aliases"] == ["staging"]
    assert second["production"]["version"] == 1
    assert alias("production") == 1 and alias("staging") == 2
    version = MlflowClient().get_model_version(NAME, "2")
    assert {"run_id", "test_rmse", "fingerprint", "test_md5", "gate"} <= set(version.tags)
    run_tags = MlflowClient().get_run(version.run_id).data.tags
    assert "git_commit" in run_tags and any(k.startswith("dvc_md5.") for k in run_tags)
    history = events.history(NAME)
    assert [(e["event"], e["version"], e["would_promote"]) for e in history] == [
        ("register", 1, True), ("register", 2, False)]
    assert history[1]["production_version"] == 1


def test_the_same_model_is_registered_once(two_versions, tmp_path, gate):
    """A second register of what the store holds registers nothing and moves no alias."""
    from housing.config import RegisterPaths
    from housing.models import register

    before = {a: alias(a) for a in ("production", "staging", "challenger")}
    paths = RegisterPaths(**{f: tmp_path / Path(getattr(RegisterPaths(), f)).name
                             for f in ("model", "best_params", "train", "test", "metrics",
                                       "registry")})
    again = register.run(gate, paths)
    assert again["registered"] is False and again["version"] == 2
    assert again["fingerprint"] == two_versions[1]["fingerprint"]
    assert [int(v.version) for v in store.versions(NAME)] == [1, 2]
    assert {a: alias(a) for a in before} == before
    assert len(events.history(NAME)) == 2


def test_an_experiment_registers_but_moves_neither_production_nor_staging(
        mlflow_store, tmp_path, register_small_model, monkeypatch):
    register_small_model(tmp_path, max_iter=10)  # a weak production version
    monkeypatch.setenv("DVC_EXP_NAME", "lucid-dace")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0123456789abcdef")
    better = register_small_model(tmp_path, max_iter=80)
    assert better["would_promote"] and better["aliases"] == []
    assert better["experiment"] == "lucid-dace"
    assert alias("production") == 1 and alias("staging") == 1
    assert alias("challenger") == 2  # the best passing version outside production
    tags = store.get_version(NAME, 2).tags
    assert tags["experiment"] == "lucid-dace" and tags["baseline_rev"] == "0123456789abcdef"
    assert MlflowClient().get_run(tags["run_id"]).data.tags["experiment"] == "lucid-dace"
    event = events.history(NAME)[-1]
    assert event["experiment"] == "lucid-dace" and event["would_promote"] is True
    assert any("beats production" in r for r in event["reasons"])
    line = events.format_event(event)
    assert "in experiment lucid-dace (baseline 0123456)" in line and "would promote" in line


def test_challenger_names_the_best_point_of_a_sweep_not_the_last(
        mlflow_store, tmp_path, register_small_model, monkeypatch):
    register_small_model(tmp_path, max_iter=5)  # production
    monkeypatch.setenv("DVC_EXP_NAME", "sweep")
    best = register_small_model(tmp_path, max_iter=80)
    last = register_small_model(tmp_path, max_iter=20)
    assert best["candidate"]["rmse"] < last["candidate"]["rmse"]
    assert alias("challenger") == best["version"] == 2 and alias("production") == 1


def test_promote_applies_the_gate_and_records_the_step(
        mlflow_store, tmp_path, register_small_model, monkeypatch, gate):
    register_small_model(tmp_path, max_iter=80)
    monkeypatch.setenv("DVC_EXP_NAME", "weaker")
    register_small_model(tmp_path, max_iter=5)
    monkeypatch.setenv("DVC_EXP_NAME", "stronger")
    register_small_model(tmp_path, max_iter=120)
    monkeypatch.delenv("DVC_EXP_NAME")
    with pytest.raises(ValueError, match=r"the gate refuses version 2: RMSE .* does not beat"):
        release.promote(gate, version=2, reason="try")
    assert alias("production") == 1
    event = release.promote(gate, experiment="stronger", reason="reviewed in PR 7")
    assert (event["event"], event["version"], event["previous"], event["forced"]) == (
        "promote", 3, 1, False)
    assert alias("production") == 3 and alias("staging") == 3 and alias("challenger") == 1
    forced = release.promote(gate, version=2, reason="hotfix", force=True)
    assert forced["forced"] is True and alias("production") == 2
    assert "(forced past the gate)" in events.format_event(forced)
    assert [e["event"] for e in events.history(NAME)][-2:] == ["promote", "promote"]
    with pytest.raises(ValueError, match="already in production"):
        release.promote(gate, version=2, reason="again")
    with pytest.raises(ValueError, match="no version of california-housing was registered "
                                         "by experiment 'nope'"):
        release.promote(gate, experiment="nope", reason="x")


def test_rollback_moves_production_and_is_recorded(two_versions):
    store.set_alias(NAME, "production", 2)
    event = release.rollback(version=1, reason="bad batch")
    assert {k: v for k, v in event.items() if k != "at"} == {
        "event": "rollback", "model_name": NAME, "version": 1, "previous": 2,
        "reason": "bad batch"}
    assert alias("production") == 1
    assert events.history(NAME)[-1] == event
    assert "rollback: production 2 -> 1 (bad batch)" in events.format_event(event)


def test_rollback_to_a_missing_version_is_a_clear_error(two_versions):
    with pytest.raises(ValueError, match="no version 7"):
        release.rollback(version=7)


def test_reference_travels_with_the_version(two_versions, tmp_path):
    """Each reference row carries its own district's features, target and the version's
    prediction for it: DLE learns the error from these pairs, and a column shifted against
    the others would miscalibrate it silently. (The table holds floats to 10 decimals.)"""
    import numpy as np
    import pandas as pd

    from housing.config import FEATURES, ROW_ID, TARGET

    first, _ = two_versions
    reference = store.reference_frame(first["run_id"])
    test = pd.read_parquet(tmp_path / "test.parquet")
    assert len(reference) == len(test) == 4128
    rows = reference.merge(test, on=ROW_ID, how="inner", suffixes=("", "_test"),
                           validate="one_to_one")
    assert len(rows) == len(test)
    for column in [*FEATURES, TARGET]:
        np.testing.assert_allclose(rows[column], rows[f"{column}_test"], rtol=0, atol=1e-9,
                                   err_msg=column)
    model = store.load_model(NAME, first["version"])
    exact = model.predict(rows[[f"{f}_test" for f in FEATURES]].set_axis(list(FEATURES),
                                                                         axis=1))
    np.testing.assert_allclose(rows["prediction"], exact, rtol=0, atol=1e-9)
    assert set(store.feature_ranges(first["run_id"])) >= {"MedInc", "Longitude"}


def test_a_version_pins_what_loading_it_needs(two_versions):
    """The logged requirements are the model's libraries at their installed versions,
    LightGBM included (MLflow's inference misses it), and nothing of the test run."""
    from importlib.metadata import version

    import mlflow

    first, _ = two_versions
    source = store.client().get_model_version_download_uri(NAME, first["version"])
    lines = Path(mlflow.artifacts.download_artifacts(f"{source}/requirements.txt")) \
        .read_text().split()
    assert f"lightgbm=={version('lightgbm')}" in lines
    assert f"scikit-learn=={version('scikit-learn')}" in lines
    assert f"housing=={version('housing')}" in lines
    assert f"mlflow=={version('mlflow')}" in lines
    assert not [line for line in lines if line.startswith(("pytest", "rich", "psutil"))]


def test_look_ups_without_mlflow_agree_with_the_client(two_versions, tmp_path):
    """The always-run stages' cheap registry checks read the same answers as MlflowClient."""
    client = MlflowClient()
    for name in ("production", "challenger", "staging"):
        expected = client.get_model_version_by_alias(NAME, name).version
        assert lookup.alias_version(NAME, name) == int(expected)
    store.set_alias(NAME, "production", 2)
    assert lookup.alias_version(NAME, "production") == 2
    assert lookup.alias_version(NAME, "no-such-alias") is None
    assert lookup.alias_version("no-such-model", "production") is None
    assert lookup.alias_version(NAME, "production", f"sqlite:///{tmp_path / 'missing.db'}") is None
    for mv in client.search_model_versions(f"name='{NAME}'"):
        assert lookup.fingerprint_version(NAME, mv.tags["fingerprint"]) == int(mv.version)
    assert lookup.fingerprint_version(NAME, "0" * 32) is None
    client.delete_model_version(NAME, "2")
    fingerprint = two_versions[1]["fingerprint"]
    assert lookup.fingerprint_version(NAME, fingerprint) is None


def test_a_store_whose_schema_changed_fails_loudly_instead_of_answering_none(
        two_versions, mlflow_store, tmp_path):
    """A real MLflow store, then a column renamed as an MLflow upgrade might: the look-up
    names the table and column rather than saying "no version"."""
    import shutil
    import sqlite3

    copy = tmp_path / "changed.db"
    shutil.copy(mlflow_store.removeprefix("sqlite:///"), copy)
    assert lookup.alias_version(NAME, "production", f"sqlite:///{copy}") is not None
    with sqlite3.connect(copy) as conn:
        conn.execute("ALTER TABLE registered_model_aliases RENAME COLUMN alias TO alias_name")
    with pytest.raises(lookup.SchemaError, match=r"registered_model_aliases.*alias"):
        lookup.alias_version(NAME, "production", f"sqlite:///{copy}")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a file MLflow has not initialised: no answer yet
    assert lookup.alias_version(NAME, "production", f"sqlite:///{empty}") is None


def test_a_version_loads_from_the_configured_store_after_another_was_used(
        mlflow_store, tmp_path, monkeypatch, register_small_model, housing_frame):
    """One process, two stores: after registering into B (which points MLflow's
    process-wide URIs at B), pointing MLFLOW_TRACKING_URI back at A loads A's version 1."""
    from housing.config import FEATURES

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    rows = housing_frame[list(FEATURES)].head(50)
    models = {}
    for workspace, max_iter in ((a, 80), (b, 5)):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
        monkeypatch.chdir(workspace)
        assert register_small_model(workspace, max_iter=max_iter)["version"] == 1
        models[workspace] = store.load_model(NAME, 1).predict(rows)
    assert abs(models[a] - models[b]).max() > 1e-3  # two different models
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{a / 'mlflow.db'}")
    monkeypatch.chdir(a)
    loaded = store.load_model(NAME, 1)
    assert (loaded.predict(rows) == models[a]).all()
    assert set(store.feature_ranges(store.get_version(NAME, 1).run_id)) >= {"MedInc"}
