"""The served feature steps without a DataFrame per request.

Each feature step computes its new columns in ``new_columns`` from input columns given
as float arrays by name; its ``transform`` wraps that in DataFrames. For a request of a
few rows the frames are most of the cost (2.2 ms of 3.5 ms for one row, measured), so
the service calls the same ``new_columns`` of the same fitted steps on plain arrays
(``ArrayFeatures``). It runs the same operations on the same float64 values, so it
gives the same bits as the Pipeline's ``transform``.

For one row even arrays cost: some hundred NumPy calls on one-element arrays, 0.27 ms
on average over the test rows (0.19 ms on the row path below; a quiet 2-core AMD EPYC).
``RowFeatures`` computes a single row of the feature steps this project
defines with Python floats, whose + - * / and sqrt are the same correctly rounded IEEE
operations as NumPy's elementwise loops; the transcendental functions go through
stable_math (correctly rounded, one call per step for all of that step's values) and the
neighbour sums through NumPy on arrays of the Pipeline's own length, so that their
summation order is NumPy's. The same bits again: tests/model/test_fast_features.py
checks both paths against the Pipeline's ``transform`` on every test-set row, one row
at a time and in batches, and ``ArrayFeatures`` checks two probe districts when it is
built.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

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


Row = dict[str, float]
# Up to this many rows a request runs the row path row by row. Measured per request:
# 1 row 0.19 ms (array path 0.27), 2 rows 0.38 (0.32), 4 rows 0.75 (0.39).
ROW_PATH_MAX = 1
# Two real districts (inland and coastal) on which the row path must give the array
# path's bits before it is used.
PROBES = (
    {"MedInc": 3.87, "HouseAge": 28.0, "AveRooms": 5.43, "AveBedrms": 1.10,
     "Population": 1425.0, "AveOccup": 3.07, "Latitude": 35.63, "Longitude": -119.57},
    {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
     "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23},
)


def _ratios(step) -> Callable[[Row], Row]:
    def new(c: Row) -> Row:
        rooms, occupancy = c["AveRooms"], c["AveOccup"]
        return {"bedrooms_per_room": c["AveBedrms"] / rooms,
                "rooms_per_person": rooms / occupancy,
                "households": c["Population"] / occupancy,
                "income_per_person": c["MedInc"] / occupancy}
    return new


def _logs(step) -> Callable[[Row], Row]:
    from housing.features import stable_math

    names = tuple(step.columns)

    def new(c: Row) -> Row:
        if not names:
            return {}
        # np.clip(v, 0.0, None): 0.0 unless v > 0.0 (so -0.0 becomes 0.0, as in NumPy)
        values = stable_math.log1p(np.array(
            [c[n] if c[n] > 0.0 else 0.0 for n in names]))  # not max(): it keeps -0.0
        return {f"log_{n}": v for n, v in zip(names, values.tolist())}
    return new


_RADIANS = math.pi / 180.0  # NumPy's deg2rad multiplies by this same double


def _clip01(x: float) -> float:
    """np.clip(x, 0, 1) for a float (-0.0 becomes 0.0, as in NumPy; max would keep it)."""
    return 0.0 if not x > 0.0 else (1.0 if x > 1.0 else x)  # not max(): it keeps -0.0


def _geo(step) -> Callable[[Row], Row]:
    from housing.features import stable_math
    from housing.features.transformers import (
        EARTH_RADIUS_KM,
        MAJOR_CITIES,
        rotation_coefficients,
    )

    angles = tuple(float(a) for a in step.rotation_angles)
    cos_theta, sin_theta = (v.tolist() for v in rotation_coefficients(angles))
    rotations = [(f"rot_{a:g}", c, s) for a, c, s in zip(angles, cos_theta, sin_theta)]
    cities = [(name, lat * _RADIANS, lon * _RADIANS) for name, lat, lon in MAJOR_CITIES]
    city_cos = stable_math.cos(np.array([lat for _, lat, _ in cities])).tolist()
    n_cities, two_r = len(cities), 2 * EARTH_RADIUS_KM

    def new(c: Row) -> Row:
        lat, lon = c["Latitude"], c["Longitude"]
        out = {name: lon * cos + lat * sin for name, cos, sin in rotations}
        if not step.city_distances:
            return out
        lat1, lon1 = lat * _RADIANS, lon * _RADIANS
        halves = [(lat2 - lat1) / 2 for _, lat2, _ in cities] + \
                 [(lon2 - lon1) / 2 for _, _, lon2 in cities]
        sines = stable_math.sin(np.array(halves)).tolist()
        cos_lat1 = float(stable_math.cos(np.array([lat1]))[0])
        roots = []
        for j in range(n_cities):
            s_lat, s_lon = sines[j], sines[n_cities + j]
            h = s_lat * s_lat + cos_lat1 * city_cos[j] * (s_lon * s_lon)
            roots.append(math.sqrt(_clip01(h)))
        arcs = stable_math.arcsin(np.array(roots)).tolist()
        distances = [two_r * a for a in arcs]
        for (name, _, _), km in zip(cities, distances):
            out[f"km_to_{name}"] = km
        out["km_to_nearest_city"] = min(distances)
        return out
    return new


def _neighbors(step) -> Callable[[Row], Row]:
    from housing.features import stable_math
    from housing.features.transformers import EARTH_RADIUS_KM

    if step.coordinates != "sphere":
        raise UnsupportedFeatures(f"neighbour coordinates '{step.coordinates}' take the "
                                  "array path")
    tree, targets = step.tree_, step.targets_
    k_max = min(max(step.ks), len(targets))
    ks = [(k, min(k, k_max)) for k in step.ks]
    uniform, two_r = step.weighting == "uniform", 2 * EARTH_RADIUS_KM

    def new(c: Row) -> Row:
        lat, lon = c["Latitude"] * _RADIANS, c["Longitude"] * _RADIANS
        cos_lat, cos_lon = stable_math.cos(np.array([lat, lon])).tolist()
        sin_lon, sin_lat = stable_math.sin(np.array([lon, lat])).tolist()
        point = np.array([[cos_lat * cos_lon, cos_lat * sin_lon, sin_lat]])
        distance, index = tree.query(point, k=k_max)
        km = two_r * stable_math.arcsin(np.clip(distance / 2, 0, 1))
        out: Row = {}
        for k, k_eff in ks:
            values, dist = targets[index[:, :k_eff]], km[:, :k_eff]
            if uniform:  # weights of one: the products are the values, the sums k_eff
                mean = np.sum(values, axis=1) / k_eff
                spread = np.sum((values - mean[:, None]) ** 2, axis=1) / k_eff
            else:
                weights = 1.0 / (dist + 1.0)
                total = np.sum(weights, axis=1)
                mean = np.sum(values * weights, axis=1) / total
                spread = np.sum(weights * (values - mean[:, None]) ** 2, axis=1) / total
            out[f"nbr{k}_mean"] = float(mean[0])
            out[f"nbr{k}_std"] = math.sqrt(float(spread[0]))
            out[f"nbr{k}_km"] = float(dist.mean(axis=1)[0])
        return out
    return new


def _row_kernels() -> dict[str, Callable]:
    return {"housing.features.transformers.HouseholdRatios": _ratios,
            "housing.features.transformers.LogFeatures": _logs,
            "housing.features.transformers.GeoFeatures": _geo,
            "housing.features.neighbors.NeighborTargetFeatures": _neighbors}


class RowFeatures:
    """One row of the fitted feature steps, on Python floats (see the module's doc)."""

    def __init__(self, steps: Sequence[object], input_names: Sequence[str]):
        kernels = _row_kernels()
        self.input_names = tuple(input_names)
        self.steps = []
        for step in steps:
            kind = f"{type(step).__module__}.{type(step).__qualname__}"
            if kind not in kernels:
                raise UnsupportedFeatures(f"no row kernel for {type(step).__name__}")
            self.steps.append(kernels[kind](step))

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
