"""Regression metrics, each written once."""

from __future__ import annotations

import numpy as np


def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    residual = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return float(np.sqrt(np.mean(residual**2)))


# The test metrics every version records, in the order every table shows them.
METRIC_NAMES = ("rmse", "mae", "r2", "mape", "median_ae")


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE, MAE, R², MAPE and median absolute error, rounded to 6 decimals for stable diffs."""
    from sklearn import metrics as m

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    values = {
        "rmse": rmse(y_true, y_pred),
        "mae": m.mean_absolute_error(y_true, y_pred),
        "r2": m.r2_score(y_true, y_pred),
        "mape": m.mean_absolute_percentage_error(y_true, y_pred),
        "median_ae": m.median_absolute_error(y_true, y_pred),
    }
    return {k: round(float(v), 6) for k, v in values.items()}


def metric_rows(label: str, model: dict[str, float], baselines: dict[str, dict[str, float]]
                ) -> list[tuple[str, dict[str, float]]]:
    """A metrics table's rows: the model under ``label``, then each baseline by name."""
    return [(label, model)] + [(f"baseline: {name.replace('_', ' ')}", values)
                               for name, values in sorted(baselines.items())]
