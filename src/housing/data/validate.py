"""Schema, dtype, range and completeness checks for the raw snapshot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from housing.config import FEATURES, TARGET


@dataclass(frozen=True)
class ColumnRule:
    """Closed value range a column must lie in."""

    low: float
    high: float


# Physical bounds of the 1990 census block groups, with a margin; not the observed extremes.
SCHEMA: dict[str, ColumnRule] = {
    "MedInc": ColumnRule(0.0, 20.0),
    "HouseAge": ColumnRule(1.0, 60.0),
    "AveRooms": ColumnRule(0.5, 200.0),
    "AveBedrms": ColumnRule(0.1, 50.0),
    "Population": ColumnRule(1.0, 50_000.0),
    "AveOccup": ColumnRule(0.5, 1_500.0),
    "Latitude": ColumnRule(32.0, 42.5),
    "Longitude": ColumnRule(-124.5, -114.0),
    TARGET: ColumnRule(0.14, 5.00001),
}


class DataValidationError(ValueError):
    """The data broke the schema; ``problems`` names each column and its count of bad rows."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("data validation failed:\n  " + "\n  ".join(problems))


def validation_problems(frame: pd.DataFrame, columns: tuple[str, ...] | None = None) -> list[str]:
    """Every schema problem in ``frame``, one readable line each; empty when valid."""
    expected = list(columns) if columns is not None else [*FEATURES, TARGET]
    problems: list[str] = []
    missing = [c for c in expected if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in expected]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(map(str, unknown))}")
    for column in (c for c in expected if c in frame.columns):
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            problems.append(f"column '{column}': dtype {values.dtype} is not numeric")
            continue
        as_float = values.astype("float64")
        n_missing = int(as_float.isna().sum())
        if n_missing:
            problems.append(f"column '{column}': {n_missing} rows missing (NaN/null)")
        n_infinite = int(np.isinf(as_float).sum())
        if n_infinite:
            problems.append(f"column '{column}': {n_infinite} rows infinite")
        rule = SCHEMA[column]
        finite = as_float[np.isfinite(as_float)]
        n_out = int(((finite < rule.low) | (finite > rule.high)).sum())
        if n_out:
            problems.append(
                f"column '{column}': {n_out} rows outside [{rule.low:g}, {rule.high:g}]"
            )
    return problems


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` as float64 when it meets the schema; raise DataValidationError if not."""
    problems = validation_problems(frame)
    if len(frame) == 0:
        problems.insert(0, "no rows")
    if problems:
        raise DataValidationError(problems)
    return frame.astype("float64")
