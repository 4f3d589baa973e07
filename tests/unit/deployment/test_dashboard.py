"""The dashboard's pure parts and its access rules, through Flask's test client with no
model store (a holder that has loaded nothing)."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pandas as pd
import pytest

from housing.config import FEATURES, TARGET
from housing.deployment.auth import safe_next
from housing.deployment.dashboard import charts
from housing.deployment.dashboard import views as dashboard
from housing.deployment.settings import Settings

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def test_drift_bars_mark_features_above_the_threshold_and_escape_names():
    svg = parse(charts.drift_bars({"MedInc": 0.2, "<b>&x": 0.01}, 0.07,
                                  label="batch <script>"))
    bars = svg.findall(f"{SVG}rect")
    assert [b.get("class") for b in bars] == ["bar alert", "bar"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "<b>&x" in texts  # escaped in the markup, so it parses back as plain text
    assert svg.get("aria-label") == "batch <script>"
    assert float(bars[0].get("width")) > float(bars[1].get("width"))


def test_rmse_chart_flags_batches_above_the_bar():
    svg = parse(charts.rmse_chart([("a", 0.40, 0.41), ("b", 0.60, None)], 0.38, 0.456))
    circles = [c for c in svg.iter(f"{SVG}circle") if c.find(f"{SVG}title") is not None]
    assert [c.get("class") for c in circles] == ["estimated", "estimated alert"]
    squares = [r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(squares) == 1  # batch b has no labels, so no realized RMSE
    # higher RMSE sits higher on the chart
    assert float(circles[1].get("cy")) < float(circles[0].get("cy"))


def test_map_places_districts_inside_the_frame_and_subsamples():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(-124, -114.5, 3000), rng.uniform(32.6, 41.9, 3000)
    svg = parse(charts.california_map((lon, lat), (lon, lat), batch_name="b", max_points=500))
    width, height = float(svg.get("width")), float(svg.get("height"))
    points = [c for c in svg.iter(f"{SVG}circle") if c.get("class") == "point"][:-1]
    assert len(points) == 500
    xs = [float(c.get("cx")) for c in points]
    ys = [float(c.get("cy")) for c in points]
    assert min(xs) >= 0 and max(xs) <= width and min(ys) >= 0 and max(ys) <= height
    assert svg.find(f"{SVG}polygon").get("class") == "state"


def test_projection_keeps_north_up_and_west_left():
    x, y, _ = charts.project(np.array([-124.0, -115.0]), np.array([41.0, 33.0]), 400)
    assert x[0] < x[1] and y[0] < y[1]


def test_density_cells_count_points_per_cell():
    cells = charts.density_cells(np.array([-120.05, -120.01, -118.5]),
                                 np.array([35.01, 35.05, 34.0]))
    assert sorted(c for *_, c in cells) == [1, 2]


@pytest.mark.parametrize("value,expected", [(1.0, 1.0), (0.31, 0.5), (0.07, 0.1),
                                            (4.2, 5.0), (0.0, 1.0), (float("nan"), 1.0)])
def test_nice_max(value, expected):
    assert charts.nice_max(value) == pytest.approx(expected)


def test_form_payload_sends_numbers_and_leaves_the_rest_to_the_api():
    form = dict.fromkeys(FEATURES, "1") | {"MedInc": " 8.3 ", "HouseAge": "abc",
                                         "AveRooms": "", "Population": "inf"}
    payload = dashboard.form_payload(form)
    assert payload["MedInc"] == 8.3 and payload["HouseAge"] == "abc"
    assert payload["AveRooms"] is None and payload["Population"] == "inf"
    assert list(payload) == list(FEATURES)


def test_field_errors_split_by_field():
    fields, general = dashboard.field_errors([
        {"index": 0, "field": "MedInc", "error": "expected a number, got str"},
        {"index": 0, "field": "Bogus", "error": "unknown field"}, {"error": "other"}])
    assert fields == {"MedInc": "expected a number, got str"}
    assert general == ["unknown field", "other"]


@pytest.mark.parametrize("target,expected", [
    ("/ui/monitoring?batch=a", "/ui/monitoring?batch=a"), (None, "/"), ("", "/"),
    ("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil", "/"),
    ("javascript:alert(1)", "/"), ("/ui\r\nSet-Cookie: x=1", "/"), ("/ui\n", "/"),
    ("/ui/monitoring?batch=caf\u00e9", "/ui/monitoring?batch=caf\u00e9")])
def test_safe_next_stays_on_this_site(target, expected):
    assert safe_next(target) == expected


def test_monitoring_view_reads_the_report():
    report = {"params": {"ks_threshold": 0.07, "max_rmse_increase": 0.2},
              "reference_rmse": 0.4, "rmse_bar": 0.48, "retrain": True, "alert": True,
              "reasons": ["x"],
              "production_version": 3, "rows_analysed": 10, "accepted_batches": 1,
              "batches": {"b2": {"rows": 5, "estimated_rmse": 0.5, "realized_rmse": None,
                                 "drifted_features": ["Latitude"],
                                 "ks": dict.fromkeys(FEATURES, 0.01) | {"Latitude": 0.3}},
                          "b1": {"rows": 5, "estimated_rmse": 0.41, "realized_rmse": 0.42,
                                 "ks": dict.fromkeys(FEATURES, 0.01)}}}
    view = dashboard.monitoring_view(report)
    assert [b["name"] for b in view["batches"]] == ["b1", "b2"]
    assert view["batches"][1]["drifted"] == ["Latitude"] and view["batches"][0]["drifted"] == []
    assert view["bar"] == pytest.approx(0.48) and view["retrain"] is True
    assert view["rmse_chart"] is not None


def test_history_rows_newest_first_with_rollbacks():
    rows = dashboard.history_rows([
        {"at": "1", "event": "register", "version": 1, "aliases": ["production"], "rmse": 0.4},
        {"at": "2", "event": "rollback", "version": 1, "previous": 2, "reason": "bad"}])
    assert [r["at"] for r in rows] == ["2", "1"]
    assert rows[0]["what"] == "rollback: production 2 -> 1" and rows[0]["detail"] == "bad"
    assert rows[1]["what"] == "register version 1: production; RMSE 0.4000"
    assert rows[1]["detail"] == ""


def test_history_rows_name_an_unreadable_record_instead_of_failing():
    rows = dashboard.history_rows([{"at": "1", "event": "rollback", "version": 1}])
    assert rows[0]["what"] == "rollback: an unreadable record"


def test_metric_rows_put_the_model_first():
    rows = dashboard.metric_rows({"rmse": 0.38}, {"mean": {"rmse": 1.1}}, (("TabR", "0.39"),))
    assert [r["kind"] for r in rows] == ["model", "baseline", "anchor"]
    assert rows[0]["values"][0] == 0.38 and rows[2]["values"][0] == "0.39"


# ---------------------------------------------------------------- the app, no store

@pytest.fixture
def client_for(tmp_path):
    from housing.deployment.app import create_app
    from housing.deployment.served_model import ModelHolder

    def make(api_key=None):
        settings = Settings(api_key=api_key, prediction_log=False, model_poll_seconds=0,
                            workspace=tmp_path)
        app = create_app(settings, holder=ModelHolder("california-housing", "production"))
        client = app.test_client()
        client.environ_base["HTTP_ORIGIN"] = "http://localhost"  # the dashboard's own pages
        return client

    return make


def test_pages_without_a_key_render_with_a_strict_policy(client_for, tmp_path):
    client = client_for()
    card = client.get("/")
    assert card.status_code == 503 and b"No production model" in card.data
    csp = card.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "http" not in csp
    monitoring = client.get("/ui/monitoring")
    assert monitoring.status_code == 200 and b"No monitoring report yet" in monitoring.data
    form = client.get("/ui/predict?example=fresno")
    assert b'value="36.73"' in form.data and b'<label for="f-MedInc">' in form.data
    assert client.get("/ui/predict?example=nowhere").status_code == 404
    assert client.get("/ui/static/predict.js").status_code == 200


def test_the_no_script_form_shows_the_apis_error_beside_the_field(client_for):
    client = client_for()
    values = dict.fromkeys(FEATURES, "1") | {"MedInc": "abc"}
    page = client.post("/ui/predict", data=values)
    assert page.status_code == 422
    assert b'<p class="field-error" id="e-MedInc" data-field="MedInc">expected a number, got str' \
        in page.data


def test_a_key_guards_pages_and_the_login_sets_a_strict_cookie(client_for):
    client = client_for(api_key="k<&>\"ey")
    page = client.get("/ui/monitoring?batch=a")
    assert page.status_code == 303
    assert page.headers["Location"].startswith("/ui/login?next=")
    assert client.post("/predict", json={}).status_code == 401
    wrong = client.post("/ui/login", data={"api_key": "nope", "next": "/ui/monitoring"})
    assert wrong.status_code == 401 and b"wrong API key" in wrong.data
    ok = client.post("/ui/login", data={"api_key": "k<&>\"ey", "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["Location"] == "/"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    compressed, payload = value.startswith("."), value.lstrip(".").split(".")[0]
    signed = base64.urlsafe_b64decode(payload + "==")  # readable by its holder: only signed
    signed = zlib.decompress(signed) if compressed else signed
    # no part of the key, raw or JSON-escaped, begins there (a test for its last two
    # letters alone failed now and then: the session's random id may hold them)
    assert b'"auth"' in signed and b"k<&>" not in signed
    assert client.get("/ui/monitoring").status_code == 200
    # the session also authorises the API calls the form makes
    assert client.post("/predict", json=dict.fromkeys(FEATURES, 1)).status_code == 503
    # a wrong header still fails, session or not
    assert client.post("/predict", json={}, headers={"X-API-Key": "x"}).status_code == 401
    assert client.post("/ui/logout").status_code == 303
    assert client.get("/").status_code == 303


def test_a_cookie_from_another_key_is_refused(client_for):
    old = client_for(api_key="old-key")
    old.post("/ui/login", data={"api_key": "old-key"})
    cookie = old.get_cookie("housing_session")
    new = client_for(api_key="new-key")
    new.set_cookie("housing_session", cookie.value)
    assert new.get("/").status_code == 303


def test_the_monitoring_page_shows_the_skipped_log_lines(client_for, tmp_path):
    """The count the monitor wrote (latest.json), shown as it is; none, nothing shown."""
    from housing.config import MonitorPaths

    state = tmp_path / MonitorPaths().state
    state.parent.mkdir(parents=True)
    report = {"production_version": 1, "reasons": [], "rows_analysed": 0, "batches": {},
              "params": {}, "unreadable_log_lines": 7}
    state.write_text(json.dumps(report))
    page = client_for().get("/ui/monitoring")
    assert b'<span id="unreadable">7 unreadable prediction-log lines skipped</span>' in page.data
    state.write_text(json.dumps({**report, "unreadable_log_lines": 0}))
    assert b'id="unreadable"' not in client_for().get("/ui/monitoring").data


def test_the_monitoring_page_shows_the_live_evidence_the_monitor_wrote(client_for, tmp_path):
    from housing.config import MonitorPaths

    state = tmp_path / MonitorPaths().state
    state.parent.mkdir(parents=True)
    evidence = {"production_version": 1, "challenger_version": 2, "labelled_rows": 600,
                "production_rmse": 0.61, "challenger_rmse": 0.52, "difference": -0.09,
                "interval": [-0.12, -0.06], "confidence": 0.95, "verdict": "challenger better"}
    report = {"production_version": 1, "reasons": [], "rows_analysed": 0, "batches": {},
              "params": {}, "shadow": [evidence]}
    state.write_text(json.dumps(report))
    page = client_for().get("/ui/monitoring").data.decode()
    assert 'id="shadow"' in page and "version 2" in page and "0.5200" in page
    assert "[-0.1200, -0.0600]: challenger better" in page
    state.write_text(json.dumps({**report, "shadow": []}))
    assert 'id="shadow"' not in client_for().get("/ui/monitoring").data.decode()


def year_of_daily_batches(rows_per_day: int = 20) -> pd.DataFrame:
    """365 unlabelled service batches (as the prediction log names them), then one
    labelled batch from a file."""
    import datetime as dt

    from housing.data.production import BATCH, RECORD_ID

    rng = np.random.default_rng(0)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    frames = [pd.DataFrame({RECORD_ID: [f"{day}-{i}" for i in range(rows_per_day)],
                            **{f: rng.uniform(1, 2, rows_per_day) for f in FEATURES},
                            BATCH: f"service-{day}", TARGET: np.nan}) for day in days]
    labelled = frames[0].assign(**{BATCH: "2025-12", TARGET: 2.0,
                                   RECORD_ID: lambda f: "l" + f[RECORD_ID]})
    return pd.concat([*frames, labelled], ignore_index=True)


def test_a_year_of_daily_batches_keeps_the_page_bounded(client_for, tmp_path):
    """Unlabelled service batches are never accepted: the monitor judges and shows the
    newest 30 (plus every labelled or quarantined one) and counts the rest."""
    from housing.config import MonitorPaths
    from housing.data.production import BATCH
    from housing.monitoring.analysis import map_points, recent_batches

    year = year_of_daily_batches()
    kept, older = recent_batches(year, 30, quarantined={"service-2026-01-02"})
    names = sorted(set(kept[BATCH]))
    assert len(names) == 32 and {"2025-12", "service-2026-01-02"} <= set(names)
    assert names[-1] == "service-2026-12-31" and "service-2026-12-02" in names
    assert older == {"batches": 334, "rows": 334 * 20, "first": "service-2026-01-01",
                     "last": "service-2026-12-01"}
    assert len(kept) == 32 * 20
    state = tmp_path / MonitorPaths().state
    state.parent.mkdir(parents=True)
    detail = {"rows": 20, "labelled_rows": 0, "drifted_features": [], "estimated_rmse": 0.5,
              "realized_rmse": None, "outside_share": 0.0, "ks": {}, "map": []}
    report = {"production_version": 1, "reasons": [], "rows_analysed": len(kept),
              "params": {}, "reference_rmse": 0.5, "rmse_bar": 0.6, "older_batches": older,
              "batches": {b: {**detail, "map": map_points(kept[kept[BATCH] == b])}
                          for b in names}}
    state.write_text(json.dumps(report))
    page = client_for().get("/ui/monitoring")
    assert page.status_code == 200
    assert b'<span id="older">334 older unlabelled batches (6680 rows, service-2026-01-01' \
        in page.data
    assert b"service-2026-12-31" in page.data and b"service-2026-06-01" not in page.data
