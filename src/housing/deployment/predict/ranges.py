"""The training-range check of a served model: which features of a row lie outside the
ranges its training data spanned (such rows are still predicted, and flagged)."""

from __future__ import annotations

import numpy as np

from housing.config import FEATURES


class RangeCheck:
    """Flags, per row, the features outside the training range (still predicted). Bounds
    are read once per loaded model; small batches compare in plain Python, which beats
    NumPy's per-call overhead below a few dozen rows."""

    SMALL = 32

    def __init__(self, ranges: dict[str, dict[str, float]]):
        self.bounds = [(f, float(ranges[f]["min"]), float(ranges[f]["max"]))
                       for f in FEATURES] if ranges else []
        self.low = np.array([b[1] for b in self.bounds])
        self.high = np.array([b[2] for b in self.bounds])

    def __call__(self, matrix: np.ndarray) -> list[list[str]]:
        if not self.bounds:
            return [[] for _ in range(len(matrix))]
        if len(matrix) <= self.SMALL:
            bounds = self.bounds
            return [[f for (f, low, high), v in zip(bounds, row) if v < low or v > high]
                    for row in matrix.tolist()]
        outside = (matrix < self.low) | (matrix > self.high)
        names = np.array(FEATURES)
        return [names[row].tolist() if row.any() else [] for row in outside]

    def outside_counts(self, matrix: np.ndarray) -> np.ndarray | None:
        """Per feature (FEATURES order), how many of ``matrix``'s values lie outside the
        training range; None when the version has no ranges."""
        if not self.bounds:
            return None
        if len(matrix) <= self.SMALL:
            return np.array([sum(1 for v in matrix[:, i].tolist() if v < low or v > high)
                             for i, (_, low, high) in enumerate(self.bounds)])
        return ((matrix < self.low) | (matrix > self.high)).sum(axis=0)
