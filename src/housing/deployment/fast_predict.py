"""A compiled, vectorized predictor for the served Pipeline's gradient-boosted trees.

scikit-learn's HistGradientBoostingRegressor predicts one tree at a time from Python,
which costs microseconds per tree: about 7 ms for one row of a 1,000-tree model. The
service flattens the fitted trees into arrays once, at load time, and walks every
tree at the same time with NumPy. It is the same model (same trees, thresholds and
leaf values); ``compile_pipeline`` checks that on sample rows and otherwise falls back
to the Pipeline's own ``predict``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TOLERANCE = 1e-9
# Above this many rows scikit-learn's own per-tree loop is as fast (measured: about 80).
MAX_COMPILED_ROWS = 64


class CompiledTrees:
    """Every tree of a fitted squared-error HistGradientBoostingRegressor, as flat arrays."""

    def __init__(self, regressor):
        trees = [iteration[0].nodes for iteration in regressor._predictors]
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, sizes)
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not compiled")
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(float)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.left = (nodes["left"].astype(np.intp) + shift)
        self.right = (nodes["right"].astype(np.intp) + shift)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.value = nodes["value"].astype(float)
        self.baseline = float(np.ravel(regressor._baseline_prediction)[0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw predictions (identity link) for a float matrix of the regressor's inputs.

        Walks all (row, tree) pairs together, one level per step, keeping only the pairs
        that have not reached a leaf, so the work follows the trees' real depths.
        """
        n_rows, n_trees = X.shape[0], self.roots.size
        node = np.tile(self.roots, n_rows)
        row = np.repeat(np.arange(n_rows), n_trees)
        active = np.flatnonzero(~self.is_leaf[node])
        flat = X.ravel()
        n_cols = X.shape[1]
        while active.size:
            current = node[active]
            x = flat[row[active] * n_cols + self.feature[current]]
            go_left = np.where(np.isnan(x), self.missing_left[current],
                               x <= self.threshold[current])
            nxt = np.where(go_left, self.left[current], self.right[current])
            node[active] = nxt
            active = active[~self.is_leaf[nxt]]
        return self.value[node].reshape(n_rows, n_trees).sum(axis=1) + self.baseline


def compile_regressor(regressor) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fast predict over a float matrix for the regressors this project serves, or None.

    Squared-error HistGradientBoosting compiles to CompiledTrees; LightGBM predicts from
    its own booster; a VotingRegressor or a log-target wrapper compiles when its parts do.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor

    from housing.models.lgbm import LightGBMRegressor

    if hasattr(regressor, "n_jobs") and regressor.n_jobs not in (None, 0, 1):
        regressor.set_params(n_jobs=1)  # one request, one core: threads only add overhead
    if isinstance(regressor, HistGradientBoostingRegressor):
        if regressor._loss.__class__.__name__ != "HalfSquaredError":
            return None
        try:
            return CompiledTrees(regressor).predict
        except (AttributeError, KeyError, ValueError) as err:
            logger.warning("serving without compiled trees: %s", err)
            return None
    if isinstance(regressor, LightGBMRegressor):
        return regressor.predict
    if isinstance(regressor, TransformedTargetRegressor):
        inner = compile_regressor(regressor.regressor_)
        if inner is None:
            return None
        return lambda X: regressor.inverse_func(inner(X))
    if isinstance(regressor, VotingRegressor):
        members = [compile_regressor(est) for est in regressor.estimators_]
        if any(m is None for m in members):
            return None
        weights = np.asarray(regressor.weights if regressor.weights is not None
                             else np.ones(len(members)), dtype=float)
        weights = weights / weights.sum()
        return lambda X: np.column_stack([m(X) for m in members]) @ weights
    return None


def compile_pipeline(pipeline, sample: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
    """A fast ``predict`` for the served Pipeline, checked against its own on ``sample``.

    Small requests take the compiled path; larger ones the Pipeline's own predict.
    """
    features = pipeline[:-1]
    fast = compile_regressor(pipeline[-1])
    if fast is None:
        return pipeline.predict

    def compiled(frame: pd.DataFrame) -> np.ndarray:
        return fast(features.transform(frame).to_numpy(dtype=float))

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if len(frame) > MAX_COMPILED_ROWS:
            return pipeline.predict(frame)
        return compiled(frame)

    expected, got = pipeline.predict(sample), compiled(sample)
    if not np.allclose(got, expected, rtol=0, atol=TOLERANCE):
        logger.warning("compiled predictor disagrees with the model (max diff %.3g); not used",
                       float(np.max(np.abs(got - expected))))
        return pipeline.predict
    return predict
