"""What the shadow challenger costs: the service with every request shadowed against the
same service with shadowing off, in one run, and the memory a loaded challenger takes.

The challenger is a second registered version with the production version's own model
(MLflow's create_model_version on the same source, in a copy of the store), so it costs
what a challenger of the same size costs. Both servers run gunicorn.conf.py with the
prediction log on; they are measured in turn, twice (off, on, off, on), and each cell's
figure is the better of its two runs. wrk sends single-row /invocations requests.

    python benchmarks/shadow.py [--duration 10] [--tree-cache DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from service import body_for, require_wrk, run_wrk, stop
from service_memory import build_libraries, pss_kib, tree

from housing.dev.servers import free_port, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
NAME = "california-housing"


def store_with_challenger(tmp: Path) -> str:
    """A copy of the workspace's store whose challenger is the production model again."""
    shutil.copy(REPO_ROOT / "mlflow.db", tmp / "mlflow.db")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from housing.registry import store

    production = store.version_by_alias(NAME, "production")
    copy = store.client().create_model_version(NAME, production.source, production.run_id)
    store.set_alias(NAME, "challenger", copy.version)
    return uri


def serve(uri: str, share: str, tree_cache: Path, log_dir: Path, duration: int) -> dict:
    """Load at 1 and 8 connections, and the server's PSS, for one shadow share."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HOUSING_SHADOW_SHARE": share,
           "HOUSING_BIND": f"127.0.0.1:{port}", "HOUSING_PREDICTION_LOG_DIR": str(log_dir),
           "HOUSING_ACCESS_LOG": "/dev/null", "HOUSING_LOG_LEVEL": "warning",
           "HOUSING_MODEL_POLL_SECONDS": "0", "HOUSING_TREE_CACHE": str(tree_cache),
           "WEB_CONCURRENCY": "2", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(["gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py"),
                             "housing.deployment.app:create_app()"], env=env, cwd=REPO_ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=180)
        time.sleep(3)
        found = {"pss": sum(pss_kib(p) for p in tree(proc.pid)) / 1024}
        for connections in (1, 8):
            run_wrk(port, "/invocations", body_for(1), connections, 2)
            found[connections] = run_wrk(port, "/invocations", body_for(1), connections,
                                         duration)
        return found
    finally:
        stop(proc)


def shadowed_share(log_dir: Path) -> float:
    """The share of logged rows that carry a challenger prediction."""
    lines = [line for path in log_dir.glob("*.jsonl") for line in path.read_bytes().splitlines()]
    return sum(b'"challenger_prediction"' in line for line in lines) / max(len(lines), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--tree-cache", default=str(Path(tempfile.gettempdir())
                                                    / "housing-bench-trees"))
    args = parser.parse_args()
    require_wrk()
    tree_cache = Path(args.tree_cache)
    build_libraries(f"sqlite:///{REPO_ROOT / 'mlflow.db'}", tree_cache)
    runs: dict[str, list[dict]] = {"0": [], "1": []}
    with tempfile.TemporaryDirectory(prefix="housing-shadow-") as tmp:
        uri = store_with_challenger(Path(tmp))
        for round_ in range(2):
            for share in ("0", "1"):
                log_dir = Path(tmp) / f"log-{share}-{round_}"
                runs[share].append(serve(uri, share, tree_cache, log_dir, args.duration))
                runs[share][-1]["shadowed"] = shadowed_share(log_dir)
    best = {share: {"p50": min(r[1]["p50"] for r in found),
                    "rps1": max(r[1]["rps"] for r in found),
                    "rps8": max(r[8]["rps"] for r in found),
                    "pss": min(r["pss"] for r in found),
                    "shadowed": min(r["shadowed"] for r in found)}
            for share, found in runs.items()}
    off, on = best["0"], best["1"]
    print("single-row /invocations, gthread, 2 workers, prediction log on; the better of "
          "two runs each\n")
    print("| shadow | rows shadowed | p50 ms, 1 conn | req/s, 1 conn | req/s, 8 conns | "
          "PSS master + workers |\n|---|---:|---:|---:|---:|---:|")
    for label, b in (("off (HOUSING_SHADOW_SHARE=0)", off), ("on, every request", on)):
        print(f"| {label} | {b['shadowed']:.0%} | {b['p50']:.2f} | {b['rps1']:.0f} | "
              f"{b['rps8']:.0f} | {b['pss']:.0f} MiB |")
    ratios = {"p50 at 1 connection": on["p50"] / off["p50"],
              "req/s at 1 connection": off["rps1"] / on["rps1"],
              "req/s at 8 connections": off["rps8"] / on["rps8"]}
    print(f"\nchallenger loaded: {on['pss'] - off['pss']:+.0f} MiB PSS "
          f"({on['pss'] / off['pss']:.2f}x)")
    for what, ratio in ratios.items():
        print(f"goal, {what} with shadowing within 10% of without it ({ratio:.3f}x): "
              f"{'met' if ratio <= 1.10 else 'NOT met'}")


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("shadow", "What the shadow challenger costs"):
        main()
