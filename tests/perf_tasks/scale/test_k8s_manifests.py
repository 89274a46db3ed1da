"""deploy/k8s: the reference service's Deployment, Service and HPA parse and fit together (no
cluster here: the checks are structural, against the Kubernetes API shapes they use)."""
from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO

K8S = REPO / "deploy" / "k8s"


def _load(name: str) -> dict:
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    assert len(docs) == 1, f"{name}: expected one document"
    return docs[0]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    return {d["kind"]: d for d in (_load(n) for n in ("deployment.yaml", "service.yaml", "hpa.yaml"))}


def test_every_manifest_has_api_version_kind_and_name(manifests):
    assert set(manifests) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    versions = {"Deployment": "apps/v1", "Service": "v1", "HorizontalPodAutoscaler": "autoscaling/v2"}
    for kind, doc in manifests.items():
        assert doc["apiVersion"] == versions[kind]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_the_deployment_runs_the_service_with_probes_on_its_real_endpoints(manifests):
    dep = manifests["Deployment"]
    spec = dep["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (c,) = spec["template"]["spec"]["containers"]
    assert c["command"] == ["python", "-m", "trading_agent.service"]
    assert (REPO / "trading_agent" / "service" / "__main__.py").exists()
    args = c["args"]
    port = int(args[args.index("--port") + 1])
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["http"] == port
    app = (REPO / "trading_agent" / "service" / "app.py").read_text()
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        path = c[probe]["httpGet"]["path"]
        assert f'@app.get("{path}"' in app, f"{probe} path {path} is not a route of the service"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["resources"]["requests"]["cpu"], "the HPA's CPU utilisation target needs a CPU request"


def test_the_service_selects_the_pods_and_targets_the_named_port(manifests):
    svc, dep = manifests["Service"], manifests["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    (port,) = svc["spec"]["ports"]
    names = {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert port["targetPort"] in names


def test_the_hpa_scales_the_deployment_on_cpu_and_a_custom_metric(manifests):
    hpa, dep = manifests["HorizontalPodAutoscaler"], manifests["Deployment"]
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", dep["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    cpu = metrics["Resource"]["resource"]
    assert cpu["name"] == "cpu" and cpu["target"]["type"] == "Utilization"
    assert 0 < cpu["target"]["averageUtilization"] <= 100
    custom = metrics["Pods"]["pods"]
    assert custom["metric"]["name"] and custom["target"]["type"] == "AverageValue"
    assert float(custom["target"]["averageValue"]) > 0
