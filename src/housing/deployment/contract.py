"""The service's bodies, written once as pydantic models: the OpenAPI document's schemas
are generated from them (openapi), the request parser takes its fields and their order
from ``District`` (requests), and the dashboard labels its form from ``FEATURE_DOCS``.

Requests are parsed by requests.py, not by these models: one pass over the parsed JSON
that builds the float matrix is several times faster than validating objects first, and
names every bad field of every record. tests/unit/deployment/test_contract.py checks
that the parser accepts and refuses what these schemas accept and refuse.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, create_model

from housing.config import FEATURES

# Each feature's label and unit, in FEATURES order.
FEATURE_DOCS: dict[str, tuple[str, str]] = {
    "MedInc": ("Median income", "10,000 USD"),
    "HouseAge": ("Median house age", "years"),
    "AveRooms": ("Rooms per household", "rooms"),
    "AveBedrms": ("Bedrooms per household", "bedrooms"),
    "Population": ("Population", "people"),
    "AveOccup": ("Occupants per household", "people"),
    "Latitude": ("Latitude", "degrees north"),
    "Longitude": ("Longitude", "degrees east, negative is west"),
}
Feature = Literal[FEATURES]  # type: ignore[valid-type]
Number = float  # JSON numbers: integers too
CLOSED = ConfigDict(extra="forbid")

District = create_model(
    "District", __config__=ConfigDict(extra="forbid", json_schema_extra={
        "description": "One district's 8 census features."}),
    **{f: (Number, Field(description=f"{label}, in {unit}."))
       for f, (label, unit) in FEATURE_DOCS.items()})


class ModelRef(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    value: Number = Field(description="Median house value, in 100,000 USD.")
    usd: Number
    lower: Number | None = Field(None, description=(
        "The prediction interval's lower bound, in 100,000 USD (absent for a version "
        "registered without intervals)."))
    upper: Number | None = Field(None, description="Its upper bound, in 100,000 USD.")
    lower_usd: Number | None = None
    upper_usd: Number | None = None
    out_of_range: list[Feature] = Field(default_factory=list, description=(
        "Features outside the training range (absent when none is)."))


class PredictResponse(BaseModel):
    model: ModelRef
    request_id: str
    interval_coverage: Number | None = Field(None, description=(
        "The share of districts the intervals are calibrated to cover (0.9: 90%)."))
    predictions: list[Prediction]


class ErrorDetail(BaseModel):
    input: str | None = Field(None, description="The V2 input tensor at fault.")
    index: NonNegativeInt | None = Field(None, description="The record (row) at fault.")
    field: str | None = Field(None, description="The field at fault.")
    error: str | None = None
    request_id: str | None = None


class Error(BaseModel):
    error: str = Field(description="What is wrong, in a sentence.")
    details: list[ErrorDetail]


class InvocationsResponse(BaseModel):
    predictions: list[Number]


class Health(BaseModel):
    status: Literal["ok"]


Registry = Literal["reachable", "unreachable"]


class Ready(BaseModel):
    """Open to probes, so it names no cause: /model and the service log do."""

    ready: bool
    model: ModelRef | None = None
    reason: str | None = None
    registry: Registry
    prediction_log: Literal["ok", "failing"] | None = None


class FeatureInfo(BaseModel):
    name: Feature
    type: Literal["double"]
    training_range: dict[str, Number] | None


class Model(BaseModel):
    name: str
    version: str
    aliases: list[str]
    run_id: str
    metrics: dict[str, Number]
    loaded_at: str | None = None
    interval_coverage: Number | None = Field(None, description=(
        "The coverage its prediction intervals are calibrated to (absent without them)."))
    runtime: dict[str, Any] | None = Field(None, description=(
        "compiled (with each tree member's runtime: lleaves or lightgbm), or the Pipeline "
        "and why."))
    registry: Registry | None = None
    registry_error: str | None = None
    prediction_log: dict[str, Any] | None = Field(None, description=(
        "This worker's log: state (ok or failing), pending, written and lost rows, failed "
        "write attempts and the last error."))
    shadow: dict[str, Any] | None = Field(None, description=(
        "The challenger this worker scores in shadow (alias, version, share of requests), "
        "or null when shadowing is off."))
    features: list[FeatureInfo]


def request_bodies(max_batch: int) -> dict[str, Any]:
    """The request bodies' types, whose lists hold 1 to ``max_batch`` records."""
    records = Annotated[list[District], Field(min_length=1, max_length=max_batch)]
    column = Annotated[list[Number], Field(min_length=1, max_length=max_batch)]
    columns = create_model("Columns", __config__=ConfigDict(extra="forbid", json_schema_extra={
        "description": "Columns: each feature's values, all lists of the same length."}),
        **dict.fromkeys(FEATURES, (column, ...)))
    n = len(FEATURES)
    split = create_model(
        "DataframeSplit",
        columns=(Annotated[list[Feature], Field(min_length=n, max_length=n,
                                                json_schema_extra={"uniqueItems": True})], ...),
        data=(Annotated[list[Annotated[list[Number], Field(min_length=n, max_length=n)]],
                        Field(min_length=1, max_length=max_batch)], ...))

    def keyed(name: str, key: str, kind: Any) -> type[BaseModel]:
        return create_model(name, __config__=CLOSED, **{key: (kind, ...)})

    return {"PredictRequest": District | records,
            "InvocationsRequest": (keyed("SplitRequest", "dataframe_split", split)
                                   | keyed("RecordsRequest", "dataframe_records", records)
                                   | keyed("InstancesRequest", "instances", records | columns)
                                   | keyed("InputsRequest", "inputs", records | columns))}


# The Open Inference Protocol's (V2) bodies, as this service speaks it (oip).
Datatype = Literal["FP64", "FP32", "INT64", "INT32"]


class InferInput(BaseModel):
    name: str = Field(description="'districts' ([n, 8], FEATURES order), or a feature's name "
                                  "([n] or [n, 1]).")
    shape: Annotated[list[NonNegativeInt], Field(min_length=1, max_length=2)]
    datatype: Datatype
    parameters: dict[str, Any] | None = Field(None, description=(
        "binary_data_size: the tensor's bytes after the JSON header (the binary tensor "
        "data extension, with the Inference-Header-Content-Length header)."))
    data: list[Number | list[Number]] | None = Field(None, description="Row-major values.")


OutputName = Literal["predictions", "lower", "upper"]


class RequestedOutput(BaseModel):
    name: OutputName = Field(description=(
        "predictions, or the prediction interval's lower or upper bound (a version with "
        "intervals)."))
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    id: Annotated[str, Field(max_length=256)] | None = None
    parameters: dict[str, Any] | None = Field(None, description=(
        "binary_data_output: true answers the outputs in binary after the JSON header."))
    inputs: Annotated[list[InferInput], Field(min_length=1)]
    outputs: list[RequestedOutput] | None = None


class OutputTensor(BaseModel):
    name: OutputName
    datatype: Literal["FP64"]
    shape: list[NonNegativeInt]
    data: list[Number] | None = Field(None, description=(
        "Median house values (or the interval's bounds), 100,000 USD."))
    parameters: dict[str, Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[OutputTensor]


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] | None = None


class Live(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


ANSWERS: dict[str, Any] = {
    "PredictResponse": PredictResponse, "InvocationsResponse": InvocationsResponse,
    "Error": Error, "Health": Health, "Ready": Ready, "Model": Model,
    "InferenceRequest": InferenceRequest, "InferenceResponse": InferenceResponse,
    "ServerMetadata": ServerMetadata, "ModelMetadata": ModelMetadata, "Live": Live,
    "ServerReady": ServerReady, "ModelReady": ModelReady}
