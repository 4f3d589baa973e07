"""The monitor stage: NannyML drift and performance estimation, and the retrain gate.

Reference: the production version's own test-set features, targets and predictions,
logged with it at register time. Analysis: every production batch not yet accepted
into training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from housing.config import FEATURES, MODEL_NAME, TARGET, MonitorPaths
from housing.data.production import BATCH, batch_digest, production_frame
from housing.io import atomic_path, read_json, write_csv, write_json
from housing.models.metrics import rmse
from housing.monitoring.rules import BatchFindings, accepted_batches, retrain_verdict
from housing.params import MonitorParams

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
DRIFT_METHODS = ("kolmogorov_smirnov", "jensen_shannon", "wasserstein")


class Monitors:
    """NannyML calculators fitted once on the reference."""

    def __init__(self, reference: pd.DataFrame, *, chunk_size: int, ks_threshold: float):
        import nannyml as nml
        from nannyml.thresholds import ConstantThreshold

        self.chunk_size = chunk_size
        self.univariate = nml.UnivariateDriftCalculator(
            column_names=list(FEATURES), continuous_methods=list(DRIFT_METHODS),
            chunk_size=chunk_size,
            thresholds={"kolmogorov_smirnov": ConstantThreshold(lower=None, upper=ks_threshold)},
        ).fit(reference)
        self.multivariate = nml.DataReconstructionDriftCalculator(
            column_names=list(FEATURES), chunk_size=chunk_size).fit(reference)
        self.dle = nml.DLE(feature_column_names=list(FEATURES), y_pred=PREDICTION,
                           y_true=TARGET, metrics=["rmse", "mae"], chunk_size=chunk_size,
                           tune_hyperparameters=False).fit(reference)

    def findings(self, batch: str, rows: pd.DataFrame) -> tuple[BatchFindings, dict[str, Any]]:
        """Drift and estimated/realized performance of one batch."""
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
                                multivariate_alert=multivariate_alert)
        ks = {f: round(float(uni[(f, "kolmogorov_smirnov", "value")].max()), 6)
              for f in FEATURES}
        return finding, {"ks": ks, "reconstruction_error":
                         round(float(multi[("reconstruction_error", "value")].max()), 6)}

    def figures(self, analysis: pd.DataFrame, out_dir: Path) -> list[Path]:
        """NannyML's own figures for the combined analysis rows, as PNG."""
        analysis = analysis[[*FEATURES, PREDICTION]].reset_index(drop=True)
        plots = {
            "univariate_drift_ks.png": self.univariate.calculate(analysis).filter(
                methods=["kolmogorov_smirnov"]).plot(kind="drift"),
            "multivariate_drift.png": self.multivariate.calculate(analysis).plot(),
            "estimated_performance.png": self.dle.estimate(analysis).plot(),
        }
        written = []
        for name, fig in plots.items():
            with atomic_path(out_dir / name) as tmp:
                fig.write_image(str(tmp), format="png", width=1100, height=800)
            written.append(out_dir / name)
        return written


def production_reference(model_name: str = MODEL_NAME):
    """(version, reference frame, scoring model) of the current production version, or None."""
    from mlflow.tracking import MlflowClient

    from housing.models.promotion import PRODUCTION
    from housing.models.registry import reference_frame, version_for_alias
    from housing.models.serialization import load_registered_model
    from housing.models.tracking import configure_mlflow

    configure_mlflow()
    version = version_for_alias(MlflowClient(), PRODUCTION, model_name)
    if version is None:
        return None
    reference = reference_frame(version.run_id)
    return version, reference, load_registered_model(version.name, version.version)


def run(params: MonitorParams, paths: MonitorPaths, *, figures: bool = True) -> dict:
    """Analyse new production data against the production version; update the gate file."""
    previous = read_json(paths.accepted)["batches"] if paths.accepted.exists() else []
    accepted_names = {b["batch"] for b in previous}
    production = production_frame(paths.production_dir, paths.predictions_dir)
    new = production[~production[BATCH].isin(accepted_names)]

    found = production_reference()
    summary: dict[str, Any] = {"production_version": None, "batches": {}, "retrain": False,
                               "alert": False, "reasons": [], "rows_analysed": 0}
    accepted = previous
    if found is None:
        summary["reasons"] = ["no production model yet: the pipeline trains as usual"]
    elif new.empty:
        summary["production_version"] = int(found[0].version)
        summary["reasons"] = ["no new production data"]
    else:
        version, reference, model = found
        reference = reference.rename(columns={"prediction": PREDICTION})
        reference_rmse = rmse(reference[TARGET], reference[PREDICTION])
        monitors = Monitors(reference, chunk_size=params.chunk_size,
                            ks_threshold=params.ks_threshold)
        new = new.assign(**{PREDICTION: model.predict(new[list(FEATURES)])})
        batches, details = [], {}
        for name, rows in new.groupby(BATCH, sort=True):
            finding, extra = monitors.findings(str(name), rows)
            batches.append(finding)
            details[str(name)] = {
                "rows": finding.rows, "estimated_rmse": round(finding.estimated_rmse, 6),
                "realized_rmse": None if finding.realized_rmse is None
                else round(finding.realized_rmse, 6),
                "labelled_rows": int(rows[TARGET].notna().sum()),
                "drifted_features": len(finding.drifted_features),
                "multivariate_alert": finding.multivariate_alert, **extra}
        verdict = retrain_verdict(batches, reference_rmse, params)
        labelled = [{"batch": str(name), "rows": int(rows[TARGET].notna().sum()),
                     "md5": batch_digest(rows[rows[TARGET].notna()])}
                    for name, rows in new.groupby(BATCH, sort=True) if rows[TARGET].notna().any()]
        accepted = accepted_batches(previous, labelled, verdict)
        reasons = list(verdict.reasons)
        if verdict.retrain and not labelled:
            reasons.append("alert, but no labelled batch yet: training waits for labels")
        summary.update({"production_version": int(version.version),
                        "reference_rmse": round(reference_rmse, 6), "batches": details,
                        "retrain": verdict.retrain and bool(labelled), "alert": verdict.retrain,
                        "reasons": reasons,
                        "rows_analysed": int(len(new))})
        write_csv(pd.DataFrame([{"batch": k, "estimated_rmse": v["estimated_rmse"],
                                 "realized_rmse": v["realized_rmse"],
                                 "reference_rmse": round(reference_rmse, 6),
                                 "drifted_features": v["drifted_features"]}
                                for k, v in details.items()]), paths.plots)
        if figures:
            monitors.figures(new, paths.figures_dir)
    if not paths.plots.exists():
        write_csv(pd.DataFrame(columns=["batch", "estimated_rmse", "realized_rmse",
                                        "reference_rmse", "drifted_features"]), paths.plots)
    paths.figures_dir.mkdir(parents=True, exist_ok=True)
    summary["accepted_batches"] = len(accepted)
    write_json(summary, paths.metrics)
    if accepted != previous or not paths.accepted.exists():
        write_json({"batches": accepted}, paths.accepted)
    logger.info("monitor: %s", "; ".join(summary["reasons"]) or "no alert")
    return summary
