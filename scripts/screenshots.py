"""Screenshots of the dashboard's three pages for the README, from a real run.

Starts the real service (gunicorn, gunicorn.conf.py) in a workspace on a free loopback
port with a one-off API key, logs in through the page's form in Debian's headless
Chromium, and saves one full-page PNG per page:

    python scripts/screenshots.py --workspace . --out docs/screenshots

The workspace needs a production version in its MLflow store (`dvc repro`) and, for the
monitoring page, a monitor run over production batches (`housing simulate ...` then
`dvc repro` or `housing monitor`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (("card", "/"), ("predict", "/ui/predict?example=berkeley"),
         ("monitoring", "/ui/monitoring"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path.cwd())
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)

    from housing.dev.browser import chromium
    from housing.dev.servers import NotReady, free_port, wait_ready

    key, port = secrets.token_urlsafe(16), free_port()
    base = f"http://127.0.0.1:{port}"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as logs:
        env = {**os.environ, "HOUSING_BIND": f"127.0.0.1:{port}", "HOUSING_API_KEY": key,
               "HOUSING_PREDICTION_LOG_DIR": logs, "HOUSING_MODEL_POLL_SECONDS": "0",
               "WEB_CONCURRENCY": "2"}
        proc = subprocess.Popen(["gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                                 "housing.deployment.app:create_app()"],
                                cwd=args.workspace.resolve(), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            try:
                wait_ready(base + "/ready", proc, timeout=120)
            except NotReady as err:
                sys.exit(f"{err} (is there a production model?)")
            with chromium() as browser:
                page = browser.new_page()
                page.goto(base + "/ui/login")
                page.fill("#api_key", key)
                page.click("button[type=submit]")
                page.wait_for_url(base + "/")
                for name, path in PAGES:
                    page.goto(base + path)
                    if name == "predict":
                        page.click("#submit")
                        page.wait_for_selector("#result:not([hidden])")
                    target = args.out / f"{name}.png"
                    page.screenshot(path=target, full_page=True)
                    print(f"wrote {target}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
