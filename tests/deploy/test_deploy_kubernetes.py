"""deploy/kubernetes/: schema-valid manifests (offline, bundled schemas) with the security
settings, probes and wiring the service relies on."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import require_module

kv = require_module("kubernetes_validate")

# The newest bundled schema and an older release still common in clusters.
K8S_VERSIONS = ("1.37.0", "1.29.0")


def manifests(deploy_dir: Path) -> dict[str, dict[str, Any]]:
    """kind -> the (single) resource of that kind, from every manifest except kustomization."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((deploy_dir / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["kind"] not in found, f"two {doc['kind']} resources"
                found[doc["kind"]] = doc
    return found


@pytest.fixture(scope="module")
def resources(deploy_dir: Path) -> dict[str, dict[str, Any]]:
    return manifests(deploy_dir)


def _container(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = resources["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_match_kubernetes_schemas(
    resources: dict[str, dict[str, Any]], version: str
) -> None:
    """Every resource validates strictly (no unknown fields) against the Kubernetes schemas."""
    assert set(resources) == {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for resource in resources.values():
        kv.validate(resource, version, strict=True)


def test_strict_validation_catches_a_typo(resources: dict[str, dict[str, Any]]) -> None:
    """Control for the schema test: a misspelt field is rejected, so passing means something."""
    broken = copy.deepcopy(resources["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSIONS[0], strict=True)


def test_pod_security(resources: dict[str, dict[str, Any]]) -> None:
    """Non-root, read-only root, no capabilities or privilege escalation, seccomp RuntimeDefault."""
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    container = _container(resources)
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 1000
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    labels = resources["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_probes_and_port(resources: dict[str, dict[str, Any]]) -> None:
    """Liveness hits /healthz, readiness /readyz, both on the container's 8080 port."""
    container = _container(resources)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080}
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["httpGet"]["port"] == "http"


def test_resources_replicas_and_scaling(resources: dict[str, dict[str, Any]]) -> None:
    """Requests and limits are set; 2+ replicas; HPA (CPU) and PDB keep at least that."""
    limits = _container(resources)["resources"]
    assert {"cpu", "memory"} <= set(limits["requests"]) and {"cpu", "memory"} <= set(
        limits["limits"]
    )
    assert resources["Deployment"]["spec"]["replicas"] >= 2
    hpa = resources["HorizontalPodAutoscaler"]["spec"]
    assert resources["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    assert hpa["minReplicas"] >= 2
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["scaleTargetRef"]["name"] == resources["Deployment"]["metadata"]["name"]
    assert resources["PodDisruptionBudget"]["spec"]["minAvailable"] >= 1


def test_writable_dirs_are_emptydirs_and_config_is_mounted(
    resources: dict[str, dict[str, Any]],
) -> None:
    """/tmp, the metrics dir and the state dir are emptyDirs; the ConfigMap is mounted
    read-only."""
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in _container(resources)["volumeMounts"]}
    env = {item["name"]: item["value"] for item in _container(resources)["env"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"]
    assert "emptyDir" in volumes[mounts[metrics_dir]["name"]]
    # The settings snapshot survives container restarts within the pod (issue 17).
    assert "emptyDir" in volumes[mounts[env["STATE_DIRECTORY"]]["name"]]
    config = mounts["/etc/autoconf"]
    assert config["readOnly"] is True
    assert (
        volumes[config["name"]]["configMap"]["name"] == resources["ConfigMap"]["metadata"]["name"]
    )
    assert env["AUTOCONF_CONFIG"] == "/etc/autoconf/autoconf.toml"
    assert "autoconf.toml" in resources["ConfigMap"]["data"]


def test_service_ingress_wiring(resources: dict[str, dict[str, Any]]) -> None:
    """Service selects the pods; the Ingress serves both names with TLS and a 16k body cap."""
    deployment = resources["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = resources["Service"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    ingress = resources["Ingress"]
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == {"autoconfig.example.com", "autodiscover.example.com"}
    assert set(ingress["spec"]["tls"][0]["hosts"]) == hosts
    for rule in ingress["spec"]["rules"]:
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "16k"
    assert "nginx.ingress.kubernetes.io/limit-rps" in annotations


def test_network_policy_admits_ingress_and_dns_only(resources: dict[str, dict[str, Any]]) -> None:
    """Inbound only to 8080 from the ingress namespace; outbound only DNS (port 53)."""
    spec = resources["NetworkPolicy"]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert [port["port"] for rule in spec["ingress"] for port in rule["ports"]] == [8080]
    assert {port["port"] for rule in spec["egress"] for port in rule["ports"]} == {53}


def test_configmap_toml_is_a_valid_app_config(
    resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The TOML in the ConfigMap parses and is accepted by the app's own config loader."""
    text = resources["ConfigMap"]["data"]["autoconf.toml"]
    data = tomllib.loads(text)
    assert data["http"]["max_body_bytes"] == 16384
    config = pytest.importorskip("autoconf.config", reason="application package not importable")
    path = tmp_path / "autoconf.toml"
    path.write_text(text)
    settings = config.load_settings(path, environ={})
    assert "example.com" in settings.domains


def test_kustomization_lists_every_manifest(deploy_dir: Path) -> None:
    """kustomization.yaml includes every manifest file in the directory, and nothing missing."""
    directory = deploy_dir / "kubernetes"
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {path.name for path in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert kustomization["namespace"] == "autoconf"


def test_kustomize_build(deploy_dir: Path) -> None:
    """`kubectl kustomize` renders the set, and every rendered resource is schema-valid."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (optional; not a Debian package)")
    result = subprocess.run(
        [kubectl, "kustomize", str(deploy_dir / "kubernetes")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(docs) == 8
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "autoconf"
        kv.validate(doc, K8S_VERSIONS[0], strict=True)


#: What clients ask (paths as ingress-nginx matches them: decoded, "//" merged).
ROUTED = (
    "/mail/config-v1.1.xml",
    "/.well-known/autoconfig/mail/config-v1.1.xml",
    "/.well-known/caldav",
    "/.well-known/carddav",
    "/autodiscover/autodiscover.xml",
    "/Autodiscover/Autodiscover.xml",
    "/AUTODISCOVER/AUTODISCOVER.XML",
    "/autodiscover/autodiscover.json",
    "/Autodiscover/Autodiscover.json/v1.0/alice@example.com",
    "/mobileconfig",
    "/email.mobileconfig",
    "/",
)
#: For the kubelet and Prometheus only, which reach the pods directly.
NOT_ROUTED = ("/readyz", "/metrics", "/healthz", "/READYZ", "/Metrics", "/readyz/", "/metrics/x")


def test_ingress_routes_client_endpoints_only(resources: dict[str, dict[str, Any]]) -> None:
    """Issue 12 item 5: the Ingress no longer routes "/" by prefix. Its paths are regular
    expressions (use-regex), which ingress-nginx turns into case-insensitive locations
    anchored at the start of the path (``location ~* "^<path>"``); every client URL is
    routed, and /readyz, /metrics and /healthz are not, on both names."""
    ingress = resources["Ingress"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"] == "true"
    for rule in ingress["spec"]["rules"]:
        paths = rule["http"]["paths"]
        assert {p["pathType"] for p in paths} == {"ImplementationSpecific"}
        patterns = [re.compile("^" + p["path"], re.IGNORECASE) for p in paths]

        def routed(path: str, patterns: list[re.Pattern[str]] = patterns) -> bool:
            return any(pattern.search(path) for pattern in patterns)

        assert [path for path in ROUTED if not routed(path)] == [], rule["host"]
        assert [path for path in NOT_ROUTED if routed(path)] == [], rule["host"]
