"""The dashboard's view models: pure functions from the registry's and the monitor's
records to what a page shows, tested without a store."""

from __future__ import annotations

import math
from typing import Any

from housing.config import FEATURES
from housing.deployment.contract import FEATURE_DOCS
from housing.deployment.dashboard.charts import drift_bars, rmse_chart
from housing.models.metrics import METRIC_NAMES
from housing.models.metrics import metric_rows as table_rows
from housing.registry.events import describe_event

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
        if field in FEATURE_DOCS and field not in fields:
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
    rows = [{"name": name, "kind": "baseline" if i else "model",
             "values": [values.get(m) for m in METRIC_NAMES]}
            for i, (name, values) in enumerate(table_rows("this version", model, baselines))]
    rows += [{"name": name, "kind": "anchor",
              "values": [value, *[None] * (len(METRIC_NAMES) - 1)]} for name, value in anchors]
    return rows


def lineage(tags: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    """Git commit, DVC hashes and params of the registering run."""
    return {"git_commit": tags.get("git_commit", "unknown"),
            "dvc": sorted((k.removeprefix("dvc_md5."), v) for k, v in tags.items()
                          if k.startswith("dvc_md5.")),
            "params": sorted(params.items())}


def history_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry events, newest first, as table rows: the text of `housing history`, the
    operator's reason beside it, and the gate's reasons."""
    return [{"at": event.get("at", ""), "version": event.get("version"),
             "what": describe_event(event),
             "detail": (event.get("reason") or "") if event.get("event") != "refuse" else "",
             # a quarantine's reasons are in its text already
             "reasons": [] if event.get("event") == "quarantine" else event.get("reasons") or []}
            for event in reversed(events)]


def monitoring_view(report: dict[str, Any]) -> dict[str, Any]:
    """The monitor's report shaped for the page: verdict, per-batch rows and charts."""
    params = report.get("params", {})
    threshold = float(params.get("ks_threshold", 0.0))
    reference, bar = report.get("reference_rmse"), report.get("rmse_bar")
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
            "coverage": batch.get("coverage"), "coverage_alert": bool(batch.get("coverage_alert")),
            "drifted": list(batch.get("drifted_features", [])),
            "ks": ks, "chart": drift_bars(ks, threshold, label=f"Drift of batch {name}")})
    chart = rmse_chart([(b["name"], b["estimated"], b["realized"]) for b in batches],
                       reference, bar) if batches and None not in (reference, bar) else None
    return {"retrain": bool(report.get("retrain")), "alert": bool(report.get("alert")),
            "reasons": report.get("reasons", []),
            "production_version": report.get("production_version"),
            "rows_analysed": report.get("rows_analysed", 0),
            "unreadable_log_lines": int(report.get("unreadable_log_lines", 0)),
            "older_batches": dict(report.get("older_batches") or {"batches": 0}),
            "accepted_batches": report.get("accepted_batches", 0),
            "quarantined": list(report.get("quarantined", [])),
            "released": list(report.get("released", [])),
            "dropped": list(report.get("dropped", [])),
            "dle_bound": float(params.get("dle_max_outside_share", 0.0)),
            "threshold": threshold, "reference_rmse": reference, "bar": bar,
            "max_rmse_increase": float(params.get("max_rmse_increase", 0.0)),
            "coverage_target": report.get("coverage_target"),
            "shadow": list(report.get("shadow") or []),
            "max_coverage_shortfall": float(params.get("max_coverage_shortfall", 0.0)),
            "batches": batches, "rmse_chart": chart}
