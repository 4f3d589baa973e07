"""The monitor stage's analysis: data quality (housing.monitoring.quality), NannyML drift
and performance estimation against the production version's reference, the retrain
verdict and quarantine. Imported only when there is something new to
analyse (see monitor.run)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from housing.config import FEATURES, TARGET, MonitorPaths
from housing.data.production import (
    BATCH,
    RECORD_ID,
    batch_digest,
    check_batch_name,
    features_digest,
    production_frame,
)
from housing.data.validate import validation_problems
from housing.io import write_csv, write_json, write_parquet
from housing.models.metrics import rmse
from housing.monitoring import quality
from housing.monitoring.coverage import PREDICTION, realized_coverage, with_predictions
from housing.monitoring.quarantine import Gate, write_gate
from housing.monitoring.rules import (
    BatchFindings,
    accepted_batches,
    retrain_verdict,
    rmse_bar,
)
from housing.monitoring.shadow import live_evidence
from housing.params import MonitorParams

logger = logging.getLogger(__name__)

DRIFT_METHODS = ("kolmogorov_smirnov", "jensen_shannon", "wasserstein")


class Monitors:
    """The data-quality profile and NannyML calculators, fitted once on the reference."""

    def __init__(self, reference: pd.DataFrame, params: MonitorParams,
                 ranges: dict[str, dict[str, float]] | None = None,
                 coverage_target: float | None = None):
        import nannyml as nml
        from nannyml.thresholds import ConstantThreshold

        chunk_size = self.chunk_size = params.chunk_size
        self.coverage_target = coverage_target  # of the version's intervals, if any
        self.profile = quality.profile(reference, ranges)
        self.quality_rule = quality.QualityRule(max_outside_share=params.max_outside_share,
                                                max_missing_share=params.max_missing_share,
                                                max_mode_share=params.max_mode_share)
        self.univariate = nml.UnivariateDriftCalculator(
            column_names=list(FEATURES), continuous_methods=list(DRIFT_METHODS),
            chunk_size=chunk_size,
            thresholds={"kolmogorov_smirnov": ConstantThreshold(lower=None,
                                                                upper=params.ks_threshold)},
        ).fit(reference)
        self.multivariate = nml.DataReconstructionDriftCalculator(
            column_names=list(FEATURES), chunk_size=chunk_size).fit(reference)
        self.dle = nml.DLE(feature_column_names=list(FEATURES), y_pred=PREDICTION,
                           y_true=TARGET, metrics=["rmse", "mae"], chunk_size=chunk_size,
                           tune_hyperparameters=False).fit(reference)

    def findings(self, batch: str, rows: pd.DataFrame, *,
                 released: bool = False) -> tuple[BatchFindings, dict[str, Any]]:
        """Data quality, drift and estimated/realized performance of one batch."""
        found = quality.findings(rows, self.profile, self.quality_rule)
        outside = quality.outside_share(rows, self.profile)
        analysis = rows[[*FEATURES, PREDICTION]].reset_index(drop=True)
        uni = self.univariate.calculate(analysis).filter(period="analysis").to_df()
        drifted = tuple(f for f in FEATURES
                        if uni[(f, "kolmogorov_smirnov", "alert")].astype(bool).any())
        multi = self.multivariate.calculate(analysis).filter(period="analysis").to_df()
        multivariate_alert = bool(multi[("reconstruction_error", "alert")].astype(bool).any())
        est = self.dle.estimate(analysis).filter(period="analysis").to_df()
        sizes = (est[("chunk", "end_index")] - est[("chunk", "start_index")] + 1).to_numpy()
        estimated = float(np.sqrt(np.average(est[("rmse", "value")] ** 2, weights=sizes)))
        labelled = rows[rows[TARGET].notna()]
        realized = None
        if len(labelled):
            realized = rmse(labelled[TARGET], labelled[PREDICTION])
        finding = BatchFindings(batch=batch, rows=len(rows), estimated_rmse=estimated,
                                realized_rmse=realized, drifted_features=drifted,
                                coverage=realized_coverage(rows),
                                coverage_target=self.coverage_target,
                                multivariate_alert=multivariate_alert,
                                quality=tuple(f.message for f in found),
                                outside_share=outside, released=released)
        ks = {f: round(float(uni[(f, "kolmogorov_smirnov", "value")].max()), 6)
              for f in FEATURES}
        return finding, {"ks": ks, "reconstruction_error":
                         round(float(multi[("reconstruction_error", "value")].max()), 6),
                         "quality": [f.to_dict() for f in found]}


def warm_start(name: str, version: int) -> dict[str, Any]:
    """data/warm_start.json for a retrain: the production version and its best params (a
    file in git, so a clone tunes from the same start)."""
    from housing.registry import store

    best = store.best_params(store.get_version(name, version).run_id)
    return {"production_version": version, "best_params": best} if best else {}


def production_reference(name: str, version: int) -> tuple[pd.DataFrame, Any, dict]:
    """(reference frame, scoring model, training ranges) of a registered version."""
    from housing.registry import store

    run_id = store.get_version(name, version).run_id
    reference = store.reference_frame(run_id).rename(columns={"prediction": PREDICTION})
    return reference, store.load_model(name, version), store.feature_ranges(run_id)


def snapshot_accepted(rows: pd.DataFrame, accepted: list[dict], previous: list[dict],
                      accepted_dir: Path) -> None:
    """Copy the labelled rows of each newly accepted batch into the DVC-tracked
    data/accepted/<batch>.parquet: what prepare trains on, pushed with every other output,
    so a clone plus `dvc pull` can rebuild a model that was retrained on them."""
    known = {b["batch"] for b in previous}
    for entry in accepted:
        if entry["batch"] in known:
            continue
        batch = rows[(rows[BATCH] == entry["batch"]) & rows[TARGET].notna()]
        write_parquet(batch[[RECORD_ID, *FEATURES, TARGET]].sort_values(RECORD_ID)
                      .reset_index(drop=True),
                      accepted_dir / f"{check_batch_name(entry['batch'])}.parquet")


MAP_POINTS = 2000  # per batch and for the reference: what the dashboard's map draws


def map_points(rows: pd.DataFrame, limit: int = MAP_POINTS) -> list[list[float]]:
    """At most ``limit`` (longitude, latitude) pairs of ``rows``, an evenly spaced,
    deterministic subsample: the dashboard's map reads these, never the raw files."""
    step = max(1, -(-len(rows) // limit))
    picked = rows.iloc[::step][["Longitude", "Latitude"]].to_numpy(float).round(4)
    return picked.tolist()


def recent_batches(new: pd.DataFrame, keep: int,
                   quarantined: set[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows judged in detail: every batch with a label (it may be accepted, and so
    leave), every batch in quarantine (an operator decides on it) and the newest ``keep``
    other ones (names sort by time: service-<day>). Unlabelled batches of the service are
    never accepted, so without this the summary, the page and the work would grow by one
    batch a day; older ones are counted instead."""
    names = new[BATCH].astype(str)
    labelled = set(names[new[TARGET].notna()]) | quarantined
    unlabelled = sorted(set(names) - labelled)
    older = unlabelled[:-keep] if len(unlabelled) > keep else []
    if not older:
        return new, {"batches": 0, "rows": 0}
    old = names.isin(older)
    return new[~old], {"batches": len(older), "rows": int(old.sum()), "first": older[0],
                       "last": older[-1]}


def batch_details(monitors: Monitors, new: pd.DataFrame, released: dict[str, str]):
    """Each new batch's findings, its report entry and its features' digest."""
    batches, details, digests = [], {}, {}
    for name, rows in new.groupby(BATCH, sort=True):
        name = str(name)
        digests[name] = features_digest(rows)
        finding, extra = monitors.findings(name, rows,
                                           released=released.get(name) == digests[name])
        batches.append(finding)
        details[name] = {
            "rows": finding.rows, "estimated_rmse": round(finding.estimated_rmse, 6),
            "realized_rmse": None if finding.realized_rmse is None
            else round(finding.realized_rmse, 6),
            "labelled_rows": int(rows[TARGET].notna().sum()),
            "coverage": None if finding.coverage is None else round(finding.coverage, 6),
            "drifted_features": list(finding.drifted_features),
            "multivariate_alert": finding.multivariate_alert,
            "outside_share": round(finding.outside_share, 6),
            "released": finding.released, **extra,
            "map": map_points(rows)}
    return batches, details, digests


def labelled_batches(new: pd.DataFrame, verdict, details: dict) -> tuple[list, list[str]]:
    """The batches whose labelled rows prepare could train on, and why others are not."""
    labelled, reasons = [], []
    for name, rows in new.groupby(BATCH, sort=True):
        rows = rows[rows[TARGET].notna()]
        if rows.empty:
            continue
        problems = validation_problems(rows[[*FEATURES, TARGET]])
        if problems:  # prepare would refuse these rows (a batch released as it is)
            if verdict.retrain and str(name) not in verdict.quarantined:
                reasons.append(f"{name}: not accepted: its labelled rows break the "
                               f"schema ({'; '.join(problems)})")
            continue
        labelled.append({"batch": str(name), "rows": len(rows), "md5": batch_digest(rows),
                         "outside_share": details[str(name)]["outside_share"]})
    return labelled, reasons


def judge_new(params: MonitorParams, paths: MonitorPaths, *, model_name: str, version: int,
              new: pd.DataFrame, gate: Gate) -> tuple[list, list, dict]:
    """Judge the new batches against the production version: (accepted, quarantined,
    the summary's findings); snapshot what is accepted and record what is quarantined."""
    reference, model, ranges = production_reference(model_name, version)
    reference_rmse = rmse(reference[TARGET], reference[PREDICTION])
    new, target = with_predictions(model, new)
    batches, details, digests = batch_details(
        Monitors(reference, params, ranges, target), new,
        {b["batch"]: b["md5"] for b in gate.released})
    verdict = retrain_verdict(batches, reference_rmse, params)
    for judged in verdict.batches:
        details[judged.batch].update(status=judged.status, coverage_alert=judged.coverage_alert,
                                     estimate_reliable=judged.estimate_reliable)
    labelled, refused = labelled_batches(new, verdict, details)
    accepted = accepted_batches(gate.accepted, labelled, verdict)
    quarantined = [{"batch": b.batch, "rows": b.rows, "md5": digests[b.batch],
                    "findings": list(b.quality), "outside_share": details[b.batch]["outside_share"]}
                   for b in batches if b.batch in verdict.quarantined]
    record_quarantine(model_name, version, gate.quarantined, quarantined)
    snapshot_accepted(new, accepted, gate.accepted, paths.accepted_dir)
    if accepted != gate.accepted:  # a retrain: tune starts from what production knows
        write_json(warm_start(model_name, version), paths.warm_start)
    reasons = [*verdict.reasons, *refused]
    if verdict.retrain and not any(b["batch"] not in verdict.quarantined for b in labelled):
        reasons.append("alert, but no labelled batch yet: training waits for labels")
    write_csv(pd.DataFrame([{"batch": k, "estimated_rmse": v["estimated_rmse"],
                             "realized_rmse": v["realized_rmse"],
                             "reference_rmse": round(reference_rmse, 6),
                             "drifted_features": len(v["drifted_features"]),
                             "coverage": v["coverage"]}
                            for k, v in details.items()]), paths.plots)
    return accepted, quarantined, {
        "reference_rmse": round(reference_rmse, 6),
        "rmse_bar": round(rmse_bar(reference_rmse, params), 6), "batches": details,
        "coverage_target": target,
        "reference_map": map_points(reference), "retrain": accepted != gate.accepted,
        "alert": verdict.retrain, "quarantined": list(verdict.quarantined),
        "reasons": reasons, "rows_analysed": len(new)}


def analyse(params: MonitorParams, paths: MonitorPaths, *, model_name: str,
            seen: dict[str, Any], gate: Gate) -> dict:
    """Analyse the production batches not yet accepted into training (nor dropped); write
    the monitor's outputs (the gate file only when it changes)."""
    version = seen["production_version"]
    skipped = {b["batch"] for b in gate.accepted} | {b["batch"] for b in gate.dropped}
    production, bad_lines = production_frame(paths.production_dir, paths.predictions_dir)
    new, older = recent_batches(production[~production[BATCH].isin(skipped)],
                                params.detail_batches, {b["batch"] for b in gate.quarantined})
    summary: dict[str, Any] = {**seen, "batches": {}, "retrain": False, "alert": False,
                               "reasons": [], "rows_analysed": 0, "quarantined": [],
                               "unreadable_log_lines": bad_lines, "older_batches": older,
                               "shadow": live_evidence(production)}
    accepted, quarantined = gate.accepted, gate.quarantined
    if version is None:
        summary["reasons"] = ["no production model yet: the pipeline trains as usual"]
    elif new.empty:
        summary["reasons"] = ["no new production data"]
    else:
        accepted, quarantined, found = judge_new(params, paths, model_name=model_name,
                                                 version=version, new=new, gate=gate)
        summary.update(found)
    if not paths.plots.exists():
        columns = ["batch", "estimated_rmse", "realized_rmse", "reference_rmse"]
        write_csv(pd.DataFrame(columns=[*columns, "drifted_features", "coverage"]), paths.plots)
    paths.accepted_dir.mkdir(parents=True, exist_ok=True)
    if not paths.warm_start.exists():
        write_json({}, paths.warm_start)
    summary.update(accepted_batches=len(accepted),
                   released=[b["batch"] for b in gate.released],
                   dropped=[b["batch"] for b in gate.dropped])
    write_json(summary, paths.state)
    updated = Gate(accepted=accepted, quarantined=quarantined, released=gate.released,
                   dropped=gate.dropped)
    if updated != gate or not paths.accepted.exists():
        write_gate(updated, paths.accepted)
    logger.info("monitor: %s", "; ".join(summary["reasons"]) or "no alert")
    return summary


def record_quarantine(model_name: str, version: int, before: list[dict],
                      now: list[dict]) -> None:
    """A history event (housing history) on the production version for each batch that
    entered quarantine in this run."""
    from housing.registry.events import record_event

    known = {(b["batch"], b["md5"]) for b in before}
    for entry in now:
        if (entry["batch"], entry["md5"]) not in known:
            record_event(model_name, version, {"event": "quarantine", "batch": entry["batch"],
                                               "rows": entry["rows"],
                                               "reasons": entry["findings"]})
            logger.warning("monitor: batch %s quarantined: %s", entry["batch"],
                           "; ".join(entry["findings"]))
