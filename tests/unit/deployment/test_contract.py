"""The contract is written once: the request parser accepts exactly the bodies the
OpenAPI schemas (generated from contract.py) accept, and reads its fields from there."""

from __future__ import annotations

import jsonschema_rs
import pytest

from housing.config import FEATURES
from housing.deployment import request_body
from housing.deployment.contract import District
from housing.deployment.openapi import schemas

MAX_BATCH = 3
ROW = dict(zip(FEATURES, [8.3252, 41, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23]))


def validator(name: str):
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}",
                                        "components": {"schemas": schemas(MAX_BATCH)}})


def parses(parse, body) -> bool:
    try:
        parse(body, max_batch=MAX_BATCH)
    except request_body.RequestError:
        return False
    return True


def test_the_contract_s_fields_are_the_model_s_features_in_order():
    assert tuple(District.model_fields) == FEATURES


PREDICT_BODIES = [
    ROW, [ROW], [ROW] * MAX_BATCH, [ROW] * (MAX_BATCH + 1), [],
    {k: v for k, v in ROW.items() if k != "HouseAge"}, ROW | {"extra": 1},
    ROW | {"MedInc": "8.3"}, ROW | {"MedInc": None}, ROW | {"MedInc": True}, "text", 5,
    [ROW, 3], ROW | {"Population": 322},
]


@pytest.mark.parametrize("body", PREDICT_BODIES)
def test_predict_bodies_are_accepted_exactly_as_the_schema_says(body):
    assert parses(request_body.predict_matrix, body) == validator("PredictRequest").is_valid(body)


COLUMNS = {f: [v, v] for f, v in ROW.items()}
INVOCATION_BODIES = [
    {"dataframe_records": [ROW]}, {"dataframe_records": []},
    {"dataframe_split": {"columns": list(FEATURES), "data": [list(ROW.values())]}},
    {"dataframe_split": {"columns": list(FEATURES)[::-1],
                         "data": [list(ROW.values())[::-1]]}},
    {"dataframe_split": {"columns": list(FEATURES)[:-1], "data": [[1] * 7]}},
    {"dataframe_split": {"columns": list(FEATURES), "data": [[1] * 7]}},
    {"instances": [ROW]}, {"inputs": COLUMNS}, {"inputs": COLUMNS | {"extra": [1, 2]}},
    {"inputs": [ROW], "instances": [ROW]}, {}, {"records": [ROW]},
]


@pytest.mark.parametrize("body", INVOCATION_BODIES)
def test_invocation_bodies_are_accepted_exactly_as_the_schema_says(body):
    assert parses(request_body.invocations_matrix, body) == \
        validator("InvocationsRequest").is_valid(body)


def test_the_schemas_hold_the_batch_limit():
    found = schemas(7)
    assert found["PredictRequest"]["anyOf"][1]["maxItems"] == 7
    assert found["District"]["additionalProperties"] is False
    assert found["District"]["required"] == list(FEATURES)
