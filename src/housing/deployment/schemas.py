"""Request parsing and validation: JSON in, a feature frame or a precise 4xx out."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from housing.config import FEATURES

_FEATURE_SET = frozenset(FEATURES)


class RequestError(Exception):
    """A client error: HTTP status, a message, and details naming fields and record indexes."""

    def __init__(self, status: int, error: str, details: list[dict[str, Any]] | None = None):
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "details": self.details}


def _check_value(value: Any) -> str | None:
    if value is None:
        return "null is not a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {type(value).__name__}"
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    return None


def records_frame(records: Any, *, max_batch: int) -> pd.DataFrame:
    """Validate a list of feature objects and return them as a float frame in FEATURES order."""
    if not isinstance(records, list):
        raise RequestError(400, "expected a JSON object or a list of objects",
                           [{"error": f"got {type(records).__name__}"}])
    if not records:
        raise RequestError(400, "empty batch", [{"error": "send at least one record"}])
    if len(records) > max_batch:
        raise RequestError(413, "batch too large",
                           [{"error": f"{len(records)} records; the limit is {max_batch}"}])
    details: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            details.append({"index": index, "error": f"expected an object, got "
                                                     f"{type(record).__name__}"})
            continue
        for field in FEATURES:
            if field not in record:
                details.append({"index": index, "field": field, "error": "missing"})
            else:
                problem = _check_value(record[field])
                if problem:
                    details.append({"index": index, "field": field, "error": problem})
        for field in record.keys() - _FEATURE_SET:
            details.append({"index": index, "field": str(field), "error": "unknown field"})
        if len(details) >= 100:
            details.append({"error": "more problems not listed"})
            break
    if details:
        raise RequestError(422, "invalid input", details)
    matrix = np.array([[record[f] for f in FEATURES] for record in records], dtype=float)
    return pd.DataFrame(matrix, columns=list(FEATURES))


def predict_payload(payload: Any, *, max_batch: int) -> pd.DataFrame:
    """/predict: one object (a district) or a list of them."""
    return records_frame([payload] if isinstance(payload, dict) else payload,
                         max_batch=max_batch)


def _split_records(split: Any) -> list[Any]:
    if not isinstance(split, dict) or "columns" not in split or "data" not in split:
        raise RequestError(400, "dataframe_split needs 'columns' and 'data'")
    columns, data = split["columns"], split["data"]
    if not isinstance(columns, list) or not isinstance(data, list):
        raise RequestError(400, "dataframe_split 'columns' and 'data' must be lists")
    records = []
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(422, "invalid input", [{
                "index": index, "error": f"row has {len(row) if isinstance(row, list) else 0} "
                                         f"values for {len(columns)} columns"}])
        records.append(dict(zip(columns, row)))
    return records


def _columnar_records(columns: dict[str, Any]) -> list[Any]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise RequestError(400, "'inputs' as columns needs lists of equal length")
    n = lengths.pop()
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def invocations_payload(payload: Any, *, max_batch: int) -> pd.DataFrame:
    """/invocations: MLflow's scoring protocol (dataframe_split, dataframe_records,
    instances, inputs)."""
    keys = {"dataframe_split", "dataframe_records", "instances", "inputs"}
    if not isinstance(payload, dict) or len(keys & payload.keys()) != 1:
        raise RequestError(400, "expected exactly one of dataframe_split, dataframe_records, "
                                "instances or inputs", [{"error": "see MLflow's scoring protocol"}])
    key = (keys & payload.keys()).pop()
    body = payload[key]
    if key == "dataframe_split":
        records = _split_records(body)
    elif isinstance(body, dict):  # columnar instances/inputs
        records = _columnar_records(body)
    else:
        records = body
    return records_frame(records, max_batch=max_batch)


def out_of_range(frame: pd.DataFrame, ranges: dict[str, dict[str, float]]) -> list[list[str]]:
    """For each row, the features outside the training range (predicted all the same)."""
    if not ranges:
        return [[] for _ in range(len(frame))]
    low = np.array([ranges[f]["min"] for f in FEATURES])
    high = np.array([ranges[f]["max"] for f in FEATURES])
    values = frame[list(FEATURES)].to_numpy()
    outside = (values < low) | (values > high)
    names = np.array(FEATURES)
    return [names[row].tolist() if row.any() else [] for row in outside]
