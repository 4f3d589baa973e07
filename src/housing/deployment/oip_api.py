"""The Open Inference Protocol's REST endpoints (V2), as KServe, Triton and MLServer serve
them, so V2 clients (tritonclient, KServe's) call the service as they call those:

- ``GET /v2``: the server's metadata; ``GET /v2/health/live`` and ``/v2/health/ready``
  (open, like /health and /ready; 503 until a model is loaded);
- ``GET /v2/models/{name}[/versions/{version}]``: the model's metadata (oip);
- ``GET /v2/models/{name}[/versions/{version}]/ready``;
- ``POST /v2/models/{name}[/versions/{version}]/infer``.

``name`` is the registered model's name and ``version`` the version served now: any
other is a 404 (nothing a client names is looked up). Inference goes through the same
path as /predict (predictions.predict_rows): the same limits, the prediction log, and
test traffic marked with ``X-Housing-Traffic``. Errors have the protocol's shape, an
``error`` string (with ``details`` naming each problem).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

import housing
from housing.deployment.answer import Service, model_or_503, predict_rows, service
from housing.deployment.api import body_bytes, json_response
from housing.deployment.oip import (
    BOUNDS,
    HEADER_LENGTH,
    OUTPUT,
    infer_answer,
    model_metadata,
    parse_infer,
)
from housing.deployment.request_body import RequestError
from housing.deployment.served_model import LoadedModel

v2 = Blueprint("v2", __name__, url_prefix="/v2")
EXTENSIONS = ["binary_tensor_data"]


def served(svc: Service, name: str, version: str | None) -> LoadedModel:
    """The loaded model, if the client named it (and its version, if any); else 404."""
    if name != svc.settings.model_name:
        raise RequestError(404, "unknown model", [{
            "error": f"this service serves '{svc.settings.model_name}'"}])
    current = model_or_503(svc)
    if version is not None and version != current.version:
        raise RequestError(404, "unknown version", [{
            "error": f"'{svc.settings.model_name}' serves version {current.version}"}])
    return current


def outputs(current: LoadedModel) -> tuple[str, ...]:
    """The output tensors ``current`` answers: its predictions, and its bounds if any."""
    return (OUTPUT,) if current.interval_coverage is None else (OUTPUT, *BOUNDS)


@v2.get("")
def server_metadata() -> Response:
    return json_response({"name": "housing", "version": housing.__version__,
                          "extensions": EXTENSIONS})


@v2.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@v2.get("/health/ready")
def ready() -> Response:
    loaded = service().holder.current is not None
    return json_response({"ready": loaded}, 200 if loaded else 503)


@v2.get("/models/<name>")
@v2.get("/models/<name>/versions/<version>")
def metadata(name: str, version: str | None = None) -> Response:
    current = served(service(), name, version)
    return json_response(model_metadata(current.name, current.version, outputs(current)))


@v2.get("/models/<name>/ready")
@v2.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    served(service(), name, version)
    return json_response({"name": name, "ready": True})


@v2.post("/models/<name>/infer")
@v2.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    svc = service()
    named = served(svc, name, version)
    parsed = parse_infer(body_bytes(), request.headers.get(HEADER_LENGTH),
                         max_batch=svc.settings.max_batch)
    parsed.wanted(outputs(named))  # an output this version lacks: 400, before any logging
    current, (values, lower, upper) = predict_rows(svc, parsed.matrix)
    tensors = {OUTPUT: values, **({} if lower is None else dict(zip(BOUNDS, (lower, upper))))}
    body, header_length = infer_answer(current.name, current.version,
                                       parsed.id or g.request_id, tensors,
                                       parsed.wanted(tuple(tensors)))
    if header_length is None:
        return Response(body, mimetype="application/json")
    response = Response(body, mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = header_length
    return response
