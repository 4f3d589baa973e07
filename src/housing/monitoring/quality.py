"""Data quality: is a production batch wrong rather than different? Pure, no I/O.

Drift asks whether production looks like the reference; this asks whether a batch can be
real census data at all, per feature, against the production version's reference (its
test-set features, with the training ranges that travel with the model) and the physical
schema:

- values outside the reference's support, or outside the schema's physical bounds;
- a change of units: every central quantile scaled by the same plausible factor (10^n,
  12, degrees and radians), which no selection of real districts produces;
- relations every district keeps: no more bedrooms than rooms, at least one household
  (Population / AveOccup), and household counts that vary;
- missing, non-finite or stuck (one value in most rows) features.

A finding names the feature, what is wrong and the likely cause. Natural shifts select
real districts, so they stay inside the support and keep the relations: the monitor
calls them drift. The same support bounds whether DLE's estimate can be trusted (it
extrapolates outside it; ``outside_share``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from housing.config import FEATURES
from housing.data.validate import SCHEMA

QUANTILES = (0.25, 0.5, 0.75)
HOUSEHOLDS = "households (Population / AveOccup)"
# A unit slip multiplies a feature by one of these (or divides by it): decimal prefixes
# and currency units (10^n), months for years (12), degrees for radians (180 / pi).
UNIT_FACTORS: dict[float, str] = {
    **{10.0 ** n: f"10^{n}" for n in range(1, 7)}, 12.0: "12", 180.0 / math.pi: "180/pi"}
# How close the quantile ratios must come to a factor: within 25% of it (the quantiles of
# a 1,000-row batch scatter by a few percent; a selection shift moves medians by tens of
# percent but never near 10x).
UNIT_TOLERANCE = 0.25
# Below this many rows a batch's quantiles, shares and commonest value say nothing about
# its distribution (one logged request is one row): only the per-row checks run.
MIN_ROWS = 30


@dataclass(frozen=True)
class QualityRule:
    """Bounds of the checks (monitor params)."""

    max_outside_share: float  # of a feature's values outside the reference's support
    max_missing_share: float  # of a feature's values missing or non-finite
    max_mode_share: float     # of a feature's values equal to its single commonest value


@dataclass(frozen=True)
class Finding:
    """One data-quality problem of a batch: the feature (or relation), the kind of problem
    and a sentence that names the likely cause."""

    feature: str
    problem: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"feature": self.feature, "problem": self.problem, "message": self.message}


@dataclass(frozen=True)
class Profile:
    """What the checks compare a batch with, from the reference (and training ranges)."""

    low: dict[str, float]
    high: dict[str, float]
    quantiles: dict[str, tuple[float, ...]]
    mode_share: dict[str, float]
    households_mode_share: float


def _households(frame: pd.DataFrame) -> np.ndarray:
    """Population / AveOccup, to 3 decimals (the data set's AveOccup is a rounded ratio)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(frame["Population"].to_numpy(float) / frame["AveOccup"].to_numpy(float),
                        3)


def _mode_share(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    _, counts = np.unique(finite, return_counts=True)
    return float(counts.max() / finite.size)


def profile(reference: pd.DataFrame, ranges: dict[str, dict[str, float]] | None = None) -> Profile:
    """The reference's support (its own range, widened to the training ranges where the
    version logged them), central quantiles and commonest-value shares."""
    ranges = ranges or {}
    low, high, quantiles, mode = {}, {}, {}, {}
    for feature in FEATURES:
        values = reference[feature].to_numpy(float)
        values = values[np.isfinite(values)]
        low[feature] = float(min(values.min(), ranges.get(feature, {}).get("min", np.inf)))
        high[feature] = float(max(values.max(), ranges.get(feature, {}).get("max", -np.inf)))
        quantiles[feature] = tuple(float(q) for q in np.quantile(values, QUANTILES))
        mode[feature] = _mode_share(values)
    return Profile(low=low, high=high, quantiles=quantiles, mode_share=mode,
                   households_mode_share=_mode_share(_households(reference)))


def outside_mask(rows: pd.DataFrame, prof: Profile) -> np.ndarray:
    """Per row: is any feature absent, missing, non-finite or outside the reference's
    support?"""
    outside = np.zeros(len(rows), dtype=bool)
    for feature in FEATURES:
        if feature not in rows:
            return np.ones(len(rows), dtype=bool)
        values = rows[feature].to_numpy(float)
        with np.errstate(invalid="ignore"):
            outside |= ~((values >= prof.low[feature]) & (values <= prof.high[feature]))
    return outside


def outside_share(rows: pd.DataFrame, prof: Profile) -> float:
    """The share of rows DLE would have to extrapolate to (see ``outside_mask``)."""
    return float(outside_mask(rows, prof).mean()) if len(rows) else 0.0


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.3g}"


def unit_factor(batch_q: tuple[float, ...], reference_q: tuple[float, ...]) -> str | None:
    """The plausible unit factor ("1/10^3", "12", ...) every quantile ratio sits near, or
    None when the ratios agree on no such factor (or one is undefined)."""
    ratios = []
    for b, r in zip(batch_q, reference_q, strict=True):
        if r == 0 or not np.isfinite(b) or b == 0 or (b > 0) != (r > 0):
            return None
        ratios.append(b / r)
    best, label = math.log1p(UNIT_TOLERANCE), None
    for factor, name in UNIT_FACTORS.items():
        for value, named in ((factor, name), (1.0 / factor, f"1/{name}")):
            worst = max(abs(math.log(ratio / value)) for ratio in ratios)
            if worst <= best:
                best, label = worst, named
    return label


def findings(rows: pd.DataFrame, prof: Profile, rule: QualityRule) -> list[Finding]:
    """Every data-quality problem of one batch; empty for data that can be real."""
    found: list[Finding] = []
    n = len(rows)
    if n == 0:
        return found
    for feature in FEATURES:
        values = rows[feature].to_numpy(float) if feature in rows else np.full(n, np.nan)
        finite = np.isfinite(values)
        missing = 1.0 - float(finite.mean())
        if missing > rule.max_missing_share:
            found.append(Finding(feature, "missing", f"{feature}: {missing:.0%} of rows missing "
                                 "or not finite: a column the source stopped filling?"))
        present = values[finite]
        if present.size < MIN_ROWS:
            continue
        bounds = SCHEMA[feature]
        off_schema = float(((present < bounds.low) | (present > bounds.high)).mean())
        outside = float(((present < prof.low[feature]) | (present > prof.high[feature])).mean())
        median, ref_median = float(np.median(present)), prof.quantiles[feature][1]
        factor = unit_factor(tuple(np.quantile(present, QUANTILES)), prof.quantiles[feature])
        if factor is not None:
            found.append(Finding(feature, "units", f"{feature}: median {_fmt(median)} against "
                                 f"{_fmt(ref_median)} in the reference, a factor of about "
                                 f"{factor}: a unit change?"))
        elif outside > rule.max_outside_share:
            where = (f", {off_schema:.0%} outside the physical bounds [{bounds.low:g}, "
                     f"{bounds.high:g}]" if off_schema else "")
            found.append(Finding(feature, "outside", f"{feature}: {outside:.0%} of values "
                                 f"outside the reference's [{_fmt(prof.low[feature])}, "
                                 f"{_fmt(prof.high[feature])}]{where}; median {_fmt(median)} "
                                 f"against {_fmt(ref_median)}: wrong units, or a total sent "
                                 "for an average?"))
        mode = _mode_share(present)
        if present.size > 1 and mode > max(rule.max_mode_share, prof.mode_share[feature]):
            value = float(pd.Series(present).mode().iloc[0])
            found.append(Finding(feature, "stuck", f"{feature}: {mode:.0%} of rows hold the "
                                 f"same value {_fmt(value)} (at most "
                                 f"{prof.mode_share[feature]:.0%} in the reference): a stuck "
                                 "or defaulted field?"))
    found.extend(_relations(rows, prof, rule))
    return found


def _relations(rows: pd.DataFrame, prof: Profile, rule: QualityRule) -> list[Finding]:
    found = []
    rooms, bedrooms = rows["AveRooms"].to_numpy(float), rows["AveBedrms"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        more_bedrooms = float((bedrooms > rooms).mean())
    if more_bedrooms > rule.max_outside_share:
        found.append(Finding("AveBedrms", "relation", f"AveBedrms > AveRooms in "
                             f"{more_bedrooms:.0%} of rows: more bedrooms than rooms per "
                             "household (bedrooms sent as a total, or the columns swapped?)"))
    households = _households(rows)
    with np.errstate(invalid="ignore"):
        fewer = float((households < 1.0 - 1e-9).mean())
    if fewer > rule.max_outside_share:
        found.append(Finding("AveOccup", "relation", f"Population / AveOccup < 1 household in "
                             f"{fewer:.0%} of rows: occupancy above the population (a total "
                             "sent for an average, or the columns swapped?)"))
    share = _mode_share(households)
    if len(rows) >= MIN_ROWS and share > max(rule.max_mode_share, prof.households_mode_share):
        value = float(pd.Series(households[np.isfinite(households)]).mode().iloc[0])
        found.append(Finding("AveOccup", "relation", f"{HOUSEHOLDS} is {_fmt(value)} in "
                             f"{share:.0%} of rows: AveOccup sent as a total (the population) "
                             "rather than per household?"))
    return found
