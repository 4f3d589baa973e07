"""The release gate and the meaning of each alias. Pure, no I/O.

- ``production``: what the service serves. Moved only by a reviewed step: a `dvc repro`
  in the workspace whose model passes the gate, `housing promote` or `housing rollback`.
- ``staging``: the newest version that passed the thresholds in a reviewed step.
- ``challenger``: the best version that passes the thresholds and is not in production,
  by the gate's own comparison (test RMSE on the same test set; the newer on a tie). It
  survives a sweep: it names the sweep's best point, not its last.

Experiments (`dvc exp run`) register their versions and record what the gate would
decide, but move neither production nor staging.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from housing.params import RegisterParams

CHALLENGER, STAGING, PRODUCTION = "challenger", "staging", "production"


@dataclass(frozen=True)
class Decision:
    """What the gate says of a candidate against the current production version."""

    passes: bool                  # within register.max_rmse and register.min_r2
    promoted: bool                # passes and beats production (or there is none)
    reasons: tuple[str, ...]
    candidate: dict[str, float]
    production: dict[str, float] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def aliases(self) -> tuple[str, ...]:
        """The aliases a reviewed step moves to the candidate."""
        return (STAGING, PRODUCTION) if self.promoted else (STAGING,) if self.passes else ()

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons), "aliases": list(self.aliases)}


def threshold_failures(candidate: dict[str, float], thresholds: RegisterParams) -> list[str]:
    """Why ``candidate`` fails register.max_rmse or register.min_r2 (empty: it passes)."""
    rmse, r2 = float(candidate["rmse"]), float(candidate["r2"])
    reasons = []
    if not math.isfinite(rmse) or rmse > thresholds.max_rmse:
        reasons.append(f"RMSE {rmse:.4f} is above register.max_rmse {thresholds.max_rmse}")
    if not math.isfinite(r2) or r2 < thresholds.min_r2:
        reasons.append(f"R2 {r2:.4f} is below register.min_r2 {thresholds.min_r2}")
    return reasons


def live_problems(live: dict | None, thresholds: RegisterParams) -> list[str]:
    """Why the live evidence (the monitor's shadow comparison of this candidate with
    production on the same labelled rows) does not yet support promoting it; empty when
    register.min_live_rows is 0 or it does."""
    need = thresholds.min_live_rows
    if not need:
        return []
    if live is None:
        return [f"no live evidence: register.min_live_rows is {need}, and the monitor has "
                "compared it with production on no labelled shadow rows"]
    rows, (low, high) = int(live["labelled_rows"]), live["interval"]
    problems = []
    if rows < need:
        problems.append(f"{rows} labelled live rows, register.min_live_rows is {need}")
    if not high < 0:
        problems.append(f"live RMSE difference {live['difference']:+.4f} [{low:+.4f}, "
                        f"{high:+.4f}] does not lie below 0")
    return problems


def promotion_decision(candidate: dict[str, float], production: dict[str, float] | None,
                       thresholds: RegisterParams, live: dict | None = None) -> Decision:
    """Passes when the thresholds hold; promoted when it also beats the production RMSE on
    the same test set by more than min_improvement (the first passing version is) and, if
    register.min_live_rows asks for it, ``live`` shows it better on production traffic."""
    reasons = threshold_failures(candidate, thresholds)
    passes, promoted = not reasons, False
    rmse = float(candidate["rmse"])
    if passes and production is None:
        promoted = True
        reasons.append("no production version yet: the first passing model is promoted")
    elif passes:
        margin = float(production["rmse"]) - rmse
        promoted = rmse < float(production["rmse"]) - thresholds.min_improvement
        reasons.append(
            f"RMSE {rmse:.4f} {'beats' if promoted else 'does not beat'} production "
            f"{production['rmse']:.4f} by more than register.min_improvement "
            f"{thresholds.min_improvement}" + (f" (by {margin:.4f})" if promoted else ""))
        waiting = live_problems(live, thresholds) if promoted else []
        promoted = promoted and not waiting
        reasons.extend(waiting)
    return Decision(passes=passes, promoted=promoted, reasons=tuple(reasons),
                    candidate=dict(candidate),
                    production=dict(production) if production else None,
                    thresholds=thresholds.model_dump())


@dataclass(frozen=True)
class VersionRecord:
    """What the challenger rule reads of a registered version."""

    version: int
    rmse: float | None
    passes: bool
    test_md5: str


def choose_challenger(versions: list[VersionRecord], production: int | None,
                      test_md5: str) -> int | None:
    """The best passing version outside production evaluated on the test set ``test_md5``:
    lowest RMSE, the newer on a tie; None when there is none."""
    eligible = [v for v in versions if v.passes and v.version != production
                and v.rmse is not None and math.isfinite(v.rmse) and v.test_md5 == test_md5]
    if not eligible:
        return None
    return min(eligible, key=lambda v: (v.rmse, -v.version)).version
