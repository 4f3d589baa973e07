"""Geographic neighbour-target features: what nearby districts are worth.

A leak-free target encoder over space, following scikit-learn's TargetEncoder
pattern: ``fit_transform`` is cross-fitted, so each training row's features come only
from the targets of rows in other folds (never its own); ``transform`` uses every
training row. In a Pipeline, ``fit`` calls ``fit_transform``, so the model trains on the
out-of-fold features and serves with the full neighbourhood.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from housing.features import stable_math
from housing.features.transformers import (
    EARTH_RADIUS_KM,
    append_columns,
    haversine_km,
    stack_columns,
)

COORDINATES = ("Latitude", "Longitude")


def unit_vectors(lat, lon) -> np.ndarray:
    """Points on the unit sphere, so Euclidean neighbours are great-circle neighbours."""
    lat, lon = np.deg2rad(np.asarray(lat, float)), np.deg2rad(np.asarray(lon, float))
    cos_lat, cos_lon = stable_math.joined(stable_math.cos, lat, lon)
    sin_lat, sin_lon = stable_math.joined(stable_math.sin, lat, lon)
    return stack_columns([cos_lat * cos_lon, cos_lat * sin_lon, sin_lat])


def degree_points(lat, lon) -> np.ndarray:
    """Plain (latitude, longitude) in degrees: the flat-map neighbourhood."""
    return np.column_stack([np.asarray(lat, float), np.asarray(lon, float)])


COORDINATE_SYSTEMS = {"sphere": unit_vectors, "degrees": degree_points}


class NeighborTargetFeatures(TransformerMixin, BaseEstimator):
    """Mean (optionally distance-weighted) target and spread of the k nearest districts.

    Appends, for each k in ``ks``: ``nbr{k}_mean``, ``nbr{k}_std`` and ``nbr{k}_km``
    (mean great-circle distance to those neighbours). ``coordinates`` chooses how the
    neighbours are found: ``sphere`` (great-circle) or ``degrees`` (flat latitude and
    longitude, which shrinks east-west distances by cos(latitude)).
    """

    # Versions registered before the option existed load without it: they used the sphere.
    coordinates = "sphere"

    def __init__(self, ks: tuple[int, ...] = (8, 32), weighting: str = "uniform",
                 coordinates: str = "sphere", n_splits: int = 5, random_state: int = 0):
        self.ks = ks
        self.weighting = weighting
        self.coordinates = coordinates
        self.n_splits = n_splits
        self.random_state = random_state

    def _check(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"NeighborTargetFeatures expects a pandas DataFrame, got {type(X)}")
        missing = [c for c in COORDINATES if c not in X.columns]
        if missing:
            raise ValueError(f"NeighborTargetFeatures: missing columns {missing}")
        if self.weighting not in ("uniform", "distance"):
            raise ValueError(f"weighting must be 'uniform' or 'distance', got {self.weighting}")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive neighbour counts, got {self.ks}")
        if self.coordinates not in COORDINATE_SYSTEMS:
            raise ValueError(f"coordinates must be one of {', '.join(COORDINATE_SYSTEMS)}, "
                             f"got {self.coordinates}")

    def _points(self, columns) -> np.ndarray:
        """Search coordinates from a frame or a mapping of column arrays."""
        return COORDINATE_SYSTEMS[self.coordinates](columns["Latitude"], columns["Longitude"])

    def _state(self, X: pd.DataFrame, y) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(y, dtype=float)
        if y.shape[0] != len(X) or not np.all(np.isfinite(y)):
            raise ValueError("NeighborTargetFeatures needs one finite target per row")
        return self._points(X), y

    def fit(self, X: pd.DataFrame, y=None):
        from sklearn.neighbors import KDTree

        self._check(X)
        self.points_, self.targets_ = self._state(X, y)
        self.tree_ = KDTree(self.points_)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def _features(self, tree, targets: np.ndarray, points: np.ndarray) -> dict[str, np.ndarray]:
        k_max = min(max(self.ks), len(targets))
        distance, index = tree.query(points, k=k_max)
        if self.coordinates == "sphere":  # chord lengths on the unit sphere
            km = 2 * EARTH_RADIUS_KM * stable_math.arcsin(np.clip(distance / 2, 0, 1))
        else:
            pairs = np.asarray(tree.data)[index]
            km = haversine_km(points[:, None, 0], points[:, None, 1], pairs[..., 0], pairs[..., 1])
        out: dict[str, np.ndarray] = {}
        for k in self.ks:
            k_eff = min(k, k_max)
            values, dist = targets[index[:, :k_eff]], km[:, :k_eff]
            if self.weighting == "distance":
                weights = 1.0 / (dist + 1.0)
                total = weights.sum(axis=1)
                mean = (values * weights).sum(axis=1) / total
                spread = (weights * (values - mean[:, None]) ** 2).sum(axis=1) / total
            else:  # weights of one: the same sums, without multiplying by them
                mean = values.sum(axis=1) / k_eff
                spread = ((values - mean[:, None]) ** 2).sum(axis=1) / k_eff
            out[f"nbr{k}_mean"] = mean
            out[f"nbr{k}_std"] = np.sqrt(spread)
            out[f"nbr{k}_km"] = dist.sum(axis=1) / k_eff  # np.mean's own sum and divide
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "tree_")
        self._check(X)
        return append_columns(X, self.new_columns(X))

    def new_columns(self, columns) -> dict[str, np.ndarray]:
        """The neighbour features of the fitted (full) neighbourhood, from input columns."""
        return self._features(self.tree_, self.targets_, self._points(columns))

    def fit_transform(self, X: pd.DataFrame, y=None, **fit_params) -> pd.DataFrame:
        """Cross-fitted: each row's features come from the other folds' targets only."""
        from sklearn.neighbors import KDTree

        self.fit(X, y)
        new = {name: np.empty(len(X)) for name in self._names()}
        folds = KFold(n_splits=self.n_splits, shuffle=True, random_state=self.random_state)
        for fit_idx, out_idx in folds.split(self.points_):
            fold = self._features(KDTree(self.points_[fit_idx]), self.targets_[fit_idx],
                                  self.points_[out_idx])
            for name, values in fold.items():
                new[name][out_idx] = values
        return append_columns(X, new)

    def _names(self) -> list[str]:
        return [f"nbr{k}_{s}" for k in self.ks for s in ("mean", "std", "km")]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return np.asarray([*self.feature_names_in_, *self._names()], dtype=object)
