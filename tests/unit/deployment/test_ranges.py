"""The training-range flags of a served model."""

from __future__ import annotations

import numpy as np

from housing.config import FEATURES
from housing.deployment.predict.ranges import RangeCheck

VALUES = [8.3252, 41.0, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23]


def test_out_of_range_flags_features_outside_training():
    ranges = {f: {"min": 0.0, "max": 1000.0} for f in FEATURES}
    ranges["Longitude"] = {"min": -125.0, "max": -114.0}
    ranges["Latitude"] = {"min": 32.0, "max": 42.0}
    matrix = np.array([VALUES, [*VALUES[:4], 5000.0, *VALUES[5:]]])
    assert RangeCheck(ranges)(matrix) == [[], ["Population"]]


def test_range_check_small_batches_agree_with_the_array_path():
    rng = np.random.default_rng(1)
    ranges = {f: {"min": 0.0, "max": 1.0} for f in FEATURES}
    matrix = rng.uniform(-0.2, 1.2, size=(RangeCheck.SMALL + 40, len(FEATURES)))
    matrix[0, 0] = 1.0  # on the bound: inside
    check = RangeCheck(ranges)
    big = check(matrix)  # the array path
    small = [flag for start in range(0, len(matrix), 8) for flag in check(matrix[start:start + 8])]
    assert big == small and big[0][:1] != ["MedInc"]
    assert any(big) and not all(big)
