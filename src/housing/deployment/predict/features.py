"""The served feature steps without a DataFrame per request.

Each feature step computes its new columns in ``new_columns`` from input columns given
as float arrays by name; its ``transform`` wraps that in DataFrames. For a request of a
few rows the frames are most of the cost, so the service calls the same ``new_columns``
of the same fitted steps on plain arrays (``ArrayFeatures``): the same operations on the
same float64 values, so the same bits as the Pipeline's ``transform``.

For a single row even arrays cost: some hundred NumPy calls on one-element arrays. So
each of the project's steps also has a ``row_kernel`` beside its ``new_columns``: the
same row on Python floats, whose + - * / and sqrt are the same correctly rounded IEEE
operations as NumPy's elementwise loops; the transcendental functions go through
stable_math and the neighbour sums through NumPy on arrays of the Pipeline's own length,
so that their summation order is NumPy's. ``RowFeatures`` chains them. The same bits
again: tests/model/test_features.py checks both paths against the Pipeline's
``transform`` on every test-set row, and ``ArrayFeatures`` checks two probe districts
before it uses the row path. benchmarks/service.py measures what the row path saves.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)


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


# Up to this many rows a request runs the row path row by row: beyond one row the array
# path's fixed cost is shared (benchmarks/service.py, "in-process cost of each step").
ROW_PATH_MAX = 1
# Two real districts (inland and coastal) on which the row path must give the array
# path's bits before it is used.
PROBES = (
    {"MedInc": 3.87, "HouseAge": 28.0, "AveRooms": 5.43, "AveBedrms": 1.10,
     "Population": 1425.0, "AveOccup": 3.07, "Latitude": 35.63, "Longitude": -119.57},
    {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
     "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23},
)


class RowFeatures:
    """One row of the fitted feature steps, on Python floats (see the module's doc)."""

    def __init__(self, steps: Sequence[object], input_names: Sequence[str]):
        self.input_names = tuple(input_names)
        self.steps = []
        for step in steps:
            if not callable(getattr(step, "row_kernel", None)):
                raise UnsupportedFeatures(f"no row kernel for {type(step).__name__}")
            try:
                self.steps.append(step.row_kernel())
            except ValueError as err:
                raise UnsupportedFeatures(str(err)) from err

    def transform(self, row: Sequence[float]) -> list[float] | None:
        """The feature values of one raw row, or None where a value is not finite (a
        zero divisor, an overflow): such rows take the array path's NumPy semantics."""
        columns = dict(zip(self.input_names, map(float, row)))
        try:
            for new in self.steps:
                columns.update(new(columns))
        except (ZeroDivisionError, OverflowError, ValueError):
            return None
        values = list(columns.values())
        return values if all(map(math.isfinite, values)) else None


class ArrayFeatures:
    """A fitted feature Pipeline's ``transform``, from and to float matrices (one row
    at a time through ``RowFeatures`` for the smallest requests)."""

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
        self.rows = self._row_path()

    def _row_path(self) -> RowFeatures | None:
        """The row path, if every step has a row kernel that agrees on probe rows."""
        try:
            rows = RowFeatures(self.steps, self.input_names)
            probes = np.array([[PROBES[i][n] for n in self.input_names]
                               for i in range(len(PROBES))])
        except (UnsupportedFeatures, KeyError) as err:
            logger.info("features: array path only (%s)", err)
            return None
        for raw in probes:
            expected = np.column_stack(list(self._columns(raw[None, :]).values()))[0]
            try:
                got = rows.transform(raw.tolist())
            except KeyError:
                got = None
            if got is None or not np.array_equal(np.array(got), expected):
                logger.warning("features: the row path differs from the array path on a "
                               "probe row; array path only")
                return None
        return rows

    def _columns(self, X: np.ndarray) -> dict[str, np.ndarray]:
        columns = {name: np.ascontiguousarray(X[:, i], dtype=np.float64)
                   for i, name in enumerate(self.input_names)}
        for step in self.steps:
            columns.update(step.new_columns(columns))
        return columns

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The model's input matrix for raw feature rows ``X`` (columns in input order)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.input_names):
            raise ValueError(f"expected rows of {len(self.input_names)} features, "
                             f"got shape {X.shape}")
        if self.rows is not None and len(X) <= ROW_PATH_MAX:
            values = [self.rows.transform(row) for row in X.tolist()]
            if all(v is not None for v in values):
                return np.array(values, dtype=np.float64).reshape(len(X), len(self.names))
        return np.column_stack(list(self._columns(X).values()))
