"""Memory of the service: the model loaded once in the master (the default, a preloaded
app whose workers share its pages) vs once per worker.

Sums the proportional set size (PSS, shared pages split between the processes that
share them) of the gunicorn master and its workers once /ready answers and the trees
run on lleaves (the libraries are built first, in --tree-cache, as benchmarks/service.py
builds them). The per-worker baseline runs the same gunicorn.conf.py with
``preload_app = False``, from a config file written for the run.

    python benchmarks/service_memory.py [--workers 2] [--tree-cache DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from service import served_runtime  # the sibling script (benchmarks/ is on sys.path)

from housing.dev.servers import free_port, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
GOAL_MIB = 471


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def measure(preload: bool, workers: int, tracking_uri: str, tree_cache: Path
            ) -> tuple[float, int]:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "WEB_CONCURRENCY": str(workers),
           "HOUSING_BIND": f"127.0.0.1:{port}", "HOUSING_PREDICTION_LOG": "off",
           "HOUSING_MODEL_POLL_SECONDS": "0", "HOUSING_ACCESS_LOG": "/dev/null",
           "HOUSING_TREE_CACHE": str(tree_cache)}
    config = REPO_ROOT / "gunicorn.conf.py"
    if not preload:  # the service's settings, but each worker builds the app itself
        per_worker = tree_cache / "gunicorn-per-worker.conf.py"
        per_worker.write_text(f"exec(compile(open({str(config)!r}).read(), {str(config)!r}, "
                              f"'exec'))\npreload_app = False\n")
        config = per_worker
    cmd = ["gunicorn", "-c", str(config), "housing.deployment.app:create_app()"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=180)
        time.sleep(2)  # let every worker finish loading
        for _ in range(4 * workers):  # wrk-free check that the workers answer on lleaves
            if served_runtime(port) != "lleaves+lleaves":
                raise RuntimeError("a worker does not run the trees on lleaves")
        pids = tree(proc.pid)
        return sum(pss_kib(p) for p in pids) / 1024, len(pids) - 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def build_libraries(tracking_uri: str, tree_cache: Path) -> None:
    """The production version's lleaves libraries, built (or found) in ``tree_cache``."""
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    from housing.deployment.predict.prepare import build_libraries as build
    from housing.deployment.served_model import load_version
    from housing.models.gate import PRODUCTION
    from housing.registry.store import aliased_version

    loaded = load_version(
        "california-housing", aliased_version("california-housing", PRODUCTION))
    build(loaded.model[-1], tree_cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    parser.add_argument("--tree-cache", default=str(Path(tempfile.gettempdir())
                                                    / "housing-bench-trees"))
    args = parser.parse_args()
    build_libraries(args.tracking_uri, Path(args.tree_cache))
    preloaded, n = measure(True, args.workers, args.tracking_uri, Path(args.tree_cache))
    per_worker, _ = measure(False, args.workers, args.tracking_uri, Path(args.tree_cache))
    print(f"{n} workers; total PSS of master + workers")
    print(f"model loaded once in the master (default): {preloaded:7.1f} MiB   1.00x")
    print(f"model loaded in each worker:               {per_worker:7.1f} MiB   "
          f"{per_worker / preloaded:.2f}x")
    print(f"goal, master + {n} workers with the default settings {preloaded:.0f} MiB PSS "
          f"(<= {GOAL_MIB} MiB): {'met' if preloaded <= GOAL_MIB else 'NOT met'}")

if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("service_memory", "Memory of the service's workers"):
        main()
