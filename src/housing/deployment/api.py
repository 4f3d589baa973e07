"""The API blueprint: /predict, /invocations (MLflow's scoring protocol), /health, /ready,
/model, /metrics (Prometheus) and /openapi.json (the contract of all of them).

A prediction request is parsed with orjson, validated and turned into a float matrix in
one pass over the parsed JSON (requests), predicted by the loaded model's compiled path
(holder) and queued for the prediction log's writer thread (predictions): no DataFrame
and no disk I/O on the request path.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, request

from housing.config import FEATURES
from housing.deployment.answer import model_or_503, predict_answer, predict_rows, service
from housing.deployment.metrics import CONTENT_TYPE
from housing.deployment.request_body import RequestError, invocations_matrix

api = Blueprint("api", __name__)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json")


def body_bytes() -> bytes:
    """The request body, at most the size limit. A chunked body (no Content-Length) is read
    from the server's decoded input up to one byte past the limit: over it, 413."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None:
        return request.get_data(cache=False)  # werkzeug answers 413 past the limit
    data = request.environ["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        raise RequestError(413, "body too large", [{"error": f"the limit is {limit} bytes"}])
    return data


def request_json() -> Any:
    """The request's JSON body; a RequestError naming what is wrong otherwise."""
    if not request.mimetype or request.mimetype != "application/json":
        raise RequestError(415, "unsupported content type", [{
            "error": f"send application/json, got '{request.mimetype or 'none'}'"}])
    try:  # orjson refuses NaN/Infinity literals and nesting deeper than 1,024 levels
        return orjson.loads(body_bytes())
    except (ValueError, RecursionError) as err:
        raise RequestError(400, "body is not valid JSON", [{"error": str(err)}]) from err


@api.get("/openapi.json")
def openapi() -> Response:
    return json_response(service().openapi)


@api.get("/health")
def health() -> Response:
    return json_response({"status": "ok"})


@api.get("/ready")
def ready() -> Response:
    # Open to probes, so it names no cause: /model (with the key) and the log do.
    svc = service()
    holder, log = svc.holder, svc.log
    state = {"registry": holder.registry_status()["registry"],
             **({"prediction_log": log.status()["state"]} if log is not None else {})}
    current = holder.current
    if current is None:
        return json_response({"ready": False, "reason": "no model loaded", **state}, 503)
    return json_response({"ready": True, "model": {"name": current.name,
                                                   "version": current.version}, **state})


@api.get("/metrics")
def metrics() -> Response:
    """Prometheus' text format, every worker's values added up (deployment.metrics)."""
    return Response(service().metrics.page(), mimetype=None, content_type=CONTENT_TYPE)


@api.get("/model")
def model_info() -> Response:
    svc = service()
    current, log = model_or_503(svc), svc.log
    return json_response({
        **current.describe(), **svc.holder.registry_status(), **svc.holder.refusals(),
        "prediction_log": log.status() if log is not None else None,
        "shadow": shadow_status(svc),
        "features": [{"name": f, "type": "double", "training_range": current.ranges.get(f)}
                     for f in FEATURES]})


def shadow_status(svc) -> dict[str, Any] | None:
    """The challenger scored in shadow, and on what share of requests (None when off)."""
    if svc.challenger is None:
        return None
    current = svc.challenger.current
    return {"alias": svc.challenger.alias, "share": svc.settings.shadow_share,
            "version": current.version if current is not None else None}


@api.post("/predict")
def predict() -> Response:
    return json_response(predict_answer(service(), request_json()))


@api.post("/invocations")
def invocations() -> Response:
    svc = service()
    rows = invocations_matrix(request_json(), max_batch=svc.settings.max_batch)
    _, (values, _, _) = predict_rows(svc, rows)
    return json_response({"predictions": values})
