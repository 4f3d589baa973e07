import math

import pytest

from housing.models.promotion import promotion_decision
from housing.params import RegisterParams

TH = RegisterParams(max_rmse=0.5, min_r2=0.75, min_improvement=0.01)


def m(rmse: float, r2: float = 0.85) -> dict[str, float]:
    return {"rmse": rmse, "r2": r2}


def test_first_passing_model_goes_to_production():
    d = promotion_decision(m(0.44), None, TH)
    assert d.aliases == ("challenger", "staging", "production")


def test_first_failing_model_is_only_challenger():
    d = promotion_decision(m(0.6), None, TH)
    assert d.aliases == ("challenger",)
    assert "max_rmse" in d.reasons[0]


@pytest.mark.parametrize(("candidate", "production", "promoted"), [
    (0.40, 0.42, True),    # better by more than the margin
    (0.415, 0.42, False),  # better, but within the margin
    (0.41, 0.42, False),   # exactly the margin is not "beats"
    (0.42, 0.42, False),   # equal
    (0.45, 0.42, False),   # worse
])
def test_beats_production_by_margin(candidate, production, promoted):
    d = promotion_decision(m(candidate), m(production), TH)
    assert d.promoted is promoted
    assert "staging" in d.aliases


@pytest.mark.parametrize("rmse", [0.30, 0.40, 0.45, 0.499])
@pytest.mark.parametrize("prod_rmse", [0.30, 0.35, 0.40, 0.45])
def test_never_promotes_a_worse_model(rmse, prod_rmse):
    d = promotion_decision(m(rmse), m(prod_rmse), TH.model_copy(update={"min_improvement": 0.0}))
    if d.promoted:
        assert rmse < prod_rmse


@pytest.mark.parametrize("candidate", [m(0.3, r2=0.5), m(math.nan), m(0.3, r2=math.nan)])
def test_thresholds_block_staging_and_production(candidate):
    d = promotion_decision(candidate, m(0.9), TH)
    assert d.aliases == ("challenger",)


def test_decision_serializes():
    d = promotion_decision(m(0.4), m(0.45), TH).to_dict()
    assert d["promoted"] is True and d["production"]["rmse"] == 0.45
    assert d["thresholds"] == {"max_rmse": 0.5, "min_r2": 0.75, "min_improvement": 0.01}
