"""The report stage: Project_Report.md from the pipeline's outputs, so it is always true to
dvc.lock. Pure rendering functions over the loaded outputs, thin I/O in ``run``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from housing.config import FEATURES, TARGET, ReportPaths
from housing.io import atomic_path, read_json
from housing.params import ReportParams

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
METRICS = ("rmse", "mae", "r2", "mape", "median_ae")


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    lines = [_row(["model", *METRICS]), _row(["---", *["---:"] * len(METRICS)])]
    named = [("this pipeline", metrics["model"])] + [
        (f"baseline: {name.replace('_', ' ')}", values)
        for name, values in sorted(metrics["baselines"].items())]
    for name, values in named:
        lines.append(_row([name, *(f"{values[m]:.4f}" for m in METRICS)]))
    return lines


def gate_section(metrics: dict, thresholds: dict) -> list[str]:
    """The release gate's thresholds and whether this model passes them. Which version is
    in production is the registry's state, not the pipeline's: `housing history` shows it."""
    model = metrics["model"]
    failures = []
    if model["rmse"] > thresholds["max_rmse"]:
        failures.append(f"RMSE {model['rmse']:.4f} is above `register.max_rmse` "
                        f"{thresholds['max_rmse']}")
    if model["r2"] < thresholds["min_r2"]:
        failures.append(f"R² {model['r2']:.4f} is below `register.min_r2` {thresholds['min_r2']}")
    verdict = ("passes the thresholds (RMSE ≤ `register.max_rmse` "
               f"{thresholds['max_rmse']}, R² ≥ `register.min_r2` {thresholds['min_r2']})"
               if not failures else "fails the thresholds: " + "; ".join(failures))
    return [f"This model {verdict}. It reaches production only if it also beats the "
            "production version's RMSE on the same test set by more than "
            f"`register.min_improvement` {thresholds['min_improvement']}, in a `dvc repro` "
            "of the workspace or through `housing promote`; experiments never move "
            "production. `housing history` lists every registration and release step."]


def render(*, metrics: dict, tune: dict, best: dict, params: dict,
           monitoring: dict | None, rows: dict[str, int], ablation: str | None,
           lineage: dict[str, str]) -> str:
    """The whole report as Markdown."""
    rmse = metrics["model"]["rmse"]
    out: list[str] = [
        "# California Housing: project report",
        "",
        "Written by the `report` stage of `dvc repro` from the pipeline's own outputs; every "
        "number below comes from a file whose hash is in `dvc.lock`.",
        "",
        "Lineage: " + ", ".join(f"`{k}` md5 `{v}`" for k, v in sorted(lineage.items())) + ".",
        "",
        "## Data",
        "",
        f"The California Housing data set through scikit-learn's `fetch_california_housing`: "
        f"{rows['raw']:,} districts, 8 numeric features ({', '.join(FEATURES)}), target "
        f"`{TARGET}` in units of 100,000 USD. The test set is the test part of "
        f"`train_test_split(X, y, test_size=0.2, random_state=0)` ({rows['test']:,} rows); a "
        f"stream pool of {rows['stream']:,} rows (`prepare.stream_fraction` = "
        f"{params['prepare']['stream_fraction']}) is held back for monitoring; the model "
        f"trains on {rows['train']:,} rows.",
        "",
        "## Method",
        "",
        "- Features: household ratios, `log1p` of "
        f"{', '.join(params['featurize']['log_columns'])}, "
        f"coordinates rotated by {len(params['featurize']['rotation_angles'])} angles, "
        f"distances to the major cities"
        + (f", and neighbour-target features (k = "
           f"{', '.join(map(str, params['featurize']['neighbor_ks']))}, "
           f"{params['featurize']['neighbor_weighting']} weighting, cross-fitted out of fold)"
           if params["featurize"].get("neighbor_ks") else "") + ".",
        f"- Model: `{best['model']}`"
        + (f" blending {', '.join(f'{k} ({v:.2f})' for k, v in best['weights'].items())} "
           "with weights fitted on out-of-fold predictions" if len(best["weights"]) > 1 else "")
        + (", learning log(target)" if best.get("log_target") else "") + ".",
        f"- Tuning: Optuna TPE (seed {params['tune']['seed']}), "
        f"{params['tune']['n_trials']} trials per family, {params['tune']['cv_folds']}-fold "
        f"cross-validation on the training set; {tune.get('n_complete', 0)} complete and "
        f"{tune.get('n_pruned', 0)} pruned trials; cross-validated RMSE "
        f"{tune['cv_rmse_mean']:.4f}.",
        "",
        "## Test metrics",
        "",
        *metrics_table(metrics),
        "",
        "Published anchors (test RMSE on a 20% split of the same data; this pipeline's on "
        "scikit-learn's seed-0 split, each anchor's on the split it names, so not the same "
        "rows; `python benchmarks/accuracy.py` gives the mean over five splits):",
        "",
        _row(["model", "test RMSE"]), _row(["---", "---:"]),
        _row(["**this pipeline**", f"**{rmse:.4f}**"]),
        *(_row([name, value]) for name, value in ANCHORS),
        "",
    ]
    if ablation:
        out += ["## Ablation", "", ablation.strip(), ""]
    out += ["## Figures", ""]
    out += [f"![{name.replace('_', ' ')}](reports/figures/{name}.png)" for name in FIGURES]
    out += ["", "## Release gate", "", *gate_section(metrics, params["register"])]
    out += ["", "## Monitoring", ""]
    monitoring = monitoring or {}
    out.append(f"Production batches accepted into training: "
               f"{monitoring.get('accepted_batches', 0)} "
               f"({monitoring.get('accepted_rows', 0):,} labelled rows).")
    return "\n".join(out) + "\n"


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def run(params: ReportParams, paths: ReportPaths) -> None:
    """Gather the outputs and write the report atomically."""
    from housing.io import file_md5

    rows = {name: _rows(getattr(paths, name)) for name in ("raw", "train", "test", "stream")}
    text = render(
        metrics=read_json(paths.metrics), tune=read_json(paths.tune),
        best=read_json(paths.best_params), params=params.model_dump(mode="json"),
        monitoring=read_json(paths.monitoring) if paths.monitoring.exists() else None,
        rows=rows, ablation=paths.ablation.read_text() if paths.ablation.exists() else None,
        lineage={p.as_posix(): file_md5(p) for p in (paths.model, paths.train, paths.test)},
    )
    with atomic_path(paths.report) as tmp:
        tmp.write_text(text)
    logger.info("wrote %s", paths.report)
