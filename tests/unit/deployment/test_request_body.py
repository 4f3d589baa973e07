"""Request validation straight from parsed JSON: the matrix, or a 4xx naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from housing.config import FEATURES
from housing.deployment.request_body import (
    MAX_DETAILS,
    RequestError,
    invocations_matrix,
    predict_matrix,
)

ROW = dict(zip(FEATURES, [8.3252, 41, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23]))
VALUES = [float(ROW[f]) for f in FEATURES]


def refused(fn, payload, status):
    with pytest.raises(RequestError) as caught:
        fn(payload, max_batch=5)
    assert caught.value.status == status, caught.value.to_dict()
    return caught.value.details


@pytest.mark.parametrize("payload", [
    ROW, [ROW, ROW], [dict(reversed(list(ROW.items())))],
])
def test_predict_builds_rows_in_feature_order(payload):
    matrix = predict_matrix(payload, max_batch=5)
    assert matrix.dtype == np.float64 and matrix.shape[1] == len(FEATURES)
    assert (matrix == VALUES).all()


@pytest.mark.parametrize("payload", [
    {"dataframe_split": {"columns": list(FEATURES), "data": [VALUES, VALUES]}},
    {"dataframe_split": {"columns": list(reversed(FEATURES)),
                         "data": [list(reversed(VALUES))]}},
    {"dataframe_records": [ROW]},
    {"instances": [ROW]},
    {"inputs": {f: [ROW[f]] for f in FEATURES}},
])
def test_every_mlflow_format_gives_the_same_rows(payload):
    assert (invocations_matrix(payload, max_batch=5) == VALUES).all()


@pytest.mark.parametrize(("record", "field", "error"), [
    ({k: v for k, v in ROW.items() if k != "HouseAge"}, "HouseAge", "missing"),
    ({**ROW, "Color": 1}, "Color", "unknown field"),
    ({**ROW, "MedInc": "8.3"}, "MedInc", "expected a number, got str"),
    ({**ROW, "MedInc": True}, "MedInc", "expected a number, got bool"),
    ({**ROW, "MedInc": None}, "MedInc", "null is not a number"),
    ({**ROW, "MedInc": float("inf")}, "MedInc", "inf is not a finite number"),
    ({**ROW, "MedInc": 2**60}, "MedInc", "out of range"),
])
def test_bad_values_name_the_field_and_record(record, field, error):
    details = refused(predict_matrix, [ROW, record], 422)
    assert details[0]["index"] == 1 and details[0]["field"] == field
    assert error in details[0]["error"]


@pytest.mark.parametrize(("payload", "status"), [
    (42, 400), ([], 400), ([ROW] * 6, 413), ({"rows": [ROW]}, 400),
    ({"instances": [ROW], "inputs": [ROW]}, 400), ({"dataframe_split": [1]}, 400),
    ({"dataframe_split": {"columns": list(FEATURES), "data": 3}}, 400),
    ({"inputs": {"MedInc": [1.0], "HouseAge": [1.0, 2.0]}}, 400),
    ({"inputs": {f: [1.0] * 6 for f in FEATURES}}, 413),
])
def test_bad_shapes(payload, status):
    fn = predict_matrix if not isinstance(payload, dict) else invocations_matrix
    assert refused(fn, payload, status) is not None


@pytest.mark.parametrize(("columns", "field", "error"), [
    ([*FEATURES[:-1], "Elevation"], "Elevation", "unknown field"),
    ([*FEATURES, "MedInc"], "MedInc", "column given twice"),
    (list(FEATURES[:-1]), "Longitude", "missing"),
])
def test_split_columns_are_checked(columns, field, error):
    details = refused(invocations_matrix,
                      {"dataframe_split": {"columns": columns, "data": [VALUES]}}, 422)
    assert {"field": field, "error": error} in details


def test_split_rows_of_the_wrong_length_name_their_index():
    split = {"dataframe_split": {"columns": list(FEATURES), "data": [VALUES, VALUES[:3]]}}
    assert refused(invocations_matrix, split, 422)[0]["index"] == 1


def test_details_are_capped():
    details = refused(lambda p, max_batch: predict_matrix(p, max_batch=1000),
                      [{"x": 1}] * 200, 422)
    assert len(details) == MAX_DETAILS + 1 and "more problems" in details[-1]["error"]
