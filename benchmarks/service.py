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
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from housing.dev.servers import free_port, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
PEER = "mlflow models serve"
CELLS = [(1, 1), (1, 8), (1, 32), (100, 1), (100, 8), (100, 32)]
ROW = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
       "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have exited already
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


def served_runtime(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/model")
    runtime = json.loads(conn.getresponse().read())["runtime"]
    return "+".join(runtime.get("trees") or [runtime["name"]])


def count_log_lines(directory: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in directory.glob("*.jsonl"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="workers per server")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    parser.add_argument("--only", help="measure only servers whose name contains this")
    parser.add_argument("--baseline-rev", help="also measure the service at this git revision")
    parser.add_argument("--tree-cache", default=str(Path(tempfile.gettempdir())
                                                    / "housing-bench-trees"),
                        help="lleaves libraries (built here first; reused across runs)")
    return parser.parse_args()


def server_table(args, tree_cache: Path, log_dir: Path, worktree: Path | None) -> dict:
    """name -> (command, its environment, ready path): the service on each worker class,
    `mlflow models serve`, and the baseline revision's service if one is checked out."""
    ours = {"HOUSING_PREDICTION_LOG_DIR": str(log_dir), "HOUSING_ACCESS_LOG": "/dev/null",
            "HOUSING_LOG_LEVEL": "warning", "WEB_CONCURRENCY": str(args.workers),
            "HOUSING_TREE_CACHE": str(tree_cache)}
    gunicorn = ["gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py"),
                "housing.deployment.app:create_app()"]
    servers = {
        "housing gthread": (gunicorn, {**ours, "HOUSING_WORKER_CLASS": "gthread"}, "/ready"),
        "housing sync": (gunicorn, {**ours, "HOUSING_WORKER_CLASS": "sync"}, "/ready"),
        # MLflow 3 refuses to deserialize any model (skops included) without this flag.
        PEER: (["mlflow", "models", "serve", "-m", "models:/california-housing@production",
                "--env-manager", "local", "-h", "127.0.0.1", "-w", str(args.workers)],
               {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}, "/ping"),
    }
    if worktree is not None:  # the revision as it ships: its own default worker class
        servers[f"housing @{args.baseline_rev}"] = (
            ["gunicorn", "-c", str(worktree / "gunicorn.conf.py"),
             "housing.deployment.app:create_app()"],
            {**ours, "PYTHONPATH": str(worktree / "src")}, "/ready")
    return {k: v for k, v in servers.items() if not args.only or args.only in k}


def measure(name: str, server: tuple, env: dict, duration: int, log_dir: Path) -> dict:
    """(rows, connections) -> wrk's result for one server; checks that its prediction log
    holds every row answered."""
    cmd, extra, ready_path = server
    port = free_port()
    full_cmd = cmd + (["-p", str(port)] if "mlflow" in cmd[0] else [])
    proc = subprocess.Popen(full_cmd, env={**env, **extra, "HOUSING_BIND": f"127.0.0.1:{port}"},
                            cwd=REPO_ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results, sent = {}, 0
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", proc, timeout=180)
        time.sleep(3)  # /ready answers from the first worker: let the others finish loading
        if name.startswith("housing"):
            runtime = served_runtime(port)
            print(f"{name}: trees on {runtime}")
            if runtime != "lleaves+lleaves":
                print(f"  ! {name}: not on lleaves", file=sys.stderr)
        for rows, connections in CELLS:
            warm = run_wrk(port, "/invocations", body_for(rows), connections, 2)
            results[(rows, connections)] = result = run_wrk(
                port, "/invocations", body_for(rows), connections, duration)
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
    return results


def print_table(results: dict) -> None:
    print("\n| server | rows | conns | req/s | p50 ms | p99 ms | vs mlflow |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, cells in results.items():
        for (rows, connections), r in cells.items():
            base = results.get(PEER, {}).get((rows, connections))
            ratio = f"{r['rps'] / base['rps']:.1f}x" if base and base["rps"] else "-"
            print(f"| {name} | {rows} | {connections} | {r['rps']:.0f} | {r['p50']:.2f} "
                  f"| {r['p99']:.2f} | {ratio} |")
            if r["errors"]:
                print(f"  ! {name}: {r['errors']} failed requests", file=sys.stderr)


def print_against_baseline(results: dict, default: str, rev: str) -> None:
    """Today's defaults against the baseline revision's own, with the no-regression goal."""
    now_cells, then_cells = results[default], results[f"housing @{rev}"]
    print(f"\nThe default settings now ({default}) against {rev}'s own defaults:\n")
    print(f"| rows | conns | req/s now / {rev} | p50 now / {rev} |")
    print("|---:|---:|---:|---:|")
    for cell in CELLS:
        now, then = now_cells[cell], then_cells[cell]
        print(f"| {cell[0]} | {cell[1]} | {now['rps'] / then['rps']:.2f} "
              f"| {now['p50'] / then['p50']:.2f} |")
    now, then = now_cells[(1, 1)], then_cells[(1, 1)]
    regression = (now["p50"] > then["p50"] * 1.05 or min(
        now["rps"] / then["rps"], now_cells[(1, 8)]["rps"] / then_cells[(1, 8)]["rps"]) < 0.95)
    print(f"\ngoal, no single-row regression against {rev} (within 5%: p50 and req/s at 1 "
          f"connection, req/s at 8): {'NOT met' if regression else 'met'}")


def print_goals(results: dict, best: str) -> None:
    ours, peer = results[best], results[PEER]
    p50, rps8 = ours[(1, 1)]["p50"], ours[(1, 8)]["rps"]
    ratio8 = rps8 / peer[(1, 8)]["rps"]
    ratio100 = ours[(100, 8)]["rps"] / peer[(100, 8)]["rps"]
    print(f"\ngoals, {best}:")
    for text, met in ((f"single-row p50 at 1 connection {p50:.2f} ms (<= 1.0)", p50 <= 1.0),
                      (f"single-row req/s at 8 connections {rps8:.0f} (>= 1000)", rps8 >= 1000),
                      (f"single-row req/s at 8 connections {ratio8:.0f}x mlflow (>= 50x)",
                       ratio8 >= 50),
                      (f"100-row req/s at 8 connections {ratio100:.1f}x mlflow (>= 5x)",
                       ratio100 >= 5)):
        print(f"- {text}: {'met' if met else 'NOT met'}")


def main() -> None:
    from service_inprocess import in_process_us, print_in_process

    from housing.deployment.settings import Settings

    args = parse_args()
    # Same conditions for every server: the same workers, one OpenMP thread per worker.
    env = {**os.environ, "MLFLOW_TRACKING_URI": args.tracking_uri,
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "NML_DISABLE_USAGE_LOGGING": "1", "OMP_NUM_THREADS": "1"}
    require_wrk()
    os.environ["OMP_NUM_THREADS"] = "1"
    tree_cache = Path(args.tree_cache)
    print_in_process(in_process_us(args.tracking_uri, tree_cache, ROW), args, tree_cache)
    log_dir = Path(tempfile.mkdtemp(prefix="housing-bench-log-"))
    worktree = None
    if args.baseline_rev:
        worktree = Path(tempfile.mkdtemp(prefix="housing-baseline-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree),
                        args.baseline_rev], cwd=REPO_ROOT, check=True, capture_output=True)
    try:
        results = {name: measure(name, server, env, args.duration, log_dir) for name, server
                   in server_table(args, tree_cache, log_dir, worktree).items()}
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                           cwd=REPO_ROOT, check=False, capture_output=True)
    print_table(results)
    default = f"housing {Settings.model_fields['worker_class'].default}"
    if args.baseline_rev and default in results and f"housing @{args.baseline_rev}" in results:
        print_against_baseline(results, default, args.baseline_rev)
    best = default if default in results else next(iter(results))
    if PEER in results and best != PEER:
        print_goals(results, best)


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("service", "The prediction service against mlflow models serve"):
        main()
