"""The service's OpenAPI 3.1 document: every endpoint, its bodies, and the error shape.

The bodies' schemas are generated from the pydantic models of contract.py, with the
limits of the running service (the batch size), so the contract and the service cannot
drift apart; tests/integration/test_contract.py fuzzes the running service against it
with schemathesis.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from housing.deployment.contract import ANSWERS, request_bodies
from housing.deployment.settings import Settings

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"X-Request-ID": {"$ref":
            "#/components/headers/X-Request-ID"}}, "content": _json_content(_ref("Error"))}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "headers": {"X-Request-ID": {"$ref":
            "#/components/headers/X-Request-ID"}}, "content": _json_content(_ref(schema))}


def schemas(max_batch: int) -> dict[str, Any]:
    """The components' schemas: each body of contract.py and every model it refers to."""
    found: dict[str, Any] = {}
    for name, kind in {**request_bodies(max_batch), **ANSWERS}.items():
        schema = TypeAdapter(kind).json_schema(ref_template=REF)
        found.update(schema.pop("$defs", {}))
        found[name] = schema
    return found


BATCH = {"name": "X-Housing-Batch", "in": "header", "required": False, "schema": {
    "type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@[0-9]{1,9})?$"},
    "description": (
        "Names the production batch these rows belong to, as `<batch>@<offset>` (the "
        "first row's index in the batch; `@0` when omitted): their record ids in the "
        "prediction log become `<batch>/<offset + row>`, which late labels join on. "
        "Only key holders may send it (403 otherwise; with no key configured, any "
        "client on the loopback bind). Names are letters, digits and `._-`; names "
        "starting with `service-` are the service's own (400).")}
TRAFFIC = {"name": "X-Housing-Traffic", "in": "header", "required": False, "schema": {
    "enum": ["production", "test"], "default": "production"}, "description": (
        "`test` marks the rows as synthetic (load tests, benchmarks, `housing simulate "
        "--url`): the prediction log records them with `\"traffic\": \"test\"` and the "
        "monitor leaves them out. Any other value is a 400.")}
REQUEST_ID = {"name": "X-Request-ID", "in": "header", "required": False, "schema": {
    "type": "string"}, "description": (
        "A correlation id, echoed and logged when it is 1-64 characters of letters, "
        "digits and `._:-`; otherwise the service draws one. It never names a "
        "record or a batch.")}


def _errors(keyed: bool) -> dict[str, Any]:
    """Every error a posted body can get."""
    return {
        "400": _error("The body is not JSON, or not of the expected shape."),
        **({"401": _error("Missing or wrong API key.")} if keyed else {}),
        "403": _error("X-Housing-Batch without the API key."),
        "413": _error("Too many records, or a body over the size limit."),
        "415": _error("The body is not application/json."),
        "422": _error("Records with missing, unknown or non-numeric fields; "
                      "details name each record and field."),
        **({"429": _error("Too many wrong keys from this address: wait a minute.")}
           if keyed else {}),
        "503": _error("No model is loaded yet, or the prediction log cannot record the "
                      "predictions now (nothing is answered that is not logged)."),
    }


def _paths(keyed: bool) -> dict[str, Any]:
    security = [{"apiKey": []}, {"bearer": []}] if keyed else []
    errors = _errors(keyed)

    def post(summary: str, request: str, response: str) -> dict[str, Any]:
        return {"post": {
            "summary": summary, "security": security,
            "parameters": [BATCH, TRAFFIC, REQUEST_ID],
            "requestBody": {"required": True, "content": _json_content(_ref(request))},
            "responses": {"200": _ok("Predictions, in request order.", response), **errors}}}

    def get(summary: str, schema: str, codes: tuple[str, ...], open_path: bool = False):
        return {"get": {"summary": summary, "security": [] if open_path else security,
                        "responses": {"200": _ok(summary, schema),
                                      **{c: errors[c] for c in codes if c in errors}}}}

    return {
        "/predict": post("Predict one district or a list of them.", "PredictRequest",
                         "PredictResponse"),
        "/invocations": post("MLflow's scoring protocol.", "InvocationsRequest",
                             "InvocationsResponse"),
        "/health": get("The process is up.", "Health", (), open_path=True),
        "/ready": {"get": {**get("A model is loaded (503 until then).", "Ready", (),
                                 open_path=True)["get"],
                           "responses": {"200": _ok("A model is loaded.", "Ready"),
                                         "503": {"description": "No model loaded yet.",
                                                 "content": _json_content(_ref("Ready"))}}}},
        "/model": get("The served version, its metrics and input schema.", "Model",
                      ("401", "429", "503")),
        "/metrics": {"get": {
            "summary": "Prometheus' text format: every worker's counts added up.",
            "security": security,
            "responses": {"200": {"description": "The metrics.", "content": {
                "text/plain": {"schema": {"type": "string"}}}},
                **{c: errors[c] for c in ("401", "429") if c in errors}}}},
        "/openapi.json": {"get": {
            "summary": "This document.", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": _json_content({"type": "object"})}}}},
    }


def _open_get(summary: str, schema: str, unready: bool = False) -> dict[str, Any]:
    """A path open to probes, 503 with the same body while no model is loaded."""
    responses = {"200": _ok(summary, schema)}
    if unready:
        responses["503"] = {"description": "No model loaded yet.",
                            "content": _json_content(_ref(schema))}
    return {"get": {"summary": summary, "security": [], "responses": responses}}


def _v2_paths(keyed: bool, model_name: str) -> dict[str, Any]:
    """The Open Inference Protocol's (V2) REST paths (oip_api)."""
    security = [{"apiKey": []}, {"bearer": []}] if keyed else []
    errors = _errors(keyed)
    name = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "enum": [model_name]},
            "description": "The registered model's name; any other is a 404."}
    version = {"name": "version", "in": "path", "required": True, "schema": {
        "type": "string"}, "description": "The version served now; any other is a 404."}
    missing = _error("Not this model's name, or not the version served now.")

    def model_get(summary: str, schema: str, params: list) -> dict[str, Any]:
        return {"get": {"summary": summary, "security": security, "parameters": params,
                        "responses": {"200": _ok(summary, schema), "404": missing,
                                      **{c: errors[c] for c in ("401", "429", "503")
                                         if c in errors}}}}

    def infer(params: list) -> dict[str, Any]:
        binary = {"application/octet-stream": {"schema": {
            "type": "string", "format": "binary"}}}
        ok = _ok("The predictions, in row order; with binary outputs asked for, the JSON "
                 "header (Inference-Header-Content-Length bytes) then FP64 values.",
                 "InferenceResponse")
        return {"post": {
            "summary": "Predict districts given as V2 tensors.", "security": security,
            "parameters": [*params, TRAFFIC, BATCH, REQUEST_ID],
            "requestBody": {"required": True, "content": _json_content(
                _ref("InferenceRequest"))},
            "responses": {"200": {**ok, "content": {**ok["content"], **binary}},
                          "404": missing, **{c: e for c, e in errors.items() if c != "415"}}}}

    base, pinned = "/v2/models/{name}", "/v2/models/{name}/versions/{version}"
    return {
        "/v2": _open_get("The server's metadata (V2).", "ServerMetadata"),
        "/v2/health/live": _open_get("The process is up (V2).", "Live"),
        "/v2/health/ready": _open_get("A model is loaded (V2).", "ServerReady", True),
        base: model_get("The model's metadata (V2).", "ModelMetadata", [name]),
        pinned: model_get("The model's metadata (V2).", "ModelMetadata", [name, version]),
        f"{base}/ready": model_get("The model is ready (V2).", "ModelReady", [name]),
        f"{pinned}/ready": model_get("The model is ready (V2).", "ModelReady",
                                     [name, version]),
        f"{base}/infer": infer([name]),
        f"{pinned}/infer": infer([name, version]),
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document for a service running with ``settings``."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "California housing price service",
            "version": "1",
            "description": (
                f"Median house value of California districts, from the '{settings.model_name}' "
                f"registered model's '{settings.model_alias}' version. Values are in "
                "100,000 USD. At most "
                f"{settings.max_batch} records and {settings.max_body_bytes} bytes per "
                "request."),
        },
        "paths": {**_paths(bool(settings.api_key)),
                  **_v2_paths(bool(settings.api_key), settings.model_name)},
        "components": {
            "schemas": schemas(settings.max_batch),
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"},
                                "bearer": {"type": "http", "scheme": "bearer",
                                           "description": "The same key, as Prometheus' "
                                                          "scrape config sends it."}},
            "headers": {"X-Request-ID": {
                "description": "The request's id (the client's X-Request-ID when it is "
                               "plain and short, or a new one); the prediction log "
                               "records it.",
                "schema": {"type": "string"}}},
        },
    }
