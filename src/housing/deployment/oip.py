"""The Open Inference Protocol (V2, REST): an inference request's tensors in, a float
matrix or a precise 4xx out; the predictions back as the protocol's answer.

A request gives the districts either as one tensor ``districts`` of shape ``[n, 8]``
(columns in FEATURES order) or as one tensor per feature, named after it, of shape
``[n]`` or ``[n, 1]``. Each tensor is FP64, FP32, INT64 or INT32, its values in JSON
(``data``, flat or nested, row-major) or, with the binary tensor data extension that
tritonclient uses by default, as little-endian bytes after the JSON header
(``Inference-Header-Content-Length`` gives the header's size, each tensor's
``parameters.binary_data_size`` its bytes). The rules are /predict's: every value a
finite number, 1 to ``max_batch`` rows; problems name the tensor, the row and the field.

The answer holds the outputs the request names, or all of them: ``predictions`` and, for
a version with prediction intervals, ``lower`` and ``upper`` (each FP64, shape ``[n]``,
100k USD); each in JSON, or in binary when the request asks for it
(``parameters.binary_data_output``, or the output's own ``binary_data``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from housing.config import FEATURES
from housing.deployment.request_body import MAX_DETAILS, RequestError, plain_numbers, value_problem

DTYPES = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4"}
INPUT = "districts"
OUTPUT = "predictions"
BOUNDS = ("lower", "upper")  # the prediction interval's, for a version that has one
OUTPUTS = (OUTPUT, *BOUNDS)
HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_ID = 256
DIGITS = re.compile(r"[0-9]{1,12}")  # str.isdigit() takes "²", which int() refuses
_N = len(FEATURES)


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request: its rows, the client's id, and the answer's form."""

    matrix: np.ndarray
    id: str | None
    binary_output: bool
    # The outputs asked for, each with its form (binary or not); () = every output.
    outputs: tuple[tuple[str, bool], ...] = ()

    def wanted(self, available: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
        """The outputs to answer: those asked for, or every available one."""
        missing = [name for name, _ in self.outputs if name not in available]
        if missing:
            raise _bad("unknown output", f"this version answers {', '.join(available)}")
        return self.outputs or tuple((name, self.binary_output) for name in available)


def _bad(error: str, detail: str | None = None, status: int = 400) -> RequestError:
    return RequestError(status, error, [{"error": detail}] if detail else [])


def split_body(body: bytes, header_length: str | None) -> tuple[Any, memoryview]:
    """The JSON header (parsed) and the binary part that follows it, if any."""
    binary = memoryview(b"")
    if header_length is not None:
        if not DIGITS.fullmatch(header_length) or not 0 < int(header_length) <= len(body):
            raise _bad(f"invalid {HEADER_LENGTH}",
                       f"expected 1 to {len(body)} (the body's size), got '{header_length[:20]}'")
        binary = memoryview(body)[int(header_length):]
        body = body[:int(header_length)]
    try:
        return orjson.loads(body), binary
    except (ValueError, RecursionError) as err:
        raise _bad("body is not valid JSON", str(err)) from None


def _shape(tensor: dict, name: str) -> list[int]:
    shape = tensor.get("shape")
    if type(shape) is not list or not 1 <= len(shape) <= 2 or any(
            type(d) is not int or d < 0 for d in shape):
        raise _bad(f"input '{name}': invalid shape", "a list of 1 or 2 sizes >= 0")
    return shape


def _values(tensor: dict, name: str, n: int, width: int, binary: memoryview, offset: int
            ) -> tuple[np.ndarray | list, int]:
    """The tensor's ``n`` rows of ``width`` values (an array from bytes, or the JSON list,
    flattened), and where its bytes end in the binary part."""
    count = n * width
    datatype = tensor.get("datatype")
    if datatype not in DTYPES:
        raise _bad(f"input '{name}': unsupported datatype",
                   f"expected one of {', '.join(DTYPES)}, got '{str(datatype)[:20]}'")
    parameters = tensor.get("parameters") or {}
    size = parameters.get("binary_data_size") if type(parameters) is dict else None
    if size is not None:
        width = np.dtype(DTYPES[datatype]).itemsize
        if type(size) is not int or size != count * width or offset + size > len(binary):
            raise _bad(f"input '{name}': invalid binary_data_size",
                       f"{count} values of {datatype} take {count * width} bytes")
        return np.frombuffer(binary[offset:offset + size], DTYPES[datatype]), offset + size
    data = tensor.get("data")
    if type(data) is not list:
        raise _bad(f"input '{name}': no data", "give 'data' or binary_data_size")
    if data and type(data[0]) is list:  # nested, row-major: n rows of width values
        if len(data) != n or not all(type(row) is list and len(row) == width
                                     for row in data):
            raise _bad(f"input '{name}': nested data must be {n} rows of {width} values")
        data = [v for row in data for v in row]
    if len(data) != count:
        raise _bad(f"input '{name}': data holds {len(data)} values, its shape {count}")
    return data, offset


def _check(values: np.ndarray | list, fields: list[str], name: str) -> np.ndarray:
    """``values`` as float64, or a 422 naming the row and field of each bad value."""
    if isinstance(values, np.ndarray):
        array = values.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(array))[:MAX_DETAILS]
        problems = [(int(i), f"{array[i]} is not a finite number") for i in bad]
    else:
        problems = [] if plain_numbers(values) else [
            (i, p) for i, v in enumerate(values) if (p := value_problem(v))]
        array = None if problems else np.array(values, dtype=np.float64)
        if array is not None and not np.isfinite(array).all():  # ints past float range
            problems = [(i, "out of range") for i in np.flatnonzero(~np.isfinite(array))]
    if problems:
        raise RequestError(422, "invalid input", [
            {"input": name, "index": i // len(fields), "field": fields[i % len(fields)],
             "error": p} for i, p in problems[:MAX_DETAILS]])
    return array


def _rows(inputs: list, binary: memoryview, max_batch: int) -> np.ndarray:
    """The districts of the request's inputs, as a float matrix in FEATURES order."""
    if type(inputs) is not list or not inputs or not all(type(t) is dict for t in inputs):
        raise _bad("'inputs' must be a non-empty list of tensors")
    names = [t.get("name") for t in inputs]
    if names == [INPUT]:
        shape = _shape(inputs[0], INPUT)
        if len(shape) != 2 or shape[1] != _N:
            raise _bad(f"input '{INPUT}': shape must be [n, {_N}]", f"got {shape}")
        columns = [(inputs[0], INPUT, list(FEATURES))]
    elif sorted(map(str, names)) == sorted(FEATURES):
        shapes = {t["name"]: _shape(t, t["name"]) for t in inputs}
        if any(s[1:] not in ([], [1]) for s in shapes.values()) or len(
                {s[0] for s in shapes.values()}) != 1:
            raise _bad("one tensor per feature needs shapes [n] or [n, 1], the same n")
        shape = [next(iter(shapes.values()))[0], _N]
        columns = [(next(t for t in inputs if t["name"] == f), f, [f]) for f in FEATURES]
    else:
        raise _bad("unknown inputs", f"send one tensor '{INPUT}' [n, {_N}] or one per "
                   f"feature ({', '.join(FEATURES)}); got {[str(n)[:40] for n in names][:10]}")
    n = shape[0]
    if n == 0:
        raise _bad("empty batch", "send at least one row")
    if n > max_batch:
        raise _bad("batch too large", f"{n} rows; the limit is {max_batch}", 413)
    offset, parts = 0, []
    for tensor, name, tensor_fields in columns:
        values, offset = _values(tensor, name, n, len(tensor_fields), binary, offset)
        parts.append(_check(values, tensor_fields, name))
    if offset != len(binary):
        raise _bad("binary data left over", f"{len(binary) - offset} bytes no tensor names")
    matrix = parts[0].reshape(n, _N) if len(parts) == 1 else np.column_stack(parts)
    return np.ascontiguousarray(matrix)


def parse_infer(body: bytes, header_length: str | None, *, max_batch: int) -> InferRequest:
    """An inference request's rows, id and wanted answer form (see the module's text)."""
    payload, binary = split_body(body, header_length)
    if type(payload) is not dict:
        raise _bad("expected an inference request object")
    request_id = payload.get("id")
    if request_id is not None and (type(request_id) is not str or len(request_id) > MAX_ID):
        raise _bad("invalid id", f"a string of at most {MAX_ID} characters")
    parameters = payload.get("parameters") or {}
    outputs = payload.get("outputs") or []
    if type(parameters) is not dict or type(outputs) is not list:
        raise _bad("'parameters' must be an object and 'outputs' a list")
    binary_output = parameters.get("binary_data_output") is True
    wanted: dict[str, bool] = {}
    for output in outputs:
        if type(output) is not dict or output.get("name") not in OUTPUTS:
            raise _bad("unknown output", f"this model answers {', '.join(OUTPUTS)}")
        params = output.get("parameters") or {}
        wanted[output["name"]] = (params.get("binary_data") is True if type(params) is dict
                                  and "binary_data" in params else binary_output)
    matrix = _rows(payload.get("inputs"), binary, max_batch)
    return InferRequest(matrix, request_id, binary_output, tuple(wanted.items()))


def infer_answer(name: str, version: str, request_id: str, tensors: dict[str, np.ndarray],
                 wanted: tuple[tuple[str, bool], ...]) -> tuple[bytes, str | None]:
    """The answer's body, and the JSON header's length when values follow in binary (each
    binary output's bytes in the order of the outputs)."""
    outputs, blobs = [], []
    for output_name, binary in wanted:
        values = tensors[output_name]
        output: dict[str, Any] = {"name": output_name, "datatype": "FP64",
                                  "shape": [len(values)]}
        if binary:
            output["parameters"] = {"binary_data_size": 8 * len(values)}
            blobs.append(np.ascontiguousarray(values, "<f8").tobytes())
        else:
            output["data"] = values
        outputs.append(output)
    header = orjson.dumps({"model_name": name, "model_version": version, "id": request_id,
                           "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return header + b"".join(blobs), str(len(header))


def model_metadata(name: str, version: str, outputs: tuple[str, ...]) -> dict[str, Any]:
    """The model metadata answer: its version, and its input and output tensors."""
    return {"name": name, "versions": [version], "platform": "scikit-learn",
            "inputs": [{"name": INPUT, "datatype": "FP64", "shape": [-1, _N]}],
            "outputs": [{"name": o, "datatype": "FP64", "shape": [-1]} for o in outputs],
            "parameters": {"columns": list(FEATURES), "unit": "100,000 USD"}}
