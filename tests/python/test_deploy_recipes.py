"""Offline checks of the deploy/ recipes: compose, Kubernetes, nginx, Dockerfile.

No Docker engine or cluster is needed (nor available in CI): `docker-compose config` (v1.29.2
from PyPI, in .venv-compose) resolves and validates the compose file, `kubernetes-validate`
checks every manifest against the Kubernetes API schemas it ships, `nginx -t` parses the nginx
config, and the gateway's own `--check-config` validates the config.json each recipe runs. The
tools are required: a missing one fails these tests, it never skips them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from gateway_fixtures import REPO, _gateway_binary

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30"


def _tool(env: str, default: Path | str) -> str:
    path = os.environ.get(env) or str(default)
    resolved = shutil.which(path) or (path if Path(path).exists() else None)
    assert resolved, f"{path} not found: `make test` installs it (set {env} to point elsewhere)"
    return resolved


def _k8s_documents() -> dict[tuple[str, str], dict]:
    """Every manifest in deploy/k8s by (kind, name), kustomization.yaml aside."""
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found[(document["kind"], document["metadata"]["name"])] = document
    return found


# compose ----------------------------------------------------------------------------------------

def _compose(*args: str, file: Path = DEPLOY / "compose.yaml") -> subprocess.CompletedProcess:
    compose = _tool("DOCKER_COMPOSE_BIN", REPO / ".venv-compose" / "bin" / "docker-compose")
    return subprocess.run([compose, "-f", str(file), *args], capture_output=True, text=True, timeout=60)


def test_compose_file_is_valid_and_runs_redis_with_aof_three_replicas_and_nginx():
    checked = _compose("config", "-q")
    assert checked.returncode == 0, checked.stderr
    resolved = _compose("config")
    assert resolved.returncode == 0, resolved.stderr
    services = yaml.safe_load(resolved.stdout)["services"]
    assert set(services) == {"redis", "gateway-1", "gateway-2", "gateway-3", "nginx"}

    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "--appendfsync everysec" in redis_command
    assert _mounts(services["redis"])["/data"][0] == "redis-data"

    for name in ("gateway-1", "gateway-2", "gateway-3"):
        gateway = services[name]
        assert gateway["build"]["dockerfile"].endswith("deploy/Dockerfile")
        assert gateway["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "/ready" in " ".join(gateway["healthcheck"]["test"])
        # Longer than the drain (20 s) plus the 5 s before the forced stop.
        assert _seconds(gateway["stop_grace_period"]) >= 30
        source, read_only = _mounts(gateway)["/etc/gateway"]
        # The config's directory, not the file: a bind-mounted file keeps its old inode when an
        # editor replaces it, and hot reload would never see the edit.
        assert Path(source).resolve() == REPO and (REPO / "config.json").is_file()
        assert read_only

    nginx = services["nginx"]
    assert nginx["ports"][0]["target"] == 8080
    assert Path(_mounts(nginx)["/etc/nginx/nginx.conf"][0]).resolve() == DEPLOY / "nginx" / "nginx.conf"


def _mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """target -> (source, read-only), from the short (v1) or the long (v2) volume syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            found[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
        else:
            found[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    return found


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", value)
    assert match and value, value
    return int(match.group(1) or 0) * 60 + float(match.group(2) or 0)


def test_compose_validation_catches_a_broken_file():
    """The check above can fail: the same tool refuses a service with an unknown key."""
    broken = (DEPLOY / "compose.yaml").read_text().replace("  nginx:\n", "  nginx:\n    replicaz: 2\n")
    path = DEPLOY / "compose.broken-test.yaml"
    path.write_text(broken)
    try:
        result = _compose("config", "-q", file=path)
    finally:
        path.unlink()
    assert result.returncode != 0
    assert "replicaz" in result.stderr


# Kubernetes -------------------------------------------------------------------------------------

def _kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    assert tool.exists(), f"{tool} not found: `make test` installs kubernetes-validate into the venv"
    return subprocess.run([str(tool), "--strict", "--no-warn", "-k", KUBERNETES_VERSION, *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_every_kubernetes_manifest_is_valid_for_the_api():
    manifests = [p for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    result = _kubernetes_validate(*manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = result.stdout.count(" passed for resource ")
    assert passed == sum(len([d for d in yaml.safe_load_all(p.read_text()) if d]) for p in manifests), result.stdout

    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in manifests}, "kustomization.yaml lists every manifest, and only those"


def test_kubernetes_validation_catches_a_wrong_field(tmp_path):
    broken = tmp_path / "deployment.yaml"
    broken.write_text((K8S / "deployment.yaml").read_text().replace("replicas: 3", "replicas: three"))
    result = _kubernetes_validate(broken)
    assert result.returncode != 0
    assert "replicas" in result.stdout + result.stderr


def test_the_deployment_drains_probes_and_mounts_the_config_for_hot_reload():
    documents = _k8s_documents()
    deployment = documents[("Deployment", "llm-gateway")]
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["--config", "/etc/gateway/config.json", "--host", "0.0.0.0", "--port", "8080"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    # The ConfigMap is a directory mount: a subPath mount never receives updates.
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/gateway")
    assert "subPath" not in mount
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "llm-gateway-config"
    assert ("ConfigMap", "llm-gateway-config") in documents

    # The kubelet kills only after preStop + drain + the grace before the forced stop.
    config = json.loads(documents[("ConfigMap", "llm-gateway-config")]["data"]["config.json"])
    drain = config.get("server", {}).get("shutdown_drain_seconds", 20)
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain + 5

    # Keys come from the Secret through ${ENV_VAR} references; the Secret defines every one.
    secret = documents[("Secret", container["envFrom"][0]["secretRef"]["name"])]
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)\}", documents[("ConfigMap", "llm-gateway-config")]["data"]["config.json"]))
    assert referenced and referenced <= set(secret["stringData"])
    assert "REDIS_URL" in secret["stringData"]
    assert documents[("Service", "llm-gateway")]["spec"]["ports"][0]["targetPort"] == "http"
    assert documents[("PodDisruptionBudget", "llm-gateway")]["spec"]["minAvailable"] == 2


# The config.json each recipe runs ---------------------------------------------------------------

def _check_config(path: Path, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run([str(_gateway_binary()), "--config", str(path), "--check-config"],
                          capture_output=True, text=True, timeout=30, env={**clean, **env})


def test_the_configs_the_recipes_mount_are_valid(tmp_path):
    documents = _k8s_documents()
    configmap = tmp_path / "config.json"
    configmap.write_text(documents[("ConfigMap", "llm-gateway-config")]["data"]["config.json"])
    secrets = documents[("Secret", "llm-gateway-keys")]["stringData"]
    result = _check_config(configmap, secrets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid, hash" in result.stdout

    # The Secret is what resolves the references: without it the same file is refused.
    missing = _check_config(configmap, {})
    assert missing.returncode == 78
    assert "OPENROUTER_KEY_1" in missing.stdout + missing.stderr

    # compose mounts the repository's config.json.
    result = _check_config(REPO / "config.json", {"REDIS_URL": "redis://redis:6379/0"})
    assert result.returncode == 0, result.stdout + result.stderr


# nginx ------------------------------------------------------------------------------------------

def test_nginx_config_parses_and_keeps_streams_unbuffered(tmp_path):
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    for setting in ("proxy_buffering off;", "proxy_request_buffering off;", "proxy_http_version 1.1;",
                    'proxy_set_header Connection "";', "keepalive ", "proxy_read_timeout 600s;"):
        assert setting in text, setting
    # A POST that reached a replica is never sent to another one.
    directives = [l.split("#")[0].strip() for l in text.splitlines()]
    next_upstream = [d for d in directives if d.startswith("proxy_next_upstream ")]
    assert next_upstream == ["proxy_next_upstream error timeout;"]
    # nginx resolves upstream names when it loads: the compose names do not exist here.
    local = re.sub(r"server gateway-\d:8080", "server 127.0.0.1:8080", text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(local)
    nginx = _tool("NGINX_BIN", "/usr/sbin/nginx")
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf),
         "-g", f"pid {tmp_path}/nginx.pid;"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr

    # The launcher's template carries the same proxy settings.
    template = (DEPLOY / "local" / "nginx.conf.in").read_text()
    for line in [l.strip() for l in text.splitlines() if l.strip().startswith("proxy_")]:
        assert line in template, f"deploy/local/nginx.conf.in lacks: {line}"


# Dockerfile -------------------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    parser = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    instructions = parser.structure
    stages = [i for i in instructions if i["instruction"] == "FROM"]
    assert len(stages) == 2 and stages[0]["value"].startswith("swift:") and " AS build" in stages[0]["value"]
    final = instructions[instructions.index(stages[-1]):]
    user = [i["value"] for i in final if i["instruction"] == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert any(i["instruction"] == "HEALTHCHECK" and "/health" in i["value"] for i in final)
    assert any(i["instruction"] == "EXPOSE" and i["value"] == "8080" for i in final)
    assert any(i["instruction"] == "COPY" and "--from=build" in i["value"] for i in final)
    entry = json.loads(next(i["value"] for i in final if i["instruction"] == "ENTRYPOINT"))
    assert entry[0].endswith("/gateway") and entry[entry.index("--config") + 1] == "/etc/gateway/config.json"
    build = " ".join(i["value"] for i in instructions[:instructions.index(stages[-1])])
    assert "libhiredis-dev" in build and "swift build -c release" in build
    runtime = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert "libhiredis" in runtime and "ca-certificates" in runtime
    # The build context is the repository root; its ignore file sits next to the Dockerfile.
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".build" in ignored and ".git" in ignored
