"""The dashboard blueprint: the production model's card (/), a prediction form
(/ui/predict) and the monitor's findings (/ui/monitoring), served by the same gunicorn
workers as the API.

Pages are Jinja templates with server-side SVG charts (charts). The card and monitoring
pages need no JavaScript; the form posts to /ui/predict without it and, with it, calls
the same /predict that API clients call. Both go through predictions.predict_answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from housing.config import FEATURES
from housing.deployment.answer import predict_answer, service
from housing.deployment.contract import FEATURE_DOCS
from housing.deployment.dashboard.context import card_context, monitoring_context
from housing.deployment.dashboard.views import (
    EXAMPLES,
    field_errors,
    form_payload,
    usd_text,
)
from housing.deployment.request_body import RequestError

dashboard = Blueprint("dashboard", __name__)


@dashboard.app_context_processor
def common() -> dict[str, Any]:
    settings = service().settings
    return {"auth_enabled": bool(settings.api_key), "features": FEATURES,
            "model_name": settings.model_name}


@dashboard.get("/")
def overview():
    context = card_context(service().holder, service().settings.workspace)
    return render_template("card.html", page="card", **context), \
        200 if context["model"] is not None else 503


def _form_values() -> dict[str, Any]:
    example = request.args.get("example")
    if example is None:
        return {}
    if example not in EXAMPLES:
        abort(404, f"no example '{example}'")
    return {k: f"{v:g}" for k, v in EXAMPLES[example][1].items()}


@dashboard.route("/ui/predict", methods=["GET", "POST"])
def predict():
    values = _form_values()
    result, errors, general, status = None, {}, [], 200
    if request.method == "POST":
        values = {f: request.form.get(f, "") for f in FEATURES}
        try:
            body = predict_answer(service(), form_payload(values))
            result = body["predictions"][0] | {"model": body["model"],
                                               "coverage": body.get("interval_coverage")}
        except RequestError as err:
            errors, general = field_errors(err.details)
            general, status = [err.error, *general], err.status
    return render_template("predict.html", page="predict", units=FEATURE_DOCS, values=values,
                           examples=EXAMPLES, result=result, errors=errors,
                           general=general, usd_text=usd_text), status


@dashboard.get("/ui/monitoring")
def monitoring():
    context = monitoring_context(service().settings.workspace, request.args.get("batch"))
    return render_template("monitoring.html", page="monitoring", **context)
