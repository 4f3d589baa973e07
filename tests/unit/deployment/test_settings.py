"""Deployment settings from the environment: the tree cache, and errors that name the
variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from housing.deployment.settings import Settings


@pytest.fixture
def env(monkeypatch):
    for name in ("HOUSING_TREE_CACHE", "XDG_CACHE_HOME", "HOUSING_MAX_BATCH"):
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
    with pytest.raises(ValueError, match="HOUSING_MAX_BATCH must be an integer, got 'many'"):
        Settings.from_env()
