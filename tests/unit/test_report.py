"""The report template: every section from the pipeline's outputs, and a missing output
key is an error, not a blank."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from housing.params import load_params
from housing.reporting.report import ANCHORS, render

ROOT = Path(__file__).resolve().parents[2]
METRICS = {"rmse": 0.38, "mae": 0.25, "r2": 0.89, "mape": 0.14, "median_ae": 0.16}
INTERVAL = {"target": 0.9, "coverage": 0.9053, "mean_width": 1.0273, "width_ratio": 4.3}


def inputs(**changes):
    params = load_params(ROOT / "params.yaml").report
    base = {"metrics": {"model": METRICS, "baselines": {"mean_value": METRICS},
                        "interval": INTERVAL},
            "tune": {"cv_rmse_mean": 0.41, "n_complete": 9, "n_pruned": 3},
            "best": {"model": "blend", "weights": {"lgbm": 0.6, "hgb": 0.4},
                     "log_target": True},
            "params": params, "monitoring": {"accepted_batches": 2, "accepted_rows": 1500},
            "rows": {"raw": 20640, "train": 12000, "test": 4128, "stream": 4512},
            "ablation": "| a | b |", "lineage": {"models/model.joblib": "abc"}}
    return base | changes


def test_the_report_carries_every_section():
    text = render(**inputs())
    assert text.endswith("labelled rows).\n")
    for expected in ("20,640 districts", "blending lgbm (0.60), hgb (0.40)",
                     "learning log(target)", "9 complete and 3 pruned",
                     "| baseline: mean value | 0.3800 |", "**0.3800**", ANCHORS[0][0],
                     "## Ablation\n\n| a | b |", "![error by decile]",
                     "passes the thresholds", "accepted into training: 2 (1,500 labelled",
                     "at 90% coverage): test coverage 90.53%, mean width 1.0273",
                     "4.30× as wide"):
        assert expected in text


def test_a_failing_model_and_no_ablation_or_monitoring():
    text = render(**inputs(metrics={"model": METRICS | {"rmse": 9.0}, "baselines": {},
                                    "interval": INTERVAL},
                           ablation=None, monitoring=None))
    assert "fails the thresholds: RMSE 9.0000" in text and "## Ablation" not in text
    assert "accepted into training: 0 (0 labelled rows)" in text


def test_a_missing_output_key_is_an_error():
    with pytest.raises(jinja2.UndefinedError):
        render(**inputs(tune={"n_complete": 1}))
