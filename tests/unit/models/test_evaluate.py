import numpy as np
import pytest

from housing.models.evaluate import error_by_decile, residual_histogram
from housing.models.metrics import regression_metrics


def test_perfect_predictions():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert regression_metrics(y, y) == {"rmse": 0.0, "mae": 0.0, "r2": 1.0, "mape": 0.0,
                                        "median_ae": 0.0}


def test_known_errors():
    metrics = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 2.0])
    assert metrics["rmse"] == pytest.approx(np.sqrt(5 / 4), abs=1e-6)
    assert metrics["mae"] == pytest.approx(0.75)
    assert metrics["median_ae"] == pytest.approx(0.5)


def test_error_by_decile_covers_every_decile():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.5, 5, size=1000)
    frame = error_by_decile(y, y + 0.1)
    assert frame["decile"].tolist() == list(range(1, 11))
    np.testing.assert_allclose(frame["rmse"], 0.1, atol=1e-6)


def test_residual_histogram_counts_every_row():
    hist = residual_histogram(np.zeros(500), np.linspace(-1, 1, 500), bins=20)
    assert hist["count"].sum() == 500 and len(hist) == 20


def test_interval_metrics_give_coverage_width_and_each_decile_of_the_prediction():
    from housing.models.evaluate import interval_metrics

    prediction = np.linspace(1, 5, 100)
    y = prediction.copy()
    y[::10] += 10  # one row in ten falls outside
    half = prediction / 10  # width grows with the prediction
    found = interval_metrics(y, prediction - half, prediction + half, prediction)
    assert found["coverage"] == 0.9
    assert found["mean_width"] == pytest.approx(np.mean(2 * half), abs=1e-6)
    deciles = found["by_decile"]
    assert list(deciles) == [str(d) for d in range(1, 11)]
    assert all(d["coverage"] == 0.9 for d in deciles.values())
    assert deciles["10"]["mean_width"] > deciles["1"]["mean_width"]
    assert found["width_ratio"] == pytest.approx(
        deciles["10"]["mean_width"] / deciles["1"]["mean_width"], abs=1e-6)
