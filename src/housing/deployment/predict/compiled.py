"""The served model's predict on compiled trees, checked against the Pipeline.

One runtime serves trees: each tree member (HistGradientBoosting or LightGBM, written in
LightGBM's text format by tree_text) compiled to machine code by lleaves (trees), built
before the version serves (prepare). A blend is the weighted sum of its members; a
log-target wrapper applies its inverse after its part. The feature steps run without
DataFrames (features).

The compiled trees keep the models' float64 thresholds and comparison (``x <= t``,
missing values to the trained side), so every tree picks the same leaf as in the
Pipeline; only the order of the float64 sums differs, a rounding of order N * 2.2e-16
times the summed leaf magnitudes for N trees (benchmarks/tree_runtimes.py reports the
largest difference over the test set). The load check allows 1e-9, 1/10,000 of a dollar:
far above that rounding, far below what a different leaf in any tree would change.

Everything else is the Pipeline's own predict: a model with a part the compiler does not
take, a member without a verified library (the tree cache off, a failed build, a refused
library), a compiled predict that fails its check, and rows whose engineered features
are not all finite (a zero occupancy, say), so missing-value handling is never the
runtime's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from housing.config import FEATURES
from housing.deployment.predict.features import ArrayFeatures, UnsupportedFeatures
from housing.models.ensemble import fold
from housing.models.intervals import IntervalRegressor, pipeline_interval

logger = logging.getLogger(__name__)

TOLERANCE = 1e-9
Predict = Callable[[np.ndarray], np.ndarray]
# (prediction, lower, upper) for raw rows; the bounds are None for a version without them.
Interval = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
PredictInterval = Callable[[np.ndarray], Interval]
# A member's compiled (lleaves) trees, or None where its library is not in the cache.
Native = Callable[[object], Predict | None]


class Unsupported(ValueError):
    """A part of the model that the compiled path does not take."""


def compile_regressor(regressor, native: Native | None = None
                      ) -> tuple[Predict, int, tuple[str, ...]]:
    """A predict over the feature matrix for the regressors this project serves, its tree
    count, and the runtime of each tree member (the point prediction: compile_pipeline
    adds an interval's bounds)."""

    def transformed(node, inner):
        predict, n, runtimes = inner
        inverse = node.inverse_func
        return (lambda X: inverse(predict(X))), n, runtimes

    def blended(node, members):
        weights = np.asarray(node.weights if node.weights is not None
                             else np.ones(len(members)), dtype=float)
        weights = weights / weights.sum()
        predicts = [m for m, _, _ in members]
        return ((lambda X: np.column_stack([m(X) for m in predicts]) @ weights),
                sum(n for _, n, _ in members), tuple(r for _, _, rs in members for r in rs))

    return fold(regressor, leaf=lambda member: compile_member(member, native),
                transformed=transformed, blended=blended)


def compile_member(regressor, native: Native | None) -> tuple[Predict, int, tuple[str, ...]]:
    """One tree model on its lleaves library from ``native``; Unsupported for any other
    model, or where the library is missing."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from housing.models.lgbm import LightGBMRegressor

    if not isinstance(regressor, HistGradientBoostingRegressor | LightGBMRegressor):
        raise Unsupported(type(regressor).__name__)
    if native is None:
        raise Unsupported("no tree cache (HOUSING_TREE_CACHE is off)")
    trees = native(regressor)
    if trees is None:
        raise Unsupported(f"no verified lleaves library for {type(regressor).__name__}")
    return trees, trees.num_tree, ("lleaves",)


@dataclass(frozen=True)
class ServedPredict:
    """``predict(rows)`` for raw feature rows (float matrix in FEATURES order)."""

    runtime: str               # "compiled" (tree runtimes below) or "pipeline"
    max_abs_diff: float | None  # realized difference from the Pipeline on the check rows
    predict: Predict
    reason: str = ""           # why the Pipeline serves, when it does
    trees: tuple[str, ...] = ()  # each tree member's runtime (lleaves) when compiled
    predict_interval: PredictInterval | None = None  # the prediction with its bounds

    @property
    def native(self) -> bool:
        """True when the compiled trees serve (lleaves is their only runtime)."""
        return self.runtime == "compiled"

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return self.predict(rows)


def pipeline_predict(pipeline) -> Predict:
    """The Pipeline's own predict, from a float matrix."""
    return lambda rows: np.asarray(
        pipeline.predict(pd.DataFrame(rows, columns=list(FEATURES))), dtype=float)


def pipeline_predict_interval(pipeline) -> PredictInterval:
    """The Pipeline's own prediction and bounds (None without an interval), from a float
    matrix."""
    def predict_interval(rows: np.ndarray) -> Interval:
        frame = pd.DataFrame(rows, columns=list(FEATURES))
        found = pipeline_interval(pipeline, frame)
        if found is None:
            return np.asarray(pipeline.predict(frame), dtype=float), None, None
        return found
    return predict_interval


def with_bounds(features: ArrayFeatures, trees: Predict, bounds: IntervalRegressor | None,
                slow: PredictInterval) -> PredictInterval:
    """The compiled prediction and its bounds: the trees' point and ``bounds.half_width``
    on the same feature matrix; rows with a non-finite feature take the Pipeline's."""
    def on_trees(X: np.ndarray) -> Interval:
        point = trees(X)
        if bounds is None:
            return point, None, None
        half = bounds.half_width(X, point)
        return point, point - half, point + half

    def predict_interval(rows: np.ndarray) -> Interval:
        X = features.transform(rows)
        finite = np.isfinite(X).all(axis=1)
        if finite.all():
            return on_trees(X)
        parts = [np.empty(len(rows)) for _ in range(3)]
        for mask, found in ((finite, on_trees(X[finite]) if finite.any() else None),
                            (~finite, slow(rows[~finite]))):
            for part, values in zip(parts, found or ()):
                if values is not None:
                    part[mask] = values
        return parts[0], *((parts[1], parts[2]) if bounds is not None else (None, None))
    return predict_interval


def largest_difference(got: Interval, expected: Interval) -> float:
    """The largest absolute difference between two predictions with their bounds."""
    if (got[1] is None) != (expected[1] is None):
        return float("inf")
    pairs = zip(got, expected) if got[1] is not None else [(got[0], expected[0])]
    return max(float(np.max(np.abs(a - b))) for a, b in pairs)


def compile_pipeline(pipeline, check_rows: np.ndarray, native: Native | None = None
                     ) -> ServedPredict:
    """The served predict: array features and compiled trees (each member's library from
    ``native``) if they agree with the Pipeline on ``check_rows``, otherwise the
    Pipeline's own predict."""
    if hasattr(pipeline[-1], "n_jobs") and pipeline[-1].n_jobs not in (None, 0, 1):
        pipeline[-1].set_params(n_jobs=1)  # one request, one core: threads only add overhead
    slow = pipeline_predict(pipeline)
    slow_interval = pipeline_predict_interval(pipeline)
    try:
        features = ArrayFeatures(pipeline[:-1], FEATURES)
        trees, n_trees, runtimes = compile_regressor(pipeline[-1], native)
    except (Unsupported, UnsupportedFeatures, ImportError) as err:
        logger.warning("serving the Pipeline: %s", err)
        return ServedPredict("pipeline", None, slow, reason=str(err),
                             predict_interval=slow_interval)
    bounds = pipeline[-1] if isinstance(pipeline[-1], IntervalRegressor) else None
    fast_interval = with_bounds(features, trees, bounds, slow_interval)

    def fast(rows: np.ndarray) -> np.ndarray:
        return fast_interval(rows)[0]

    try:
        diff = largest_difference(fast_interval(check_rows), slow_interval(check_rows))
    except Exception as err:  # a runtime that fails on the check rows is not served
        logger.exception("compiled predict failed its check")
        return ServedPredict("pipeline", None, slow, reason=f"check failed: {err}",
                             predict_interval=slow_interval)
    if not diff <= TOLERANCE:
        logger.warning("compiled predict differs from the Pipeline by %.3g (> %g): serving "
                       "the Pipeline", diff, TOLERANCE)
        return ServedPredict("pipeline", diff, slow, predict_interval=slow_interval,
                             reason=f"differs from the Pipeline by {diff:.3g}")
    logger.info("serving %d trees compiled on %s (max diff from the Pipeline %.3g on %d "
                "rows)", n_trees, "+".join(runtimes), diff, len(check_rows))
    return ServedPredict("compiled", diff, fast, trees=runtimes, predict_interval=fast_interval)
