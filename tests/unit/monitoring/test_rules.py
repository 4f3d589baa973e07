import pytest

from housing.params import MonitorParams

from housing.monitoring.rules import (
    BatchFindings,
    Verdict,
    accepted_batches,
    retrain_verdict,
)

RULE = MonitorParams(chunk_size=1000, ks_threshold=0.07, max_rmse_increase=0.1,
                     min_drifted_features=2, use_multivariate=True)
REF = 0.50


def batch(**kw) -> BatchFindings:
    return BatchFindings(**{"batch": "b", "rows": 1000, "estimated_rmse": 0.50, **kw})


def test_quiet_batch_does_not_retrain():
    verdict = retrain_verdict([batch()], REF, RULE)
    assert verdict == Verdict(retrain=False, reasons=())


@pytest.mark.parametrize(("findings", "needle"), [
    (batch(estimated_rmse=0.56), "estimated RMSE"),
    (batch(realized_rmse=0.60), "realized RMSE"),
    (batch(drifted_features=("MedInc", "Latitude")), "drift in 2 features"),
    (batch(multivariate_alert=True), "multivariate"),
])
def test_each_alert_retrains(findings, needle):
    verdict = retrain_verdict([batch(batch="quiet"), findings], REF, RULE)
    assert verdict.retrain and any(needle in r for r in verdict.reasons)


@pytest.mark.parametrize("findings", [
    batch(estimated_rmse=0.549),                      # within +10%
    batch(realized_rmse=0.55),                        # exactly the bar is not above it
    batch(drifted_features=("MedInc",)),              # fewer than min_drifted_features
])
def test_below_thresholds_does_not_retrain(findings):
    assert not retrain_verdict([findings], REF, RULE).retrain


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
