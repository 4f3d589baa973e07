"""The served feature steps without a DataFrame per request.

Each feature step computes its new columns in ``new_columns`` from input columns given
as float arrays by name; its ``transform`` wraps that in DataFrames. For a request of a
few rows the frames are most of the cost, so the service calls the same ``new_columns``
of the same fitted steps on plain arrays (``ArrayFeatures``): one definition of each
feature's math, the same operations on the same float64 values, so the same bits as the
Pipeline's ``transform`` (tests/model/test_features.py checks every test-set row, one
at a time and as one batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from housing.features.transformers import stack_columns


class UnsupportedFeatures(ValueError):
    """The feature steps cannot run on arrays (the service then uses the Pipeline)."""


def _flat_steps(pipeline: Pipeline) -> list[tuple[str, object]]:
    """The steps of a Pipeline, nested Pipelines expanded, "passthrough" left out."""
    steps = []
    for name, step in pipeline.steps:
        if isinstance(step, Pipeline):
            steps.extend(_flat_steps(step))
        elif step is not None and step != "passthrough":
            steps.append((name, step))
    return steps


class ArrayFeatures:
    """A fitted feature Pipeline's ``transform``, from and to float matrices."""

    def __init__(self, features: Pipeline, input_names: Sequence[str]):
        self.input_names = tuple(input_names)
        self.steps = []
        for name, step in _flat_steps(features):
            if not callable(getattr(step, "new_columns", None)):
                raise UnsupportedFeatures(f"step '{name}' ({type(step).__name__}) has no "
                                          "new_columns")
            check_is_fitted(step)
            self.steps.append(step)
        expected = [str(n) for n in features.get_feature_names_out()]
        if len(set(expected)) != len(expected):
            raise UnsupportedFeatures("the feature steps produce duplicate column names")
        probe = self._columns(np.ones((1, len(self.input_names))))
        if list(probe) != expected:
            raise UnsupportedFeatures(f"array columns {list(probe)} differ from the "
                                      f"Pipeline's {expected}")
        self.names = tuple(expected)

    def _columns(self, X: np.ndarray) -> dict[str, np.ndarray]:
        columns = {name: X[:, i] for i, name in enumerate(self.input_names)}
        for step in self.steps:
            columns.update(step.new_columns(columns))
        return columns

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The model's input matrix for raw feature rows ``X`` (columns in input order)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.input_names):
            raise ValueError(f"expected rows of {len(self.input_names)} features, "
                             f"got shape {X.shape}")
        return stack_columns(self._columns(X).values())
