"""Live evidence for a release: production and the shadow challenger compared on the same
labelled production rows. Pure, no I/O.

The service logs each shadowed row with both predictions (deployment.shadow); once labels
arrive, each (production version, challenger version) pair is scored on the rows both
predicted: realized RMSE of each, and a paired bootstrap interval (scipy.stats.bootstrap,
the same resampled rows for both versions) of the difference challenger - production. An
interval that lies below 0 says the challenger is better on live traffic; one that holds
0 says the rows do not tell them apart yet. `housing promote` reads it from the registry
(registry.events) and its gate can require it (register.min_live_rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from housing.config import TARGET

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0  # the bootstrap's: the same rows give the same interval


def _rmse_difference(y, served, challenger, axis=-1):
    """RMSE(challenger) - RMSE(production) along ``axis`` (vectorised for the bootstrap)."""
    return (np.sqrt(np.mean((y - challenger) ** 2, axis=axis))
            - np.sqrt(np.mean((y - served) ** 2, axis=axis)))


def compare(y: np.ndarray, served: np.ndarray, challenger: np.ndarray) -> dict:
    """Both RMSEs on the same rows and the paired bootstrap interval of their difference."""
    from scipy.stats import bootstrap

    difference = float(_rmse_difference(y, served, challenger))
    if len(y) < 2:
        low = high = float("nan")
    else:
        found = bootstrap((y, served, challenger), _rmse_difference, paired=True,
                          vectorized=True, n_resamples=RESAMPLES, batch=100,
                          confidence_level=CONFIDENCE, method="percentile",
                          random_state=np.random.default_rng(SEED))
        low, high = found.confidence_interval
    verdict = ("challenger better" if high < 0 else "production better" if low > 0
               else "not told apart yet")
    return {"labelled_rows": len(y),
            "production_rmse": round(float(np.sqrt(np.mean((y - served) ** 2))), 6),
            "challenger_rmse": round(float(np.sqrt(np.mean((y - challenger) ** 2))), 6),
            "difference": round(difference, 6),
            "interval": [round(float(low), 6), round(float(high), 6)],
            "confidence": CONFIDENCE, "verdict": verdict}


def live_evidence(rows: pd.DataFrame) -> list[dict]:
    """One comparison per (production, challenger) pair with labelled shadowed rows,
    newest challenger first."""
    needed = {TARGET, "served_version", "served_prediction", "challenger_version",
              "challenger_prediction"}
    if not needed <= set(rows.columns):
        return []
    both = rows.dropna(subset=sorted(needed))
    found = []
    for (served, challenger), pair in both.groupby(["served_version", "challenger_version"]):
        found.append({"production_version": int(served), "challenger_version": int(challenger),
                      **compare(pair[TARGET].to_numpy(float),
                                pair["served_prediction"].to_numpy(float),
                                pair["challenger_prediction"].to_numpy(float))})
    return sorted(found, key=lambda e: (-e["challenger_version"], -e["production_version"]))
