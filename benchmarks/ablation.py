"""Ablation: feature set x model family x tuned or not, then the tuning budget, each a real
`dvc exp run -S`.

Runs in a temporary git copy of this repository (the workspace's registry is left
alone: every experiment stops after `evaluate`), then writes reports/ablation.csv and
reports/ablation.md, which the report stage includes. Test RMSE is on the fixed seed-0
test split. The grid's tuned rows use the committed budget (tune.n_trials per family,
tune.cv_folds folds); the budget rows vary trials and folds for the committed features
and model, so each row's seconds say what a budget costs and its RMSE what it buys.

    python benchmarks/ablation.py [--budgets 5x3,20x5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from housing.dev.workspace import default_data_cache, make_workspace, run
from housing.io import read_json, write_csv, write_text
from housing.params import load_params

REPO_ROOT = Path(__file__).resolve().parents[1]

FEATURE_SETS = {"geographic": "[]", "geographic + neighbour targets": "[8,32]"}
FAMILIES = ("hist_gradient_boosting", "lightgbm", "ensemble")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="5x3,20x5",
                        help="extra TRIALSxFOLDS budgets for the committed features and model")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports")
    args = parser.parse_args()
    budgets = [tuple(int(n) for n in item.split("x")) for item in args.budgets.split(",") if item]
    default_data_cache(REPO_ROOT)
    tune = load_params(REPO_ROOT / "params.yaml").tune

    rows = []
    with tempfile.TemporaryDirectory(prefix="housing-ablation-") as tmp:
        workspace = make_workspace(REPO_ROOT, Path(tmp) / "housing", small=False)

        def experiment(feature_set: str, family: str, trials: int, folds: int) -> None:
            start = time.perf_counter()
            run(["dvc", "exp", "run", "evaluate", "-S",
                 f"featurize.neighbor_ks={FEATURE_SETS[feature_set]}",
                 "-S", f"tune.model={family}", "-S", f"tune.n_trials={trials}",
                 "-S", f"tune.cv_folds={folds}"], workspace, timeout=3600)
            metrics = read_json(workspace / "reports/metrics.json")
            cv = read_json(workspace / "reports/tune.json")
            rows.append({"features": feature_set, "model": family,
                         "tuned": f"{trials} trials × {folds} folds" if trials else "defaults",
                         "cv_rmse": round(cv["cv_rmse_mean"], 4),
                         "test_rmse": round(metrics["model"]["rmse"], 4),
                         "test_mae": round(metrics["model"]["mae"], 4),
                         "seconds": round(time.perf_counter() - start)})
            print(rows[-1], flush=True)

        for feature_set in FEATURE_SETS:
            for family in FAMILIES:
                for trials in (0, tune.n_trials):
                    experiment(feature_set, family, trials, tune.cv_folds)
        committed = "geographic + neighbour targets"
        for trials, budget_folds in budgets:
            experiment(committed, tune.model, trials, budget_folds)
    write_tables(rows, tune, args.out)


def write_tables(rows: list[dict], tune, out: Path) -> None:
    """reports/ablation.csv and reports/ablation.md (the report stage's input), atomically."""
    import pandas as pd

    table = pd.DataFrame(rows)
    write_csv(table, out / "ablation.csv")
    lines = [f"Each row is a `dvc exp run -S` with the committed params otherwise; tuned "
             f"rows of the grid use the committed budget ({tune.n_trials} Optuna trials per "
             f"family, {tune.cv_folds}-fold CV), the last rows other budgets for the committed "
             "features and model. Test RMSE on the seed-0 split. Produced by "
             "`python benchmarks/ablation.py`.",
             "",
             "| features | model | tuned | CV RMSE | test RMSE | test MAE | seconds |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['features']} | {r['model']} | {r['tuned']} | {r['cv_rmse']:.4f} | "
              f"{r['test_rmse']:.4f} | {r['test_mae']:.4f} | {r['seconds']} |" for r in rows]
    write_text("\n".join(lines) + "\n", out / "ablation.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
