"""Deployment settings from the environment: the tree cache, and errors that name the
variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from housing.deployment.settings import Settings
from housing.environment import SettingsError


@pytest.fixture
def env(monkeypatch):
    for name in ("HOUSING_TREE_CACHE", "XDG_CACHE_HOME", "HOUSING_MAX_BATCH", "HOUSING_BIND",
                 "HOUSING_API_KEY", "HOUSING_OPEN", "HOUSING_TRUSTED_HOSTS", "WEB_CONCURRENCY",
                 "HOUSING_WORKER_CLASS", "HOUSING_PREDICTION_LOG", "HOUSING_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_tree_cache_defaults_to_the_users_cache_directory(env, tmp_path):
    env.setenv("HOME", str(tmp_path))
    assert Settings.from_env().tree_cache == tmp_path / ".cache" / "housing" / "trees"
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings.from_env().tree_cache == tmp_path / "xdg" / "housing" / "trees"


@pytest.mark.parametrize("value", ["off", "OFF", "0", "no", "false"])
def test_the_tree_cache_can_be_turned_off(env, value):
    env.setenv("HOUSING_TREE_CACHE", value)
    assert Settings.from_env().tree_cache is None


def test_the_tree_cache_can_be_placed(env, tmp_path):
    env.setenv("HOUSING_TREE_CACHE", f" {tmp_path / 'trees'} ")
    assert Settings.from_env().tree_cache == Path(tmp_path / "trees")


def test_a_bad_integer_names_the_variable(env):
    env.setenv("HOUSING_MAX_BATCH", "many")
    with pytest.raises(ValueError, match=r"^HOUSING_MAX_BATCH: 'many' is not an integer$"):
        Settings.from_env()


@pytest.mark.parametrize(("name", "value"), [("HOUSING_MAX_BATCH", "0"),
                                             ("HOUSING_WORKER_CLASS", "eventlet"),
                                             ("WEB_CONCURRENCY", "-1"),
                                             ("HOUSING_LOG_LEVEL", "loud")])
def test_every_bad_value_names_its_variable(env, name, value):
    env.setenv(name, value)
    with pytest.raises(SettingsError, match=f"^{name}: '{value}' is not allowed: should"):
        Settings.from_env()


def test_an_open_bind_needs_a_key_and_the_error_never_shows_it(env):
    env.setenv("HOUSING_BIND", "0.0.0.0:8000")
    with pytest.raises(ValueError, match="HOUSING_API_KEY is not set"):
        Settings.from_env()
    key = "s3cret-value-" + "x" * 20
    env.setenv("HOUSING_API_KEY", key)
    env.setenv("HOUSING_MAX_BATCH", "x")
    with pytest.raises(ValueError) as caught:
        Settings.from_env()
    assert key not in str(caught.value)
    env.delenv("HOUSING_MAX_BATCH")
    assert key not in repr(Settings.from_env())


def test_beyond_loopback_the_key_has_at_least_32_characters(env):
    env.setenv("HOUSING_API_KEY", "k" * 31)
    assert Settings.from_env().api_key == "k" * 31  # loopback: the operator's own machine
    env.setenv("HOUSING_BIND", "0.0.0.0:8000")
    with pytest.raises(ValueError, match="HOUSING_API_KEY is shorter than 32") as caught:
        Settings.from_env()
    assert "k" * 31 not in str(caught.value)
    env.setenv("HOUSING_API_KEY", "k" * 32)
    assert Settings.from_env().bind == "0.0.0.0:8000"


def test_trusted_hosts_come_from_the_bind_or_the_list(env):
    assert Settings.from_env().trusted_hosts == ("127.0.0.1", "localhost")
    env.setenv("HOUSING_TRUSTED_HOSTS", " api.example , 10.0.0.5 ")
    assert Settings.from_env().trusted_hosts == ("api.example", "10.0.0.5")
    env.setenv("HOUSING_TRUSTED_HOSTS", "*")
    assert Settings.from_env().trusted_hosts is None


def test_the_prediction_log_can_be_turned_off_and_gunicorn_reads_its_settings(env, tmp_path):
    env.setenv("HOUSING_PREDICTION_LOG", "off")
    env.setenv("WEB_CONCURRENCY", "3")
    settings = Settings.from_env()
    assert settings.log_dir is None and settings.workers == 3
    env.delenv("HOUSING_PREDICTION_LOG")
    assert Settings(workspace=tmp_path).log_dir == tmp_path / "data" / "predictions"


def test_the_stack_and_the_tools_variables_are_read_and_reported_the_same_way(env):
    from housing.dev.stack import Stack
    from housing.environment import tool_environment

    env.setenv("HOUSING_STACK_PORT", "0")
    with pytest.raises(SettingsError, match=r"^HOUSING_STACK_PORT: '0' is not allowed"):
        Stack.from_env()
    env.setenv("HOUSING_STACK_PORT", "5001")
    env.setenv("HOUSING_STACK_OPTUNA_PASSWORD", "x")
    env.setenv("HOUSING_STACK_S3_PORT", "many")
    with pytest.raises(SettingsError) as caught:
        Stack.from_env()
    assert str(caught.value) == "HOUSING_STACK_S3_PORT: 'many' is not an integer"
    env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    env.setenv("DVC_EXP_NAME", "")
    assert tool_environment().mlflow_tracking_uri == "http://127.0.0.1:1"
    assert tool_environment().dvc_exp_name == ""  # empty is unset
