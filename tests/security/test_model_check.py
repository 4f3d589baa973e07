"""A version whose tree or index arrays would read out of bounds is refused at load,
before anything predicts with it, and the service keeps the version it serves."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import numpy as np
import pytest
import skops.io

from housing.config import FEATURES
from housing.deployment.predict.model_check import UnsafeModel, check_model
from housing.registry.serialization import load_skops_model


@pytest.fixture(scope="module")
def hgb_model(build_small_model, housing_frame):
    return build_small_model(housing_frame.sample(n=1500, random_state=5), max_iter=20)


@pytest.fixture(scope="module")
def lgbm(housing_frame):
    from housing.models.lgbm import LightGBMRegressor

    sample = housing_frame.sample(n=1500, random_state=6)
    return LightGBMRegressor(n_estimators=20, num_leaves=8).fit(
        sample[list(FEATURES)], sample["MedHouseVal"])


def round_trip(model, tmp_path):
    """Stored and loaded as the registry does: skops, the project's allow-list."""
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    return load_skops_model(path)


def test_the_models_this_project_trains_pass(hgb_model, lgbm, tmp_path):
    check_model(round_trip(hgb_model, tmp_path))
    check_model(round_trip(lgbm, tmp_path))


def test_a_blend_of_the_served_shape_passes_and_is_checked_inside(build_small_model,
                                                                  housing_frame, lgbm,
                                                                  tmp_path):
    """The production shape: a VotingRegressor of both members inside a
    TransformedTargetRegressor, whose unfitted templates are skipped."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor

    from housing.models.lgbm import LightGBMRegressor

    sample = housing_frame.sample(n=1500, random_state=7)
    X, y = sample[list(FEATURES)], sample["MedHouseVal"]
    blend = TransformedTargetRegressor(
        regressor=VotingRegressor([("hgb", HistGradientBoostingRegressor(max_iter=15)),
                                   ("lgbm", LightGBMRegressor(n_estimators=15))]),
        func=np.log1p, inverse_func=np.expm1).fit(X, y)
    loaded = round_trip(blend, tmp_path)
    check_model(loaded)
    crafted = copy.deepcopy(blend)
    lines = crafted.regressor_.estimators_[1].model_text_.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("split_feature="))
    lines[at] = "split_feature=" + " ".join(["8"] * len(lines[at].split("=")[1].split()))
    crafted.regressor_.estimators_[1].model_text_ = "\n".join(lines)
    with pytest.raises(UnsafeModel, match="split feature index"):
        check_model(round_trip(crafted, tmp_path))


def first_split(predictor) -> int:
    return int(np.flatnonzero(predictor.nodes["is_leaf"] == 0)[0])


@pytest.mark.parametrize("field, value, reason", [
    ("left", 10**6, "left child index"),
    ("right", 0, "right child index"),        # back to the root: a walk that never ends
    ("feature_idx", 99, "split feature index"),
    ("feature_idx", -1, "split feature index"),
    ("num_threshold", np.nan, "not a number"),
    ("is_categorical", 1, "categorical"),
])
def test_a_crafted_hist_gradient_boosting_node_is_refused(hgb_model, tmp_path, field, value,
                                                          reason):
    crafted = copy.deepcopy(hgb_model)
    predictor = crafted[-1].regressor_._predictors[3][0]
    predictor.nodes[field][first_split(predictor)] = value
    with pytest.raises(UnsafeModel, match=reason):
        check_model(round_trip(crafted, tmp_path))


@pytest.mark.parametrize("field, value, reason", [
    ("quantile_", float("nan"), "quantile"),
    ("quantile_", -1.0, "quantile"),
    ("low_", np.zeros(3), "input range"),
    ("sigma_max_", float("inf"), "widest sigma"),
])
def test_a_crafted_interval_is_refused(hgb_model, tmp_path, field, value, reason):
    crafted = copy.deepcopy(hgb_model)
    setattr(crafted[-1], field, value)
    with pytest.raises(UnsafeModel, match=reason):
        check_model(round_trip(crafted, tmp_path))


def test_a_crafted_interval_scale_model_is_refused(hgb_model, tmp_path):
    crafted = copy.deepcopy(hgb_model)
    crafted[-1].scale_.coef_ = crafted[-1].scale_.coef_[:-1]
    with pytest.raises(UnsafeModel, match="scale model"):
        check_model(round_trip(crafted, tmp_path))


@pytest.mark.parametrize("key, reason", [
    ("left_child", "left_child index"), ("split_feature", "split feature index")])
def test_a_crafted_lightgbm_tree_is_refused(lgbm, tmp_path, key, reason):
    crafted = copy.deepcopy(lgbm)
    lines = crafted.model_text_.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
    values = lines[at].split("=", 1)[1].split()
    values[0] = "5000" if key == "left_child" else "42"
    lines[at] = f"{key}=" + " ".join(values)
    crafted.model_text_ = "\n".join(lines)
    with pytest.raises(UnsafeModel, match=reason):
        check_model(round_trip(crafted, tmp_path))


def resized(text: str) -> str:
    """``text`` with tree_sizes recomputed, as a careful attacker would write it."""
    data = text.encode()
    end = data.index(b"\nend of trees\n") + 1
    starts = [m.start() + 1 for m in re.finditer(rb"\nTree=", data[:end])]
    sizes = " ".join(str(b - a) for a, b in zip(starts, [*starts[1:], end], strict=True))
    return re.sub(r"tree_sizes=.*", "tree_sizes=" + sizes, text)


def linear_tree(text: str) -> str:
    """The first tree made linear, each leaf asking for feature 50,000,000."""
    leaves = " ".join(["50000000"] * 8)
    return resized(text.replace("is_linear=0", "is_linear=1\nleaf_const=" + " ".join(
        ["0"] * 8) + "\nnum_features=" + " ".join(["1"] * 8) + f"\nleaf_features={leaves}"
        "\nleaf_coeff=" + " ".join(["1"] * 8), 1))


def shifted_sizes(text: str) -> str:
    return re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m.group(1)) + 7}", text)


def lightgbm_exit_code(text: str, tmp_path) -> int:
    """What LightGBM's own loader does with ``text``, in a process of its own."""
    path = tmp_path / "model.txt"
    path.write_text(text)
    script = ("import sys, lightgbm, numpy as np; b = lightgbm.Booster(model_str=open("
              "sys.argv[1]).read()); b.predict(np.ones((2, 8)))")
    return subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          timeout=120).returncode


@pytest.mark.parametrize("craft", [linear_tree, shifted_sizes], ids=["linear", "sizes"])
def test_text_that_crashes_lightgbm_is_refused_before_lightgbm_reads_it(lgbm, tmp_path,
                                                                       craft):
    """Both texts kill the process that loads them (a signal, not an exception): the
    check refuses them before LightGBM's parser sees them."""
    crafted = copy.deepcopy(lgbm)
    crafted.model_text_ = craft(lgbm.model_text_)
    assert lightgbm_exit_code(lgbm.model_text_, tmp_path) == 0
    assert lightgbm_exit_code(crafted.model_text_, tmp_path) < 0
    with pytest.raises(UnsafeModel, match=r"unexpected line|linear|tree_sizes"):
        check_model(round_trip(crafted, tmp_path))


@pytest.mark.parametrize("old, new, reason", [
    ("num_cat=0", "num_cat=1", "categorical"),
    ("decision_type=2", "decision_type=3", "categorical"),
    ("shrinkage=", "cat_threshold=1\nshrinkage=", "unexpected line"),
    ("objective=regression", "objective=regression\naverage_output", "unexpected line"),
    ("pandas_categorical:null", "pandas_categorical:[[1, 2]]", "after the trees"),
    ("num_class=1", "num_class=3", "num_class"),
])
def test_a_lightgbm_text_outside_the_projects_shape_is_refused(lgbm, tmp_path, old, new,
                                                               reason):
    assert old in lgbm.model_text_
    crafted = copy.deepcopy(lgbm)
    crafted.model_text_ = resized(lgbm.model_text_.replace(old, new, 1))
    with pytest.raises(UnsafeModel, match=reason):
        check_model(round_trip(crafted, tmp_path))


def test_a_crafted_kd_tree_is_refused(tmp_path):
    from sklearn.neighbors import KDTree

    tree = KDTree(np.random.default_rng(0).normal(size=(200, 2)))
    state = list(tree.__getstate__())
    state[1] = np.array(state[1], copy=True)
    state[1][0] = 10**6  # an index array entry past the data
    crafted = KDTree.__new__(KDTree)
    crafted.__setstate__(tuple(state))
    with pytest.raises(UnsafeModel, match="permutation"):
        check_model({"neighbours": crafted})
    check_model({"neighbours": tree})
