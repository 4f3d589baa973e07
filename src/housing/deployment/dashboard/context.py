"""What the dashboard's pages read at request time: the MLflow registry (through the
registry room) and the monitor's report in the workspace; the shaping is in views."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
from flask import abort

from housing.config import FEATURES, MonitorPaths
from housing.connections import redact_url
from housing.deployment.contract import FEATURE_DOCS
from housing.deployment.dashboard.charts import california_map
from housing.deployment.dashboard.views import (
    history_rows,
    lineage,
    metric_rows,
    monitoring_view,
)
from housing.io import read_json
from housing.models.metrics import METRIC_NAMES

logger = logging.getLogger(__name__)




@functools.lru_cache(maxsize=8)
def _run_data(run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(tags, params) of a registering run: written once, so cached per run."""
    from housing.registry import store

    return store.run_data(run_id)


def card_context(holder, workspace: Path) -> dict[str, Any]:
    """Everything the model card shows; registry problems become a notice, not a 500."""
    from housing.registry import events, store
    from housing.reporting.report import ANCHORS

    current = holder.current
    context: dict[str, Any] = {"model": current, "notice": None, "aliases": {},
                               "history": [], "lineage": None, "units": FEATURE_DOCS}
    if current is None:
        context["notice"] = "no model loaded: the service log and /model say why"
        return context
    metrics = read_json(workspace / "reports/metrics.json", None) or {}
    context["metric_names"] = METRIC_NAMES
    context["metrics"] = metric_rows(current.metrics, metrics.get("baselines", {}), ANCHORS)
    context["ranges"] = [(f, *FEATURE_DOCS[f], current.ranges.get(f, {})) for f in FEATURES]
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
    report = read_json(workspace / MonitorPaths().state, None)
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
