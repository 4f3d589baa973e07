"""The Open Inference Protocol (V2) endpoints, with Flask's test client on a real MLflow
store's model: JSON and binary tensors, both input layouts, every class of bad request,
and answers equal to /predict's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from housing.config import FEATURES
from housing.deployment.app import create_app
from housing.deployment.oip import HEADER_LENGTH
from housing.deployment.served_model import ModelHolder
from housing.deployment.settings import Settings

ROWS = np.array([[8.3252, 41.0, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23],
                 [3.1, 20.0, 5.2, 1.1, 1500.0, 3.0, 34.05, -118.24]])
NAME = "california-housing"


@pytest.fixture(scope="module")
def holder(registered_store) -> ModelHolder:
    holder = ModelHolder(NAME, "production")
    assert holder.refresh()
    return holder


@pytest.fixture
def client(holder, tmp_path):
    settings = Settings(max_batch=50, max_body_bytes=20_000, model_poll_seconds=0,
                        prediction_log_dir=tmp_path / "log")
    return create_app(settings, holder).test_client()


def infer(client, body, path=f"/v2/models/{NAME}/infer", **kw):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


def matrix_request(rows=ROWS, datatype="FP64", nested=False):
    data = rows.tolist() if nested else rows.ravel().tolist()
    return {"inputs": [{"name": "districts", "shape": list(rows.shape),
                        "datatype": datatype, "data": data}]}


def expected(client, rows=ROWS, field="value"):
    answer = client.post("/predict", json=[dict(zip(FEATURES, r)) for r in rows.tolist()])
    return [p[field] for p in answer.get_json()["predictions"]]


def all_outputs(response) -> dict:
    """Every output by name: the predictions, then the interval's bounds."""
    body = response.get_json()
    assert [o["name"] for o in body["outputs"]] == ["predictions", "lower", "upper"]
    return {o["name"]: o for o in body["outputs"]}


def outputs(response):
    return all_outputs(response)["predictions"]


def test_server_and_health_endpoints(client, holder):
    assert client.get("/v2").get_json()["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get(f"/v2/models/{NAME}/ready").get_json() == {"name": NAME, "ready": True}
    version = holder.current.version
    assert client.get(f"/v2/models/{NAME}/versions/{version}/ready").status_code == 200


def test_metadata_names_the_served_version_and_tensors(client, holder):
    meta = client.get(f"/v2/models/{NAME}").get_json()
    assert meta["versions"] == [holder.current.version]
    assert meta["inputs"] == [{"name": "districts", "datatype": "FP64", "shape": [-1, 8]}]
    assert [o["name"] for o in meta["outputs"]] == ["predictions", "lower", "upper"]
    assert meta["parameters"]["columns"] == list(FEATURES)


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_json_infer_equals_predict(client, holder, nested, datatype):
    response = infer(client, {**matrix_request(nested=nested, datatype=datatype), "id": "r-1"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["model_name"] == NAME and body["model_version"] == holder.current.version
    assert body["id"] == "r-1"
    found = all_outputs(response)
    out = found["predictions"]
    assert out["shape"] == [2] and out["datatype"] == "FP64"
    # JSON numbers are read as sent, whatever the datatype (a binary FP32 tensor's values
    # are float32 by their bytes)
    assert out["data"] == expected(client, ROWS)
    for bound in ("lower", "upper"):
        assert found[bound]["data"] == expected(client, ROWS, bound)
    assert all(lo < v < hi for lo, v, hi in zip(found["lower"]["data"], out["data"],
                                                found["upper"]["data"]))


@pytest.mark.parametrize("names", [["predictions"], ["upper", "lower"]])
def test_only_the_outputs_asked_for_are_answered_in_their_order(client, names):
    response = infer(client, {**matrix_request(), "outputs": [{"name": n} for n in names]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [o["name"] for o in body["outputs"]] == names
    for output in body["outputs"]:
        field = "value" if output["name"] == "predictions" else output["name"]
        assert output["data"] == expected(client, field=field)


def test_one_tensor_per_feature(client):
    body = {"inputs": [{"name": f, "shape": [2, 1], "datatype": "FP64",
                        "data": ROWS[:, i].tolist()} for i, f in enumerate(FEATURES)][::-1]}
    assert outputs(infer(client, body))["data"] == expected(client)


def binary_request(rows=ROWS, binary_output=True, extra=b""):
    header = json.dumps({"inputs": [{"name": "districts", "shape": list(rows.shape),
                                     "datatype": "FP64",
                                     "parameters": {"binary_data_size": rows.nbytes}}],
                         "parameters": {"binary_data_output": binary_output}}).encode()
    return header + rows.astype("<f8").tobytes() + extra, str(len(header))


def test_binary_tensors_in_and_out(client):
    body, length = binary_request()
    response = client.post(f"/v2/models/{NAME}/infer", data=body,
                           headers={HEADER_LENGTH: length},
                           content_type="application/octet-stream")
    assert response.status_code == 200
    split = int(response.headers[HEADER_LENGTH])
    header = json.loads(response.data[:split])
    assert [o["parameters"] for o in header["outputs"]] == [{"binary_data_size": 16}] * 3
    values = np.frombuffer(response.data[split:], "<f8").reshape(3, 2)
    assert values.tolist() == [expected(client, field=f) for f in ("value", "lower", "upper")]


def problem(response):
    body = response.get_json()
    assert isinstance(body["error"], str)
    return response.status_code, body


@pytest.mark.parametrize("body,status,text", [
    ({"inputs": []}, 400, "inputs"),
    ({"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP64", "data": [0] * 8}]},
     400, "unknown inputs"),
    ({"inputs": [{"name": "districts", "shape": [1, 7], "datatype": "FP64",
                  "data": [0] * 7}]}, 400, "shape"),
    ({"inputs": [{"name": "districts", "shape": [1, 8], "datatype": "BYTES",
                  "data": [0] * 8}]}, 400, "datatype"),
    ({"inputs": [{"name": "districts", "shape": [2, 8], "datatype": "FP64",
                  "data": [0] * 8}]}, 400, "values"),
    ({"inputs": [{"name": "districts", "shape": [2, 8], "datatype": "FP64",
                  "data": [[0] * 9, [0] * 7]}]}, 400, "rows of 8"),
    ({"inputs": [{"name": "districts", "shape": [51, 8], "datatype": "FP64",
                  "data": [0] * 408}]}, 413, "batch"),
    ({"inputs": [{"name": "districts", "shape": [0, 8], "datatype": "FP64", "data": []}]},
     400, "empty"),
    ({**matrix_request(), "outputs": [{"name": "usd"}]}, 400, "output"),
    ({**matrix_request(), "id": 7}, 400, "id"),
    ([1, 2], 400, "object"),
])
def test_bad_requests_are_4xx_in_the_protocols_shape(client, body, status, text):
    got, answer = problem(infer(client, body))
    assert got == status and text in json.dumps(answer), answer


def test_bad_values_name_the_row_and_field(client):
    body = matrix_request()
    body["inputs"][0]["data"][9] = "high"
    got, answer = problem(infer(client, body))
    assert got == 422
    assert answer["details"][0] == {"input": "districts", "index": 1, "field": "HouseAge",
                                    "error": "expected a number, got str"}


def test_non_finite_binary_values_are_refused(client):
    rows = ROWS.copy()
    rows[0, 7] = np.inf
    body, length = binary_request(rows)
    got, answer = problem(client.post(f"/v2/models/{NAME}/infer", data=body,
                                      headers={HEADER_LENGTH: length}))
    assert got == 422 and answer["details"][0]["field"] == "Longitude"


@pytest.mark.parametrize("length,extra", [("0", b""), ("99999", b""), ("x", b""),
                                          ("\u00b2", b""), (" 12", b""), (None, b"\0" * 8)])
def test_bad_binary_framing(client, length, extra):
    body, good = binary_request(extra=extra)
    got, _ = problem(client.post(f"/v2/models/{NAME}/infer", data=body,
                                 headers={HEADER_LENGTH: length or good}))
    assert got == 400


def test_unknown_model_or_version_is_404(client):
    assert infer(client, matrix_request(), "/v2/models/other/infer").status_code == 404
    assert infer(client, matrix_request(),
                 f"/v2/models/{NAME}/versions/999/infer").status_code == 404
    assert client.get("/v2/models/other").status_code == 404


def test_infer_is_logged_and_test_traffic_marked(client, tmp_path):
    response = infer(client, matrix_request(), headers={"X-Housing-Traffic": "test"})
    assert response.status_code == 200
    client.application.extensions["housing"].log.close()
    lines = [json.loads(line) for path in (tmp_path / "log").glob("*.jsonl")
             for line in path.read_text().splitlines()]
    assert len(lines) == 2 and all(line["traffic"] == "test" for line in lines)
    assert [line["prediction"] for line in lines] == outputs(response)["data"]


def test_the_key_guards_infer_but_not_health(holder, tmp_path):
    settings = Settings(api_key="k" * 32, model_poll_seconds=0, prediction_log=False)
    client = create_app(settings, holder).test_client()
    assert client.get("/v2/health/ready").status_code == 200
    assert infer(client, matrix_request()).status_code == 401
    assert infer(client, matrix_request(), headers={"X-API-Key": "k" * 32}).status_code == 200
    bearer = {"Authorization": f"Bearer {'k' * 32}"}
    assert infer(client, matrix_request(), headers=bearer).status_code == 200


@pytest.fixture(scope="module")
def served(registered_store, gunicorn_service, tmp_path_factory):
    log = tmp_path_factory.mktemp("oip-log")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{registered_store / 'mlflow.db'}",
           "HOUSING_PREDICTION_LOG_DIR": str(log), "HOUSING_ACCESS_LOG": "off"}
    with gunicorn_service(registered_store, env) as (base, _, _):
        yield base


def predict_over_http(base, rows):
    import urllib.request

    request = urllib.request.Request(
        f"{base}/predict", data=json.dumps([dict(zip(FEATURES, r)) for r in rows.tolist()]
                                           ).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["predictions"]


@pytest.mark.slow
@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_calls_the_running_service(served, binary):
    """tritonclient's HTTP client, as a Triton or KServe user would call it, against
    gunicorn: health, metadata, and inference equal to /predict's."""
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(served.removeprefix("http://"), network_timeout=10)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready(NAME)
        meta = client.get_model_metadata(NAME)
        assert meta["inputs"][0]["name"] == "districts"
        tensor = triton.InferInput("districts", list(ROWS.shape), "FP64")
        tensor.set_data_from_numpy(ROWS, binary_data=binary)
        wanted = [triton.InferRequestedOutput(name, binary_data=binary)
                  for name in ("predictions", "lower", "upper")]
        result = client.infer(NAME, [tensor], outputs=wanted, request_id="triton-1",
                              headers={"X-Housing-Traffic": "test"})
        assert result.get_response()["id"] == "triton-1"
        answers = predict_over_http(served, ROWS)
        for name, field in (("predictions", "value"), ("lower", "lower"), ("upper", "upper")):
            assert result.as_numpy(name).tolist() == [a[field] for a in answers]
        assert client.infer(NAME, [tensor]).as_numpy("predictions").shape == (2,)
        with pytest.raises(InferenceServerException) as refused:
            client.infer("another-model", [tensor])
        assert refused.value.status() == "404" and "unknown model" in refused.value.message()
    finally:
        client.close()
