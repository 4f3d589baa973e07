"""The container image, built from the Dockerfile with podman and run as a real container
(real HTTP on the host's network): it becomes ready, answers as the Pipeline does, and
serves its first request on lleaves, the trees compiled before gunicorn forked.

The base is made from Debian's packages (housing.dev.image: no registry is reachable
here). Skips where podman or mmdebstrap is missing; CI installs both, and there a skip
fails (HOUSING_REQUIRE_SERVERS).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from housing.dev import image
from housing.dev.servers import free_port

pytestmark = pytest.mark.slow

TAG = "localhost/housing:test"


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory, repo_root):
    if missing := image.missing_tools():
        pytest.skip(f"{', '.join(missing)} not installed (Debian's podman, runc, mmdebstrap)")
    folder = tmp_path_factory.mktemp("image")
    env = image.podman_env(folder)
    base = image.base_image(folder, env)
    image.build(repo_root, TAG, env, folder, base=base)
    return env


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, {}


@pytest.fixture
def shared_store(register_small_model, store_in):
    """A registry the container's user (uid 10001) can open: SQLite and its artifacts in
    a folder of its own outside pytest's private (0700) tree, mounted at the same path."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="housing-image-"))
    try:
        with store_in(folder) as uri:
            register_small_model(folder, max_iter=30)
            for path in [folder, *folder.rglob("*")]:
                os.chmod(path, 0o777 if path.is_dir() else 0o666)
            yield folder, uri
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_image_serves_the_pipelines_answer_on_lleaves_from_the_first_request(
        podman_env, shared_store, district):
    from mlflow.tracking import MlflowClient

    from housing.deployment.predict.compiled import TOLERANCE

    registered_store, uri = shared_store
    port, name = free_port(), f"housing-test-{uuid.uuid4().hex[:8]}"
    image.podman(["run", "-d", "--name", name, "--network", "host",
                  "-e", f"HOUSING_BIND=127.0.0.1:{port}", "-e", f"MLFLOW_TRACKING_URI={uri}",
                  "-e", "WEB_CONCURRENCY=2", "-e", "HOUSING_MODEL_POLL_SECONDS=0",
                  "-v", f"{registered_store}:{registered_store}", TAG], podman_env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a hang guard: the trees compile first
        while True:
            try:
                if get(f"{base}/ready")[0] == 200:
                    break
            except OSError:
                pass
            state = image.podman(["inspect", name, "--format", "{{.State.Status}}"],
                                 podman_env).stdout.strip()
            logs = image.podman(["logs", name], podman_env).stderr
            assert state == "running", f"the container stopped: {logs[-3000:]}"
            assert time.monotonic() < deadline, f"never ready: {logs[-3000:]}"
            time.sleep(1)
        # before any prediction: the workers already serve on lleaves
        status, model = get(f"{base}/model")
        assert status == 200 and model["runtime"]["trees"] == ["lleaves"], model
        request = urllib.request.Request(f"{base}/predict", data=json.dumps(district).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            value = json.loads(response.read())["predictions"][0]["value"]
        import pandas as pd

        version = MlflowClient(uri).get_model_version_by_alias("california-housing",
                                                               "production").version
        from housing.registry.serialization import load_skops_model
        from housing.registry.store import download_model

        pipeline = load_skops_model(download_model("california-housing", version,
                                                   registered_store / f"pulled-{name}"))
        expected = float(pipeline.predict(pd.DataFrame([district]))[0])
        assert value == pytest.approx(expected, rel=0, abs=TOLERANCE)
        # the master compiled the trees before it forked the first worker
        logs = image.podman(["logs", name], podman_env).stderr
        warmed, booted = logs.find("before the workers start"), logs.find("Booting worker")
        assert -1 < warmed < booted, logs[-3000:]
        user = image.podman(["exec", name, "id", "-u"], podman_env).stdout.strip()
        assert user == "10001"
    finally:
        image.podman(["rm", "-f", "-t", "30", name], podman_env, check=False)
