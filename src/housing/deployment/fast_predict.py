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


def compile_pipeline(pipeline, sample: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
    """A fast ``predict`` for the served Pipeline, checked against its own on ``sample``.

    Small requests take the compiled trees; larger ones the Pipeline's own predict.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    features, regressor = pipeline[:-1], pipeline[-1]
    if hasattr(regressor, "n_jobs") and regressor.n_jobs not in (None, 1):
        regressor.set_params(n_jobs=1)  # one request, one core: threads only add overhead
    if not (isinstance(regressor, HistGradientBoostingRegressor)
            and regressor._loss.__class__.__name__ == "HalfSquaredError"):
        return pipeline.predict
    try:
        trees = CompiledTrees(regressor)
    except (AttributeError, KeyError, ValueError) as err:
        logger.warning("serving without compiled trees: %s", err)
        return pipeline.predict

    def compiled(frame: pd.DataFrame) -> np.ndarray:
        return trees.predict(features.transform(frame).to_numpy(dtype=float))

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if len(frame) > MAX_COMPILED_ROWS:
            return pipeline.predict(frame)
        return compiled(frame)

    expected, got = pipeline.predict(sample), compiled(sample)
    if not np.allclose(got, expected, rtol=0, atol=TOLERANCE):
        logger.warning("compiled trees disagree with the model (max diff %.3g); not used",
                       float(np.max(np.abs(got - expected))))
        return pipeline.predict
    return predict
