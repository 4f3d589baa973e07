"""Flask test-client tests of every endpoint and every class of bad input.

The model comes from a real MLflow store in a temporary folder (registered_store).
"""

from __future__ import annotations

import json

import pytest

from housing.config import FEATURES
from housing.deployment.app import create_app
from housing.deployment.served_model import ModelHolder
from housing.deployment.settings import Settings

ROW = {"MedInc": 8.3252, "HouseAge": 41.0, "AveRooms": 6.98, "AveBedrms": 1.02,
       "Population": 322.0, "AveOccup": 2.55, "Latitude": 37.88, "Longitude": -122.23}


@pytest.fixture(scope="module")
def holder(registered_store) -> ModelHolder:
    holder = ModelHolder("california-housing", "production")
    assert holder.refresh()
    return holder


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(max_batch=50, max_body_bytes=20_000, prediction_log_dir=tmp_path / "log",
                    model_poll_seconds=0)


@pytest.fixture
def app(holder, settings):
    return create_app(settings, holder)


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, path, body, **kw):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json()["model"]["version"] == "1"


def test_ready_is_503_without_a_model(settings):
    empty = ModelHolder("california-housing", "no-such-alias")
    empty.refresh()
    client = create_app(settings, empty).test_client()
    response = client.get("/ready")
    assert response.status_code == 503 and response.get_json()["reason"]
    assert post(client, "/predict", ROW).status_code == 503


def test_model_describes_version_metrics_and_schema(client):
    body = client.get("/model").get_json()
    assert body["name"] == "california-housing" and body["version"] == "1"
    assert "production" in body["aliases"] and body["run_id"]
    assert body["metrics"]["rmse"] > 0
    assert [f["name"] for f in body["features"]] == list(FEATURES)
    income = body["features"][0]["training_range"]
    assert income["min"] < income["max"]


def test_predict_one_and_many(client, holder):
    one = post(client, "/predict", ROW).get_json()
    assert one["model"] == {"name": "california-housing", "version": "1"}
    value = one["predictions"][0]["value"]
    assert one["predictions"][0]["usd"] == pytest.approx(value * 100_000, abs=0.01)
    many = post(client, "/predict", [ROW, {**ROW, "MedInc": 2.0}]).get_json()
    assert len(many["predictions"]) == 2 and many["predictions"][0]["value"] == value
    import pandas as pd

    expected = holder.current.model.predict(pd.DataFrame([ROW]))[0]
    assert value == pytest.approx(expected)


def test_predict_answers_the_interval_the_pipeline_gives(client, holder):
    import pandas as pd

    from housing.models.intervals import pipeline_interval

    rows = [ROW, {**ROW, "MedInc": 2.0, "Latitude": 34.05, "Longitude": -118.24}]
    body = post(client, "/predict", rows).get_json()
    assert body["interval_coverage"] == 0.9 == client.get("/model").get_json()[
        "interval_coverage"]
    point, lower, upper = pipeline_interval(holder.current.model, pd.DataFrame(rows))
    for answer, v, lo, hi in zip(body["predictions"], point, lower, upper):
        assert answer["value"] == pytest.approx(v, abs=1e-9)
        assert answer["lower"] < answer["value"] < answer["upper"]
        assert answer["lower"] == pytest.approx(lo, abs=1e-9)
        assert answer["upper"] == pytest.approx(hi, abs=1e-9)
        assert answer["lower_usd"] == round(answer["lower"] * 100_000, 2)
        assert answer["upper_usd"] == round(answer["upper"] * 100_000, 2)
    widths = [a["upper"] - a["lower"] for a in body["predictions"]]
    assert widths[0] != widths[1]  # each district its own width


def test_out_of_range_values_are_predicted_and_flagged(client):
    body = post(client, "/predict", {**ROW, "MedInc": 60.0}).get_json()
    assert body["predictions"][0]["out_of_range"] == ["MedInc"]
    assert "out_of_range" not in post(client, "/predict", ROW).get_json()["predictions"][0]


def test_invocations_formats_match_predict(client):
    rows = [ROW, {**ROW, "Latitude": 34.05, "Longitude": -118.24}]
    expected = [p["value"] for p in post(client, "/predict", rows).get_json()["predictions"]]
    payloads = [
        {"dataframe_split": {"columns": list(FEATURES),
                             "data": [[r[f] for f in FEATURES] for r in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": rows},
        {"inputs": {f: [r[f] for r in rows] for f in FEATURES}},
    ]
    for payload in payloads:
        response = post(client, "/invocations", payload)
        assert response.status_code == 200, (payload, response.get_json())
        assert response.get_json() == {"predictions": expected}


def test_prediction_log_records_each_row(app, client, settings):
    post(client, "/predict", [ROW, ROW], headers={"X-Request-ID": "req-42"})
    app.extensions["housing"].log.close()  # the writer thread drains its queue
    lines = [json.loads(line) for path in settings.prediction_log_dir.glob("*.jsonl")
             for line in path.read_text().splitlines()]
    mine = [line for line in lines if line["request_id"] == "req-42"]
    assert [line["row"] for line in mine] == [0, 1]
    assert mine[0]["model_version"] == "1" and mine[0]["MedInc"] == ROW["MedInc"]
    assert "prediction" in mine[0] and "timestamp" in mine[0]


def test_prediction_log_can_be_off(holder, tmp_path):
    client = create_app(Settings(prediction_log=False, model_poll_seconds=0), holder).test_client()
    assert post(client, "/predict", ROW).status_code == 200
    assert not list(tmp_path.rglob("*.jsonl"))


def details_of(response):
    body = response.get_json()
    assert set(body) == {"error", "details"}, body
    return body["details"]


@pytest.mark.parametrize(("body", "status", "field", "index"), [
    ({k: v for k, v in ROW.items() if k != "HouseAge"}, 422, "HouseAge", 0),
    ({**ROW, "Color": "blue"}, 422, "Color", 0),
    ({**ROW, "MedInc": "high"}, 422, "MedInc", 0),
    ({**ROW, "MedInc": True}, 422, "MedInc", 0),
    ({**ROW, "AveRooms": None}, 422, "AveRooms", 0),
    ([ROW, {**ROW, "Latitude": None}], 422, "Latitude", 1),
    ([ROW, "not an object"], 422, None, 1),
])
def test_bad_records_name_field_and_index(client, body, status, field, index):
    response = post(client, "/predict", body)
    assert response.status_code == status
    detail = details_of(response)[0]
    assert detail["index"] == index
    if field:
        assert detail["field"] == field


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_literals_are_not_json(client, literal):
    raw = json.dumps(ROW).replace("8.3252", literal)
    response = client.post("/predict", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert details_of(response)[0]["error"]


@pytest.mark.parametrize(("value", "problem"), [(1e309, "not valid JSON"),
                                                (2**60, "out of range")])
def test_numbers_beyond_double_precision_are_refused(client, value, problem):
    raw = json.dumps(ROW).replace("8.3252", str(int(value)) if isinstance(value, int)
                                  else "1e309")
    response = client.post("/predict", data=raw, content_type="application/json")
    assert response.status_code in (400, 422)
    assert problem in json.dumps(response.get_json())


@pytest.mark.parametrize("depth", [1_100, 100_000])
def test_deeply_nested_json_is_a_400(holder, depth):
    client = create_app(Settings(prediction_log=False, model_poll_seconds=0), holder).test_client()
    raw = "[" * depth + "]" * depth
    response = client.post("/predict", data=raw, content_type="application/json")
    assert response.status_code == 400 and details_of(response)


def test_not_json_and_wrong_content_type(client):
    response = client.post("/predict", data="{not json", content_type="application/json")
    assert response.status_code == 400 and details_of(response)
    response = client.post("/predict", data=json.dumps(ROW), content_type="text/plain")
    assert response.status_code == 415 and details_of(response)
    response = post(client, "/predict", 42)
    assert response.status_code == 400


def test_batch_limits_and_body_size(client):
    assert post(client, "/predict", []).status_code == 400
    response = post(client, "/predict", [ROW] * 51)
    assert response.status_code == 413 and "50" in details_of(response)[0]["error"]
    response = post(client, "/predict", [ROW] * 200)  # > 20,000 bytes
    assert response.status_code == 413 and details_of(response)


def test_invocations_bad_shapes(client):
    assert post(client, "/invocations", {"rows": [ROW]}).status_code == 400
    assert post(client, "/invocations", {"instances": [ROW], "inputs": [ROW]}).status_code == 400
    split = {"dataframe_split": {"columns": list(FEATURES), "data": [[1.0, 2.0]]}}
    response = post(client, "/invocations", split)
    assert response.status_code == 422 and details_of(response)[0]["index"] == 0


def test_api_key(holder):
    client = create_app(Settings(api_key="s3cret", prediction_log=False, model_poll_seconds=0),
                        holder).test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert post(client, "/predict", ROW).status_code == 401
    assert post(client, "/predict", ROW, headers={"X-API-Key": "wrong"}).status_code == 401
    assert post(client, "/predict", ROW, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert details_of(client.get("/model"))


def test_unknown_route_and_method_are_json(client):
    assert details_of(client.get("/nope")) and client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405
