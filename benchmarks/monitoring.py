"""Monitoring quality: how each scenario is classified (data quality, drift), how often
DLE's estimate is marked unreliable, and how close a reliable estimate comes to the
realized RMSE and to the model's RMSE on the reference under the same selection.

Runs every simulator scenario (natural shifts and data bugs) with several seeds at the
default batch size against the workspace's production version (run `dvc repro` first),
through the same checks, NannyML calculators and retrain rule as the monitor stage, with
the params in params.yaml. Each batch is judged twice: before its labels arrive and after;
"accepted" counts labelled batches the gate would let into training.

A batch draws its rows (with replacement) from the stream pool, so a selective scenario
resamples the same few hundred districts with every seed and its realized RMSE is that
pool's. DLE estimates the RMSE expected under the shift; the model's RMSE on the
reference's own rows, weighted by the scenario's selection, is that expectation measured
on other districts (shifts only: the concept shift and the bugs change the rows).

    python benchmarks/monitoring.py [--runs 20] [--rows 1000]
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def setup(args) -> SimpleNamespace:
    """The production version's reference, model and monitors, and the stream pool."""
    import pandas as pd

    from housing.config import MODEL_NAME, TARGET, go_offline
    from housing.models.gate import PRODUCTION
    from housing.models.metrics import rmse
    from housing.monitoring.analysis import PREDICTION, Monitors, production_reference
    from housing.params import load_params
    from housing.registry.lookup import alias_version

    go_offline()
    rule = load_params(REPO_ROOT / "params.yaml").monitor
    version = alias_version(MODEL_NAME, PRODUCTION)
    if version is None:
        raise SystemExit("no production version: run `dvc repro` first")
    reference, model, ranges = production_reference(MODEL_NAME, version)
    return SimpleNamespace(
        rule=rule, rows=args.rows or rule.chunk_size, runs=args.runs, version=version,
        reference=reference, model=model, monitors=Monitors(reference, rule, ranges),
        reference_rmse=rmse(reference[TARGET], reference[PREDICTION]),
        squared=(reference[TARGET] - reference[PREDICTION]).to_numpy() ** 2,
        stream=pd.read_parquet(REPO_ROOT / "data/processed/stream.parquet"))


def header(ctx: SimpleNamespace) -> str:
    return "\n".join([
        f"Production version {ctx.version}; reference RMSE {ctx.reference_rmse:.4f}; "
        f"{ctx.runs} seeds x {ctx.rows} rows per scenario; DLE unreliable above "
        f"{ctx.rule.dle_max_outside_share:.0%} of rows outside the reference's support.", "",
        "| scenario | kind | data quality | drift, before labels | drift, with labels | "
        "accepted into training | DLE unreliable | rows outside support (mean / max) | "
        "distinct districts | estimated RMSE | realized RMSE | reliable estimates within "
        "10% of realized | reference under the same selection | reliable estimates "
        "within 10% of it |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"])


def one_batch(ctx: SimpleNamespace, scenario: str, seed: int) -> dict:
    """What the monitor finds in one simulated batch, with labels and without."""
    from housing.config import FEATURES, TARGET
    from housing.monitoring.analysis import PREDICTION
    from housing.monitoring.rules import DATA_QUALITY, DRIFT, accepted_batches, retrain_verdict
    from housing.monitoring.simulate import simulate_batch

    name = f"{scenario}-{seed}"
    batch = simulate_batch(ctx.stream, scenario=scenario, rows=ctx.rows, seed=1000 + seed,
                           batch=name)
    distinct = len(batch.drop_duplicates(subset=list(FEATURES)))
    batch = batch.assign(**{PREDICTION: ctx.model.predict(batch[list(FEATURES)])})
    labelled, _ = ctx.monitors.findings(name, batch)
    unlabelled, _ = ctx.monitors.findings(name, batch.assign(**{TARGET: np.nan}))
    before = retrain_verdict([unlabelled], ctx.reference_rmse, ctx.rule)
    after = retrain_verdict([labelled], ctx.reference_rmse, ctx.rule)
    return {"quality": after.batches[0].status == DATA_QUALITY,
            "drift_before": before.batches[0].status == DRIFT,
            "drift_after": after.batches[0].status == DRIFT,
            "accepted": bool(accepted_batches([], [{"batch": name, "rows": ctx.rows}], after)),
            "reliable": after.batches[0].estimate_reliable, "distinct": distinct,
            "outside": labelled.outside_share, "estimated": labelled.estimated_rmse,
            "realized": labelled.realized_rmse}


def scenario_row(ctx: SimpleNamespace, scenario: str) -> str:
    """The table's row of one scenario over ``ctx.runs`` seeds."""
    from housing.monitoring.simulate import DATA_BUGS, selection_weights

    expected = None
    if scenario not in DATA_BUGS and scenario != "concept_bay_area":
        weights = selection_weights(ctx.reference, scenario)
        expected = float(np.sqrt(np.average(ctx.squared, weights=weights)))
    found = [one_batch(ctx, scenario, seed) for seed in range(ctx.runs)]
    rate = {k: np.mean([f[k] for f in found]) for k in
            ("quality", "drift_before", "drift_after", "accepted", "reliable")}
    reliable = [f for f in found if f["reliable"]]
    close = [abs(f["estimated"] - f["realized"]) / f["realized"] <= 0.10 for f in reliable]
    close_ref = ([abs(f["estimated"] - expected) / expected <= 0.10 for f in reliable]
                 if expected is not None else [])
    outside = [f["outside"] for f in found]
    kind = "data bug" if scenario in DATA_BUGS else ("i.i.d." if scenario == "none" else "shift")
    return (f"| {scenario} | {kind} | {rate['quality']:.0%} | {rate['drift_before']:.0%} | "
            f"{rate['drift_after']:.0%} | {rate['accepted']:.0%} | {1 - rate['reliable']:.0%} | "
            f"{np.mean(outside):.1%} / {np.max(outside):.1%} | "
            f"{np.mean([f['distinct'] for f in found]):.0f} | "
            f"{np.mean([f['estimated'] for f in found]):.4f} | "
            f"{np.mean([f['realized'] for f in found]):.4f} | {share(close)} | "
            + ("–" if expected is None else f"{expected:.4f}") + " | "
            + ("–" if expected is None else share(close_ref)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="seeds per scenario")
    parser.add_argument("--rows", type=int, default=0, help="batch size; 0: monitor.chunk_size")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    from housing.monitoring.simulate import SCENARIOS

    ctx = setup(args)
    print(header(ctx), flush=True)
    for scenario in SCENARIOS:
        print(scenario_row(ctx, scenario), flush=True)


def share(hits: list[bool]) -> str:
    return f"{np.mean(hits):.0%} of {len(hits)}" if hits else "none reliable"


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("monitoring", "The monitor on simulated production batches"):
        main()
