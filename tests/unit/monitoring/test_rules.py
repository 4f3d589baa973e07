import pytest

from housing.monitoring.rules import (
    BatchFindings,
    Verdict,
    accepted_batches,
    retrain_verdict,
)
from housing.params import MonitorParams

RULE = MonitorParams(chunk_size=1000, ks_threshold=0.07, max_rmse_increase=0.1,
                     min_drifted_features=2, use_multivariate=True, max_outside_share=0.02,
                     max_missing_share=0.01, max_mode_share=0.5, dle_max_outside_share=0.05,
                     detail_batches=30, max_coverage_shortfall=0.05)
REF = 0.50


def batch(**kw) -> BatchFindings:
    return BatchFindings(**{"batch": "b", "rows": 1000, "estimated_rmse": 0.50, **kw})


def test_quiet_batch_does_not_retrain():
    verdict = retrain_verdict([batch()], REF, RULE)
    assert not verdict.retrain and verdict.reasons == () and verdict.quarantined == ()
    assert verdict.batches[0].status == "ok" and verdict.batches[0].estimate_reliable


@pytest.mark.parametrize(("findings", "needle"), [
    (batch(estimated_rmse=0.56), "estimated RMSE"),
    (batch(realized_rmse=0.60), "realized RMSE"),
    (batch(drifted_features=("MedInc", "Latitude")), "drift in 2 features"),
    (batch(multivariate_alert=True), "multivariate"),
    (batch(coverage=0.80, coverage_target=0.9), "interval coverage 80.0% < 85.0%"),
])
def test_each_alert_retrains(findings, needle):
    verdict = retrain_verdict([batch(batch="quiet"), findings], REF, RULE)
    assert verdict.retrain and any(needle in r for r in verdict.reasons)


@pytest.mark.parametrize("findings", [
    batch(estimated_rmse=0.549),                      # within +10%
    batch(realized_rmse=0.55),                        # exactly the bar is not above it
    batch(drifted_features=("MedInc",)),              # fewer than min_drifted_features
    batch(coverage=0.86, coverage_target=0.9),        # short of the target by < 5 points
    batch(coverage=0.5),                              # a version without intervals
])
def test_below_thresholds_does_not_retrain(findings):
    assert not retrain_verdict([findings], REF, RULE).retrain


def test_low_coverage_is_its_own_signal_on_the_batch():
    verdict = retrain_verdict([batch(batch="low", coverage=0.7, coverage_target=0.9),
                               batch(batch="fine", coverage=0.9, coverage_target=0.9)],
                              REF, RULE)
    low, fine = verdict.batches
    assert low.coverage_alert and low.status == "drift"
    assert low.reasons == ("low: interval coverage 70.0% < 85.0% (target 90% - 5%)",)
    assert not fine.coverage_alert and fine.status == "ok"


def test_multivariate_can_be_switched_off():
    rule = RULE.model_copy(update={"use_multivariate": False})
    assert not retrain_verdict([batch(multivariate_alert=True)], REF, rule).retrain


def test_no_batches_no_retrain():
    assert not retrain_verdict([], REF, RULE).retrain


def test_gate_file_changes_only_on_alert():
    previous = [{"batch": "a", "rows": 10, "md5": "x"}]
    labelled = [{"batch": "c", "rows": 5, "md5": "z"}, {"batch": "b", "rows": 5, "md5": "y"}]
    assert accepted_batches(previous, labelled, Verdict(False)) is previous
    merged = accepted_batches(previous, labelled, Verdict(True, ("alert",)))
    assert [b["batch"] for b in merged] == ["a", "b", "c"]


BUG = "Population: median 1.1 against 1,166 in the reference, a factor of about 1/10^3"


def test_a_data_quality_finding_quarantines_and_is_not_drift():
    bug = batch(batch="bug", quality=(BUG,), drifted_features=("Population", "AveOccup"),
                realized_rmse=0.9, outside_share=0.99)
    verdict = retrain_verdict([bug], REF, RULE)
    assert not verdict.retrain and verdict.quarantined == ("bug",)
    assert verdict.batches[0].status == "data quality"
    assert any("data quality: " + BUG in r for r in verdict.reasons)
    assert not any("drift in" in r for r in verdict.reasons)
    labelled = [{"batch": "bug", "rows": 1000, "md5": "q"}, {"batch": "shift", "rows": 5,
                                                              "md5": "s"}]
    shift = batch(batch="shift", drifted_features=("MedInc", "Latitude"))
    both = retrain_verdict([bug, shift], REF, RULE)
    assert both.retrain and [b["batch"] for b in accepted_batches([], labelled, both)] == \
        ["shift"]


def test_a_released_batch_is_judged_on_drift_alone():
    released = batch(batch="bug", quality=(BUG,), released=True,
                     drifted_features=("Population", "AveOccup"))
    verdict = retrain_verdict([released], REF, RULE)
    assert verdict.retrain and verdict.quarantined == ()
    assert any("released from quarantine" in r for r in verdict.reasons)


def test_an_unreliable_estimate_is_not_the_only_evidence_either_way():
    outside = batch(estimated_rmse=0.9, outside_share=0.3)
    verdict = retrain_verdict([outside], REF, RULE)
    assert not verdict.retrain and not verdict.batches[0].estimate_reliable
    assert any("unreliable: 30.0% of rows outside" in r for r in verdict.reasons)
    assert any("waits for its labels" in r for r in verdict.reasons)
    with_labels = retrain_verdict([batch(estimated_rmse=0.9, outside_share=0.3,
                                         realized_rmse=0.8)], REF, RULE)
    assert with_labels.retrain and not any("waits" in r for r in with_labels.reasons)
    assert retrain_verdict([batch(estimated_rmse=0.9, outside_share=0.04)], REF, RULE).retrain
