import math

import pytest

from housing.models.gate import (
    VersionRecord,
    choose_challenger,
    live_problems,
    promotion_decision,
)
from housing.params import RegisterParams

TH = RegisterParams(max_rmse=0.5, min_r2=0.75, min_improvement=0.01, min_live_rows=0)


def m(rmse: float, r2: float = 0.85) -> dict[str, float]:
    return {"rmse": rmse, "r2": r2}


def test_first_passing_model_goes_to_production():
    d = promotion_decision(m(0.44), None, TH)
    assert d.aliases == ("staging", "production") and d.passes and d.promoted


def test_first_failing_model_earns_no_alias():
    d = promotion_decision(m(0.6), None, TH)
    assert d.aliases == () and not d.passes
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
def test_promotes_exactly_the_better_models(rmse, prod_rmse):
    """With no margin, a passing candidate goes to production if and only if its RMSE is
    lower: never a worse or an equal one, and always a better one."""
    d = promotion_decision(m(rmse), m(prod_rmse), TH.model_copy(update={"min_improvement": 0.0}))
    assert d.promoted is (rmse < prod_rmse)
    assert d.aliases == (("staging", "production") if rmse < prod_rmse else ("staging",))


@pytest.mark.parametrize("candidate", [m(0.3, r2=0.5), m(math.nan), m(0.3, r2=math.nan)])
def test_thresholds_block_staging_and_production(candidate):
    d = promotion_decision(candidate, m(0.9), TH)
    assert d.aliases == () and not d.promoted


def test_decision_serializes():
    d = promotion_decision(m(0.4), m(0.45), TH).to_dict()
    assert d["promoted"] is True and d["production"]["rmse"] == 0.45
    assert d["thresholds"] == {"max_rmse": 0.5, "min_r2": 0.75, "min_improvement": 0.01,
                               "min_live_rows": 0}


def test_the_decision_says_by_how_much_it_beats_production():
    d = promotion_decision(m(0.40), m(0.42), TH)
    assert any("beats production 0.4200" in r and "(by 0.0200)" in r for r in d.reasons)


def v(version, rmse, passes=True, md5="a"):
    return VersionRecord(version=version, rmse=rmse, passes=passes, test_md5=md5)


@pytest.mark.parametrize(("versions", "production", "expected"), [
    ([v(1, 0.40), v(2, 0.38), v(3, 0.39)], 1, 2),          # the sweep's best, not its last
    ([v(1, 0.40), v(2, 0.38)], 2, 1),                      # never the production version
    ([v(1, 0.40), v(2, 0.30, passes=False)], None, 1),     # only passing versions
    ([v(1, 0.40), v(2, 0.30, md5="b")], None, 1),          # only the same test set
    ([v(1, 0.39), v(2, 0.39)], None, 2),                   # the newer on a tie
    ([v(1, 0.40)], 1, None),                               # nothing outside production
    ([v(1, math.nan), v(2, None)], None, None),            # no usable RMSE
])
def test_challenger_is_the_best_passing_version_outside_production(versions, production,
                                                                   expected):
    assert choose_challenger(versions, production, "a") == expected


LIVE = TH.model_copy(update={"min_live_rows": 500})


def evidence(rows=800, low=-0.03, high=-0.01):
    return {"labelled_rows": rows, "difference": (low + high) / 2, "interval": [low, high]}


def test_a_gate_without_a_live_requirement_ignores_live_evidence():
    assert live_problems(None, TH) == []
    decision = promotion_decision({"rmse": 0.40, "r2": 0.85}, {"rmse": 0.45}, TH)
    assert decision.promoted


@pytest.mark.parametrize(("live", "needle"), [
    (None, "no live evidence"),
    (evidence(rows=300), "300 labelled live rows, register.min_live_rows is 500"),
    (evidence(low=-0.02, high=0.01), "does not lie below 0"),
])
def test_the_live_requirement_holds_back_a_better_test_score(live, needle):
    decision = promotion_decision({"rmse": 0.40, "r2": 0.85}, {"rmse": 0.45}, LIVE, live)
    assert decision.passes and not decision.promoted
    assert any(needle in reason for reason in decision.reasons), decision.reasons


def test_enough_live_rows_with_an_interval_below_zero_promote():
    decision = promotion_decision({"rmse": 0.40, "r2": 0.85}, {"rmse": 0.45}, LIVE,
                                  evidence())
    assert decision.promoted and live_problems(evidence(), LIVE) == []


def test_the_first_version_needs_no_live_evidence():
    assert promotion_decision({"rmse": 0.40, "r2": 0.85}, None, LIVE).promoted
