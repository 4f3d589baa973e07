"""Check a loaded model's tree and index arrays before anything predicts with it.

skops rebuilds the arrays of the types on the allow-list (registry/serialization) as they
were stored, and the compiled code that walks them trusts their indices: a crafted child
index or feature index reads out of bounds and takes the worker down. So a version is
served only after every such array is in range:

- HistGradientBoosting's TreePredictor nodes: the record layout scikit-learn writes,
  feature indices below the model's feature count, children after their parent and
  inside the array (so every walk ends at a leaf), no categorical splits (this project
  trains none), thresholds that are numbers and leaf values that are finite;
- scikit-learn's Tree: the same rules over its node arrays;
- LightGBM's text model: field by field, known keys only, no linear trees, no
  categorical splits, consistent ``tree_sizes`` (predict/lgbm_text);
- the prediction interval: a finite, positive quantile and a finite scale model;
- a KDTree (the neighbour features): its index array a permutation of its rows and its
  nodes' ranges inside it.

A version that fails is refused with the reason (UnsafeModel), and the service keeps the
version it serves.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class UnsafeModel(ValueError):
    """A loaded model holds arrays that would index out of bounds."""


def _check_children(left: np.ndarray, right: np.ndarray, internal: np.ndarray, what: str):
    n = len(left)
    index = np.arange(n)
    for name, child in (("left", left), ("right", right)):
        child = child.astype(np.int64)[internal]
        if np.any(child <= index[internal]) or np.any(child >= n):
            raise UnsafeModel(f"{what}: a {name} child index is not after its node and "
                              f"inside the {n} nodes")


def check_tree_predictor(predictor, n_features: int, what: str) -> None:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE \
            or nodes.ndim != 1 or len(nodes) == 0:
        raise UnsafeModel(f"{what}: the nodes are not scikit-learn's predictor records")
    internal = nodes["is_leaf"] == 0
    if internal.any() and (np.any(nodes["feature_idx"][internal] < 0)
                           or np.any(nodes["feature_idx"][internal] >= n_features)):
        raise UnsafeModel(f"{what}: a split feature index is outside the "
                          f"{n_features} features")
    if np.any(nodes["is_categorical"] != 0):
        raise UnsafeModel(f"{what}: categorical splits (this project trains none)")
    if np.any(np.isnan(nodes["num_threshold"][internal])) \
            or not np.all(np.isfinite(nodes["value"][~internal])):
        raise UnsafeModel(f"{what}: a threshold or leaf value is not a number")
    _check_children(nodes["left"], nodes["right"], internal, what)


def check_hist_gradient_boosting(model, what: str) -> None:
    n_features = int(model.n_features_in_)
    if not 0 < n_features < 10_000:
        raise UnsafeModel(f"{what}: {n_features} features")
    if model._preprocessor is not None:
        raise UnsafeModel(f"{what}: a categorical preprocessor (this project trains none)")
    if not np.all(np.isfinite(np.asarray(model._baseline_prediction, dtype=float))):
        raise UnsafeModel(f"{what}: the baseline prediction is not finite")
    for i, predictors in enumerate(model._predictors):
        for predictor in predictors:
            check_tree_predictor(predictor, n_features, f"{what} tree {i}")


def check_sklearn_tree(tree, what: str) -> None:
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    if not (len(left) == len(right) == len(feature) == tree.node_count > 0):
        raise UnsafeModel(f"{what}: node arrays of different lengths")
    internal = left != -1
    if np.any((right == -1) != ~internal):
        raise UnsafeModel(f"{what}: a node with one child")
    if np.any(feature[internal] < 0) or np.any(feature[internal] >= tree.n_features):
        raise UnsafeModel(f"{what}: a split feature index is outside the features")
    _check_children(left, right, internal, what)


def check_lightgbm_text(text: str, n_features: int, what: str) -> None:
    """LightGBM's text model, field by field (predict/lgbm_text)."""
    from housing.deployment.predict.lgbm_text import UnsafeText, check_text

    try:
        check_text(text, n_features)
    except UnsafeText as err:
        raise UnsafeModel(f"{what}: {err}") from None


def check_kd_tree(tree, what: str) -> None:
    data, index, nodes, bounds = tree.get_arrays()
    n = len(data)
    if n == 0 or not np.array_equal(np.sort(np.asarray(index)), np.arange(n)):
        raise UnsafeModel(f"{what}: the index array is not a permutation of its {n} rows")
    start, end = nodes["idx_start"], nodes["idx_end"]
    if np.any(start < 0) or np.any(end > n) or np.any(start > end):
        raise UnsafeModel(f"{what}: a node's range lies outside its {n} rows")
    if bounds.shape != (2, len(nodes), data.shape[1]):
        raise UnsafeModel(f"{what}: node bounds of shape {bounds.shape}")


def check_interval(model, what: str) -> None:
    """An interval's numbers: a positive finite quantile, a finite linear scale model over
    the features, the prediction and its log."""
    quantile = getattr(model, "quantile_", None)
    if not isinstance(quantile, float) or not (0 < quantile < 1e6):
        raise UnsafeModel(f"{what}: the interval's quantile is not a positive number")
    coef = np.asarray(getattr(model.scale_, "coef_", None), dtype=float)
    intercept = np.asarray(getattr(model.scale_, "intercept_", None), dtype=float)
    n = int(model.n_features_in_) + 2
    if coef.shape != (n,) or intercept.shape != () \
            or not np.all(np.isfinite(coef)) or not np.isfinite(intercept):
        raise UnsafeModel(f"{what}: the interval's scale model is not {n} finite "
                          "coefficients and an intercept")
    low, high = (np.asarray(getattr(model, a, None), dtype=float) for a in ("low_", "high_"))
    sigma_max = getattr(model, "sigma_max_", None)
    if low.shape != (n,) or high.shape != (n,) or not np.all(low <= high) \
            or not isinstance(sigma_max, float) or not 0 < sigma_max < 1e6:
        raise UnsafeModel(f"{what}: the interval's input range or widest sigma is not "
                          "numbers")


def check_model(model: Any) -> None:
    """Walk ``model`` (a Pipeline and everything it holds) and check every tree and index
    it contains; UnsafeModel names the first problem."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.neighbors import KDTree
    from sklearn.tree._tree import Tree

    from housing.models.intervals import IntervalRegressor
    from housing.models.lgbm import LightGBMRegressor

    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(model, type(model).__name__)]
    while stack:
        obj, where = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        # An unfitted estimator (a blend's template in ``estimators``) never predicts.
        if isinstance(obj, HistGradientBoostingRegressor):
            if hasattr(obj, "_predictors"):
                check_hist_gradient_boosting(obj, where)
            continue
        if isinstance(obj, IntervalRegressor):
            check_interval(obj, where)  # then on into its regressor
        if isinstance(obj, TreePredictor):
            raise UnsafeModel(f"{where}: tree nodes outside a HistGradientBoosting model")
        if isinstance(obj, LightGBMRegressor):
            if hasattr(obj, "model_text_"):
                check_lightgbm_text(obj.model_text_, int(obj.n_features_in_), where)
            continue
        if isinstance(obj, Tree):
            check_sklearn_tree(obj, where)
            continue
        if isinstance(obj, KDTree):
            check_kd_tree(obj, where)
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((item, where) for item in obj.ravel())
            continue
        if isinstance(obj, dict):
            stack.extend((v, f"{where}.{k}") for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(obj))
        elif hasattr(obj, "__dict__"):
            stack.extend((v, f"{where}.{k}") for k, v in vars(obj).items())
