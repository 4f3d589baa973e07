"""Monitoring quality: detection and false-alarm rates, DLE's estimate vs realized RMSE.

Runs every simulator scenario with several seeds at the default batch size against the
workspace's production version (run `dvc repro` first), through the same NannyML
calculators and retrain rule as the monitor stage, with the params in params.yaml.
Each batch is judged twice: before its labels arrive (drift and DLE only) and after.

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

    from housing.config import FEATURES, TARGET, go_offline
    from housing.config import MODEL_NAME
    from housing.registry.lookup import alias_version
    from housing.monitoring.analysis import PREDICTION, Monitors, production_reference
    from housing.models.metrics import rmse
    from housing.monitoring.rules import retrain_verdict
    from housing.params import load_params
    from housing.monitoring.simulate import SCENARIOS, simulate_batch

    go_offline()
    rule = load_params(REPO_ROOT / "params.yaml").monitor
    rows = args.rows or rule.chunk_size
    version = alias_version(MODEL_NAME, "production")
    if version is None:
        raise SystemExit("no production version: run `dvc repro` first")
    reference, model = production_reference(MODEL_NAME, version)
    reference_rmse = rmse(reference[TARGET], reference[PREDICTION])
    monitors = Monitors(reference, chunk_size=rule.chunk_size, ks_threshold=rule.ks_threshold)
    stream = pd.read_parquet(REPO_ROOT / "data/processed/stream.parquet")

    print(f"production version {version}; reference RMSE {reference_rmse:.4f}; "
          f"{args.runs} runs x {rows} rows per scenario; rule {rule}")
    print("\n| scenario | alert rate, before labels | alert rate, with labels | "
          "estimated RMSE | realized RMSE | mean abs. error of estimate | within 10% |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for scenario in SCENARIOS:
        before = after = 0
        est, real = [], []
        for seed in range(args.runs):
            batch = simulate_batch(stream, scenario=scenario, rows=rows, seed=1000 + seed,
                                   batch=f"{scenario}-{seed}")
            batch = batch.assign(**{PREDICTION: model.predict(batch[list(FEATURES)])})
            labelled, _ = monitors.findings(batch.iloc[0]["record_id"], batch)
            unlabelled, _ = monitors.findings("b", batch.assign(**{TARGET: np.nan}))
            before += retrain_verdict([unlabelled], reference_rmse, rule).retrain
            after += retrain_verdict([labelled], reference_rmse, rule).retrain
            est.append(labelled.estimated_rmse)
            real.append(labelled.realized_rmse)
        est_a, real_a = np.array(est), np.array(real)
        rel = np.abs(est_a - real_a) / real_a
        print(f"| {scenario} | {before / args.runs:.0%} | {after / args.runs:.0%} | "
              f"{est_a.mean():.4f} | {real_a.mean():.4f} | {rel.mean():.1%} | "
              f"{(rel <= 0.10).mean():.0%} |")


if __name__ == "__main__":
    main()
