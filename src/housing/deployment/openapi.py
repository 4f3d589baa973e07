"""The service's OpenAPI 3.1 document: every endpoint, its bodies, and the error shape.

Built from the same names the code validates against (FEATURES, the batch limit), so the
contract and the service cannot drift apart; tests/integration/test_contract.py fuzzes
the running service against it with schemathesis.
"""

from __future__ import annotations

from typing import Any

from housing.config import FEATURES
from housing.deployment.settings import Settings

OPENAPI_VERSION = "3.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"X-Request-ID": {"$ref":
            "#/components/headers/X-Request-ID"}}, "content": _json_content(_ref("Error"))}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "headers": {"X-Request-ID": {"$ref":
            "#/components/headers/X-Request-ID"}}, "content": _json_content(_ref(schema))}


def _schemas(max_batch: int) -> dict[str, Any]:
    number = {"type": "number"}
    district = {
        "type": "object", "description": "One district's 8 census features.",
        "properties": dict.fromkeys(FEATURES, number), "required": list(FEATURES),
        "additionalProperties": False,
    }
    records = {"type": "array", "items": _ref("District"), "minItems": 1,
               "maxItems": max_batch}
    columnar = {"type": "object", "properties": {
        f: {"type": "array", "items": number, "minItems": 1, "maxItems": max_batch}
        for f in FEATURES}, "required": list(FEATURES), "additionalProperties": False,
        "description": "Columns: each feature's values, all lists of the same length."}
    version = {"type": "object", "required": ["name", "version"],
               "properties": {"name": {"type": "string"}, "version": {"type": "string"}}}
    return {
        "District": district,
        "Error": {
            "type": "object", "required": ["error", "details"],
            "properties": {
                "error": {"type": "string", "description": "What is wrong, in a sentence."},
                "details": {"type": "array", "items": {
                    "type": "object", "properties": {
                        "index": {"type": "integer", "minimum": 0,
                                  "description": "The record (row) at fault."},
                        "field": {"type": "string", "description": "The field at fault."},
                        "error": {"type": ["string", "null"]},
                        "request_id": {"type": ["string", "null"]},
                    }}},
            },
        },
        "PredictRequest": {"oneOf": [_ref("District"), records]},
        "PredictResponse": {
            "type": "object", "required": ["model", "request_id", "predictions"],
            "properties": {
                "model": version,
                "request_id": {"type": "string"},
                "predictions": {"type": "array", "items": {
                    "type": "object", "required": ["value", "usd"],
                    "properties": {
                        "value": {"type": "number",
                                  "description": "Median house value, in 100,000 USD."},
                        "usd": {"type": "number"},
                        "out_of_range": {
                            "type": "array", "items": {"enum": list(FEATURES)},
                            "description": "Features outside the training range."},
                    }}},
            },
        },
        "InvocationsRequest": {
            "description": "MLflow's scoring protocol: exactly one of these keys.",
            "oneOf": [
                {"type": "object", "required": ["dataframe_split"],
                 "additionalProperties": False, "properties": {"dataframe_split": {
                     "type": "object", "required": ["columns", "data"],
                     "properties": {
                         "columns": {"type": "array", "items": {"enum": list(FEATURES)},
                                     "minItems": len(FEATURES), "maxItems": len(FEATURES),
                                     "uniqueItems": True},
                         "data": {"type": "array", "minItems": 1, "maxItems": max_batch,
                                  "items": {"type": "array", "items": number,
                                            "minItems": len(FEATURES),
                                            "maxItems": len(FEATURES)}},
                     }}}},
                {"type": "object", "required": ["dataframe_records"],
                 "additionalProperties": False, "properties": {"dataframe_records": records}},
                {"type": "object", "required": ["instances"], "additionalProperties": False,
                 "properties": {"instances": {"oneOf": [records, columnar]}}},
                {"type": "object", "required": ["inputs"], "additionalProperties": False,
                 "properties": {"inputs": {"oneOf": [records, columnar]}}},
            ],
        },
        "InvocationsResponse": {
            "type": "object", "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": number}},
        },
        "Health": {"type": "object", "required": ["status"],
                   "properties": {"status": {"const": "ok"}}},
        "Ready": {
            "type": "object", "required": ["ready", "registry"],
            "description": "Open to probes, so it names no cause: /model and the service "
                           "log do.",
            "properties": {
                "ready": {"type": "boolean"}, "model": version,
                "reason": {"type": "string"},
                "registry": {"enum": ["reachable", "unreachable"]},
                "prediction_log": {"enum": ["ok", "failing"]},
            },
        },
        "Model": {
            "type": "object",
            "required": ["name", "version", "aliases", "run_id", "metrics", "features"],
            "properties": {
                "name": {"type": "string"}, "version": {"type": "string"},
                "aliases": {"type": "array", "items": {"type": "string"}},
                "run_id": {"type": "string"},
                "metrics": {"type": "object", "additionalProperties": number},
                "loaded_at": {"type": "string"},
                "runtime": {"type": ["object", "null"], "description": (
                    "compiled (with each tree member's runtime: lleaves or lightgbm), "
                    "or the Pipeline and why.")},
                "registry": {"enum": ["reachable", "unreachable"]},
                "registry_error": {"type": ["string", "null"]},
                "prediction_log": {"type": ["object", "null"], "description": (
                    "This worker's log: state (ok or failing), pending, written and lost "
                    "rows, failed write attempts and the last error.")},
                "features": {"type": "array", "items": {
                    "type": "object", "required": ["name", "type"],
                    "properties": {"name": {"enum": list(FEATURES)},
                                   "type": {"const": "double"},
                                   "training_range": {"type": ["object", "null"]}}}},
            },
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document for a service running with ``settings``."""
    keyed = [{"apiKey": []}] if settings.api_key else []
    bad_body = {
        "400": _error("The body is not JSON, or not of the expected shape."),
        **({"401": _error("Missing or wrong API key.")} if settings.api_key else {}),
        "413": _error("Too many records, or a body over the size limit."),
        "415": _error("The body is not application/json."),
        "422": _error("Records with missing, unknown or non-numeric fields; "
                      "details name each record and field."),
        "503": _error("No model is loaded yet, or the prediction log cannot record the "
                      "predictions now (nothing is answered that is not logged)."),
    }
    posted = {
        "403": _error("X-Housing-Batch without the API key."),
        **({"429": _error("Too many wrong keys from this address: wait a minute.")}
           if settings.api_key else {}),
    }
    batch = {"name": "X-Housing-Batch", "in": "header", "required": False, "schema": {
        "type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@[0-9]{1,9})?$"},
        "description": (
            "Names the production batch these rows belong to, as `<batch>@<offset>` (the "
            "first row's index in the batch; `@0` when omitted): their record ids in the "
            "prediction log become `<batch>/<offset + row>`, which late labels join on. "
            "Only key holders may send it (403 otherwise; with no key configured, any "
            "client on the loopback bind). Names are letters, digits and `._-`; names "
            "starting with `service-` are the service's own (400).")}
    traffic = {"name": "X-Housing-Traffic", "in": "header", "required": False, "schema": {
        "enum": ["production", "test"], "default": "production"}, "description": (
            "`test` marks the rows as synthetic (load tests, benchmarks, `housing simulate "
            "--url`): the prediction log records them with `\"traffic\": \"test\"` and the "
            "monitor leaves them out. Any other value is a 400.")}
    request_id = {"name": "X-Request-ID", "in": "header", "required": False, "schema": {
        "type": "string"}, "description": (
            "A correlation id, echoed and logged when it is 1-64 characters of letters, "
            "digits and `._:-`; otherwise the service draws one. It never names a "
            "record or a batch.")}

    def post(summary: str, request: str, response: str) -> dict[str, Any]:
        return {"post": {
            "summary": summary, "security": keyed, "parameters": [batch, traffic, request_id],
            "requestBody": {"required": True, "content": _json_content(_ref(request))},
            "responses": {"200": _ok("Predictions, in request order.", response),
                          **bad_body, **posted}}}

    def get(summary: str, schema: str, errors: dict[str, Any],
            open_path: bool = False) -> dict[str, Any]:
        return {"get": {"summary": summary, "security": [] if open_path else keyed,
                        "responses": {"200": _ok(summary, schema), **errors}}}

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
        "paths": {
            "/predict": post("Predict one district or a list of them.", "PredictRequest",
                             "PredictResponse"),
            "/invocations": post("MLflow's scoring protocol.", "InvocationsRequest",
                                 "InvocationsResponse"),
            "/health": get("The process is up.", "Health", {}, open_path=True),
            "/ready": get("A model is loaded (503 until then).", "Ready",
                          {"503": {"description": "No model loaded yet.",
                                   "content": _json_content(_ref("Ready"))}},
                          open_path=True),
            "/model": get("The served version, its metrics and input schema.", "Model",
                          {**{k: v for k, v in bad_body.items() if k in ("401", "503")},
                           **{k: v for k, v in posted.items() if k == "429"}}),
            "/openapi.json": {"get": {
                "summary": "This document.", "security": [],
                "responses": {"200": {"description": "The OpenAPI document.",
                                      "content": _json_content({"type": "object"})}}}},
        },
        "components": {
            "schemas": _schemas(settings.max_batch),
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
            "headers": {"X-Request-ID": {
                "description": "The request's id (the client's X-Request-ID when it is "
                               "plain and short, or a new one); the prediction log "
                               "records it.",
                "schema": {"type": "string"}}},
        },
    }
