"""The retrain rule: from NannyML's per-batch findings to one decision. Pure, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from housing.params import MonitorParams


@dataclass(frozen=True)
class BatchFindings:
    """What NannyML found for one production batch."""

    batch: str
    rows: int
    estimated_rmse: float
    realized_rmse: float | None = None
    drifted_features: tuple[str, ...] = ()
    multivariate_alert: bool = False


@dataclass(frozen=True)
class Verdict:
    retrain: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return asdict(self) | {"reasons": list(self.reasons)}


def batch_alerts(findings: BatchFindings, reference_rmse: float, rule: MonitorParams) -> list[str]:
    """Every reason this batch calls for retraining; empty when it does not."""
    bar = reference_rmse * (1.0 + rule.max_rmse_increase)
    reasons = []
    if findings.estimated_rmse > bar:
        reasons.append(f"{findings.batch}: estimated RMSE {findings.estimated_rmse:.4f} > "
                       f"{bar:.4f} (reference {reference_rmse:.4f} + "
                       f"{rule.max_rmse_increase:.0%})")
    if findings.realized_rmse is not None and findings.realized_rmse > bar:
        reasons.append(f"{findings.batch}: realized RMSE {findings.realized_rmse:.4f} > "
                       f"{bar:.4f}")
    if len(findings.drifted_features) >= rule.min_drifted_features:
        reasons.append(f"{findings.batch}: drift in {len(findings.drifted_features)} features "
                       f"({', '.join(findings.drifted_features)})")
    if rule.use_multivariate and findings.multivariate_alert:
        reasons.append(f"{findings.batch}: multivariate (PCA reconstruction) drift")
    return reasons


def retrain_verdict(batches: list[BatchFindings], reference_rmse: float,
                    rule: MonitorParams) -> Verdict:
    """Retrain when any batch alerts."""
    reasons = [r for b in batches for r in batch_alerts(b, reference_rmse, rule)]
    return Verdict(retrain=bool(reasons), reasons=tuple(reasons))


def accepted_batches(previous: list[dict], labelled: list[dict], verdict: Verdict) -> list[dict]:
    """The gate: on an alert, every labelled batch joins the accepted list; otherwise the
    list stays exactly as it was (so DVC skips the training stages)."""
    if not verdict.retrain:
        return previous
    merged = {b["batch"]: b for b in previous}
    merged.update({b["batch"]: b for b in labelled})
    return [merged[k] for k in sorted(merged)]
