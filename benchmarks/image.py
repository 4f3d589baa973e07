"""The container image: its size, and the time from `podman run` to the first prediction
served on compiled trees, against the same image started with the tree cache off (the
baseline: no compile, the Pipeline's own predict), in the same run.

    python benchmarks/image.py [--workspace DIR]

DIR is a workspace where `make repro` registered the default model (its mlflow.db and
mlruns/, mounted read-only at the same path). The image is built first with podman on a
Debian base (housing.dev.image), as tests/integration/test_image.py builds it.
Goals: the first prediction after /ready is already on lleaves (no worker compiles or
swaps while it serves); the compiled start costs at most 3x the uncompiled one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from housing.dev.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
TAG = "localhost/housing:bench"
DISTRICT = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.984, "AveBedrms": 1.024,
            "Population": 322.0, "AveOccup": 2.556, "Latitude": 37.88, "Longitude": -122.23}
START_RATIO_GOAL = 3.0


def call(url: str, body=None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={
        "Content-Type": "application/json", "X-Housing-Traffic": "test"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def first_prediction(env: dict, workspace: Path, tree_cache: str) -> tuple[float, list[str]]:
    """Seconds from `podman run` to the first answered prediction, and the tree runtimes
    /model named just before it."""
    from housing.dev import image

    port, name = free_port(), f"housing-bench-{uuid.uuid4().hex[:8]}"
    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    started = time.monotonic()
    image.podman(["run", "-d", "--name", name, "--network", "host",
                  "-e", f"HOUSING_BIND=127.0.0.1:{port}", "-e", f"MLFLOW_TRACKING_URI={uri}",
                  "-e", "WEB_CONCURRENCY=2", "-e", f"HOUSING_TREE_CACHE={tree_cache}",
                  "-v", f"{workspace}:{workspace}:ro", TAG], env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = started + 900
        while True:
            try:
                call(f"{base}/ready")
                break
            except (urllib.error.HTTPError, OSError):
                if time.monotonic() > deadline:
                    logs = image.podman(["logs", name], env).stderr
                    raise RuntimeError(f"never ready: {logs[-2000:]}") from None
                time.sleep(0.2)
        trees = call(f"{base}/model")["runtime"]["trees"]
        call(f"{base}/predict", DISTRICT)
        return time.monotonic() - started, trees
    finally:
        image.podman(["rm", "-f", "-t", "30", name], env, check=False)


def main() -> None:
    from housing.dev import image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=ROOT)
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    if not (workspace / "mlflow.db").exists():
        sys.exit(f"error: {workspace}/mlflow.db is missing: run `make repro` there first")
    with tempfile.TemporaryDirectory(prefix="housing-image-") as tmp:
        env = image.podman_env(Path(tmp))
        built = time.monotonic()
        image.build(ROOT, TAG, env, Path(tmp), base=image.base_image(Path(tmp), env))
        build_s = time.monotonic() - built
        size = image.size_bytes(TAG, env)
        compiled_s, compiled = first_prediction(env, workspace, "/srv/housing/cache/trees")
        plain_s, plain = first_prediction(env, workspace, "off")
    print("| start | seconds to the first prediction | trees at /ready |")
    print("| --- | ---: | --- |")
    print(f"| image, trees compiled before fork | {compiled_s:.1f} | {'+'.join(compiled)} |")
    print(f"| baseline: tree cache off | {plain_s:.1f} | {'+'.join(plain) or 'none'} |")
    print(f"\nimage size {size / 1e9:.2f} GB (built in {build_s:.0f} s, base "
          f"{image.BASE_TAG})")
    ratio = compiled_s / plain_s
    print(f"compiled start / baseline start: {ratio:.2f}x")
    verdict = {True: "met", False: "NOT met"}
    print(f"goals: first prediction after /ready on lleaves "
          f"{verdict[bool(compiled) and all(t == 'lleaves' for t in compiled)]}; "
          f"compiled start <= {START_RATIO_GOAL}x baseline {verdict[ratio <= START_RATIO_GOAL]}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tables import written_to_docs

    with written_to_docs("image", "The service's container image"):
        main()
