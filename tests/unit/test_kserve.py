"""The KServe InferenceService (deploy/kserve/): its predictor's pod fields against a named
Kubernetes version's Pod schema, strictly; its own fields against the names KServe's
v1beta1 API defines for an InferenceService and a predictor's component extension; and
its probes and port against the service's V2 routes and the image."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

KUBERNETES = "1.33.0"
ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kserve" / "inferenceservice.yaml"
# KServe v1beta1's ComponentExtensionSpec and PredictorSpec fields beyond the PodSpec (the
# model-format fields are left out: this predictor is a custom container).
PREDICTOR_FIELDS = {"minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
                    "scaleMetricType", "containerConcurrency", "timeout",
                    "canaryTrafficPercent", "logger", "batcher", "labels", "annotations",
                    "deploymentStrategy", "autoScaling"}
POD_FIELDS = {"containers", "volumes", "securityContext", "terminationGracePeriodSeconds",
              "automountServiceAccountToken", "serviceAccountName", "nodeSelector",
              "tolerations", "affinity", "imagePullSecrets", "initContainers",
              "priorityClassName"}


def service() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def as_pod(predictor: dict) -> dict:
    """The predictor's PodSpec part, as the Pod KServe would make of it."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"},
            "spec": {k: v for k, v in predictor.items() if k not in PREDICTOR_FIELDS}}


def test_the_inference_service_is_kserve_v1beta1():
    isvc = service()
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1",
                                                  "InferenceService")
    assert set(isvc) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(isvc["spec"]) == {"predictor"}
    assert set(isvc["spec"]["predictor"]) <= PREDICTOR_FIELDS | POD_FIELDS


def test_the_predictors_pod_is_valid_for_the_named_kubernetes_version():
    import kubernetes_validate

    kubernetes_validate.validate(as_pod(service()["spec"]["predictor"]), KUBERNETES,
                                 strict=True)


def test_a_misspelt_pod_field_is_refused():
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    predictor = service()["spec"]["predictor"]
    predictor["containers"][0]["readinessProbes"] = {}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(as_pod(predictor), KUBERNETES, strict=True)


def test_probes_and_port_are_the_services_v2_routes_and_the_images_port():
    from housing.deployment.app import create_app
    from housing.deployment.served_model import ModelHolder
    from housing.deployment.settings import Settings

    (container,) = service()["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    port = int(re.search(r"HOUSING_BIND=0\.0\.0\.0:(\d+)",
                         (ROOT / "Dockerfile").read_text())[1])
    assert container["ports"][0]["containerPort"] == port
    # a holder that never loads: the routes exist whatever is served
    routes = {r.rule for r in create_app(Settings(prediction_log=False, model_poll_seconds=0,
                                                  tree_cache=None, state_dir=None),
                                         ModelHolder("california-housing", "production")
                                         ).url_map.iter_rules()}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
        assert container[probe]["httpGet"]["port"] == port

