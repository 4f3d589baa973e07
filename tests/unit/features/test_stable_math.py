"""The feature math returns the correctly rounded float64: one answer on every CPU."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from housing.features import stable_math

FUNCTIONS = [("log1p", "log1p", (0.0, 5e4)), ("sin", "sin", (-3.5, 3.5)),
             ("cos", "cos", (-3.5, 3.5)), ("arcsin", "asin", (0.0, 1.0)),
             ("exp", "exp", (-8.0, 8.0))]


def correctly_rounded(mp_name: str, values: np.ndarray) -> np.ndarray:
    with mpmath.workprec(200):
        fn = getattr(mpmath, mp_name)
        return np.array([float(fn(mpmath.mpf(float(v)))) for v in values])


@pytest.mark.parametrize(("name", "mp_name", "bounds"), FUNCTIONS)
def test_matches_the_correctly_rounded_value(name, mp_name, bounds):
    values = np.random.default_rng(7).uniform(*bounds, size=4000)
    assert np.array_equal(getattr(stable_math, name)(values),
                          correctly_rounded(mp_name, values))


def test_values_near_a_rounding_boundary_are_recomputed(monkeypatch):
    calls = []
    recompute = stable_math._recompute
    monkeypatch.setattr(stable_math, "_recompute",
                        lambda *args: calls.append(int(args[2].sum())) or recompute(*args))
    values = np.random.default_rng(3).uniform(-3, 3, size=20_000)
    assert np.array_equal(stable_math.sin(values), correctly_rounded("sin", values))
    # About 2 * MARGIN / 2048 of the values sit that close to a float64 midpoint.
    assert 0 < sum(calls) < 4 * 2 * stable_math.MARGIN / 2048 * len(values)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_shapes_and_special_values(shape):
    x = np.full(shape, 0.25)
    out = stable_math.log1p(x)
    assert np.shape(out) == shape and np.all(out == np.log1p(0.25))
    assert stable_math.sin(np.array([0.0, np.inf, np.nan]))[0] == 0.0
    assert np.isnan(stable_math.arcsin(np.array([2.0]))[0])
    assert stable_math.exp(np.array([-800.0]))[0] == correctly_rounded("exp", [-800.0])[0]


@pytest.mark.parametrize(("name", "mp_name", "values"), [
    ("log1p", "log1p", np.array([5e-324, 1e-310, 2.2e-308, -3e-315, 1e-320])),
    ("sin", "sin", np.array([5e-324, -1e-310, 2.2e-308, 7e-312])),
    ("arcsin", "asin", np.array([5e-324, 1e-310, -2.2e-308])),
    ("exp", "exp", np.array([-708.5, -720.0, -740.0, -744.4, -745.2, -709.9])),
])
def test_subnormal_results_are_correctly_rounded(name, mp_name, values):
    assert np.array_equal(getattr(stable_math, name)(values), correctly_rounded(mp_name, values))


def test_subnormal_inputs_take_no_slow_path(monkeypatch):
    calls = []
    recompute = stable_math._recompute
    monkeypatch.setattr(stable_math, "_recompute",
                        lambda *args: calls.append(int(args[2].sum())) or recompute(*args))
    tiny = np.random.default_rng(1).uniform(1e-320, 2e-308, size=30_000)
    assert np.array_equal(stable_math.log1p(tiny), tiny)  # log1p(x) rounds to x this small
    assert np.array_equal(stable_math.sin(tiny), tiny)
    assert sum(calls) == 0
