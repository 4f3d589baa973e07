"""Tree members in one format: LightGBM's model text, which lleaves compiles.

A LightGBM member is already in that format (``model_to_string``); a squared-error
HistGradientBoosting member is written in it by ``lightgbm_text``: the same float64
thresholds, ``x <= threshold`` to the left, missing values to the side the tree learned
(LightGBM's "missing type NaN" with the default-left bit), the leaf values as fitted
(learning rate included) and the baseline as a first, one-leaf tree. So every tree
picks the same leaf as in the Pipeline, and only the order of the float64 sum differs
(compiled.py's tolerance).
"""

from __future__ import annotations

import numpy as np


class NativeUnavailable(RuntimeError):
    """lleaves cannot compile or load this member here."""


def lightgbm_text(regressor) -> str:
    """A fitted squared-error HistGradientBoostingRegressor in LightGBM's text format."""
    if regressor._loss.__class__.__name__ != "HalfSquaredError":
        raise NativeUnavailable(f"HistGradientBoosting loss {regressor.loss}")
    if getattr(regressor, "is_categorical_", None) is not None \
            and np.any(regressor.is_categorical_):
        raise NativeUnavailable("categorical splits")
    n_features = int(regressor.n_features_in_)
    baseline = float(np.asarray(regressor._baseline_prediction).reshape(-1)[0])
    trees = [_tree_block(0, {"num_leaves": "1", "leaf_value": repr(baseline)})]
    for i, (predictor,) in enumerate(regressor._predictors, start=1):
        trees.append(_tree_block(i, _tree_fields(predictor.nodes)))
    header = ["tree", "version=v4", "num_class=1", "num_tree_per_iteration=1",
              "label_index=0", f"max_feature_idx={n_features - 1}", "objective=regression",
              "feature_names=" + " ".join(f"f{j}" for j in range(n_features)),
              "feature_infos=" + " ".join(["[-1e308:1e308]"] * n_features),
              "tree_sizes=" + " ".join(str(len(t.encode()) + 1) for t in trees), ""]
    # LightGBM closes its files with the pandas categories line, which lleaves reads
    return ("\n".join(header) + "\n" + "\n".join(trees)
            + "\nend of trees\n\npandas_categorical:null\n")


def _tree_fields(nodes: np.ndarray) -> dict[str, str]:
    """One HistGradientBoosting predictor's nodes as LightGBM tree fields."""
    is_leaf = nodes["is_leaf"].astype(bool)
    if is_leaf[0]:
        return {"num_leaves": "1", "leaf_value": repr(float(nodes["value"][0]))}
    splits = np.flatnonzero(~is_leaf)  # the root is node 0, so split 0
    leaves = np.flatnonzero(is_leaf)
    split_id = {int(n): i for i, n in enumerate(splits)}
    leaf_id = {int(n): i for i, n in enumerate(leaves)}

    def child(n: int) -> str:
        return str(split_id[n]) if n in split_id else str(~leaf_id[n])

    def join(values) -> str:
        return " ".join(values)

    return {
        "num_leaves": str(len(leaves)),
        "split_feature": join(str(int(nodes["feature_idx"][n])) for n in splits),
        "threshold": join(repr(float(nodes["num_threshold"][n])) for n in splits),
        # missing type NaN (8), plus default-left (2) where missing values go left
        "decision_type": join("10" if nodes["missing_go_to_left"][n] else "8"
                              for n in splits),
        "left_child": join(child(int(nodes["left"][n])) for n in splits),
        "right_child": join(child(int(nodes["right"][n])) for n in splits),
        "leaf_value": join(repr(float(nodes["value"][n])) for n in leaves),
    }


def _tree_block(index: int, fields: dict[str, str]) -> str:
    fields = {"split_feature": "", "threshold": "", "decision_type": "", "left_child": "",
              "right_child": "", **fields}
    lines = [f"Tree={index}", f"num_leaves={fields['num_leaves']}", "num_cat=0"]
    lines += [f"{key}={fields[key]}" for key in ("split_feature", "threshold",
                                                 "decision_type", "left_child",
                                                 "right_child", "leaf_value")]
    return "\n".join([*lines, "shrinkage=1", ""])


def member_text(regressor) -> str:
    """The LightGBM-format text of a tree member this module compiles."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from housing.models.lgbm import LightGBMRegressor

    if isinstance(regressor, HistGradientBoostingRegressor):
        return lightgbm_text(regressor)
    if isinstance(regressor, LightGBMRegressor):
        return regressor._booster().model_to_string()
    raise NativeUnavailable(type(regressor).__name__)
