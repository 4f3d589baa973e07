"""Benchmark the prediction service against `mlflow models serve` for the same version.

Every server loads `models:/california-housing@production` from the same registry (by
default the workspace's embedded store, so run `dvc repro` first) with the same number
of workers: the service on gunicorn's gthread workers and on its sync workers, and
`mlflow models serve`. Each is loaded in turn from a separate process on loopback by wrk
(installed first if missing; the script refuses to measure without it) with single-row
and 100-row
/invocations requests at 1, 8 and 32 connections, validation and the prediction log on.
Prints requests/s, p50 and p99 latency, the ratio to mlflow in the same run, whether the
prediction log holds every row answered, and the in-process cost of each step for one
row. Machines are noisy: compare the ratios.

    python benchmarks/service.py [--duration 10] [--workers 2] [--only housing]
                                 [--baseline-rev REV]

``--baseline-rev`` adds the service as of a git revision (a temporary worktree, its own
gunicorn.conf.py and sources) with that revision's own default settings, measured in the
same run, and compares today's defaults with it: a change's before and after, with
met/NOT met for "no single-row regression".
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from housing.dev.servers import free_port, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
ROW = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
       "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def body_for(rows: int) -> str:
    return json.dumps({"dataframe_records": [ROW] * rows})


def require_wrk() -> None:
    """wrk from Debian's packages, installed here if missing (as root, with apt-get): the
    load must come from a C client, or a Python one takes a core from the server."""
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                       stdout=subprocess.DEVNULL)
    if not shutil.which("wrk"):
        raise SystemExit("error: wrk is not installed and could not be: run "
                         "`apt-get install wrk`; this benchmark does not measure without it")


def run_wrk(port: int, path: str, body: str, connections: int, duration: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n'
                     'wrk.headers["X-Housing-Traffic"] = "test"\n')
    out = subprocess.run(["wrk", "-t", str(min(connections, 2)), "-c", str(connections),
                          "-d", f"{duration}s", "--latency", "-s", script.name,
                          f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(g) for g in socket_errors.groups()[:3])
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)) - failed,
            "p50": ms("50%"), "p99": ms("99%"), "errors": failed}


def in_process_us(tracking_uri: str, tree_cache: Path) -> dict[str, float]:
    """Median in-process time for one row, in microseconds, of each step the service runs:
    the Pipeline's own predict (DataFrame in), the feature row path, the lleaves trees,
    and the whole served predict (loaded exactly as the service loads it). Builds the
    version's lleaves libraries in ``tree_cache`` first, so the servers start on them."""
    import numpy as np
    import pandas as pd

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    from housing.config import FEATURES
    from housing.deployment.holder import load_version
    from housing.deployment.predict.compiled import compile_regressor, tree_members
    from housing.deployment.predict.features import ArrayFeatures
    from housing.deployment.predict.prepare import cached_native
    from housing.deployment.predict.text import member_text
    from housing.deployment.predict.trees import ensure_library
    from housing.models.promotion import PRODUCTION
    from housing.registry.store import aliased_version

    loaded = load_version(
        "california-housing", aliased_version("california-housing", PRODUCTION))
    for member in tree_members(loaded.model[-1]):
        ensure_library(member_text(member), tree_cache)
    loaded = load_version(
        "california-housing", aliased_version("california-housing", PRODUCTION), tree_cache)
    frame = pd.DataFrame([ROW])
    row = np.array([[ROW[f] for f in FEATURES]])
    features = ArrayFeatures(loaded.model[:-1], FEATURES)
    arrays = ArrayFeatures(loaded.model[:-1], FEATURES)
    arrays.rows = None  # the array path alone: what the row kernels save on one row
    matrix = features.transform(row)
    trees, _, _ = compile_regressor(loaded.model[-1], cached_native(tree_cache))

    def median_us(fn, arg) -> float:
        for _ in range(50):
            fn(arg)
        times = []
        for _ in range(2000):
            start = time.perf_counter()
            fn(arg)
            times.append((time.perf_counter() - start) * 1e6)
        return statistics.median(times)

    in_turn = in_turn_us(features, trees, row)
    bounds, no_bounds = interval_cost_us(loaded, tree_cache, row)
    return {"interval": bounds, "no_interval": no_bounds,
            "pipeline": median_us(loaded.model.predict, frame),
            "features_in_turn": in_turn[0], "trees_in_turn": in_turn[1],
            "features": median_us(features.transform, row),
            "features_arrays": median_us(arrays.transform, row),
            "trees": median_us(trees, matrix),
            "served": median_us(loaded.predict, row),
            "runtime": "+".join(loaded.predict.trees) or loaded.predict.runtime}


def interval_cost_us(loaded, tree_cache: Path, row, rounds: int = 4000) -> tuple[float, float]:
    """Median time of the served predict with its interval, and of the same version's
    trees and features without one (its regressor alone, compiled the same way), the two
    alternated call by call so that both see the same machine."""
    from sklearn.pipeline import Pipeline

    from housing.deployment.predict.compiled import compile_pipeline
    from housing.deployment.predict.prepare import cached_native, check_rows

    bare = Pipeline([*loaded.model.steps[:-1], ("regressor", loaded.model[-1].regressor_)])
    without = compile_pipeline(bare, check_rows(loaded.ranges), cached_native(tree_cache))
    assert without.predict_interval(row)[1] is None and without.native
    timed: tuple[list[float], list[float]] = ([], [])
    for i in range(rounds + 50):
        for fn, times in ((loaded.predict.predict_interval, timed[0]),
                          (without.predict_interval, timed[1])):
            start = time.perf_counter()
            fn(row)
            if i >= 50:
                times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(timed[0]), statistics.median(timed[1])


def in_turn_us(features, trees, row, rounds: int = 2000) -> tuple[float, float]:
    """Median time of the features, then the trees, each timed where the served predict
    runs them: one after the other, so each finds the caches as the other left them."""
    feature_us, tree_us = [], []
    for i in range(rounds + 50):
        start = time.perf_counter()
        matrix = features.transform(row)
        middle = time.perf_counter()
        trees(matrix)
        end = time.perf_counter()
        if i >= 50:
            feature_us.append((middle - start) * 1e6)
            tree_us.append((end - middle) * 1e6)
    return statistics.median(feature_us), statistics.median(tree_us)


def served_runtime(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/model")
    runtime = json.loads(conn.getresponse().read())["runtime"]
    return "+".join(runtime.get("trees") or [runtime["name"]])


def count_log_lines(directory: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in directory.glob("*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="workers per server")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    parser.add_argument("--only", help="measure only servers whose name contains this")
    parser.add_argument("--baseline-rev", help="also measure the service at this git revision")
    parser.add_argument("--tree-cache", default=str(Path(tempfile.gettempdir())
                                                    / "housing-bench-trees"),
                        help="lleaves libraries (built here first; reused across runs)")
    args = parser.parse_args()

    # Same conditions for every server: the same workers, one OpenMP thread per worker.
    env = {**os.environ, "MLFLOW_TRACKING_URI": args.tracking_uri,
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "NML_DISABLE_USAGE_LOGGING": "1", "OMP_NUM_THREADS": "1"}
    require_wrk()
    load = run_wrk
    os.environ["OMP_NUM_THREADS"] = "1"
    tree_cache = Path(args.tree_cache)
    floor = in_process_us(args.tracking_uri, tree_cache)
    print(f"load generator: wrk; {args.duration}s per cell; {args.workers} workers per "
          "server; validation and the prediction log on")
    print(f"in-process, 1 row (median us): Pipeline.predict {floor['pipeline']:.0f}; served "
          f"predict {floor['served']:.0f} ({floor['runtime']}); its parts, each measured "
          f"alone: features {floor['features']:.0f} (row kernels; array path alone "
          f"{floor['features_arrays']:.0f}), trees {floor['trees']:.0f} (each alone, its code "
          "hot in the caches); in turn, as the served predict runs them: features "
          f"{floor['features_in_turn']:.0f}, trees {floor['trees_in_turn']:.0f} (the "
          "compiled trees' machine code and the features' code evict each other)")
    print(f"lleaves libraries in {tree_cache}")
    ratio = floor["interval"] / floor["no_interval"]
    print(f"prediction interval, in-process, 1 row (median us, alternated call by call): "
          f"served predict with its interval {floor['interval']:.0f}, the same trees and "
          f"features without it {floor['no_interval']:.0f}: ratio {ratio:.3f}; goal, "
          f"within 10%: {'met' if ratio <= 1.10 else 'NOT met'}")

    log_dir = Path(tempfile.mkdtemp(prefix="housing-bench-log-"))
    ours = {"HOUSING_PREDICTION_LOG_DIR": str(log_dir), "HOUSING_ACCESS_LOG": "/dev/null",
            "HOUSING_LOG_LEVEL": "warning", "WEB_CONCURRENCY": str(args.workers),
            "HOUSING_TREE_CACHE": str(tree_cache)}
    gunicorn = ["gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py"),
                "housing.deployment.app:create_app()"]
    servers = {
        "housing gthread": (gunicorn, {**ours, "HOUSING_WORKER_CLASS": "gthread"}, "/ready"),
        "housing sync": (gunicorn, {**ours, "HOUSING_WORKER_CLASS": "sync"}, "/ready"),
        # MLflow 3 refuses to deserialize any model (skops included) without this flag.
        "mlflow models serve": (
            ["mlflow", "models", "serve", "-m", "models:/california-housing@production",
             "--env-manager", "local", "-h", "127.0.0.1", "-w", str(args.workers)],
            {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}, "/ping"),
    }
    worktree = None
    if args.baseline_rev:
        worktree = Path(tempfile.mkdtemp(prefix="housing-baseline-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree),
                        args.baseline_rev], cwd=REPO_ROOT, check=True, capture_output=True)
        # the revision as it ships: its own default worker class and threads
        servers[f"housing @{args.baseline_rev}"] = (
            ["gunicorn", "-c", str(worktree / "gunicorn.conf.py"),
             "housing.deployment.app:create_app()"],
            {**ours, "PYTHONPATH": str(worktree / "src")}, "/ready")
    if args.only:
        servers = {k: v for k, v in servers.items() if args.only in k}
    cells = [(1, 1), (1, 8), (1, 32), (100, 1), (100, 8), (100, 32)]
    results: dict[tuple, dict] = {}
    for name, (cmd, extra, ready_path) in servers.items():
        port = free_port()
        full_cmd = cmd + (["-p", str(port)] if "mlflow" in cmd[0] else [])
        proc_env = {**env, **extra, "HOUSING_BIND": f"127.0.0.1:{port}"}
        proc = subprocess.Popen(full_cmd, env=proc_env, cwd=REPO_ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sent = 0
        try:
            wait_ready(f"http://127.0.0.1:{port}{ready_path}", proc, timeout=180)
            time.sleep(3)  # /ready answers from the first worker: let the others finish loading
            if name.startswith("housing"):
                runtime = served_runtime(port)
                print(f"{name}: trees on {runtime}")
                if runtime != "lleaves+lleaves":
                    print(f"  ! {name}: not on lleaves", file=sys.stderr)
            for rows, connections in cells:
                warm = load(port, "/invocations", body_for(rows), connections, 2)
                result = load(port, "/invocations", body_for(rows), connections,
                              args.duration)
                results[(name, rows, connections)] = result
                sent += rows * (warm["requests"] + result["requests"])
        finally:
            stop(proc)
        if name.startswith("housing"):
            logged = count_log_lines(log_dir)
            # wrk does not count the requests in flight when it stops, which the server
            # still answers and logs: the log holds at least what wrk counted.
            print(f"{name}: prediction log holds {logged} rows; wrk counted {sent} rows "
                  f"answered ({'none missing' if logged >= sent else 'ROWS MISSING'})")
            for path in log_dir.glob("*.jsonl"):
                path.unlink()

    if worktree is not None:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO_ROOT,
                       check=False, capture_output=True)
    names = list(servers)
    print("\n| server | rows | conns | req/s | p50 ms | p99 ms | vs mlflow |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        for rows, connections in cells:
            r = results[(name, rows, connections)]
            base = results.get(("mlflow models serve", rows, connections))
            ratio = f"{r['rps'] / base['rps']:.1f}x" if base and base["rps"] else "-"
            print(f"| {name} | {rows} | {connections} | {r['rps']:.0f} | {r['p50']:.2f} "
                  f"| {r['p99']:.2f} | {ratio} |")
            if r["errors"]:
                print(f"  ! {name}: {r['errors']} failed requests", file=sys.stderr)
    from housing.deployment.settings import Settings

    default = f"housing {Settings.model_fields['worker_class'].default}"
    baseline = f"housing @{args.baseline_rev}" if args.baseline_rev else None
    if baseline in names and default in names:
        print(f"\nThe default settings now ({default}) against {args.baseline_rev}'s own "
              "defaults:\n")
        print(f"| rows | conns | req/s now / {args.baseline_rev} | p50 now / "
              f"{args.baseline_rev} |")
        print("|---:|---:|---:|---:|")
        for rows, connections in cells:
            now, then = results[(default, rows, connections)], \
                results[(baseline, rows, connections)]
            print(f"| {rows} | {connections} | {now['rps'] / then['rps']:.2f} "
                  f"| {now['p50'] / then['p50']:.2f} |")
        now, then = results[(default, 1, 1)], results[(baseline, 1, 1)]
        eight_now, eight_then = results[(default, 1, 8)], results[(baseline, 1, 8)]
        regression = (now["p50"] > then["p50"] * 1.05
                      or min(now["rps"] / then["rps"], eight_now["rps"] / eight_then["rps"])
                      < 0.95)
        print(f"\ngoal, no single-row regression against {args.baseline_rev} (within 5%: "
              f"p50 and req/s at 1 connection, req/s at 8): "
              f"{'NOT met' if regression else 'met'}")
    best = default if default in names else names[0]
    peer = "mlflow models serve"
    if ("mlflow models serve", 1, 8) in results and (best, 1, 1) in results:
        p50 = results[(best, 1, 1)]["p50"]
        rps8 = results[(best, 1, 8)]["rps"]
        ratio8 = rps8 / results[(peer, 1, 8)]["rps"]
        ratio100 = results[(best, 100, 8)]["rps"] / results[(peer, 100, 8)]["rps"]
        print(f"\ngoals, {best}:")
        for text, met in ((f"single-row p50 at 1 connection {p50:.2f} ms (<= 1.0)",
                           p50 <= 1.0),
                          (f"single-row req/s at 8 connections {rps8:.0f} (>= 1000)",
                           rps8 >= 1000),
                          (f"single-row req/s at 8 connections {ratio8:.0f}x mlflow (>= 50x)",
                           ratio8 >= 50),
                          (f"100-row req/s at 8 connections {ratio100:.1f}x mlflow (>= 5x)",
                           ratio100 >= 5)):
            print(f"- {text}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("service", "The prediction service against mlflow models serve"):
        main()
