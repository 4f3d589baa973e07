"""The prediction intervals on production rows: the production version's bounds beside its
predictions, and on labelled rows the share of true values inside them (the coverage the
monitor compares with the version's target). Pure, no I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd

from housing.config import FEATURES, TARGET
from housing.models.intervals import IntervalRegressor, pipeline_interval

PREDICTION, LOWER, UPPER = "prediction", "interval_lower", "interval_upper"


def with_predictions(model, rows: pd.DataFrame) -> tuple[pd.DataFrame, float | None]:
    """``rows`` with the model's prediction and, for a version with intervals, their
    bounds; and the coverage those intervals are calibrated to (None without them)."""
    found = pipeline_interval(model, rows[list(FEATURES)])
    if found is None:
        return rows.assign(**{PREDICTION: model.predict(rows[list(FEATURES)])}), None
    point, lower, upper = found
    target = model[-1].coverage if isinstance(model[-1], IntervalRegressor) else None
    return rows.assign(**{PREDICTION: point, LOWER: lower, UPPER: upper}), target


def realized_coverage(rows: pd.DataFrame) -> float | None:
    """The share of labelled rows whose true value lies inside its interval (None without
    labels or bounds)."""
    if LOWER not in rows:
        return None
    labelled = rows[rows[TARGET].notna()]
    if labelled.empty:
        return None
    y = labelled[TARGET].to_numpy(float)
    inside = (labelled[LOWER].to_numpy(float) <= y) & (y <= labelled[UPPER].to_numpy(float))
    return float(np.mean(inside))
