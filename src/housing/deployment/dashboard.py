"""The dashboard: the production model's card (/), a prediction form (/ui/predict) and the
monitor's findings (/ui/monitoring), served by the same Flask app and gunicorn workers
as the API.

Pages are Jinja templates with server-side SVG charts (charts). The card and monitoring
pages need no JavaScript; the form posts to /ui/predict without it and, with it, calls
the same /predict that API clients call. What the pages show is read from the MLflow
registry and the workspace's monitor outputs at request time; the functions that shape
it are pure and tested without a store.
"""

from __future__ import annotations

import collections
import functools
import hmac
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from flask import Flask, abort, redirect, render_template, request, session, url_for

from housing.config import FEATURES, MonitorPaths
from housing.deployment.charts import california_map, drift_bars, rmse_chart
from housing.deployment.schemas import RequestError
from housing.stores import redact_url

logger = logging.getLogger(__name__)

UNITS: dict[str, tuple[str, str]] = {
    "MedInc": ("Median income", "10,000 USD"),
    "HouseAge": ("Median house age", "years"),
    "AveRooms": ("Rooms per household", "rooms"),
    "AveBedrms": ("Bedrooms per household", "bedrooms"),
    "Population": ("Population", "people"),
    "AveOccup": ("Occupants per household", "people"),
    "Latitude": ("Latitude", "degrees north"),
    "Longitude": ("Longitude", "degrees east, negative is west"),
}

# Real districts of the data set (row numbers of fetch_california_housing).
EXAMPLES: dict[str, tuple[str, dict[str, float]]] = {
    "berkeley": ("Berkeley hills (row 0)", {
        "MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.984127, "AveBedrms": 1.02381,
        "Population": 322.0, "AveOccup": 2.555556, "Latitude": 37.88, "Longitude": -122.23}),
    "los-angeles": ("East Los Angeles (row 4175)", {
        "MedInc": 2.7708, "HouseAge": 34.0, "AveRooms": 4.34555, "AveBedrms": 1.078534,
        "Population": 1678.0, "AveOccup": 4.39267, "Latitude": 34.09, "Longitude": -118.21}),
    "fresno": ("Fresno (row 1986)", {
        "MedInc": 2.101, "HouseAge": 51.0, "AveRooms": 5.311111, "AveBedrms": 1.088889,
        "Population": 662.0, "AveOccup": 3.677778, "Latitude": 36.73, "Longitude": -119.81}),
    "san-diego": ("San Diego, Mission Hills (row 14005)", {
        "MedInc": 4.7396, "HouseAge": 52.0, "AveRooms": 7.098246, "AveBedrms": 1.05614,
        "Population": 649.0, "AveOccup": 2.277193, "Latitude": 32.76, "Longitude": -117.18}),
}

METRICS = ("rmse", "mae", "r2", "mape", "median_ae")
SESSION_KEY = "auth"
SESSION_ID = "sid"


# ---------------------------------------------------------------- pure helpers

def key_digest(api_key: str) -> str:
    """What the session cookie holds: proof of the key, never the key (a signed cookie is
    readable by whoever holds it)."""
    return hmac.new(api_key.encode(), b"housing dashboard session", "sha256").hexdigest()


def session_secret(api_key: str) -> bytes:
    """The cookie-signing secret, derived from the API key: the same in every worker, and
    every session ends when the key is rotated."""
    return hmac.new(api_key.encode(), b"housing dashboard cookie signing", "sha256").digest()


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (another host) goes to /."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/"
    return target


def form_payload(form: dict[str, str]) -> dict[str, Any]:
    """The form's text as the JSON /predict receives: numbers where the text is one, the
    text itself otherwise (so the API's own validation names the problem), null if empty."""
    payload: dict[str, Any] = {}
    for name in FEATURES:
        raw = (form.get(name) or "").strip()
        if not raw:
            payload[name] = None
            continue
        try:
            value = float(raw)
        except ValueError:
            payload[name] = raw
            continue
        payload[name] = value if math.isfinite(value) else raw
    return payload


def field_errors(details: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """An API error's details split into per-field messages and the rest."""
    fields: dict[str, str] = {}
    general: list[str] = []
    for detail in details:
        field = detail.get("field")
        if field in UNITS and field not in fields:
            fields[field] = str(detail.get("error", "invalid"))
        else:
            general.append(str(detail.get("error", detail)))
    return fields, general


def usd_text(usd: float) -> str:
    """Dollars as the page shows them (the same format as the page's script)."""
    return f"${usd:,.2f}"


def metric_rows(model: dict[str, float], baselines: dict[str, dict[str, float]],
                anchors: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """The card's metrics table: the model, the baselines, then the published anchors."""
    rows = [{"name": "this version", "kind": "model",
             "values": [model.get(m) for m in METRICS]}]
    rows += [{"name": f"baseline: {name.replace('_', ' ')}", "kind": "baseline",
              "values": [values.get(m) for m in METRICS]}
             for name, values in sorted(baselines.items())]
    rows += [{"name": name, "kind": "anchor", "values": [value, *[None] * (len(METRICS) - 1)]}
             for name, value in anchors]
    return rows


def lineage(tags: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    """Git commit, DVC hashes and params of the registering run."""
    return {"git_commit": tags.get("git_commit", "unknown"),
            "dvc": sorted((k.removeprefix("dvc_md5."), v) for k, v in tags.items()
                          if k.startswith("dvc_md5.")),
            "params": sorted(params.items())}


def history_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry events, newest first, as table rows."""
    rows = []
    for event in reversed(events):
        kind = event.get("event")
        if kind == "rollback":
            what = f"rollback from version {event.get('previous')}"
            detail = event.get("reason") or ""
        elif kind == "promote":
            what = f"promoted from version {event.get('previous')}"
            detail = event.get("reason") or ""
        elif kind in ("quarantine", "release", "drop"):
            what = {"quarantine": "batch quarantined", "release": "batch released",
                    "drop": "batch dropped"}[kind]
            detail = f"{event.get('batch')}" + (f": {event['reason']}"
                                                if event.get("reason") else "")
        else:
            aliases = ", ".join(event.get("aliases") or []) or "no alias"
            what = f"registered: {aliases}"
            production = event.get("production_rmse")
            detail = f"RMSE {event.get('rmse', float('nan')):.4f}" + (
                f" vs production {production:.4f}" if production is not None else "")
        rows.append({"at": event.get("at", ""), "version": event.get("version"),
                     "what": what, "detail": detail, "reasons": event.get("reasons") or []})
    return rows


def monitoring_view(report: dict[str, Any]) -> dict[str, Any]:
    """The monitor's report shaped for the page: verdict, per-batch rows and charts."""
    params = report.get("params", {})
    threshold = float(params.get("ks_threshold", 0.0))
    reference = report.get("reference_rmse")
    increase = float(params.get("max_rmse_increase", 0.0))
    bar = reference * (1 + increase) if reference is not None else None
    batches = []
    for name, batch in sorted(report.get("batches", {}).items()):
        ks = {f: float(batch.get("ks", {}).get(f, 0.0)) for f in FEATURES}
        batches.append({
            "name": name, "rows": batch.get("rows"), "labelled": batch.get("labelled_rows"),
            "status": batch.get("status", "ok"),
            "quality": [str(f.get("message", "")) for f in batch.get("quality", [])],
            "reliable": bool(batch.get("estimate_reliable", True)),
            "outside": float(batch.get("outside_share", 0.0)),
            "estimated": batch.get("estimated_rmse"), "realized": batch.get("realized_rmse"),
            "drifted": [f for f, v in ks.items() if v > threshold],
            "ks": ks, "chart": drift_bars(ks, threshold, label=f"Drift of batch {name}")})
    chart = rmse_chart([(b["name"], b["estimated"], b["realized"]) for b in batches],
                       reference, bar) if batches and reference is not None else None
    return {"retrain": bool(report.get("retrain")), "alert": bool(report.get("alert")),
            "reasons": report.get("reasons", []),
            "production_version": report.get("production_version"),
            "rows_analysed": report.get("rows_analysed", 0),
            "accepted_batches": report.get("accepted_batches", 0),
            "quarantined": list(report.get("quarantined", [])),
            "released": list(report.get("released", [])),
            "dropped": list(report.get("dropped", [])),
            "dle_bound": float(params.get("dle_max_outside_share", 0.0)),
            "threshold": threshold, "reference_rmse": reference, "bar": bar,
            "max_rmse_increase": increase, "batches": batches, "rmse_chart": chart}


class Attempts:
    """Failed key attempts per client address in a sliding window, in this worker: after
    ``limit`` failures, the address is refused until the window passes. At most
    ``max_clients`` addresses are tracked (the oldest are forgotten), so the memory is
    bounded whatever the clients send."""

    def __init__(self, limit: int = 10, window: float = 60.0, max_clients: int = 10_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._failures: collections.OrderedDict[str, list[float]] = collections.OrderedDict()

    def _recent(self, client: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(client, []) if now - t < self.window]
        if times:
            self._failures[client] = times
        else:
            self._failures.pop(client, None)
        return times

    def blocked(self, client: str) -> bool:
        return client in self._failures and \
            len(self._recent(client, time.monotonic())) >= self.limit

    def failed(self, client: str) -> None:
        now = time.monotonic()
        times = self._recent(client, now)
        self._failures[client] = [*times[-self.limit:], now]
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


def same_origin(req) -> bool:
    """True if a form post comes from this service's own pages: its Origin (or, where a
    browser sends none, its Referer) is this host. SameSite cookies do not cover other
    ports of the same host, such as an MLflow UI beside the service."""
    origin = req.headers.get("Origin") or req.headers.get("Referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == req.host


# ---------------------------------------------------------------- I/O at the edges

@functools.lru_cache(maxsize=8)
def _run_data(run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(tags, params) of a registering run: written once, so cached per run."""
    from housing.registry import store

    return store.run_data(run_id)


def _read_json(path: Path) -> dict | None:
    import json

    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def card_context(holder, workspace: Path) -> dict[str, Any]:
    """Everything the model card shows; registry problems become a notice, not a 500."""
    from housing.registry import events, store
    from housing.reporting.report import ANCHORS

    current = holder.current
    context: dict[str, Any] = {"model": current, "notice": None, "aliases": {},
                               "history": [], "lineage": None, "units": UNITS}
    if current is None:
        context["notice"] = "no model loaded: the service log and /model say why"
        return context
    metrics = _read_json(workspace / "reports/metrics.json") or {}
    context["metric_names"] = METRICS
    context["metrics"] = metric_rows(current.metrics, metrics.get("baselines", {}), ANCHORS)
    context["ranges"] = [(f, *UNITS[f], current.ranges.get(f, {})) for f in FEATURES]
    try:
        context["aliases"] = dict(sorted(store.aliases(current.name).items()))
        context["history"] = history_rows(events.history(current.name))
        if current.run_id:
            context["lineage"] = lineage(*_run_data(current.run_id))
    except Exception as err:  # noqa: BLE001 - the registry is down: show what the worker holds
        logger.warning("model card: registry unreachable: %s",
                       redact_url(f"{type(err).__name__}: {err}"))
        context["notice"] = "registry unreachable: the card shows what this worker holds"
    return context


def monitoring_context(workspace: Path, batch: str | None) -> dict[str, Any]:
    """The monitor's report and the map of one batch (``batch``, or the first drifting
    one, or the first)."""
    report = _read_json(workspace / MonitorPaths().state)
    if report is None:
        return {"report": None}
    view = monitoring_view(report)
    names = [b["name"] for b in view["batches"]]
    context = {"report": view, "selected": None, "map": None, "map_notice": None}
    if not names:
        return context
    if batch is not None and batch not in names:
        abort(404, f"no batch '{batch}' in the monitoring report")
    alerting = [b["name"] for b in view["batches"] if b["drifted"]]
    selected = batch or (alerting or names)[0]
    context["selected"] = selected
    # The monitor's own subsample of the batch and the reference (at most a few thousand
    # points): a view never reads the production files or the registry.
    points = report.get("batches", {}).get(selected, {}).get("map")
    reference = report.get("reference_map")
    if points is None or reference is None:
        context["map_notice"] = "map unavailable: the monitor's report holds no map points"
        return context

    def lon_lat(pairs: list) -> tuple[np.ndarray, np.ndarray]:
        xy = np.asarray(pairs, dtype=float).reshape(-1, 2)
        return xy[:, 0], xy[:, 1]

    context["map"] = california_map(lon_lat(reference), lon_lat(points), batch_name=selected)
    return context


# ---------------------------------------------------------------- routes

def session_store(settings):
    """The dashboard's sessions (deployment/sessions.py), by default in logs/ of the
    workspace (git-ignored)."""
    from housing.deployment.sessions import SessionStore

    directory = settings.session_dir or settings.workspace / "logs"
    return SessionStore(directory / "sessions.db", settings.session_minutes * 60)


def register_dashboard(app: Flask, *, holder, settings, predict_payload: Callable) -> None:
    """Add the pages and the login flow to ``app``; ``predict_payload(json)`` is the body
    /predict answers with (the no-JavaScript form posts through it too)."""
    workspace = settings.workspace
    sessions = session_store(settings)
    app.extensions["housing.sessions"] = sessions
    login_attempts = Attempts()

    @app.context_processor
    def common() -> dict[str, Any]:
        return {"auth_enabled": bool(settings.api_key), "features": FEATURES,
                "model_name": settings.model_name}

    @app.get("/")
    def overview():
        context = card_context(holder, workspace)
        return render_template("card.html", page="card", **context), \
            200 if context["model"] is not None else 503

    @app.route("/ui/predict", methods=["GET", "POST"])
    def predict_page():
        example = request.args.get("example")
        values: dict[str, Any] = {}
        if example is not None:
            if example not in EXAMPLES:
                abort(404, f"no example '{example}'")
            values = {k: f"{v:g}" for k, v in EXAMPLES[example][1].items()}
        result, errors, general = None, {}, []
        status = 200
        if request.method == "POST":
            values = {f: request.form.get(f, "") for f in FEATURES}
            try:
                body = predict_payload(form_payload(values))
                result = body["predictions"][0] | {"model": body["model"]}
            except RequestError as err:
                errors, general = field_errors(err.details)
                general = [err.error, *general]
                status = err.status
        return render_template("predict.html", page="predict", units=UNITS, values=values,
                               examples=EXAMPLES, result=result, errors=errors,
                               general=general, usd_text=usd_text), status

    @app.get("/ui/monitoring")
    def monitoring_page():
        context = monitoring_context(workspace, request.args.get("batch"))
        return render_template("monitoring.html", page="monitoring", **context)

    @app.route("/ui/login", methods=["GET", "POST"])
    def login():
        target = safe_next(request.values.get("next"))
        if not settings.api_key:
            return redirect(target, 303)
        error, status = None, 200
        if request.method == "POST":
            client = request.remote_addr or ""
            supplied = request.form.get("api_key", "")
            if login_attempts.blocked(client):
                error, status = "too many wrong keys: wait a minute", 429
            elif hmac.compare_digest(supplied.encode(), settings.api_key.encode()):
                session.clear()
                session.permanent = True  # the cookie ends with the session's lifetime
                session[SESSION_KEY] = key_digest(settings.api_key)
                session[SESSION_ID] = sessions.start()
                return redirect(target, 303)
            else:
                login_attempts.failed(client)
                error, status = "wrong API key", 401
        return render_template("login.html", page="login", error=error, next=target), status

    @app.post("/ui/logout")
    def logout():
        session_id = session.get(SESSION_ID)
        if isinstance(session_id, str):
            sessions.end(session_id)
        session.clear()
        return redirect(url_for("login"), 303)


def session_authenticated(settings) -> bool:
    """True if this request's signed session cookie proves the current key and names a
    session the server holds (not logged out, not expired)."""
    from flask import current_app

    proof, session_id = session.get(SESSION_KEY), session.get(SESSION_ID)
    return (isinstance(proof, str) and isinstance(session_id, str)
            and hmac.compare_digest(proof, key_digest(settings.api_key))
            and current_app.extensions["housing.sessions"].valid(session_id))
