"""The retrain rule: from the per-batch findings (data quality, NannyML's drift and
performance estimate) to one decision, and the gate that decides what training may use.
Pure, no I/O.

Each batch gets one status:
- "data quality": the batch is wrong rather than different (housing.monitoring.quality).
  It is quarantined: never accepted into training, with or without labels, and it calls
  for no retraining, until an operator releases it (``housing quarantine release``).
- "drift": a shift calls for retraining: drifting features, realized RMSE, DLE's
  estimated RMSE when the estimate is reliable, or, on labelled rows, prediction
  intervals that cover less than the version's target by more than
  ``max_coverage_shortfall`` (the intervals no longer mean what they say).
- "ok": nothing calls for retraining.

DLE's estimate is reliable only while the batch stays inside the reference's support
(at most ``dle_max_outside_share`` of its rows outside): beyond that DLE extrapolates.
An unreliable estimate is never the only evidence for retraining (it does not alert), nor
against it (the batch's reasons say the decision waits for labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from housing.params import MonitorParams

DATA_QUALITY, DRIFT, OK = "data quality", "drift", "ok"


@dataclass(frozen=True)
class BatchFindings:
    """What the checks found for one production batch."""

    batch: str
    rows: int
    estimated_rmse: float
    realized_rmse: float | None = None
    drifted_features: tuple[str, ...] = ()
    multivariate_alert: bool = False
    quality: tuple[str, ...] = ()  # data-quality findings, one sentence each
    outside_share: float = 0.0     # rows outside the reference's support
    released: bool = False         # an operator released it from quarantine
    coverage: float | None = None  # labelled rows inside their prediction interval
    coverage_target: float | None = None  # what the version's intervals are calibrated to


@dataclass(frozen=True)
class BatchVerdict:
    batch: str
    status: str
    estimate_reliable: bool
    reasons: tuple[str, ...] = ()
    coverage_alert: bool = False  # its intervals cover less than the target allows


@dataclass(frozen=True)
class Verdict:
    retrain: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    quarantined: tuple[str, ...] = ()
    batches: tuple[BatchVerdict, ...] = ()


def estimate_reliable(findings: BatchFindings, rule: MonitorParams) -> bool:
    return findings.outside_share <= rule.dle_max_outside_share


def rmse_bar(reference_rmse: float, rule: MonitorParams) -> float:
    """The RMSE above which a batch calls for retraining."""
    return reference_rmse * (1.0 + rule.max_rmse_increase)


def coverage_floor(findings: BatchFindings, rule: MonitorParams) -> float | None:
    """The coverage below which a labelled batch calls for retraining (None when the
    batch has no measured coverage)."""
    if findings.coverage is None or findings.coverage_target is None:
        return None
    return findings.coverage_target - rule.max_coverage_shortfall


def judge(findings: BatchFindings, reference_rmse: float, rule: MonitorParams) -> BatchVerdict:
    """One batch's status and every reason for it."""
    name = findings.batch
    reliable = estimate_reliable(findings, rule)
    reasons = []
    if not reliable:
        reasons.append(f"{name}: DLE estimate unreliable: {findings.outside_share:.1%} of rows "
                       f"outside the reference's support (bound "
                       f"{rule.dle_max_outside_share:.0%}); it is not counted")
    if findings.quality and not findings.released:
        return BatchVerdict(name, DATA_QUALITY, reliable, (
            *(f"{name}: data quality: {message}" for message in findings.quality),
            f"{name}: quarantined: not used for training until released "
            f"(housing quarantine release {name})", *reasons))
    if findings.quality:
        reasons.append(f"{name}: released from quarantine by an operator; its data-quality "
                       "findings stand: " + "; ".join(findings.quality))
    alerts = []
    bar = rmse_bar(reference_rmse, rule)
    if reliable and findings.estimated_rmse > bar:
        alerts.append(f"{name}: estimated RMSE {findings.estimated_rmse:.4f} > {bar:.4f} "
                      f"(reference {reference_rmse:.4f} + {rule.max_rmse_increase:.0%})")
    if findings.realized_rmse is not None and findings.realized_rmse > bar:
        alerts.append(f"{name}: realized RMSE {findings.realized_rmse:.4f} > {bar:.4f}")
    if len(findings.drifted_features) >= rule.min_drifted_features:
        alerts.append(f"{name}: drift in {len(findings.drifted_features)} features "
                      f"({', '.join(findings.drifted_features)})")
    floor = coverage_floor(findings, rule)
    coverage_alert = floor is not None and findings.coverage < floor
    if coverage_alert:
        alerts.append(f"{name}: interval coverage {findings.coverage:.1%} < {floor:.1%} "
                      f"(target {findings.coverage_target:.0%} - "
                      f"{rule.max_coverage_shortfall:.0%})")
    if rule.use_multivariate and findings.multivariate_alert:
        alerts.append(f"{name}: multivariate (PCA reconstruction) drift")
    if not reliable and not alerts and findings.realized_rmse is None:
        reasons.append(f"{name}: no evidence either way without a reliable estimate: the "
                       "decision waits for its labels")
    return BatchVerdict(name, DRIFT if alerts else OK, reliable, (*alerts, *reasons),
                        coverage_alert)


def retrain_verdict(batches: list[BatchFindings], reference_rmse: float,
                    rule: MonitorParams) -> Verdict:
    """Retrain when any batch drifts; quarantine every batch with a data-quality finding."""
    judged = tuple(judge(b, reference_rmse, rule) for b in batches)
    return Verdict(retrain=any(b.status == DRIFT for b in judged),
                   reasons=tuple(r for b in judged for r in b.reasons),
                   quarantined=tuple(b.batch for b in judged if b.status == DATA_QUALITY),
                   batches=judged)


def accepted_batches(previous: list[dict], labelled: list[dict], verdict: Verdict) -> list[dict]:
    """The gate: on a drift alert, every labelled batch that is not quarantined joins the
    accepted list; otherwise the list stays exactly as it was (so DVC skips the training
    stages)."""
    if not verdict.retrain:
        return previous
    merged = {b["batch"]: b for b in previous}
    merged.update({b["batch"]: b for b in labelled if b["batch"] not in verdict.quarantined})
    return [merged[k] for k in sorted(merged)]
