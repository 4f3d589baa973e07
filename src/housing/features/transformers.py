"""Stateless, DataFrame-in/DataFrame-out transformers that append engineered columns.

They follow scikit-learn's conventions (keyword parameters, state in attributes ending
in ``_``, ``fit`` returns ``self``) and become the first steps of the served Pipeline,
so the model takes the 8 raw features.
"""

from __future__ import annotations

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

    def _new_columns(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
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
        return append_columns(X, self._new_columns(X))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        probe = pd.DataFrame(np.ones((1, self.n_features_in_)), columns=self.feature_names_in_)
        return np.asarray([*self.feature_names_in_, *self._new_columns(probe)], dtype=object)


class HouseholdRatios(_AppendColumns):
    """Per-room and per-person ratios, and the implied household count."""

    def _required(self) -> list[str]:
        return ["MedInc", "AveRooms", "AveBedrms", "Population", "AveOccup"]

    def _new_columns(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        rooms = X["AveRooms"].to_numpy(dtype=float)
        occupancy = X["AveOccup"].to_numpy(dtype=float)
        return {
            "bedrooms_per_room": X["AveBedrms"].to_numpy(dtype=float) / rooms,
            "rooms_per_person": rooms / occupancy,
            "households": X["Population"].to_numpy(dtype=float) / occupancy,
            "income_per_person": X["MedInc"].to_numpy(dtype=float) / occupancy,
        }


class LogFeatures(_AppendColumns):
    """``log1p`` of skewed, non-negative columns, appended as ``log_<column>``."""

    def __init__(self, columns: tuple[str, ...] = ("Population", "AveOccup", "AveRooms")):
        self.columns = columns

    def _required(self) -> list[str]:
        return list(self.columns)

    def _new_columns(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return {
            f"log_{c}": stable_math.log1p(np.clip(X[c].to_numpy(dtype=float), 0.0, None))
            for c in self.columns
        }


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

    def _new_columns(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        lat = X["Latitude"].to_numpy(dtype=float)
        lon = X["Longitude"].to_numpy(dtype=float)
        out: dict[str, np.ndarray] = {}
        for angle in self.rotation_angles:
            theta = np.deg2rad(float(angle))
            out[f"rot_{float(angle):g}"] = (lon * stable_math.cos(theta)
                                            + lat * stable_math.sin(theta))
        if self.city_distances:
            distances = [haversine_km(lat, lon, c_lat, c_lon)
                         for _, c_lat, c_lon in MAJOR_CITIES]
            for (name, _, _), dist in zip(MAJOR_CITIES, distances):
                out[f"km_to_{name}"] = dist
            out["km_to_nearest_city"] = np.min(np.vstack(distances), axis=0)
        return out


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between (lat1, lon1) and (lat2, lon2), in degrees; the
    arguments broadcast against each other (one point against many, or pairs)."""
    lat1, lon1 = np.deg2rad(lat1), np.deg2rad(lon1)
    lat2, lon2 = np.deg2rad(lat2), np.deg2rad(lon2)
    h = (stable_math.sin((lat2 - lat1) / 2) ** 2
         + stable_math.cos(lat1) * stable_math.cos(lat2) * stable_math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * stable_math.arcsin(np.sqrt(np.clip(h, 0, 1)))
