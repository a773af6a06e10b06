"""deploy/kubernetes/: valid manifests, generated parts in step with their sources.

Core kinds are validated offline against the Kubernetes OpenAPI schemas shipped by
`kubernetes-validate`; ServiceMonitor and PrometheusRule against the CRD schemas of
prometheus-operator (vendored, source in tests/deploy/schemas/SOURCES.md).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.podman import STOP_TIMEOUT_S

K8S = Path("deploy/kubernetes")
SCHEMAS = Path("tests/deploy/schemas")
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "servicemonitor.crd-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): SCHEMAS / "prometheusrule.crd-v1.json",
}
KUBERNETES_VERSION = kubernetes_validate.latest_version()


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def documents() -> list[dict]:
    return [
        doc
        for name in kustomization()["resources"]
        for doc in yaml.safe_load_all((K8S / name).read_text())
        if doc
    ]


def one(kind: str) -> dict:
    (doc,) = [d for d in documents() if d["kind"] == kind]
    return doc


def test_generated_files_equal_what_their_sources_generate():
    stale = [str(path) for path, text in generator().outputs().items() if path.read_text() != text]
    assert stale == [], "run `make manifests` (deploy/kubernetes/generate.py)"


def test_a_changed_rule_source_is_caught_as_drift(tmp_path, monkeypatch):
    module = generator()
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in sorted(module.RULES.glob("*.yml")):
        (rules / path.name).write_text(path.read_text().replace("for: 2m", "for: 3m", 1))
    monkeypatch.setattr(module, "RULES", rules)
    assert module.main(["--check"]) == 1


def test_the_prometheus_rule_holds_every_group_of_the_sources_and_the_dashboards_are_verbatim():
    source_groups = [
        group
        for path in sorted(Path("deploy/prometheus/rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    assert one("PrometheusRule")["spec"]["groups"] == source_groups
    maps = [
        d
        for d in documents()
        if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    ]
    by_file = {name: text for m in maps for name, text in m["data"].items()}
    dashboards = sorted(Path("grafana/dashboards").glob("*.json"))
    assert sorted(by_file) == [p.name for p in dashboards]
    for path in dashboards:
        assert by_file[path.name] == path.read_text()
        json.loads(by_file[path.name])
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_the_kustomization_lists_every_manifest_and_only_existing_ones():
    listed = set(kustomization()["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(
    "doc",
    [d for d in documents() if (d["apiVersion"], d["kind"]) not in CRD_SCHEMAS],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_core_kinds_validate_against_the_kubernetes_openapi_schemas(doc):
    # strict: unknown fields (a misspelt key) are errors too.
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "doc",
    [d for d in documents() if (d["apiVersion"], d["kind"]) in CRD_SCHEMAS],
    ids=lambda d: d["kind"],
)
def test_operator_kinds_validate_against_their_crd_schemas(doc):
    schema = json.loads(CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])].read_text())
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(doc)
    ]
    assert errors == []


def test_the_crd_schema_refuses_a_malformed_scrape_interval():
    broken = one("ServiceMonitor")
    broken["spec"]["endpoints"][0]["interval"] = "15 seconds"
    schema = json.loads(CRD_SCHEMAS[("monitoring.coreos.com/v1", "ServiceMonitor")].read_text())
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_strict_validation_refuses_a_misspelt_field():
    broken = one("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_worker_pod_is_probed_hardened_and_outlives_its_shutdown():
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"requests", "limits"} <= set(worker["resources"])
    # The image test stops a worker within STOP_TIMEOUT_S; the pod allows more than that.
    assert pod["terminationGracePeriodSeconds"] > STOP_TIMEOUT_S
    # The image's user and working directory; the latter is where Faust writes.
    containerfile = Path("deploy/container/Containerfile").read_text()
    assert f"USER {pod['securityContext']['runAsUser']}:" in containerfile
    workdir = re.search(r"^WORKDIR (\S+)", containerfile.split("FROM ${BASE_IMAGE}\n")[-1], re.M)
    assert workdir is not None
    assert workdir.group(1) in {m["mountPath"] for m in worker["volumeMounts"]}


def test_the_metrics_port_is_the_same_everywhere_and_listens_on_all_interfaces():
    (port,) = one("Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"]
    config = next(d for d in documents() if d["metadata"]["name"] == "edc-latency-config")
    assert config["data"]["EDC_LATENCY_METRICS_HOST"] == "0.0.0.0"
    assert int(config["data"]["EDC_LATENCY_METRICS_PORT"]) == port["containerPort"]
    assert f"EXPOSE {port['containerPort']}" in Path("deploy/container/Containerfile").read_text()
    assert one("Service")["spec"]["ports"][0]["targetPort"] == port["name"]
    assert one("ServiceMonitor")["spec"]["endpoints"][0]["port"] == port["name"]
    (rule,) = one("NetworkPolicy")["spec"]["ingress"]
    assert rule["ports"] == [{"port": port["name"], "protocol": "TCP"}]


def test_only_prometheus_may_connect_and_sasl_credentials_come_from_a_secret():
    policy = one("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ((peer,),) = [rule["from"] for rule in policy["spec"]["ingress"]]
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    (worker,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in worker["env"]}
    for name in ("EDC_LATENCY_SASL_USERNAME", "EDC_LATENCY_SASL_PASSWORD"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
        assert "value" not in env[name]


def test_the_alerts_select_the_job_the_service_monitor_produces():
    # Prometheus Operator names the job after the Service; the rules select job="...".
    job = one("Service")["metadata"]["name"]
    exprs = [
        rule["expr"]
        for group in one("PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]
        if "job=" in rule["expr"]
    ]
    assert exprs
    for expr in exprs:
        assert set(re.findall(r'job="([^"]+)"', expr)) == {job}, expr
