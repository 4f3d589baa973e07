"""The registry's skops format: the exact types this project trusts, and a safe loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Types outside skops' default trust that the served pipelines are built from. Loading
# uses this list from the code, never the list stored beside a model.
TRUSTED_TYPES: frozenset[str] = frozenset({
    "housing.features.transformers.GeoFeatures",
    "housing.features.transformers.HouseholdRatios",
    "housing.features.transformers.LogFeatures",
    "housing.models.intervals.IntervalRegressor",
    "housing.models.lgbm.LightGBMRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.utils._bunch.Bunch",
    "housing.features.neighbors.NeighborTargetFeatures",
})


class UntrustedModelError(ValueError):
    """A model needs a type that is not on the project's allow-list."""


def required_trusted_types(model: Any) -> list[str]:
    """The exact, sorted list of non-default types ``model`` needs; refuses unknown ones."""
    import skops.io

    needed = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    unknown = [t for t in needed if t not in TRUSTED_TYPES]
    if unknown:
        raise UntrustedModelError(
            f"model contains types not on the trusted list: {', '.join(unknown)}; add them to "
            "housing.models.serialization.TRUSTED_TYPES after review"
        )
    return needed


def load_skops_model(path: Path | str) -> Any:
    """Load a skops file, trusting only TRUSTED_TYPES (skops refuses anything else)."""
    import skops.io

    return skops.io.load(path, trusted=sorted(TRUSTED_TYPES))
