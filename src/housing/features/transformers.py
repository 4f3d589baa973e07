"""Stateless, DataFrame-in/DataFrame-out transformers that append engineered columns.

They follow scikit-learn's conventions (keyword parameters, state in attributes ending
in ``_``, ``fit`` returns ``self``) and become the first steps of the served Pipeline,
so the model takes the 8 raw features.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

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


def _read_only(values: list[float]) -> np.ndarray:
    array = np.array(values, dtype=float)
    array.flags.writeable = False
    return array


CITY_LATITUDES = _read_only([lat for _, lat, _ in MAJOR_CITIES])
CITY_LONGITUDES = _read_only([lon for _, _, lon in MAJOR_CITIES])


# Input columns by name, each a 1-D float array: what the feature steps compute from, so
# the same code serves a DataFrame (fit, transform) and plain arrays (the service, one
# row or many: deployment/predict/features.py).
Columns = Mapping[str, np.ndarray]


def frame_columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every column of ``X`` as a float array, by name."""
    return {str(c): X[c].to_numpy(dtype=float) for c in X.columns}


def append_columns(X: pd.DataFrame, new: dict[str, np.ndarray]) -> pd.DataFrame:
    """``X`` with the ``new`` columns appended, as one float frame.

    One float matrix and one frame: a fraction of pd.concat's cost on small frames.
    """
    values = stack_columns([*frame_columns(X).values(), *new.values()])
    return pd.DataFrame(values, columns=[*X.columns, *new], index=X.index)


def stack_columns(columns) -> np.ndarray:
    """1-D float columns of equal length as one C-ordered matrix (a fraction of
    np.column_stack's cost on one row, and less on many)."""
    return np.ascontiguousarray(np.array(list(columns), dtype=np.float64).T)


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
            out[f"rot_{angle:g}"] = rotated[:, i]
        if self.city_distances:
            distances = haversine_km(lat[:, None], lon[:, None], CITY_LATITUDES,
                                     CITY_LONGITUDES)
            for j, (name, _, _) in enumerate(MAJOR_CITIES):
                out[f"km_to_{name}"] = distances[:, j]
            out["km_to_nearest_city"] = distances.min(axis=1)
        return out


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
    # Elementwise functions on joined arguments: the same bits in fewer calls.
    sin_half_dlat, sin_half_dlon = stable_math.joined(
        stable_math.sin, (lat2 - lat1) / 2, (lon2 - lon1) / 2)
    cos_lat1, cos_lat2 = stable_math.joined(stable_math.cos, lat1, lat2)
    h = sin_half_dlat ** 2 + cos_lat1 * cos_lat2 * sin_half_dlon ** 2
    return 2 * EARTH_RADIUS_KM * stable_math.arcsin(np.sqrt(np.clip(h, 0, 1)))
