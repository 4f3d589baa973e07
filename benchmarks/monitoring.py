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

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="seeds per scenario")
    parser.add_argument("--rows", type=int, default=0, help="batch size; 0: monitor.chunk_size")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{REPO_ROOT / 'mlflow.db'}")

    import pandas as pd

    from housing.config import FEATURES, MODEL_NAME, TARGET, go_offline
    from housing.models.metrics import rmse
    from housing.monitoring.analysis import PREDICTION, Monitors, production_reference
    from housing.monitoring.rules import DATA_QUALITY, DRIFT, accepted_batches, retrain_verdict
    from housing.monitoring.simulate import (
        DATA_BUGS,
        SCENARIOS,
        selection_weights,
        simulate_batch,
    )
    from housing.params import load_params
    from housing.registry.lookup import alias_version

    go_offline()
    rule = load_params(REPO_ROOT / "params.yaml").monitor
    rows = args.rows or rule.chunk_size
    version = alias_version(MODEL_NAME, "production")
    if version is None:
        raise SystemExit("no production version: run `dvc repro` first")
    reference, model, ranges = production_reference(MODEL_NAME, version)
    reference_rmse = rmse(reference[TARGET], reference[PREDICTION])
    monitors = Monitors(reference, rule, ranges)
    stream = pd.read_parquet(REPO_ROOT / "data/processed/stream.parquet")

    print("\n".join([f"Production version {version}; reference RMSE {reference_rmse:.4f}; "
             f"{args.runs} seeds x {rows} rows per scenario; DLE unreliable above "
             f"{rule.dle_max_outside_share:.0%} of rows outside the reference's support.", "",
             "| scenario | kind | data quality | drift, before labels | drift, with labels | "
             "accepted into training | DLE unreliable | rows outside support (mean / max) | "
             "distinct districts | estimated RMSE | realized RMSE | reliable estimates within "
             "10% of realized | reference under the same selection | reliable estimates "
             "within 10% of it |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]),
          flush=True)
    squared = (reference[TARGET] - reference[PREDICTION]).to_numpy() ** 2
    for scenario in SCENARIOS:
        quality = drift_before = drift_after = accepted = unreliable = 0
        est, real, outside, close, close_ref, distinct = [], [], [], [], [], []
        expected = None
        if scenario not in DATA_BUGS and scenario != "concept_bay_area":
            weights = selection_weights(reference, scenario)
            expected = float(np.sqrt(np.average(squared, weights=weights)))
        for seed in range(args.runs):
            name = f"{scenario}-{seed}"
            batch = simulate_batch(stream, scenario=scenario, rows=rows, seed=1000 + seed,
                                   batch=name)
            distinct.append(len(batch.drop_duplicates(subset=list(FEATURES))))
            batch = batch.assign(**{PREDICTION: model.predict(batch[list(FEATURES)])})
            labelled, _ = monitors.findings(name, batch)
            unlabelled, _ = monitors.findings(name, batch.assign(**{TARGET: np.nan}))
            before = retrain_verdict([unlabelled], reference_rmse, rule)
            after = retrain_verdict([labelled], reference_rmse, rule)
            quality += after.batches[0].status == DATA_QUALITY
            drift_before += before.batches[0].status == DRIFT
            drift_after += after.batches[0].status == DRIFT
            accepted += bool(accepted_batches([], [{"batch": name, "rows": rows}], after))
            reliable = after.batches[0].estimate_reliable
            unreliable += not reliable
            outside.append(labelled.outside_share)
            est.append(labelled.estimated_rmse)
            real.append(labelled.realized_rmse)
            if reliable:
                close.append(abs(labelled.estimated_rmse - labelled.realized_rmse)
                             / labelled.realized_rmse <= 0.10)
                if expected is not None:
                    close_ref.append(abs(labelled.estimated_rmse - expected) / expected
                                     <= 0.10)
        n = args.runs
        kind = "data bug" if scenario in DATA_BUGS else ("i.i.d." if scenario == "none"
                                                         else "shift")
        print(
            f"| {scenario} | {kind} | {quality / n:.0%} | {drift_before / n:.0%} | "
            f"{drift_after / n:.0%} | {accepted / n:.0%} | {unreliable / n:.0%} | "
            f"{np.mean(outside):.1%} / {np.max(outside):.1%} | {np.mean(distinct):.0f} | "
            f"{np.mean(est):.4f} | {np.mean(real):.4f} | {share(close)} | "
            + ("–" if expected is None else f"{expected:.4f}") + " | "
            + ("–" if expected is None else share(close_ref)) + " |", flush=True)


def share(hits: list[bool]) -> str:
    return f"{np.mean(hits):.0%} of {len(hits)}" if hits else "none reliable"


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("monitoring", "The monitor on simulated production batches"):
        main()
