"""Benchmark the service against the servers a team would pick instead, in one run.

Every server serves `models:/california-housing@production` from the same registry (the
workspace's embedded store by default: run `dvc repro` first) with the same number of
worker processes, and is loaded in turn by wrk from a separate process on loopback with
the same districts (1 and 100 rows) at 1, 8 and 32 connections:

- this service (gunicorn, default settings: validation and the prediction log on), on
  MLflow's `/invocations` protocol;
- `mlflow models serve` (`--env-manager local`), on `/invocations`;
- BentoML 1.4, a `@bentoml.service` whose API loads the same MLflow model, on
  `/invocations`;
- KServe's Python model server 0.21, a `kserve.Model` wrapping the same MLflow model, on
  its V1 `:predict` route.

Each peer is installed into a virtual environment of its own under ``--peers-dir`` (made
once, then reused), never into the project's: the environment sees the project's
packages beneath its own, and its installs are held to the project's versions of the
libraries the model needs (KServe requires pandas < 3, so it gets its own pandas). Each
server's answer is checked against the service's before it is measured. Prints req/s,
p50 and p99, and the service's ratio to each peer. Machines are noisy: compare ratios.

    python benchmarks/peers.py [--duration 10] [--workers 2] [--only kserve]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from service import REPO_ROOT, ROW, require_wrk, run_wrk, stop

from housing.dev.servers import free_port, wait_ready

MODEL_URI = "models:/california-housing@production"
MODEL_LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "lightgbm", "skops", "joblib",
                   "threadpoolctl", "pyarrow")
PEERS = {"bentoml": ("bentoml==1.4.40", ()), "kserve": ("kserve==0.21.0", ("pandas",))}
BIN = Path(sys.prefix) / "bin"  # the project's commands
CELLS = [(1, 1), (1, 8), (1, 32), (100, 1), (100, 8), (100, 32)]

BENTO_SERVICE = '''
import os

import bentoml
import mlflow.pyfunc
import pandas as pd


@bentoml.service(workers=int(os.environ["PEER_WORKERS"]))
class Housing:
    def __init__(self) -> None:
        self.model = mlflow.pyfunc.load_model(os.environ["PEER_MODEL_URI"])

    @bentoml.api(route="/invocations")
    def invocations(self, dataframe_records: list[dict]) -> dict:
        frame = pd.DataFrame(dataframe_records)
        return {"predictions": self.model.predict(frame).tolist()}
'''

KSERVE_SERVER = '''
import os

import kserve
import mlflow.pyfunc
import pandas as pd


class Housing(kserve.Model):
    def __init__(self) -> None:
        super().__init__("california-housing")
        self.model = None
        self.load()

    def load(self) -> bool:
        self.model = mlflow.pyfunc.load_model(os.environ["PEER_MODEL_URI"])
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        frame = pd.DataFrame(payload["instances"])
        return {"predictions": self.model.predict(frame).tolist()}


if __name__ == "__main__":
    kserve.ModelServer(http_port=int(os.environ["PEER_PORT"]), enable_grpc=False,
                       workers=int(os.environ["PEER_WORKERS"])).start([Housing()])
'''


def pins(names: tuple[str, ...]) -> list[str]:
    """The project's pins (requirements.txt) of ``names``."""
    wanted = {n.lower() for n in names}
    return [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line and line.split("==")[0].strip().lower() in wanted]


def peer_env(root: Path, name: str) -> Path:
    """The peer's own virtual environment (made once): its Python."""
    package, unpinned = PEERS[name]
    env = root / name
    python = env / "bin" / "python"
    stamp = env / f".installed-{package}"
    if stamp.exists():
        return python
    base_python = Path(sys.base_prefix) / "bin" / "python3"  # the project venv's interpreter
    subprocess.run([str(base_python), "-m", "venv", "--clear", str(env)], check=True)
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    # the project's packages beneath the peer's own, their .pth files (the editable
    # housing) included
    (next(env.glob("lib/python3*/site-packages")) / "project.pth").write_text(
        f"import site; site.addsitedir({str(site)!r})\n")
    constraints = env / "constraints.txt"
    constraints.write_text("\n".join(pins(tuple(n for n in MODEL_LIBRARIES
                                                if n not in unpinned))) + "\n")
    print(f"installing {package} into {env}")
    with open(env / "install.log", "w") as log:
        subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                        package, "-c", str(constraints)], check=True, stdout=log, stderr=log)
    stamp.touch()
    return python


def servers(args, envs: dict[str, Path], folder: Path) -> dict[str, dict]:
    """Each server's command, environment, readiness path, route and body."""
    records = lambda rows: json.dumps({"dataframe_records": [ROW] * rows})  # noqa: E731
    (folder / "bento_service.py").write_text(BENTO_SERVICE)
    (folder / "kserve_server.py").write_text(KSERVE_SERVER)
    log_dir = tempfile.mkdtemp(prefix="housing-peers-log-")
    found = {
        "housing": {"cmd": [str(BIN / "gunicorn"), "-c", str(REPO_ROOT / "gunicorn.conf.py"),
                            "housing.deployment.app:create_app()"],
                    "env": {"HOUSING_PREDICTION_LOG_DIR": log_dir,
                            "HOUSING_ACCESS_LOG": "/dev/null",
                            "HOUSING_TREE_CACHE": args.tree_cache},
                    "ready": "/ready", "route": "/invocations", "body": records},
        "mlflow models serve": {
            "cmd": [str(BIN / "mlflow"), "models", "serve", "-m", MODEL_URI, "--env-manager",
                    "local", "-h", "127.0.0.1", "-w", str(args.workers), "-p", "{port}"],
            "env": {}, "ready": "/ping", "route": "/invocations", "body": records},
    }
    if "bentoml" in envs:
        found["bentoml"] = {
            "cmd": [str(envs["bentoml"].parent / "bentoml"), "serve", "bento_service:Housing",
                    "--host", "127.0.0.1", "--port", "{port}"],
            "env": {"BENTOML_DO_NOT_TRACK": "true"}, "ready": "/readyz",
            "route": "/invocations", "body": records}
    if "kserve" in envs:
        found["kserve"] = {
            "cmd": [str(envs["kserve"]), "kserve_server.py"], "env": {},
            "ready": "/v1/models/california-housing",
            "route": "/v1/models/california-housing:predict",
            "body": lambda rows: json.dumps({"instances": [ROW] * rows})}
    return found


def answer(port: int, route: str, body: str) -> list[float]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{route}", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["predictions"]


def measure(name: str, server: dict, args, env: dict, folder: Path, reference: list | None
            ) -> tuple[dict, list[float]]:
    """Start one server, check its answer, load it with wrk in every cell, stop it."""
    port = free_port()
    cmd = [part.replace("{port}", str(port)) for part in server["cmd"]]
    proc_env = {**env, **server["env"], "HOUSING_BIND": f"127.0.0.1:{port}",
                "PEER_PORT": str(port)}
    log = open(folder / f"{name.split()[0]}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=proc_env, cwd=folder, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT)
    results = {}
    try:
        wait_ready(f"http://127.0.0.1:{port}{server['ready']}", proc, timeout=300)
        got = answer(port, server["route"], server["body"](1))
        if reference is not None:
            diff = abs(got[0] - reference[0])
            print(f"{name}: answers {got[0]:.9f}, {diff:.1e} from the service's")
            if diff > 1e-9:
                print(f"  ! {name} answers differently from the service", file=sys.stderr)
        for rows, connections in CELLS:
            body = server["body"](rows)
            run_wrk(port, server["route"], body, connections, 2)
            results[(rows, connections)] = run_wrk(port, server["route"], body, connections,
                                                   args.duration)
    finally:
        stop(proc)
        log.close()
    return results, got


def report(results: dict[str, dict]) -> None:
    names = list(results)
    print("\n| server | rows | conns | req/s | p50 ms | p99 ms | housing req/s / this |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        for cell in CELLS:
            r, ours = results[name][cell], results["housing"][cell]
            print(f"| {name} | {cell[0]} | {cell[1]} | {r['rps']:.0f} | {r['p50']:.2f} | "
                  f"{r['p99']:.2f} | {ours['rps'] / r['rps']:.1f}x |")
            if r["errors"]:
                print(f"  ! {name}: {r['errors']} failed requests", file=sys.stderr)
    ours = results["housing"]
    others = [n for n in names if n != "housing"]
    goals = [(f"single-row p50 at 1 connection {ours[(1, 1)]['p50']:.2f} ms (<= 1.0)",
              ours[(1, 1)]["p50"] <= 1.0)]
    if "mlflow models serve" in results:
        ratio = ours[(1, 8)]["rps"] / results["mlflow models serve"][(1, 8)]["rps"]
        goals.append((f"single-row req/s at 8 connections {ratio:.0f}x mlflow models serve "
                      "(>= 50x)", ratio >= 50))
    for connections in (1, 8):
        if others:
            best = max(others, key=lambda n: results[n][(1, connections)]["rps"])
            ratio = ours[(1, connections)]["rps"] / results[best][(1, connections)]["rps"]
            goals.append((f"single-row req/s at {connections} connection(s) {ratio:.1f}x the "
                          f"fastest peer, {best} (>= 5x)", ratio >= 5))
    print("\ngoals, housing with default settings:")
    for text, met in goals:
        print(f"- {text}: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO_ROOT / 'mlflow.db'}")
    parser.add_argument("--only", help="measure only the service and peers whose name "
                                       "contains this")
    parser.add_argument("--peers-dir", default=str(Path.home() / ".cache/housing/peers"),
                        help="the peers' virtual environments (made once, then reused)")
    parser.add_argument("--tree-cache", default=str(Path(tempfile.gettempdir())
                                                    / "housing-bench-trees"))
    args = parser.parse_args()
    require_wrk()
    wanted = [n for n in PEERS if not args.only or args.only in n]
    envs = {name: peer_env(Path(args.peers_dir), name) for name in wanted}
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}",  # mlflow's uvicorn
           "MLFLOW_TRACKING_URI": args.tracking_uri, "OMP_NUM_THREADS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true", "WEB_CONCURRENCY": str(args.workers),
           "PEER_WORKERS": str(args.workers), "PEER_MODEL_URI": MODEL_URI}
    folder = Path(tempfile.mkdtemp(prefix="housing-peers-"))
    print(f"wrk, {args.duration}s per cell after 2s of warm-up; {args.workers} worker "
          "processes per server; the same registered version; logs in " + str(folder))
    results, reference = {}, None
    for name, server in servers(args, envs, folder).items():
        if args.only and name != "housing" and args.only not in name:
            continue
        results[name], got = measure(name, server, args, env, folder, reference)
        reference = reference or got
    report(results)


if __name__ == "__main__":
    from tables import written_to_docs

    with written_to_docs("peers", "The service against mlflow models serve, BentoML and "
                                  "KServe"):
        main()
