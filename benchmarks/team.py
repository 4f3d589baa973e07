"""Team mode: Optuna throughput with one and two workers on one PostgreSQL study, and the
MLflow tracking server's cost per logged trial against the embedded SQLite store.

    python benchmarks/team.py [--trials 16] [--seed 100] [--runs 40]

Brings up a local team stack of its own (PostgreSQL must run, as on this project's
machines), in a temporary copy of the project with the committed params but `tune.model:
lightgbm`, then:

- tunes the same budget with the same seed with 1 worker (2 OpenMP threads: the
  default), 1 worker (1 thread) and 2 workers (1 thread each), each in a fresh study, and
  reports cross-validation folds fitted per minute (the work rate: a pruned trial fits
  fewer folds, and the workers' trials are pruned differently), finished trials per
  minute, the pruned trials and the best CV RMSE. Rates are taken over the search itself
  (the study's first trial start to its last trial end), trials also over the whole
  command (process start-up and the final fit included); ratios are against 1 worker x 2
  threads;
- logs ``--runs`` trials to the server and to a SQLite store exactly as tune does (a
  child run created, one ``log_batch`` with 7 params, 2 tags and 2 metrics, the run
  ended: three requests), and reports milliseconds per trial and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from housing.dev import stack as team
from housing.dev.workspace import clean_env, default_data_cache, make_workspace, run, set_params

REPO_ROOT = Path(__file__).resolve().parents[1]


def tune_rate(ws: Path, storage: str, *, workers: int, threads: int, trials: int,
              seed: int) -> dict[str, float]:
    """One budget on a fresh study: finished trials per minute of search and of the whole
    command, cross-validation folds fitted per minute of search (pruned trials fit fewer),
    pruned trials, best CV RMSE."""
    import optuna

    set_params(ws, {"tune": {"storage": storage, "n_threads": threads, "n_trials": trials,
                             "seed": seed}})
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for summary in optuna.get_all_study_summaries(storage):  # the same params: the same name
        optuna.delete_study(study_name=summary.study_name, storage=storage)
    env = clean_env(ws)
    start = time.perf_counter()
    extras = [subprocess.Popen(["housing", "tune", "--trials-only", "--worker", str(w)],
                               cwd=ws, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) for w in range(1, workers)]
    run(["housing", "tune"], ws, timeout=3600)
    for proc in extras:
        proc.wait(timeout=600)
    minutes = (time.perf_counter() - start) / 60
    name = max(optuna.get_all_study_summaries(storage), key=lambda s: s._study_id).study_name
    study = optuna.load_study(study_name=name, storage=storage)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    search = (max(t.datetime_complete for t in finished)
              - min(t.datetime_start for t in finished)).total_seconds() / 60
    folds = sum(len(t.intermediate_values) for t in finished)  # each trial reports per fold
    pruned = sum(t.state.name == "PRUNED" for t in finished)
    return {"search": len(finished) / search, "whole": len(finished) / minutes,
            "folds": folds / search, "pruned": pruned, "best": study.best_value}


def ms_per_logged_trial(uri: str, runs: int) -> float:
    """Milliseconds per trial logged the way tune logs one (registry.store)."""
    from housing.registry import store

    os.environ["MLFLOW_TRACKING_URI"] = uri
    store.configure_tracking(f"overhead-{uuid.uuid4().hex[:8]}")
    with store.tracking_run("tune-overhead"):
        start = time.perf_counter()
        for i in range(runs):
            with store.child_run(f"trial-{i}", tags={"optuna.trial_number": i}) as run_id:
                store.log(run_id, params={f"p{k}": 0.1 * k + i for k in range(7)},
                          tags={"optuna.state": "COMPLETE"},
                          metrics={"cv_rmse_mean": 0.4, "cv_rmse_std": 0.01})
        elapsed = time.perf_counter() - start
    return elapsed * 1000 / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seed", type=int, default=100)
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
                rate = tune_rate(ws, storage, workers=workers, threads=threads,
                                 trials=args.trials, seed=args.seed)
                rows.append((workers, threads, rate))
                print(f"{workers} worker(s) x {threads} thread(s): {rate}", flush=True)
            server = ms_per_logged_trial(stack.tracking_uri, args.runs)
            sqlite = ms_per_logged_trial(f"sqlite:///{Path(tmp) / 'overhead.db'}", args.runs)
        finally:
            team.down(stack, purge=True)
    base = rows[0][2]
    print(f"\nOptuna on PostgreSQL, tune.model=lightgbm, {args.trials} trials per study, "
          f"seed {args.seed}; x = against 1 worker x 2 threads:\n")
    print("| workers x OpenMP threads | folds fitted / min | x | trials / min searching | x "
          "| trials / min, whole command | x | pruned | best CV RMSE |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workers, threads, r in rows:
        print(f"| {workers} x {threads} | {r['folds']:.2f} | {r['folds'] / base['folds']:.2f} "
              f"| {r['search']:.2f} | {r['search'] / base['search']:.2f} "
              f"| {r['whole']:.2f} | {r['whole'] / base['whole']:.2f} "
              f"| {r['pruned']} of {args.trials} | {r['best']:.4f} |")
    print(f"\nMLflow, per logged trial ({args.runs} trials): tracking server "
          f"{server:.1f} ms, SQLite {sqlite:.1f} ms ({server / sqlite:.2f}x)")


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("team", "Tuning with two workers on one study"):
        main()
