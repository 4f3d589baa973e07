"""The data-quality checks on small synthetic frames (the real data's scenarios are in
tests/integration/test_dle.py and benchmarks/monitoring.py)."""

import numpy as np
import pandas as pd
import pytest

from housing.config import FEATURES
from housing.monitoring import quality

RULE = quality.QualityRule(max_outside_share=0.02, max_missing_share=0.01, max_mode_share=0.5)


def districts(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    households = rng.integers(50, 2000, n).astype(float)
    occupancy = rng.uniform(1.5, 4.5, n)
    rooms = rng.uniform(3.0, 8.0, n)
    return pd.DataFrame({
        "MedInc": rng.lognormal(1.2, 0.45, n), "HouseAge": rng.integers(1, 53, n).astype(float),
        "AveRooms": rooms, "AveBedrms": rooms * rng.uniform(0.15, 0.3, n),
        "Population": households * occupancy, "AveOccup": occupancy,
        "Latitude": rng.uniform(32.6, 41.9, n), "Longitude": rng.uniform(-124.3, -114.4, n)})


@pytest.fixture(scope="module")
def prof():
    return quality.profile(districts(4000, 0))


def test_real_looking_data_has_no_finding(prof):
    batch = districts(1000, 1)
    assert quality.findings(batch, prof, RULE) == []
    assert quality.outside_share(batch, prof) < 0.01


@pytest.mark.parametrize(("change", "feature", "problem", "needle"), [
    (lambda b: b.assign(Population=b.Population / 1000), "Population", "units", "1/10^3"),
    (lambda b: b.assign(HouseAge=b.HouseAge * 12), "HouseAge", "units", "factor of about 12"),
    (lambda b: b.assign(MedInc=b.MedInc / 10), "MedInc", "units", "1/10^1"),
    (lambda b: b.assign(Latitude=np.radians(b.Latitude)), "Latitude", "units", "1/180/pi"),
    (lambda b: b.assign(AveRooms=b.AveRooms * b.Population / b.AveOccup), "AveRooms",
     "outside", "a total sent for an average"),
    (lambda b: b.assign(AveOccup=b.Population), "AveOccup", "relation", "sent as a total"),
    (lambda b: b.assign(HouseAge=17.0), "HouseAge", "stuck", "same value 17"),
    (lambda b: b.assign(MedInc=np.where(np.arange(len(b)) % 4 == 0, np.nan, b.MedInc)),
     "MedInc", "missing", "25% of rows missing"),
    (lambda b: b.assign(AveBedrms=b.AveRooms * 1.5), "AveBedrms", "relation",
     "more bedrooms than rooms"),
])
def test_each_bug_is_named_with_its_feature_and_likely_cause(prof, change, feature, problem,
                                                             needle):
    found = quality.findings(change(districts(1000, 2)), prof, RULE)
    assert any(f.feature == feature and f.problem == problem and needle in f.message
               for f in found), [f.message for f in found]


def test_a_few_real_rows_have_no_finding(prof):
    """One logged request is a batch of one row: its commonest value is 100% of it."""
    for n in (1, 2, 29):
        assert quality.findings(districts(n, 7), prof, RULE) == []
    one = districts(1, 8)
    found = quality.findings(one.assign(AveBedrms=one.AveRooms * 2), prof, RULE)
    assert [f.problem for f in found] == ["relation"]  # per-row checks still run


def test_a_column_the_batch_lacks_is_missing(prof):
    found = quality.findings(districts(200, 3).drop(columns="HouseAge"), prof, RULE)
    assert [(f.feature, f.problem) for f in found] == [("HouseAge", "missing")]
    # DLE cannot estimate on a feature it never sees: every row counts as outside.
    assert quality.outside_share(districts(200, 3).drop(columns="HouseAge"), prof) == 1.0


def test_unit_factor_needs_every_quantile_to_agree():
    assert quality.unit_factor((10.0, 20.0, 30.0), (1.0, 2.0, 3.0)) == "10^1"
    assert quality.unit_factor((11.8, 24.5, 35.0), (1.0, 2.0, 3.0)) == "12"
    assert quality.unit_factor((10.0, 20.0, 60.0), (1.0, 2.0, 3.0)) is None  # not one factor
    assert quality.unit_factor((1.4, 2.8, 4.1), (1.0, 2.0, 3.0)) is None     # a shift
    assert quality.unit_factor((-10.0, 20.0, 30.0), (1.0, 2.0, 3.0)) is None


def test_the_support_takes_the_training_ranges(prof):
    reference = districts(500, 4)
    wide = quality.profile(reference, {f: {"min": -1e9, "max": 1e9} for f in FEATURES})
    far = reference.assign(MedInc=reference.MedInc * 10)
    assert quality.outside_share(far, quality.profile(reference)) > 0.5
    assert quality.outside_share(far, wide) == 0.0


def test_the_cli_names_every_scenario():
    from housing.cli import build_parser
    from housing.monitoring.simulate import SCENARIOS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    help_text = next(a.help for a in sub.choices["simulate"]._actions if a.dest == "scenario")
    assert all(name in help_text for name in SCENARIOS)
