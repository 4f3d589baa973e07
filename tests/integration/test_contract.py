"""The OpenAPI contract, fuzzed: schemathesis over HTTP against the real service (gunicorn
on a free loopback port, the real registered model, the prediction log on), with a fixed
seed, the API key off and on.

Every response must not be a 5xx and must match the document the server itself serves
(status code, content type, headers, body schema), and must come within the client's
timeout. Each operation gets up to EXAMPLES generated cases per key setting; the last
test checks that the runs generated over 1,000 cases in all.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

EXAMPLES = 120
GENERATED: dict[str, int] = {}
KEY = "contract-test-key"
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance)


@pytest.fixture(scope="module", params=["no-key", "key"])
def api(request, registered_store, tmp_path_factory, gunicorn_service):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{registered_store / 'mlflow.db'}",
           "HOUSING_MAX_BATCH": "200", "HOUSING_ACCESS_LOG": "off",
           "HOUSING_PREDICTION_LOG_DIR": str(tmp_path_factory.mktemp("contract-log"))}
    if request.param == "key":
        env["HOUSING_API_KEY"] = KEY
    with gunicorn_service(registered_store, env) as (base, _, _):
        yield request.param, schemathesis.openapi.from_url(f"{base}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(api):
    return api[1]


@schema.parametrize()
@seed(20261128)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_response_matches_the_document(case, api):
    mode = api[0]
    headers = {"X-API-Key": KEY} if mode == "key" else None
    response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=10)
    assert response.status_code < 500
    label = f"{mode} {case.operation.label}"
    GENERATED[label] = GENERATED.get(label, 0) + 1


def test_over_a_thousand_cases_across_every_operation():
    operations = {"GET /health", "GET /ready", "GET /model", "POST /predict",
                  "POST /invocations", "GET /metrics", "GET /v2", "GET /v2/health/ready",
                  "GET /v2/models/{name}", "POST /v2/models/{name}/infer",
                  "POST /v2/models/{name}/versions/{version}/infer"}
    for mode in ("no-key", "key"):
        assert {label.split(" ", 1)[1] for label in GENERATED
                if label.startswith(mode)} >= operations, GENERATED
    assert sum(GENERATED.values()) >= 1000, GENERATED
