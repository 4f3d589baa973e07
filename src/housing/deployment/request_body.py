"""Request parsing and validation: JSON in, a float matrix or a precise 4xx out.

Validation reads the parsed JSON once and builds the feature matrix (rows in request
order, columns in the order of contract.District's fields, which is FEATURES) in the same
pass: no DataFrame and no model object per request. The rules are District's: its
fields, each a finite number, and no other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from housing.config import FEATURES

_FEATURE_SET = frozenset(FEATURES)
_N = len(FEATURES)
MAX_DETAILS = 100
_MAX_INT = 2**53  # larger integers lose precision as floats (orjson allows 64 bits)


class RequestError(Exception):
    """A client error: HTTP status, a message, and details naming fields and record indexes."""

    def __init__(self, status: int, error: str, details: list[dict[str, Any]] | None = None):
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "details": self.details}


def value_problem(value: Any) -> str | None:
    """Why ``value`` is not a feature value, or None (an int or a finite float)."""
    kind = type(value)
    if kind is float:
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if kind is int:
        return None if abs(value) <= _MAX_INT else f"{value} is out of range"
    if value is None:
        return "null is not a number"
    return f"expected a number, got {kind.__name__}"


def plain_numbers(values: list[Any]) -> bool:
    """True if every value is a finite float or a float-exact int (the fast path)."""
    for v in values:
        kind = type(v)
        if kind is float:
            if not math.isfinite(v):
                return False
        elif kind is not int or abs(v) > _MAX_INT:
            return False
    return True


class _Details:
    """Collects problems, up to MAX_DETAILS, then raises them as one 422."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    @property
    def full(self) -> bool:
        return len(self.items) > MAX_DETAILS

    def add(self, **detail: Any) -> bool:
        """Record a problem; True once the list is full (later problems are not kept, so
        an answer holds at most MAX_DETAILS + 1 details whatever the request)."""
        if self.full:
            return True
        self.items.append(detail)
        if len(self.items) >= MAX_DETAILS:
            self.items.append({"error": "more problems not listed"})
            return True
        return False

    def raise_any(self) -> None:
        if self.items:
            raise RequestError(422, "invalid input", self.items)


def _check_batch(rows: Any, what: str, max_batch: int) -> None:
    if not isinstance(rows, list):
        raise RequestError(400, f"expected {what}", [{"error": f"got {_json_type(rows)}"}])
    if not rows:
        raise RequestError(400, "empty batch", [{"error": "send at least one record"}])
    if len(rows) > max_batch:
        raise RequestError(413, "batch too large",
                           [{"error": f"{len(rows)} records; the limit is {max_batch}"}])


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def records_matrix(records: Any, *, max_batch: int) -> np.ndarray:
    """A list of feature objects as a float matrix in FEATURES order."""
    _check_batch(records, "a JSON object or a list of objects", max_batch)
    matrix = np.empty((len(records), _N))
    details = _Details()
    for index, record in enumerate(records):
        if type(record) is not dict:
            if details.add(index=index, error=f"expected an object, got {_json_type(record)}"):
                break
            continue
        try:  # the common case: every feature, each a plain number, nothing else
            values = [record[f] for f in FEATURES]
            if len(record) == _N and plain_numbers(values):
                matrix[index] = values
                continue
        except KeyError:
            pass
        full = False
        for field in FEATURES:
            if field not in record:
                full = details.add(index=index, field=field, error="missing")
            else:
                problem = value_problem(record[field])
                if problem:
                    full = details.add(index=index, field=field, error=problem)
            if full:
                break
        for field in record.keys() - _FEATURE_SET:
            if full:
                break
            full = details.add(index=index, field=str(field)[:100], error="unknown field")
        if full:
            break
    details.raise_any()
    return matrix


def split_matrix(split: Any, *, max_batch: int) -> np.ndarray:
    """MLflow's ``dataframe_split`` (columns + rows of values) as a float matrix."""
    if type(split) is not dict or "columns" not in split or "data" not in split:
        raise RequestError(400, "dataframe_split needs 'columns' and 'data'")
    columns, data = split["columns"], split["data"]
    if type(columns) is not list or type(data) is not list:
        raise RequestError(400, "dataframe_split 'columns' and 'data' must be lists")
    details = _Details()
    position_of: dict[str, int] = {}
    for position, name in enumerate(columns):
        if type(name) is not str:
            full = details.add(field=_json_type(name), error="column names must be strings")
        elif name not in _FEATURE_SET:
            full = details.add(field=name[:100], error="unknown field")
        elif name in position_of:
            full = details.add(field=name, error="column given twice")
        else:
            position_of[name], full = position, False
        if full:
            break
    for field in FEATURES:
        if field not in position_of:
            details.add(field=field, error="missing")
    details.raise_any()
    _check_batch(data, "'data' as a list of rows", max_batch)
    order = [position_of[f] for f in FEATURES]
    in_order = order == list(range(_N))
    matrix = np.empty((len(data), _N))
    for index, row in enumerate(data):
        if type(row) is not list or len(row) != _N:
            got = len(row) if type(row) is list else _json_type(row)
            if details.add(index=index, error=f"row has {got} values for {_N} columns"):
                break
            continue
        values = row if in_order else [row[i] for i in order]
        if plain_numbers(values):
            matrix[index] = values
            continue
        for field, value in zip(FEATURES, values):
            problem = value_problem(value)
            if problem and details.add(index=index, field=field, error=problem):
                break
        if details.full:
            break
    details.raise_any()
    return matrix


def columnar_matrix(columns: dict[str, Any], *, max_batch: int) -> np.ndarray:
    """MLflow's columnar ``inputs``/``instances`` ({feature: [values]}) as a matrix."""
    lengths = {len(v) if type(v) is list else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise RequestError(400, "'inputs' as columns needs lists of equal length")
    n = lengths.pop()
    _check_batch([None] * min(n, max_batch + 1), "columns", max_batch)
    return records_matrix([{k: v[i] for k, v in columns.items()} for i in range(n)],
                          max_batch=max_batch)


def predict_matrix(payload: Any, *, max_batch: int) -> np.ndarray:
    """/predict: one object (a district) or a list of them."""
    return records_matrix([payload] if type(payload) is dict else payload,
                          max_batch=max_batch)


INVOCATION_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def invocations_matrix(payload: Any, *, max_batch: int) -> np.ndarray:
    """/invocations: MLflow's scoring protocol (dataframe_split, dataframe_records,
    instances, inputs)."""
    keys = [k for k in INVOCATION_KEYS if type(payload) is dict and k in payload]
    if len(keys) != 1:
        raise RequestError(400, "expected exactly one of dataframe_split, dataframe_records, "
                                "instances or inputs", [{"error": "see MLflow's scoring protocol"}])
    body = payload[keys[0]]
    if keys[0] == "dataframe_split":
        return split_matrix(body, max_batch=max_batch)
    if type(body) is dict:  # columnar instances/inputs
        return columnar_matrix(body, max_batch=max_batch)
    return records_matrix(body, max_batch=max_batch)
