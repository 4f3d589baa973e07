"""Real NannyML on real data: DLE's estimate tracks the realized RMSE on i.i.d. batches;
the intervals' coverage holds on them and falls, with its own reason, when prices move."""

import numpy as np
import pytest

from housing.config import FEATURES
from housing.data.split import split_dataset
from housing.monitoring.analysis import PREDICTION, Monitors
from housing.monitoring.coverage import with_predictions
from housing.monitoring.rules import retrain_verdict
from housing.monitoring.simulate import simulate_batch


@pytest.fixture(scope="module")
def setup(housing_frame, build_small_model, pipeline_params):
    splits = split_dataset(housing_frame, stream_fraction=0.1, seed=42)
    model = build_small_model(splits.train, max_iter=100)
    reference = splits.test.assign(**{PREDICTION: model.predict(splits.test[list(FEATURES)])})
    target = model[-1].coverage
    return splits, model, Monitors(reference, pipeline_params.monitor, coverage_target=target)


def findings(setup, scenario, seed):
    splits, model, monitors = setup
    rows = simulate_batch(splits.stream, scenario=scenario, rows=1000, seed=seed, batch="b")
    rows, target = with_predictions(model, rows)
    assert target == monitors.coverage_target == 0.9
    return monitors.findings("b", rows)[0]


def test_coverage_holds_on_iid_batches_and_falls_when_prices_move(setup, pipeline_params):
    rule = pipeline_params.monitor
    steady = [findings(setup, "none", seed) for seed in range(3)]
    assert all(abs(f.coverage - 0.9) < 0.04 for f in steady), [f.coverage for f in steady]
    verdict = retrain_verdict(steady, steady[0].realized_rmse, rule)
    assert not any(b.coverage_alert for b in verdict.batches)
    moved = findings(setup, "concept_bay_area", 0)  # Bay Area prices up 40%
    assert moved.coverage < min(f.coverage for f in steady) - rule.max_coverage_shortfall
    judged = retrain_verdict([moved], moved.realized_rmse, rule).batches[0]
    assert judged.coverage_alert and judged.status == "drift"
    assert any("interval coverage" in reason for reason in judged.reasons), judged.reasons


def test_dle_estimate_is_close_to_realized_on_iid_batches(setup):
    errors = []
    for seed in range(3):
        f = findings(setup, "none", seed)
        errors.append(abs(f.estimated_rmse - f.realized_rmse) / f.realized_rmse)
    assert np.mean(errors) < 0.10, errors


def test_iid_batch_shows_no_drift_and_a_shift_does(setup):
    assert findings(setup, "none", 0).drifted_features == ()
    drifted = findings(setup, "income_inflation", 0).drifted_features
    assert "MedInc" in drifted


@pytest.mark.parametrize("scenario", ["bug_income_missing", "bug_population_thousands"])
def test_a_data_bug_is_found_and_its_estimate_marked_by_the_rows_outside(setup, scenario):
    """Missing values go through NannyML's calculators; the batch's findings name the
    feature, and most of its rows are outside the reference's support."""
    found = findings(setup, scenario, 0)
    feature = "MedInc" if scenario == "bug_income_missing" else "Population"
    assert any(message.startswith(feature) for message in found.quality), found.quality
    assert found.outside_share > 0.3 and np.isfinite(found.estimated_rmse)


def test_natural_shifts_have_no_quality_finding(setup):
    for scenario in ("none", "income_inflation", "geo_inland", "age_old"):
        found = findings(setup, scenario, 1)
        assert found.quality == () and found.outside_share < 0.02, (scenario, found)
