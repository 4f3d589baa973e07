"""The README's service, walked after `make repro` on the runtime set alone: gunicorn with
gunicorn.conf.py on a free loopback port, /ready, then the README's own `curl` district on
/predict, which must come back from the production version with the value the pipeline's
model gives that row.

    python .ci/serve_check.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

READY_TIMEOUT_SECONDS = 180


def readme_district() -> dict:
    """The JSON body of the README's `curl ... /predict -d '...'` example."""
    match = re.search(r"/predict .*?-d '(\{.*?\})'", Path("README.md").read_text(), re.S)
    if match is None:
        raise SystemExit("README.md has no `curl .../predict -d '{...}'` example")
    return json.loads(match.group(1))


def pipeline_value(district: dict) -> float:
    """What the pipeline's own model (models/model.joblib, the registered version) says."""
    import joblib
    import pandas as pd

    return float(joblib.load("models/model.joblib").predict(pd.DataFrame([district]))[0])


def main() -> int:
    from housing.dev.servers import NotReady, free_port, wait_ready

    district, port = readme_district(), free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="serve-check-") as tmp:
        env = {**os.environ, "HOUSING_BIND": f"127.0.0.1:{port}",
               "HOUSING_TREE_CACHE": tmp, "HOUSING_PREDICTION_LOG": "off"}
        with open(Path(tmp) / "gunicorn.log", "w") as log:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                 "housing.deployment.app:create_app()"], env=env, stdout=log, stderr=log)
            try:
                try:
                    wait_ready(base + "/ready", proc, timeout=READY_TIMEOUT_SECONDS)
                except NotReady as err:
                    raise SystemExit(f"gunicorn: {err}") from err
                request = urllib.request.Request(
                    base + "/predict", data=json.dumps(district).encode(),
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as resp:
                    body = json.loads(resp.read())
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        served = body["predictions"][0]["value"]
    expected = pipeline_value(district)
    print(f"served {served:.6f} (100k USD) from {body['model']['name']} version "
          f"{body['model']['version']}; the pipeline's model says {expected:.6f}")
    return 0 if abs(served - expected) <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
