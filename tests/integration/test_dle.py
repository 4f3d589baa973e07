"""Real NannyML on real data: DLE's estimate tracks the realized RMSE on i.i.d. batches."""

import numpy as np
import pytest

from housing.config import FEATURES
from housing.data.split import split_dataset
from housing.monitoring.analysis import PREDICTION, Monitors
from housing.monitoring.simulate import simulate_batch


@pytest.fixture(scope="module")
def setup(housing_frame, build_small_model):
    splits = split_dataset(housing_frame, stream_fraction=0.1, seed=42)
    model = build_small_model(splits.train, max_iter=100)
    reference = splits.test.assign(**{PREDICTION: model.predict(splits.test[list(FEATURES)])})
    return splits, model, Monitors(reference, chunk_size=1000, ks_threshold=0.07)


def findings(setup, scenario, seed):
    splits, model, monitors = setup
    rows = simulate_batch(splits.stream, scenario=scenario, rows=1000, seed=seed, batch="b")
    rows = rows.assign(**{PREDICTION: model.predict(rows[list(FEATURES)])})
    return monitors.findings("b", rows)[0]


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
