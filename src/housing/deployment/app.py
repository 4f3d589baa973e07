"""Flask app factory: /predict, /invocations (MLflow's protocol), /health, /ready, /model,
/openapi.json (the contract of all of them), and the dashboard pages (/, /ui/...).

Serve it with gunicorn (see gunicorn.conf.py):

    gunicorn -c gunicorn.conf.py 'housing.deployment.app:create_app()'

A prediction request is parsed with orjson, validated and turned into a float matrix in
one pass over the parsed JSON (schemas), predicted by the loaded model's compiled path
(model_store), and queued for the prediction log's writer thread: no DataFrame and no
disk I/O on the request path.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import uuid
from typing import Any

import numpy as np
import orjson
from flask import Flask, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from housing.config import FEATURES, TARGET_UNIT_USD, go_offline
from housing.data.production import claimed_batch
from housing.deployment.dashboard import (
    Attempts,
    register_dashboard,
    same_origin,
    session_authenticated,
    session_secret,
)
from housing.deployment.model_store import ModelHolder
from housing.deployment.openapi import openapi_document
from housing.deployment.prediction_log import LogFull, PredictionLog
from housing.deployment.schemas import (
    RequestError,
    invocations_matrix,
    predict_matrix,
)
from housing.deployment.settings import Settings

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/ui/login"})
# A client's X-Request-ID is echoed and logged only when it is short and plain; otherwise
# the service draws one. It never names a record or a batch (data/production.py).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
BATCH_HEADER = "X-Housing-Batch"
TRAFFIC_HEADER = "X-Housing-Traffic"  # "test": logged, and left out of monitoring
TRAFFIC = {"production": None, "test": "test"}
STATIC_PREFIX = "/ui/static/"
# Nothing external: scripts, styles, images and fetches from this origin only; no inline
# script or style, no framing, forms post back here only.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")


def _is_page(path: str) -> bool:
    return path == "/" or path.startswith("/ui/")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json")


def _error(status: int, error: str, details: list | None = None) -> Response:
    return _json({"error": error, "details": details or []}, status)


def _read_json() -> Any:
    if not request.mimetype or request.mimetype != "application/json":
        raise RequestError(415, "unsupported content type", [{
            "error": f"send application/json, got '{request.mimetype or 'none'}'"}])
    try:  # orjson refuses NaN/Infinity literals and nesting deeper than 1,024 levels
        return orjson.loads(request.get_data(cache=False))
    except (ValueError, RecursionError) as err:
        raise RequestError(400, "body is not valid JSON", [{"error": str(err)}]) from err


def create_app(settings: Settings | None = None, holder: ModelHolder | None = None) -> Flask:
    """Build the app; load the production model now (the app starts even if that fails)."""
    go_offline()
    settings = settings or Settings.from_env()
    if holder is None:
        holder = ModelHolder(settings.model_name, settings.model_alias, settings.tree_cache)
        holder.refresh()
        if settings.poll_seconds:
            holder.start_polling(settings.poll_seconds)
    prediction_log = PredictionLog(settings.prediction_log_dir) \
        if settings.prediction_log_dir else None

    app = Flask(__name__, static_url_path=STATIC_PREFIX.rstrip("/"))
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes,
                      SESSION_COOKIE_NAME="housing_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=settings.secure_cookies,
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.session_minutes),
                      TRUSTED_HOSTS=list(settings.trusted_hosts) if settings.trusted_hosts
                      else None)
    if settings.trusted_hosts is None:
        logger.warning("HOUSING_BIND=%s answers any Host header: set HOUSING_TRUSTED_HOSTS "
                       "to the names clients use", settings.bind)
    if not settings.api_key:
        logger.warning("HOUSING_API_KEY is not set: every route is open to whoever reaches "
                       "%s", settings.bind)
    key_attempts = Attempts()
    if settings.api_key:
        app.secret_key = session_secret(settings.api_key)
    app.extensions["housing.model_holder"] = holder
    app.extensions["housing.settings"] = settings
    app.extensions["housing.prediction_log"] = prediction_log

    @app.before_request
    def authenticate():
        supplied_id = request.headers.get("X-Request-ID")
        g.record = uuid.uuid4().hex
        g.request_id = supplied_id if supplied_id and REQUEST_ID.fullmatch(supplied_id) \
            else g.record
        g.key_holder = not settings.api_key
        path = request.path
        if request.method == "POST" and _is_page(path) and not same_origin(request):
            return _error(403, "cross-origin form post refused",
                          [{"error": "the dashboard's forms post from its own pages"}])
        if not settings.api_key or path in OPEN_PATHS or path.startswith(STATIC_PREFIX):
            return None
        supplied = request.headers.get("X-API-Key")
        if supplied is not None:
            client = request.remote_addr or ""
            if key_attempts.blocked(client):
                return _error(429, "too many wrong keys",
                              [{"error": f"wait {key_attempts.window:.0f} s"}])
            if hmac.compare_digest(supplied.encode(), settings.api_key.encode()):
                g.key_holder = True
                return None
            key_attempts.failed(client)
        elif session_authenticated(settings):  # the dashboard's session cookie
            return None
        if _is_page(path):
            return redirect(url_for("login", next=request.full_path.rstrip("?")), 303)
        return _error(401, "missing or wrong API key",
                      [{"error": "send the key in the X-API-Key header"}])

    @app.after_request
    def tag_response(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin, not no-referrer: with no-referrer, browsers post "Origin: null"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.path.startswith(STATIC_PREFIX):  # answers and pages hold data
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(RequestError)
    def request_error(err: RequestError) -> Response:
        return _json(err.to_dict(), err.status)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        if _is_page(request.path) and not request.path.startswith(STATIC_PREFIX):
            return Response(render_template("error.html", code=err.code, name=err.name,
                                            description=err.description),
                            status=err.code or 500, mimetype="text/html")
        if err.code == 413:
            return _error(413, "body too large",
                          [{"error": f"the limit is {settings.max_body_bytes} bytes"}])
        return _error(err.code or 500, err.name, [{"error": err.description}])

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Response:
        logger.exception("unhandled error in request %s", g.get("request_id"))
        return _error(500, "internal error", [{"request_id": g.get("request_id")}])

    def model_or_503():
        current = holder.current
        if current is None:
            raise RequestError(503, "no model loaded", [{"error": holder.last_error}])
        return current

    def source() -> tuple[str | None, int, str | None, str | None]:
        """Whose rows these are: the batch a key holder named, or the record id drawn;
        and whether the client marked them as test traffic."""
        marked = request.headers.get(TRAFFIC_HEADER, "production").strip().lower()
        if marked not in TRAFFIC:
            raise RequestError(400, f"invalid {TRAFFIC_HEADER}", [{
                "error": "send 'test' for synthetic traffic, or 'production'"}])
        traffic = TRAFFIC[marked]
        claim = request.headers.get(BATCH_HEADER)
        if claim is None:
            return None, 0, g.record, traffic
        if not g.key_holder:
            raise RequestError(403, f"{BATCH_HEADER} needs the API key", [{
                "error": "only key holders may name a production batch"}])
        try:
            batch, offset = claimed_batch(claim)
        except ValueError as err:
            raise RequestError(400, f"invalid {BATCH_HEADER}", [{"error": str(err)}]) \
                from None
        return batch, offset, None, traffic

    def predict(rows: np.ndarray):
        current = model_or_503()
        origin = source() if prediction_log is not None else None
        values = current.predict(rows)
        if prediction_log is not None:
            try:
                prediction_log.write(
                    request_id=g.request_id, model_version=current.version, rows=rows,
                    predictions=values, source=origin,
                    timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
            except LogFull as err:  # not answered, so nothing answered goes unlogged
                logger.error("request %s refused: %s", g.request_id, err)
                raise RequestError(503, "prediction log unavailable", [{
                    "error": "the service cannot record predictions now; retry later"}]) \
                    from None
        return current, values

    document = openapi_document(settings)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return _json(document)

    @app.get("/health")
    def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/ready")
    def ready() -> Response:
        # Open to probes, so it names no cause: /model (with the key) and the log do.
        registry = holder.registry_status()["registry"]
        logging_state = {"prediction_log": prediction_log.status()["state"]} \
            if prediction_log is not None else {}
        current = holder.current
        if current is None:
            return _json({"ready": False, "reason": "no model loaded", "registry": registry,
                          **logging_state}, 503)
        return _json({"ready": True, "model": {"name": current.name,
                                               "version": current.version},
                      "registry": registry, **logging_state})

    @app.get("/model")
    def model_info() -> Response:
        current = model_or_503()
        return _json({**current.describe(), **holder.registry_status(),
                      "prediction_log": prediction_log.status() if prediction_log else None,
                      "features": [
            {"name": f, "type": "double", "training_range": current.ranges.get(f)}
            for f in FEATURES]})

    def predict_payload(payload: Any) -> dict[str, Any]:
        """The body of a /predict answer (the dashboard's form goes through it too)."""
        rows = predict_matrix(payload, max_batch=settings.max_batch)
        current, values = predict(rows)
        flags = current.range_check(rows)
        return {
            "model": {"name": current.name, "version": current.version},
            "request_id": g.request_id,
            "predictions": [
                {"value": v, "usd": round(v * TARGET_UNIT_USD, 2),
                 **({"out_of_range": flag} if flag else {})}
                for v, flag in zip(values.tolist(), flags)],
        }

    @app.post("/predict")
    def predict_route() -> Response:
        return _json(predict_payload(_read_json()))

    @app.post("/invocations")
    def invocations() -> Response:
        rows = invocations_matrix(_read_json(), max_batch=settings.max_batch)
        _, values = predict(rows)
        return _json({"predictions": values})

    register_dashboard(app, holder=holder, settings=settings, predict_payload=predict_payload)
    return app
