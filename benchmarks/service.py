"""Benchmark the prediction service against `mlflow models serve` for the same version.

Both servers load `models:/california-housing@production` from the same registry (by
default the workspace's embedded store, so run `dvc repro` first). Each is loaded in
turn from a separate process on loopback: wrk when it is installed, a Python load
generator otherwise; single-row and 100-row requests at 1 and 8 connections. Prints
requests/s and p50/p99 latency for both, their ratio, and the in-process
`model.predict` time for one row (the floor). Machines are noisy: compare the ratios.

    python benchmarks/service.py [--duration 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ROW = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
       "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not become ready")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def body_for(rows: int) -> str:
    return json.dumps({"dataframe_records": [ROW] * rows})


def run_wrk(port: int, path: str, body: str, connections: int, duration: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(["wrk", "-t", str(min(connections, 2)), "-c", str(connections),
                          "-d", f"{duration}s", "--latency", "-s", script.name,
                          f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms("50%"), "p99": ms("99%"), "errors": int(errors.group(1)) if errors else 0}


def run_python(port: int, path: str, body: str, connections: int, duration: int) -> dict:
    """Keep-alive connections in threads; enough for 1-8 connections on loopback."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            mine.append((time.perf_counter() - start) * 1000)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {"rps": len(latencies) / duration, "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)], "errors": errors[0]}


def in_process_ms(tracking_uri: str) -> tuple[float, float]:
    """Median in-process time for one row: the Pipeline's own predict, and the compiled
    predictor the service uses (loaded exactly as the service loads it)."""
    import pandas as pd

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    from housing.deployment.model_store import load_version

    loaded = load_version("california-housing", "production")
    frame = pd.DataFrame([ROW])

    def median_ms(fn) -> float:
        for _ in range(20):
            fn(frame)
        times = []
        for _ in range(300):
            start = time.perf_counter()
            fn(frame)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    return median_ms(loaded.model.predict), median_ms(loaded.predict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    args = parser.parse_args()

    # Same conditions for both servers: the same workers, one OpenMP thread per worker.
    env = {**os.environ, "MLFLOW_TRACKING_URI": args.tracking_uri,
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "NML_DISABLE_USAGE_LOGGING": "1", "OMP_NUM_THREADS": "1"}
    load = run_wrk if shutil.which("wrk") else run_python
    os.environ["OMP_NUM_THREADS"] = "1"
    pipeline_ms, floor = in_process_ms(args.tracking_uri)
    print(f"load generator: {'wrk' if load is run_wrk else 'python threads'}; "
          f"{args.duration}s per cell; {args.workers} workers per server")
    print(f"in-process, 1 row: Pipeline.predict {pipeline_ms:.2f} ms; the service's compiled "
          f"predictor {floor:.2f} ms (the floor)")

    servers = {
        "housing (gunicorn)": (
            ["gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py"),
             "housing.deployment.app:create_app()"],
            {"WEB_CONCURRENCY": str(args.workers), "HOUSING_PREDICTION_LOG": "off",
             "HOUSING_ACCESS_LOG": "/dev/null", "HOUSING_LOG_LEVEL": "warning"}, "/ready"),
        # MLflow 3 refuses to deserialize any model (skops included) without this flag.
        "mlflow models serve": (
            ["mlflow", "models", "serve", "-m", "models:/california-housing@production",
             "--env-manager", "local", "-h", "127.0.0.1", "-w", str(args.workers)],
            {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}, "/ping"),
    }
    results: dict[str, dict] = {}
    for name, (cmd, extra, ready_path) in servers.items():
        port = free_port()
        full_cmd = cmd + (["-p", str(port)] if "mlflow" in cmd[0] else [])
        proc_env = {**env, **extra, "HOUSING_BIND": f"127.0.0.1:{port}"}
        proc = subprocess.Popen(full_cmd, env=proc_env, cwd=REPO_ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, ready_path, proc)
            for rows in (1, 100):
                for connections in (1, 8):
                    load(port, "/invocations", body_for(rows), connections, 1)  # warm-up
                    results[(name, rows, connections)] = load(
                        port, "/invocations", body_for(rows), connections, args.duration)
        finally:
            stop(proc)

    ours, theirs = servers
    print(f"\n| rows | conns | {ours} req/s | p50 ms | p99 ms | {theirs} req/s | p50 ms "
          f"| p99 ms | throughput ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in (1, 100):
        for connections in (1, 8):
            a, b = results[(ours, rows, connections)], results[(theirs, rows, connections)]
            print(f"| {rows} | {connections} | {a['rps']:.0f} | {a['p50']:.2f} | {a['p99']:.2f} "
                  f"| {b['rps']:.0f} | {b['p50']:.2f} | {b['p99']:.2f} "
                  f"| {a['rps'] / b['rps']:.1f}x |")
            for label, r in ((ours, a), (theirs, b)):
                if r["errors"]:
                    print(f"  ! {label}: {r['errors']} failed requests", file=sys.stderr)
    single = results[(ours, 1, 1)]
    print(f"\nsingle-row p50 at 1 connection / in-process compiled predict: "
          f"{single['p50'] / floor:.2f}x (goal: <= 2x); / Pipeline.predict: "
          f"{single['p50'] / pipeline_ms:.2f}x")
    print(f"single-row throughput at 8 connections vs mlflow models serve: "
          f"{results[(ours, 1, 8)]['rps'] / results[(theirs, 1, 8)]['rps']:.1f}x (goal: >= 10x)")


if __name__ == "__main__":
    main()
