"""The Kubernetes manifests (deploy/kubernetes/) against a named Kubernetes version's
schemas, strictly (an unknown field fails), and against the service they run: the
probes' paths, the port, the settings' names, the image's user."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

KUBERNETES = "1.33.0"
ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict:
    (found,) = [doc for doc in documents() if doc["kind"] == kind]
    return found


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_is_valid_for_the_named_kubernetes_version(doc):
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_a_misspelt_field_is_refused():
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    deployment = by_kind("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_deployment_matches_the_service_and_the_image():
    from housing.deployment.settings import Settings

    spec = by_kind("Deployment")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    dockerfile = (ROOT / "Dockerfile").read_text()
    port = int(re.search(r"HOUSING_BIND=0\.0\.0\.0:(\d+)", dockerfile)[1])
    assert container["ports"][0]["containerPort"] == port
    uid = int(re.search(r"useradd .*--uid (\d+)", dockerfile)[1])
    assert spec["securityContext"]["runAsUser"] == uid and spec["securityContext"]["runAsNonRoot"]
    # the workers' graceful drain (gunicorn.conf.py: graceful_timeout) fits the grace period
    graceful = int(re.search(r"^graceful_timeout = (\d+)", (ROOT / "gunicorn.conf.py")
                             .read_text(), re.M)[1])
    assert spec["terminationGracePeriodSeconds"] > graceful
    # every setting the ConfigMap gives is one the service reads
    fields = {f"HOUSING_{name.upper()}" for name in Settings.model_fields}
    config = by_kind("ConfigMap")["data"]
    unknown = [k for k in config if k.startswith("HOUSING_") and k not in fields]
    assert unknown == []
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]
               if not e["valueFrom"]["secretKeyRef"].get("optional")}
    assert secrets <= set(by_kind("Secret")["stringData"])


def test_the_pod_budget_and_the_autoscaler_select_the_deployment():
    labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    budget = by_kind("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget["minAvailable"] < by_kind("HorizontalPodAutoscaler")["spec"]["minReplicas"]
    assert by_kind("Service")["spec"]["selector"].items() <= labels.items()
