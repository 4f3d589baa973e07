"""The report stage: Project_Report.md from the pipeline's outputs, so it is always true to
dvc.lock. A Jinja template (templates/report.md.j2) over the loaded outputs, thin I/O in
``run``."""

from __future__ import annotations

import logging
from pathlib import Path

from housing.config import FEATURES, TARGET, ReportPaths
from housing.io import read_json, write_text
from housing.models.gate import threshold_failures
from housing.models.metrics import METRIC_NAMES, metric_rows
from housing.params import RegisterParams, ReportParams

logger = logging.getLogger(__name__)

# Published test RMSE on a 20% split of this data set (Gorishniy et al., "TabR: Tabular
# Deep Learning Meets Nearest Neighbors", 2023), and the untuned reference.
# Published test RMSEs, each on the split its work used: TabR's benchmark has its own fixed
# split, not scikit-learn's seed-0 split that this pipeline reports on.
ANCHORS: tuple[tuple[str, str], ...] = (
    ("TabR, ensemble of five (TabR's split)", "0.3914"),
    ("TabR, single model (TabR's split)", "0.3998"),
    ("fine-tuned TabPFN v2, ensemble of five (TabR's split)", "0.3789"),
    ("fine-tuned TabPFN v2, single model (TabR's split)", "0.3822"),
    ("tuned gradient-boosted trees (TabR's work and split)", "0.429–0.435"),
    ("untuned HistGradientBoostingRegressor", "≈ 0.46"),
)
FIGURES = ("predicted_vs_actual", "residuals", "error_by_decile", "feature_importance")


def gate_verdict(metrics: dict, thresholds: RegisterParams) -> str:
    """Whether this model passes the release gate's thresholds (the gate's own check).
    Which version is in production is the registry's state, not the pipeline's: `housing
    history` shows it."""
    failures = threshold_failures(metrics["model"], thresholds)
    if failures:
        return "fails the thresholds: " + "; ".join(failures)
    return (f"passes the thresholds (RMSE ≤ `register.max_rmse` {thresholds.max_rmse}, "
            f"R² ≥ `register.min_r2` {thresholds.min_r2})")


def render(*, metrics: dict, tune: dict, best: dict, params: ReportParams,
           monitoring: dict | None, rows: dict[str, int], ablation: str | None,
           lineage: dict[str, str]) -> str:
    """The whole report as Markdown, from templates/report.md.j2."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("housing.reporting"), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    return environment.get_template("report.md.j2").render(
        metrics=metrics, tune=tune, best=best, params=params.model_dump(mode="json"),
        monitoring=monitoring or {},
        rows=rows, ablation=ablation, lineage=lineage, features=FEATURES, target=TARGET,
        metric_names=METRIC_NAMES, anchors=ANCHORS, figures=FIGURES,
        metric_rows=metric_rows("this pipeline", metrics["model"], metrics["baselines"]),
        gate=gate_verdict(metrics, params.register))


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def run(params: ReportParams, paths: ReportPaths) -> None:
    """Gather the outputs and write the report atomically."""
    from housing.io import file_md5

    rows = {name: _rows(getattr(paths, name)) for name in ("raw", "train", "test", "stream")}
    text = render(
        metrics=read_json(paths.metrics), tune=read_json(paths.tune),
        best=read_json(paths.best_params), params=params,
        monitoring=read_json(paths.monitoring, None),
        rows=rows, ablation=paths.ablation.read_text() if paths.ablation.exists() else None,
        lineage={p.as_posix(): file_md5(p) for p in (paths.model, paths.train, paths.test)},
    )
    write_text(text, paths.report)
    logger.info("wrote %s", paths.report)
