"""The dashboard in a real browser: Debian's headless Chromium (Playwright's library, the
system browser) against the real gunicorn on a free loopback port, a real MLflow store,
and a real monitor run (NannyML) over simulated production batches."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest

from housing.config import FEATURES
from housing.dev.browser import chromium_path

pytestmark = pytest.mark.slow

API_KEY = "dashboard-test-key"


def api(base: str, path: str, body=None) -> tuple[int, dict]:
    req = urllib.request.Request(
        base + path, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def browser_path() -> str:
    path = chromium_path()
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def monitored_workspace(tmp_path_factory, register_small_model, housing_frame, repo_root,
                        store_in):
    """A registered production version, two simulated batches (one i.i.d., one drifted)
    and the real monitor stage's report on them."""
    from housing.data.split import split_dataset
    from housing.dev.workspace import run
    from housing.io import write_parquet

    workspace = tmp_path_factory.mktemp("dashboard")
    with store_in(workspace) as uri:
        register_small_model(workspace, max_iter=40)
    shutil.copy(repo_root / "params.yaml", workspace / "params.yaml")
    stream = split_dataset(housing_frame, stream_fraction=0.1, seed=0).stream
    write_parquet(stream, workspace / "stream.parquet")
    env = {"MLFLOW_TRACKING_URI": uri}
    for scenario, seed in (("none", 1), ("geo_inland", 2)):
        run(["housing", "simulate", "--scenario", scenario, "--rows", "600", "--seed",
             str(seed), "--labels", "--stream", "stream.parquet"], workspace, env=env)
    run(["housing", "monitor"], workspace, env=env)
    return workspace, uri


@pytest.fixture(scope="module")
def service(monitored_workspace, tmp_path_factory, gunicorn_service, browser_path):
    workspace, uri = monitored_workspace
    logs = tmp_path_factory.mktemp("dashboard-logs")
    with gunicorn_service(workspace, {"MLFLOW_TRACKING_URI": uri, "HOUSING_API_KEY": API_KEY,
                                      "HOUSING_PREDICTION_LOG_DIR": str(logs)}) as (base, _, _):
        yield base, workspace


class Console:
    """Every console message and uncaught page error of a page."""

    def __init__(self, page):
        self.messages: list[tuple[str, str]] = []
        page.on("console", lambda m: self.messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e))))

    def errors(self) -> list[str]:
        found = [text for kind, text in self.messages if kind in {"error", "pageerror"}]
        self.messages.clear()
        return found


def login(page, base: str, console: Console) -> None:
    page.goto(base + "/ui/monitoring")
    assert page.url.startswith(base + "/ui/login?next=")
    page.fill("#api_key", "not-the-key")
    page.press("#api_key", "Enter")
    page.wait_for_load_state()
    assert page.inner_text("#api_key-error") == "wrong API key"
    # the browser reports the 401 document as a failed load; nothing else may appear
    assert all("status of 401" in e for e in console.errors())
    page.fill("#api_key", API_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/ui/monitoring")


PAGES = ("/", "/ui/monitoring", "/ui/predict", "/ui/predict?example=fresno",
         "/ui/predict?example=berkeley", "/ui/login", "/model", "/openapi.json", "/health",
         "/ready")


def key_free_fetches(browser, page, base: str) -> set[str]:
    """Fetch every page and JSON answer in PAGES with the session's cookie, and every
    script, style sheet and image those pages link; assert none holds the key. Returns
    what was fetched."""
    fetched, queue = set(), list(PAGES)
    while queue:
        url = queue.pop()
        if url in fetched:
            continue
        fetched.add(url)
        response = browser.request.get(base + url)
        assert response.status == 200, url
        assert API_KEY not in response.text(), url
        if "text/html" in response.headers.get("content-type", ""):
            page.goto(base + url)
            for selector, attribute in (("script[src]", "src"), ("link[href]", "href"),
                                        ("img[src]", "src")):
                for element in page.locator(selector).all():
                    link = element.get_attribute(attribute)
                    if link.startswith("/"):
                        queue.append(link)
    return fetched


def test_pages_in_chromium(service, browser_path, tmp_path):
    from housing.dev.browser import chromium

    base, workspace = service
    report = json.loads((workspace / "reports/monitoring/latest.json").read_text())
    with chromium(browser_path) as browser:
        page = browser.new_page()
        console = Console(page)
        login(page, base, console)
        cookie = next(c for c in browser.cookies() if c["name"] == "housing_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert API_KEY not in page.content()

        # Monitoring: the verdict, every batch against its threshold, the map.
        assert page.is_visible("#verdict")
        verdict = page.inner_text("#verdict")
        assert ("Verdict: retrain" in verdict) == report["retrain"]
        for reason in report["reasons"]:
            assert reason in verdict
        rows = page.locator("#batches tbody tr")
        assert rows.count() == len(report["batches"]) == 2
        assert page.locator("figure.drift svg").count() == 2
        drifted = page.locator("figure.drift svg rect.bar.alert").count()
        assert drifted == sum(1 for b in report["batches"].values()
                              for v in b["ks"].values() if v > report["params"]["ks_threshold"])
        assert page.locator("#map svg circle.point").count() >= 600  # + the legend's dot
        page.screenshot(path=tmp_path / "monitoring.png", full_page=True)
        assert console.errors() == []

        # Model card.
        page.click("nav >> text=Model")
        page.wait_for_url(base + "/")
        status, model = api(base, "/model")
        assert status == 200
        assert page.inner_text("#model-version") == f"version {model['version']}"
        assert "production" in page.inner_text("#aliases")
        assert page.locator("#history tbody tr").count() >= 1
        assert "this version" in page.inner_text("#metrics")
        assert page.locator("#ranges tbody tr").count() == len(FEATURES)
        page.screenshot(path=tmp_path / "card.png", full_page=True)
        assert console.errors() == []

        # Predict: an example loaded with one click, answered as /predict answers.
        page.click("nav >> text=Predict")
        page.click("a[data-example=fresno]")
        page.wait_for_url("**example=fresno")
        district = {f: float(page.input_value(f"#f-{f}")) for f in FEATURES}
        page.focus("#f-Longitude")
        page.keyboard.press("Enter")  # the keyboard submits the form
        page.wait_for_selector("#result:not([hidden])")
        _, answer = api(base, "/predict", district)
        assert status == 200
        usd = answer["predictions"][0]["usd"]
        assert float(page.get_attribute("#usd", "data-usd")) == usd
        assert page.inner_text("#usd") == f"${usd:,.2f}"
        assert page.inner_text("#interval") == interval_text(answer)
        assert page.inner_text("#result-model").endswith(f"version {answer['model']['version']}")
        assert console.errors() == []

        # A row of its own, typed in, out of the training range.
        page.fill("#f-MedInc", "99")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "f-HouseAge"
        page.click("#submit")
        page.wait_for_selector("#result-flags:not(:empty)")  # no eval: the CSP forbids it
        status, answer = api(base, "/predict", {**district, "MedInc": 99.0})
        assert "MedInc" in answer["predictions"][0]["out_of_range"]
        assert page.inner_text("#usd") == f"${answer['predictions'][0]['usd']:,.2f}"
        assert "MedInc" in page.inner_text("#result-flags")

        # An invalid value: the API's own message beside the field it names.
        page.fill("#f-AveRooms", "many")
        page.click("#submit")
        page.wait_for_selector("#e-AveRooms:not(:empty)")
        status, error = api(base, "/predict", {**district, "AveRooms": "many"})
        assert status == 422
        assert page.inner_text("#e-AveRooms") == error["details"][0]["error"]
        assert page.get_attribute("#f-AveRooms", "aria-invalid") == "true"
        assert page.is_hidden("#result")
        page.screenshot(path=tmp_path / "predict.png", full_page=True)
        assert all("status of 422" in e for e in console.errors())

        # No page, asset or answer the session can fetch holds the key.
        fetched = key_free_fetches(browser, page, base)
        assert {"/ui/static/style.css", "/ui/static/predict.js"} <= fetched

        # Logging out ends the session: the pages ask for the key again.
        page.click("text=Log out")
        page.wait_for_url("**/ui/login")
        page.goto(base + "/")
        assert "/ui/login" in page.url
    assert (tmp_path / "monitoring.png").stat().st_size > 10_000


def interval_text(answer: dict) -> str:
    """The line under the value: the interval /predict answered, at its coverage."""
    one = answer["predictions"][0]
    assert one["lower_usd"] < one["usd"] < one["upper_usd"]
    return (f"{round(100 * answer['interval_coverage'])}% interval: "
            f"${one['lower_usd']:,.2f} to ${one['upper_usd']:,.2f}")


def test_pages_work_without_javascript(service, browser_path, tmp_path):
    from housing.dev.browser import chromium

    base, _ = service
    with chromium(browser_path, javascript=False) as browser:
        page = browser.new_page()
        console = Console(page)
        login(page, base, console)
        assert page.locator("#map svg").count() == 1
        page.goto(base + "/")
        assert page.locator("#metrics tbody tr").count() >= 2
        page.goto(base + "/ui/predict?example=berkeley")
        district = {f: float(page.input_value(f"#f-{f}")) for f in FEATURES}
        page.click("#submit")  # the form posts to /ui/predict: the server renders the answer
        page.wait_for_load_state()
        _, answer = api(base, "/predict", district)
        assert page.inner_text("#usd") == f"${answer['predictions'][0]['usd']:,.2f}"
        assert page.inner_text("#interval") == interval_text(answer)
        page.fill("#f-Latitude", "north")
        page.click("#submit")
        page.wait_for_load_state()
        _, error = api(base, "/predict", {**district, "Latitude": "north"})
        assert page.inner_text("#e-Latitude") == error["details"][0]["error"]
        page.screenshot(path=tmp_path / "predict-no-js.png", full_page=True)
        assert all("status of 422" in e for e in console.errors())
