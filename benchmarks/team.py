"""Team mode: Optuna throughput with one and two workers on one PostgreSQL study, and the
MLflow tracking server's cost per logged trial against the embedded SQLite store.

    python benchmarks/team.py [--trials 8] [--runs 40]

Brings up a local team stack of its own (PostgreSQL must run, as on this project's
machines), in a temporary copy of the project with the committed params but `tune.model:
lightgbm`, then:

- tunes the same budget with 1 worker (2 OpenMP threads: the default), 1 worker (1
  thread) and 2 workers (1 thread each), each in a fresh study, and reports finished
  trials per minute and the best CV RMSE; the ratio is against 1 worker x 2 threads;
- logs ``--runs`` trial-shaped child runs (7 params, 2 tags, 2 metrics) to the server
  and to a SQLite store, and reports milliseconds per trial and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from housing import stack as team
from housing.workspace import clean_env, default_data_cache, make_workspace, run, set_params

REPO_ROOT = Path(__file__).resolve().parents[1]


def tune_rate(ws: Path, storage: str, *, workers: int, threads: int, trials: int,
              seed: int) -> tuple[float, float]:
    """(finished trials per minute, best CV RMSE) of one budget on a fresh study."""
    import optuna

    set_params(ws, {"tune": {"storage": storage, "n_threads": threads, "n_trials": trials,
                             "seed": seed}})
    env = clean_env(ws)
    start = time.perf_counter()
    extras = [subprocess.Popen(["housing", "tune", "--trials-only", "--worker", str(w)],
                               cwd=ws, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) for w in range(1, workers)]
    run(["housing", "tune"], ws, timeout=3600)
    for proc in extras:
        proc.wait(timeout=600)
    minutes = (time.perf_counter() - start) / 60
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = max(optuna.get_all_study_summaries(storage), key=lambda s: s._study_id).study_name
    study = optuna.load_study(study_name=name, storage=storage)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    return len(finished) / minutes, study.best_value


def ms_per_logged_trial(uri: str, runs: int) -> float:
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment(f"overhead-{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        for i in range(runs):
            with mlflow.start_run(run_name=f"trial-{i}", nested=True):
                mlflow.log_params({f"p{k}": 0.1 * k + i for k in range(7)})
                mlflow.set_tag("optuna.trial_number", i)
                mlflow.set_tag("optuna.state", "COMPLETE")
                mlflow.log_metrics({"cv_rmse_mean": 0.4, "cv_rmse_std": 0.01})
    return (time.perf_counter() - start) * 1000 / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    default_data_cache(REPO_ROOT)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="housing-team-") as tmp:
        ws = make_workspace(REPO_ROOT, Path(tmp) / "housing", small=False)
        set_params(ws, {"tune": {"model": "lightgbm"}})
        stack = team.Stack.from_env(ws)
        stack = team.Stack(postgres=stack.postgres, prefix=f"bench{uuid.uuid4().hex[:6]}",
                           host="127.0.0.1", port=stack.port + 17, folder=Path(tmp) / "stack")
        team.up(stack, ws)
        try:
            run(["dvc", "repro", "featurize"], ws)
            storage = stack.optuna_url
            rows = []
            for workers, threads in ((1, 2), (1, 1), (2, 1)):
                rate, best = tune_rate(ws, storage, workers=workers, threads=threads,
                                       trials=args.trials, seed=100 + workers * 10 + threads)
                rows.append((workers, threads, rate, best))
                print(f"{workers} worker(s) x {threads} thread(s): {rate:.2f} trials/min, "
                      f"best CV RMSE {best:.4f}", flush=True)
            server = ms_per_logged_trial(stack.tracking_uri, args.runs)
            sqlite = ms_per_logged_trial(f"sqlite:///{Path(tmp) / 'overhead.db'}", args.runs)
        finally:
            team.down(stack, purge=True)
    base = rows[0][2]
    print(f"\nOptuna on PostgreSQL, tune.model=lightgbm, {args.trials} trials per study:\n")
    print("| workers | OpenMP threads each | finished trials / min | x 1 worker, 2 threads "
          "| best CV RMSE |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for workers, threads, rate, best in rows:
        print(f"| {workers} | {threads} | {rate:.2f} | {rate / base:.2f} | {best:.4f} |")
    print(f"\nMLflow, per logged trial ({args.runs} child runs): tracking server "
          f"{server:.1f} ms, SQLite {sqlite:.1f} ms ({server / sqlite:.2f}x)")


if __name__ == "__main__":
    main()
