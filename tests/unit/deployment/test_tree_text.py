"""HistGradientBoosting trees written in LightGBM's text format (no compiling here: the
compiled libraries are tested in tests/model/test_compiled.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from housing.deployment.predict.tree_text import NativeUnavailable, lightgbm_text


def blocks(text: str) -> list[dict[str, str]]:
    trees = []
    for block in text.split("\n\n"):
        lines = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Tree" in lines:
            trees.append(lines)
    return trees


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[rng.random(300) < 0.1, 1] = np.nan
    y = X[:, 0] * 2 + np.nan_to_num(X[:, 1]) + rng.normal(scale=0.1, size=300)
    return HistGradientBoostingRegressor(max_iter=5, max_leaf_nodes=6, random_state=0).fit(X, y)


def test_every_tree_keeps_its_splits_leaves_and_missing_direction(model):
    text = lightgbm_text(model)
    trees = blocks(text)
    assert len(trees) == model.n_iter_ + 1
    assert float(trees[0]["leaf_value"]) == float(np.ravel(model._baseline_prediction)[0])
    assert "max_feature_idx=3" in text and text.endswith("pandas_categorical:null\n")
    for tree, (predictor,) in zip(trees[1:], model._predictors):
        nodes = predictor.nodes
        splits, leaves = nodes[nodes["is_leaf"] == 0], nodes[nodes["is_leaf"] == 1]
        assert int(tree["num_leaves"]) == len(leaves)
        assert [float(t) for t in tree["threshold"].split()] == splits["num_threshold"].tolist()
        assert [int(f) for f in tree["split_feature"].split()] == splits["feature_idx"].tolist()
        assert [float(v) for v in tree["leaf_value"].split()] == leaves["value"].tolist()
        default_left = [int(d) & 2 == 2 for d in tree["decision_type"].split()]
        assert default_left == splits["missing_go_to_left"].astype(bool).tolist()
        # children: every split but the root is some split's child, every leaf once
        children = [int(c) for key in ("left_child", "right_child") for c in tree[key].split()]
        assert sorted(c for c in children if c >= 0) == list(range(1, len(splits)))
        assert sorted(~c for c in children if c < 0) == list(range(len(leaves)))


def test_other_losses_are_refused(model):
    from sklearn.base import clone

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(200, 2)), rng.random(200) + 0.5
    poisson = clone(model).set_params(loss="poisson").fit(X, y)
    with pytest.raises(NativeUnavailable, match="poisson"):
        lightgbm_text(poisson)
