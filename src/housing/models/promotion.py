"""The promotion gate: which aliases a newly registered version earns. Pure, no I/O."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from housing.params import RegisterParams

CHALLENGER, STAGING, PRODUCTION = "challenger", "staging", "production"


@dataclass(frozen=True)
class Decision:
    aliases: tuple[str, ...]
    reasons: tuple[str, ...]
    candidate: dict[str, float]
    production: dict[str, float] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return PRODUCTION in self.aliases

    def to_dict(self) -> dict:
        return {**asdict(self), "aliases": list(self.aliases), "reasons": list(self.reasons),
                "promoted": self.promoted}


def promotion_decision(candidate: dict[str, float], production: dict[str, float] | None,
                       thresholds: RegisterParams) -> Decision:
    """challenger always; staging when the thresholds pass; production when it also beats
    the current production RMSE on the same test set by more than min_improvement."""
    rmse, r2 = float(candidate["rmse"]), float(candidate["r2"])
    reasons: list[str] = []
    if not math.isfinite(rmse) or rmse > thresholds.max_rmse:
        reasons.append(f"RMSE {rmse:.4f} is above register.max_rmse {thresholds.max_rmse}")
    if not math.isfinite(r2) or r2 < thresholds.min_r2:
        reasons.append(f"R2 {r2:.4f} is below register.min_r2 {thresholds.min_r2}")
    aliases = [CHALLENGER]
    if not reasons:
        aliases.append(STAGING)
        if production is None:
            aliases.append(PRODUCTION)
            reasons.append("no production version yet: the first passing model is promoted")
        else:
            bar = float(production["rmse"]) - thresholds.min_improvement
            if rmse < bar:
                aliases.append(PRODUCTION)
                reasons.append(f"RMSE {rmse:.4f} beats production {production['rmse']:.4f} by "
                               f"more than register.min_improvement {thresholds.min_improvement}")
            else:
                reasons.append(f"RMSE {rmse:.4f} does not beat production "
                               f"{production['rmse']:.4f} by more than "
                               f"register.min_improvement {thresholds.min_improvement}")
    return Decision(aliases=tuple(aliases), reasons=tuple(reasons), candidate=dict(candidate),
                    production=dict(production) if production else None,
                    thresholds=thresholds.model_dump())
