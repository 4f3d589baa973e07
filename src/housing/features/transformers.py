"""Stateless, DataFrame-in/DataFrame-out transformers that append engineered columns.

They follow scikit-learn's conventions (keyword parameters, state in attributes ending
in ``_``, ``fit`` returns ``self``) and become the first steps of the served Pipeline,
so the model takes the 8 raw features.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from housing.features import stable_math

EARTH_RADIUS_KM = 6371.0
# (name, latitude, longitude) of the state's major metropolitan centres.
MAJOR_CITIES: tuple[tuple[str, float, float], ...] = (
    ("los_angeles", 34.0522, -118.2437),
    ("san_francisco", 37.7749, -122.4194),
    ("san_diego", 32.7157, -117.1611),
    ("san_jose", 37.3382, -121.8863),
    ("sacramento", 38.5816, -121.4944),
)


# Input columns by name, each a 1-D float array: what the feature steps compute from, so
# the same code serves a DataFrame (fit, transform) and plain arrays (the service).
Columns = Mapping[str, np.ndarray]
# One row's columns by name, as Python floats: what a step's ``row_kernel`` computes from.
# A kernel is the same operations as ``new_columns`` on one row (the service's single-row
# path; deployment/predict/features.py checks it gives the same bits before using it).
Row = dict[str, float]
RADIANS = math.pi / 180.0  # NumPy's deg2rad multiplies by this same double


def clip01(x: float) -> float:
    """np.clip(x, 0, 1) for a float (-0.0 becomes 0.0, as in NumPy; max would keep it)."""
    return 0.0 if not x > 0.0 else (1.0 if x > 1.0 else x)


def frame_columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every column of ``X`` as a float array, by name."""
    return {str(c): X[c].to_numpy(dtype=float) for c in X.columns}


def append_columns(X: pd.DataFrame, new: dict[str, np.ndarray]) -> pd.DataFrame:
    """``X`` with the ``new`` columns appended, as one float frame.

    One float matrix and one frame: a fraction of pd.concat's cost on the service's
    single-row requests.
    """
    values = np.column_stack([X.to_numpy(dtype=float), *new.values()])
    return pd.DataFrame(values, columns=[*X.columns, *new], index=X.index)


class _AppendColumns(TransformerMixin, BaseEstimator):
    """Base: check the input columns in ``fit``/``transform`` and append new ones."""

    def _required(self) -> list[str]:
        raise NotImplementedError

    def new_columns(self, columns: Columns) -> dict[str, np.ndarray]:
        """The appended columns, from the input columns as float arrays, by name."""
        raise NotImplementedError

    def _check_frame(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} expects a pandas DataFrame, got {type(X)}")
        missing = [c for c in self._required() if c not in X.columns]
        if missing:
            raise ValueError(f"{type(self).__name__}: missing columns {missing}")

    def fit(self, X: pd.DataFrame, y=None):
        self._check_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_in_")
        self._check_frame(X)
        return append_columns(X, self.new_columns(frame_columns(X)))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        probe = pd.DataFrame(np.ones((1, self.n_features_in_)), columns=self.feature_names_in_)
        return np.asarray([*self.feature_names_in_, *self.new_columns(frame_columns(probe))],
                          dtype=object)


class HouseholdRatios(_AppendColumns):
    """Per-room and per-person ratios, and the implied household count."""

    def _required(self) -> list[str]:
        return ["MedInc", "AveRooms", "AveBedrms", "Population", "AveOccup"]

    def new_columns(self, columns: Columns) -> dict[str, np.ndarray]:
        rooms = columns["AveRooms"]
        occupancy = columns["AveOccup"]
        return {
            "bedrooms_per_room": columns["AveBedrms"] / rooms,
            "rooms_per_person": rooms / occupancy,
            "households": columns["Population"] / occupancy,
            "income_per_person": columns["MedInc"] / occupancy,
        }

    def row_kernel(self) -> Callable[[Row], Row]:
        def new(c: Row) -> Row:
            rooms, occupancy = c["AveRooms"], c["AveOccup"]
            return {"bedrooms_per_room": c["AveBedrms"] / rooms,
                    "rooms_per_person": rooms / occupancy,
                    "households": c["Population"] / occupancy,
                    "income_per_person": c["MedInc"] / occupancy}
        return new


class LogFeatures(_AppendColumns):
    """``log1p`` of skewed, non-negative columns, appended as ``log_<column>``."""

    def __init__(self, columns: tuple[str, ...] = ("Population", "AveOccup", "AveRooms")):
        self.columns = columns

    def _required(self) -> list[str]:
        return list(self.columns)

    def new_columns(self, columns: Columns) -> dict[str, np.ndarray]:
        if not self.columns:
            return {}
        # One call for every column: elementwise, so the same bits as one call per column.
        stacked = stable_math.log1p(np.clip(
            np.vstack([columns[c] for c in self.columns]), 0.0, None))
        return {f"log_{c}": stacked[i] for i, c in enumerate(self.columns)}

    def row_kernel(self) -> Callable[[Row], Row]:
        names = tuple(self.columns)

        def new(c: Row) -> Row:
            if not names:
                return {}
            # np.clip(v, 0.0, None): 0.0 unless v > 0.0 (so -0.0 becomes 0.0, as in NumPy)
            values = stable_math.log1p(np.array(
                [c[n] if c[n] > 0.0 else 0.0 for n in names]))  # not max(): it keeps -0.0
            return {f"log_{n}": v for n, v in zip(names, values.tolist())}
        return new


class GeoFeatures(_AppendColumns):
    """Coordinates rotated by several angles and great-circle distances to major cities.

    Rotations let axis-aligned trees cut along the coast's diagonal.
    """

    def __init__(self, rotation_angles: tuple[float, ...] = (15.0, 30.0, 45.0, 60.0, 75.0),
                 city_distances: bool = True):
        self.rotation_angles = rotation_angles
        self.city_distances = city_distances

    def _required(self) -> list[str]:
        return ["Latitude", "Longitude"]

    def new_columns(self, columns: Columns) -> dict[str, np.ndarray]:
        lat = columns["Latitude"]
        lon = columns["Longitude"]
        out: dict[str, np.ndarray] = {}
        angles = tuple(float(a) for a in self.rotation_angles)
        cos_theta, sin_theta = rotation_coefficients(angles)
        # Every angle at once: per element the same multiplies and add, so the same bits.
        rotated = lon[:, None] * cos_theta + lat[:, None] * sin_theta
        for i, angle in enumerate(angles):
            out[f"rot_{angle:g}"] = np.ascontiguousarray(rotated[:, i])
        if self.city_distances:
            city_lat = np.array([c_lat for _, c_lat, _ in MAJOR_CITIES])
            city_lon = np.array([c_lon for _, _, c_lon in MAJOR_CITIES])
            distances = haversine_km(lat[:, None], lon[:, None], city_lat, city_lon)
            for j, (name, _, _) in enumerate(MAJOR_CITIES):
                out[f"km_to_{name}"] = np.ascontiguousarray(distances[:, j])
            out["km_to_nearest_city"] = np.min(distances, axis=1)
        return out

    def row_kernel(self) -> Callable[[Row], Row]:
        angles = tuple(float(a) for a in self.rotation_angles)
        cos_theta, sin_theta = (v.tolist() for v in rotation_coefficients(angles))
        rotations = [(f"rot_{a:g}", c, s) for a, c, s in zip(angles, cos_theta, sin_theta)]
        cities = [(name, lat * RADIANS, lon * RADIANS) for name, lat, lon in MAJOR_CITIES]
        city_cos = stable_math.cos(np.array([lat for _, lat, _ in cities])).tolist()
        n_cities, two_r, distances = len(cities), 2 * EARTH_RADIUS_KM, self.city_distances

        def new(c: Row) -> Row:
            lat, lon = c["Latitude"], c["Longitude"]
            out = {name: lon * cos + lat * sin for name, cos, sin in rotations}
            if not distances:
                return out
            lat1, lon1 = lat * RADIANS, lon * RADIANS
            halves = [(lat2 - lat1) / 2 for _, lat2, _ in cities] + \
                     [(lon2 - lon1) / 2 for _, _, lon2 in cities]
            sines = stable_math.sin(np.array(halves)).tolist()
            cos_lat1 = float(stable_math.cos(np.array([lat1]))[0])
            roots = []
            for j in range(n_cities):
                s_lat, s_lon = sines[j], sines[n_cities + j]
                h = s_lat * s_lat + cos_lat1 * city_cos[j] * (s_lon * s_lon)
                roots.append(math.sqrt(clip01(h)))
            km = [two_r * a for a in stable_math.arcsin(np.array(roots)).tolist()]
            for (name, _, _), d in zip(cities, km):
                out[f"km_to_{name}"] = d
            out["km_to_nearest_city"] = min(km)
            return out
        return new


@functools.lru_cache(maxsize=64)
def rotation_coefficients(angles: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of each angle (degrees): constants, computed once per angle set."""
    theta = np.deg2rad(np.array(angles, dtype=float))
    cos_theta, sin_theta = stable_math.cos(theta), stable_math.sin(theta)
    cos_theta.flags.writeable = sin_theta.flags.writeable = False
    return cos_theta, sin_theta


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between (lat1, lon1) and (lat2, lon2), in degrees; the
    arguments broadcast against each other (one point against many, or pairs)."""
    lat1, lon1, lat2, lon2 = (np.deg2rad(np.asarray(v, dtype=float))
                              for v in (lat1, lon1, lat2, lon2))
    half_dlat, half_dlon = np.broadcast_arrays((lat2 - lat1) / 2, (lon2 - lon1) / 2)
    # Elementwise functions on stacked arguments: the same bits in fewer calls.
    sin_half_dlat, sin_half_dlon = stable_math.sin(np.stack([half_dlat, half_dlon]))
    h = (sin_half_dlat ** 2
         + stable_math.cos(lat1) * stable_math.cos(lat2) * sin_half_dlon ** 2)
    return 2 * EARTH_RADIUS_KM * stable_math.arcsin(np.sqrt(np.clip(h, 0, 1)))
