"""The Flask app factory: settings, the model holder and the prediction log in one
``Service``, the API, auth and dashboard blueprints, the error handlers and the security
headers.

Serve it with gunicorn (see gunicorn.conf.py):

    gunicorn -c gunicorn.conf.py 'housing.deployment.app:create_app()'
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from flask import Flask, Response, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from housing.config import go_offline
from housing.deployment.answer import Service, service
from housing.deployment.api import api, json_response
from housing.deployment.auth import (
    STATIC_PREFIX,
    Guard,
    auth,
    is_page,
    session_secret,
)
from housing.deployment.dashboard.routes import dashboard
from housing.deployment.metrics import Metrics
from housing.deployment.oip_api import v2
from housing.deployment.openapi import openapi_document
from housing.deployment.prediction_log import PredictionLog
from housing.deployment.request_body import RequestError
from housing.deployment.served_model import ModelHolder
from housing.deployment.settings import Settings
from housing.deployment.shadow import Shadow

logger = logging.getLogger(__name__)

CHALLENGER = "challenger"  # the registry alias shadowed on production traffic

DASHBOARD = Path(__file__).parent / "dashboard"
# Nothing external: scripts, styles, images and fetches from this origin only; no inline
# script or style, no framing, forms post back here only.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")


def _error(status: int, error: str, details: list | None = None) -> Response:
    return json_response({"error": error, "details": details or []}, status)


def start_clock() -> None:
    g.started = time.perf_counter()


def tag_response(response: Response) -> Response:
    """The request id and the security headers, on every answer; the answer counted."""
    rule = request.url_rule
    service().metrics.answered(rule.rule if rule is not None else "unmatched",
                               request.method, response.status_code,
                               time.perf_counter() - g.get("started", time.perf_counter()))
    response.headers["X-Request-ID"] = g.get("request_id", "")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer, browsers post "Origin: null"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith(STATIC_PREFIX):  # answers and pages hold data
        response.headers["Cache-Control"] = "no-store"
    return response


def request_error(err: RequestError) -> Response:
    return json_response(err.to_dict(), err.status)


def http_error(err: HTTPException) -> Response:
    """A page's errors as a page, the API's as the JSON error shape."""
    if is_page(request.path) and not request.path.startswith(STATIC_PREFIX):
        return Response(render_template("error.html", code=err.code, name=err.name,
                                        description=err.description),
                        status=err.code or 500, mimetype="text/html")
    if err.code == 413:
        limit = request.max_content_length
        return _error(413, "body too large", [{"error": f"the limit is {limit} bytes"}])
    return _error(err.code or 500, err.name, [{"error": err.description}])


def unexpected(err: Exception) -> Response:
    logger.exception("unhandled error in request %s", g.get("request_id"))
    return _error(500, "internal error", [{"request_id": g.get("request_id")}])


def configure(app: Flask, settings: Settings) -> None:
    """Body limit, session cookie and trusted hosts; warn about what is left open."""
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
    if settings.api_key:
        app.secret_key = session_secret(settings.api_key)
    else:
        logger.warning("HOUSING_API_KEY is not set: every route is open to whoever reaches "
                       "%s", settings.bind)


def shadow_challenger(settings: Settings, metrics: Metrics
                      ) -> tuple[ModelHolder | None, Shadow | None]:
    """The registry's challenger, loaded now if the alias names a version, and the shadow
    that scores it in the log's writer; (None, None) when shadowing is off or nothing is
    logged."""
    if settings.shadow_share == 0 or settings.log_dir is None:
        return None, None
    challenger = ModelHolder(settings.model_name, CHALLENGER, settings.tree_cache,
                             settings.state_dir, optional=True)
    challenger.refresh()
    return challenger, Shadow(lambda: challenger.current, settings.shadow_share,
                              metrics.shadow)


def create_app(settings: Settings | None = None, holder: ModelHolder | None = None) -> Flask:
    """Build the app and load the production model now (the app starts even if that
    fails). ``start_serving`` starts it in the process that answers requests: gunicorn
    builds the app once in its master and starts it in each worker after the fork."""
    go_offline()
    settings = settings or Settings.from_env()
    metrics = Metrics()
    loaded = holder is not None  # a holder loaded before the app (tests)
    holder = holder or ModelHolder(settings.model_name, settings.model_alias,
                                   settings.tree_cache, settings.state_dir)
    holder.metrics = metrics
    if not loaded:
        holder.refresh()
    challenger, shadow = shadow_challenger(settings, metrics)
    log = PredictionLog(settings.log_dir, store=settings.log_store,
                        segment_rows=settings.prediction_log_segment_rows,
                        segment_seconds=settings.prediction_log_segment_seconds,
                        metrics=metrics.log, shadow=shadow) \
        if settings.log_dir is not None else None

    app = Flask(__name__, template_folder=str(DASHBOARD / "templates"),
                static_folder=str(DASHBOARD / "static"),
                static_url_path=STATIC_PREFIX.rstrip("/"))
    configure(app, settings)
    if settings.proxy_hops:  # the client's address as the trusted proxy hop saw it
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)
    app.extensions["housing"] = Service(settings, holder, log, openapi_document(settings),
                                        metrics, challenger)
    guard = app.extensions["housing.guard"] = Guard(settings)
    app.before_request(start_clock)
    app.before_request(guard.authenticate)
    app.after_request(tag_response)
    app.register_error_handler(RequestError, request_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
    for blueprint in (api, v2, auth, dashboard):
        app.register_blueprint(blueprint)
    return app


def start_serving(app: Flask) -> None:
    """The app's process starts answering requests: its holder checks the alias, reports
    the version served and polls the alias (``HOUSING_MODEL_POLL_SECONDS``)."""
    svc: Service = app.extensions["housing"]
    svc.holder.start_serving(svc.settings.model_poll_seconds)
    if svc.challenger is not None:
        svc.challenger.start_serving(svc.settings.model_poll_seconds)
