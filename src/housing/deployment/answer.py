"""Predicting for a request: the served model, the prediction log, and the body /predict
answers with. The API and the dashboard's form both predict through here, so a row is
never answered without being logged."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app, g, request

from housing.config import TARGET_UNIT_USD
from housing.data.production import claimed_batch
from housing.deployment.metrics import Metrics
from housing.deployment.predict.compiled import Interval
from housing.deployment.prediction_log import LogFull, PredictionLog
from housing.deployment.request_body import RequestError, predict_matrix
from housing.deployment.served_model import LoadedModel, ModelHolder
from housing.deployment.settings import Settings

logger = logging.getLogger(__name__)

BATCH_HEADER = "X-Housing-Batch"
TRAFFIC_HEADER = "X-Housing-Traffic"  # "test": logged, and left out of monitoring
TRAFFIC = {"production": None, "test": "test"}


@dataclass(frozen=True)
class Service:
    """What a request predicts with: kept in ``app.extensions["housing"]`` by the app."""

    settings: Settings
    holder: ModelHolder
    log: PredictionLog | None
    openapi: dict[str, Any]      # the OpenAPI document, built once
    metrics: Metrics
    challenger: ModelHolder | None = None  # scored in shadow by the log (deployment.shadow)


def service() -> Service:
    return current_app.extensions["housing"]


def model_or_503(svc: Service) -> LoadedModel:
    holder = svc.holder
    current = holder.current
    if current is None:
        raise RequestError(503, "no model loaded", [{"error": holder.last_error}])
    return current


def source() -> tuple[str | None, int, str | None, str | None]:
    """Whose rows these are: the batch a key holder named, or the record id drawn; and
    whether the client marked them as test traffic."""
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
        raise RequestError(400, f"invalid {BATCH_HEADER}", [{"error": str(err)}]) from None
    return batch, offset, None, traffic


def predict_rows(svc: Service, rows: np.ndarray) -> tuple[LoadedModel, Interval]:
    """The current model's predictions for ``rows`` with their interval bounds (None for a
    version without them), logged before they are answered."""
    current = model_or_503(svc)
    log = svc.log
    origin = source() if log is not None else None
    values, lower, upper = current.predict.predict_interval(rows)
    if log is not None:
        try:
            log.write(request_id=g.request_id, model_version=current.version, rows=rows,
                      predictions=values, source=origin,
                      timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
        except LogFull as err:  # not answered, so nothing answered goes unlogged
            logger.error("request %s refused: %s", g.request_id, err)
            raise RequestError(503, "prediction log unavailable", [{
                "error": "the service cannot record predictions now; retry later"}]) from None
    svc.metrics.predicted(request.url_rule.rule, values,
                          current.range_check.outside_counts(rows))
    return current, (values, lower, upper)


def usd(value: float) -> float:
    return round(value * TARGET_UNIT_USD, 2)


def predict_answer(svc: Service, payload: Any) -> dict[str, Any]:
    """The body of a /predict answer for a parsed JSON payload."""
    rows = predict_matrix(payload, max_batch=svc.settings.max_batch)
    current, (values, lower, upper) = predict_rows(svc, rows)
    flags = current.range_check(rows)
    answers = [{"value": v, "usd": usd(v)} for v in values.tolist()]
    if lower is not None:
        for answer, low, high in zip(answers, lower.tolist(), upper.tolist()):
            answer.update(lower=low, upper=high, lower_usd=usd(low), upper_usd=usd(high))
    for answer, flag in zip(answers, flags):
        if flag:
            answer["out_of_range"] = flag
    return {
        "model": {"name": current.name, "version": current.version},
        "request_id": g.request_id,
        **({"interval_coverage": current.interval_coverage} if lower is not None else {}),
        "predictions": answers,
    }
