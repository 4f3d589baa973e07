"""The server owns identity: request ids, record ids and batch names."""

from __future__ import annotations

import pandas as pd
import pytest

from housing.data import production
from tests.security.conftest import API_KEY, ROW, post


def test_an_oversized_or_odd_request_id_is_replaced(make_client, logged_lines):
    app, client = make_client()
    for sent in ("x" * 8192, "a b", "../../etc", "id\u00e9"):
        response = post(client, "/predict", [ROW] * 3, headers={"X-Request-ID": sent})
        assert response.status_code == 200
        echoed = response.headers["X-Request-ID"]
        assert echoed != sent and len(echoed) == 32 and response.get_json()["request_id"] == echoed
    lines = logged_lines(app)
    assert len(lines) == 12 and max(len(line["request_id"]) for line in lines) == 32


def test_a_plain_request_id_is_echoed_but_names_no_record(make_client, logged_lines):
    app, client = make_client()
    post(client, "/predict", [ROW, ROW], headers={"X-Request-ID": "trace-42"})
    [first, second] = logged_lines(app)
    assert first["request_id"] == second["request_id"] == "trace-42"
    assert first["record"] == second["record"] != "trace-42" and "batch" not in first


def test_a_client_cannot_claim_someone_elses_record_ids(make_client, logged_lines, tmp_path):
    """A simulator batch 'b1' is on disk with its labels; a client sends the old
    '<batch>@<offset>' request id: its rows get records of their own, not b1's."""
    app, client = make_client()
    post(client, "/predict", [ROW] * 4, headers={"X-Request-ID": "b1@0"})
    logged_lines(app)
    rows, _ = production.read_prediction_log(tmp_path / "log")
    assert len(rows) == 4 and not rows[production.RECORD_ID].str.startswith("b1/").any()
    assert rows[production.BATCH].str.startswith("service-").all()


def test_only_key_holders_name_a_batch(make_client, logged_lines, tmp_path):
    app, client = make_client(api_key=API_KEY)
    denied = post(client, "/predict", [ROW], headers={"X-Housing-Batch": "b1@0"})
    assert denied.status_code == 401  # no key at all
    client.set_cookie("housing_session", "forged")
    response = post(client, "/predict", [ROW, ROW],
                    headers={"X-Housing-Batch": "b1@10", "X-API-Key": API_KEY})
    assert response.status_code == 200
    logged_lines(app)
    rows, _ = production.read_prediction_log(tmp_path / "log")
    assert rows[production.RECORD_ID].tolist() == ["b1/10", "b1/11"]
    assert set(rows[production.BATCH]) == {"b1"}


def test_a_session_cookie_does_not_let_a_page_name_a_batch(make_client):
    _, client = make_client(api_key=API_KEY)
    client.post("/ui/login", data={"api_key": API_KEY}, headers={"Origin": "http://localhost"})
    response = post(client, "/predict", [ROW], headers={"X-Housing-Batch": "b1@0"})
    assert response.status_code == 403 and "API key" in response.get_json()["error"]


@pytest.mark.parametrize("claim", ["../accepted/x", "a/b", "", "." * 3, "x" * 65,
                                   "service-2026-12-01", "b1@-3", "b1@1e9", "b1@" + "9" * 12])
def test_a_bad_batch_claim_is_refused_with_its_reason(make_client, claim):
    _, client = make_client(api_key=API_KEY)
    response = post(client, "/predict", [ROW],
                    headers={"X-Housing-Batch": claim, "X-API-Key": API_KEY})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid X-Housing-Batch"
    assert len(response.get_data()) < 600


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "..", "", "x" * 65, "a\x00b"])
def test_batch_names_are_checked_before_they_name_a_file(name, tmp_path):
    with pytest.raises(ValueError, match="batch name"):
        production.check_batch_name(name)
    with pytest.raises(ValueError, match="batch name"):
        production.accepted_rows([{"batch": name, "md5": "0"}], tmp_path)


def test_a_logged_line_with_a_bad_batch_is_skipped(tmp_path):
    good = {"request_id": "r", "row": 0, "timestamp": "2026-12-01T00:00:00", "batch": "ok",
            "offset": 0, **ROW}
    bad = {**good, "batch": "../x"}
    pd.DataFrame([good, bad]).to_json(tmp_path / "predictions-h-1.jsonl", orient="records",
                                      lines=True)
    rows, _ = production.read_prediction_log(tmp_path)
    assert rows[production.RECORD_ID].tolist() == ["ok/0"]


def test_test_traffic_is_logged_and_left_out_of_monitoring(make_client, logged_lines,
                                                           tmp_path):
    app, client = make_client()
    post(client, "/predict", [ROW] * 2, headers={"X-Housing-Traffic": "test"})
    post(client, "/predict", [ROW] * 3, headers={"X-Housing-Traffic": "production"})
    post(client, "/predict", [ROW])
    bad = post(client, "/predict", [ROW], headers={"X-Housing-Traffic": "staging"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid X-Housing-Traffic"
    lines = logged_lines(app)
    assert [line.get("traffic") for line in lines] == ["test"] * 2 + [None] * 4
    assert len(production.read_prediction_log(tmp_path / "log")[0]) == 4
