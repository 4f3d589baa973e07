"""params.yaml validation: every class of bad value is a ParamsError naming key, value and
what is allowed."""

from __future__ import annotations

import copy

import pytest
import yaml

from housing.params import ParamsError, load_params, parse_params


@pytest.fixture(scope="module")
def raw(repo_root) -> dict:
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def with_value(raw: dict, dotted: str, value) -> dict:
    data = copy.deepcopy(raw)
    group, key = dotted.split(".")
    data[group][key] = value
    return data


def problems(data: dict) -> list[str]:
    with pytest.raises(ParamsError) as err:
        parse_params(data, "params.yaml")
    return err.value.problems


def test_the_committed_params_are_valid(raw):
    params = parse_params(raw)
    assert params.tune.families == tuple(raw["tune"]["ensemble_members"])
    assert params.featurize.log_columns == tuple(raw["featurize"]["log_columns"])


def test_unknown_key_names_it_and_the_allowed_keys(raw):
    data = copy.deepcopy(raw)
    data["tune"]["n_trial"] = 5
    (line,) = problems(data)
    assert line.startswith("tune.n_trial: unknown key") and "n_trials" in line


def test_unknown_section(raw):
    (line,) = problems({**raw, "tuning": {}})
    assert line.startswith("tuning: unknown key") and "tune" in line


def test_missing_key(raw):
    data = copy.deepcopy(raw)
    del data["prepare"]["seed"]
    assert problems(data) == ["prepare.seed: missing key"]


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("tune.n_trials", "20", "tune.n_trials: '20' is not an integer"),
    ("tune.n_trials", 2.5, "tune.n_trials: 2.5 is not an integer"),
    ("tune.log_target", "false", "tune.log_target: 'false' is not true or false"),
    ("monitor.ks_threshold", True, "monitor.ks_threshold: True is not a number"),
    ("featurize.neighbor_ks", 8, "featurize.neighbor_ks: 8 is not a list"),
    ("tune.storage", None, "tune.storage: None is not a string"),
])
def test_wrong_type(raw, key, value, expected):
    assert problems(with_value(raw, key, value)) == [expected]


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("tune.cv_folds", 1, "greater than or equal to 2"),
    ("prepare.stream_fraction", 1.5, "less than 0.8"),
    ("tune.model", "xgboost", "'hist_gradient_boosting', 'lightgbm'"),
    ("tune.ensemble_members", ["lightgbm"], "two or more different families"),
    ("featurize.log_columns", ["Population", "Colour"], "'MedInc'"),
    ("featurize.neighbor_weighting", "gaussian", "'uniform' or 'distance'"),
    ("register.min_improvement", -0.1, "greater than or equal to 0"),
])
def test_out_of_range(raw, key, value, allowed):
    (line,) = problems(with_value(raw, key, value))
    assert line.startswith(key) and allowed in line
    # The value given is named: the whole value, or the one list item that is wrong.
    given = repr(value[-1]) if isinstance(value, list) and len(value) > 1 else repr(value)
    assert given in line.replace("(", "[").replace(")", "]") or given in line


def test_every_problem_is_reported_at_once(raw):
    data = with_value(with_value(raw, "tune.cv_folds", 1), "prepare.seed", -1)
    assert len(problems(data)) == 2


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tune: [unclosed\n")
    with pytest.raises(ParamsError, match=r"bad\.yaml.*\n.*not valid YAML"):
        load_params(bad)


def test_params_objects_are_frozen(raw):
    params = parse_params(raw)
    with pytest.raises(Exception, match="frozen"):
        params.tune.n_trials = 3
