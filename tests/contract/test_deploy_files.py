"""deploy/ is checked offline: hadolint, kubernetes-validate, the compose-spec schema, and the
wiring between the files (names, labels, probes, commands) that no schema can see.

No Docker engine or cluster runs in CI, so these checks are all the deploy files get here; the
tools come from the dev extra and a missing one fails the test.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from okr import cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
K8S_VERSIONS = ("1.30.0", "1.37.0")  # oldest and newest we claim; both ship inside kubernetes-validate


def tool(name: str) -> str:
    """The validator from the virtualenv running the tests (dev extra), else PATH; missing = failure."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def k8s_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in K8S_FILES:
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in k8s_documents() if doc["kind"] == kind}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


# --- Dockerfile ----------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """hadolint reports no finding at any level (style included) on deploy/Dockerfile."""
    result = run(tool("hadolint"), "--format", "json", "--failure-threshold", "style", str(DOCKERFILE))
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=2)
    assert result.returncode == 0, result.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter is live: an unpinned, root, shell-form Dockerfile gets the expected findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n")
    result = run(tool("hadolint"), "--format", "json", str(bad))
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3008", "DL3025"} <= codes
    assert result.returncode != 0


def test_every_hadolint_ignore_is_explained() -> None:
    """A `# hadolint ignore=` pragma must follow a comment line that says why."""
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore=", line):
            previous = lines[number - 1].strip() if number else ""
            assert previous.startswith("#"), f"line {number + 1}: explain the ignore in a comment above it"
            assert "hadolint" not in previous, f"line {number + 1}: the comment above must be a reason"


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_okr_entrypoint() -> None:
    """Builder + runtime stages, a numeric non-root USER, a /healthz HEALTHCHECK, `okr` as entrypoint."""
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert stages == ["builder", "runtime"]
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    uid = user[-1].split(":")[0]
    assert uid.isdigit()
    assert uid != "0"
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, flags=re.MULTILINE)
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT\s+(\[.*\])", text, flags=re.MULTILINE)[-1])
    assert entrypoint[-1] == "okr"
    assert json.loads(re.findall(r"^CMD\s+(\[.*\])", text, flags=re.MULTILINE)[-1]) == ["serve"]


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    """The Dockerfile-specific ignore file excludes everything but pyproject, README and services/."""
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), flags=re.MULTILINE))
    sources = {item.rstrip("/") for line in copied for item in line.split()}
    assert sources == {"pyproject.toml", "README.md", "services"}
    assert {f"!{s}" if s != "services" else "!services/" for s in sources} <= set(rules)


# --- Kubernetes ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_strictly(version: str) -> None:
    """Every deploy/k8s/*.yaml passes kubernetes-validate --strict (unknown fields rejected)."""
    assert K8S_FILES, "no manifests in deploy/k8s"
    result = run(tool("kubernetes-validate"), "--strict", "-k", version, *map(str, K8S_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(k8s_documents())


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The validator is live: a misspelt Deployment field fails strict validation."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((DEPLOY / "k8s" / "relay-deployment.yaml").read_text().replace("replicas:", "replica:"))
    result = run(tool("kubernetes-validate"), "--strict", "-k", K8S_VERSIONS[0], str(bad))
    assert result.returncode != 0
    assert "replica" in result.stdout + result.stderr


def test_kubernetes_objects_required_by_the_topology_exist() -> None:
    """API (Deployment, Service, HPA v2, PDB v1), projector and relay Deployments, ConfigMap, Secret."""
    kinds = {(doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) for doc in k8s_documents()}
    assert {
        ("apps/v1", "Deployment", "okr-api"),
        ("apps/v1", "Deployment", "okr-projector"),
        ("apps/v1", "Deployment", "okr-relay"),
        ("v1", "Service", "okr-api"),
        ("autoscaling/v2", "HorizontalPodAutoscaler", "okr-api"),
        ("policy/v1", "PodDisruptionBudget", "okr-api"),
        ("v1", "ConfigMap", "okr-config"),
        ("v1", "Secret", "okr-secrets"),
    } <= kinds


def pod_specs() -> dict[str, dict[str, Any]]:
    specs = {name: doc["spec"]["template"]["spec"] for name, doc in by_kind("Deployment").items()}
    specs.update({name: doc["spec"]["template"]["spec"] for name, doc in by_kind("Job").items()})
    return specs


def test_every_pod_runs_non_root_read_only_with_resources() -> None:
    """Pods: runAsNonRoot, non-zero uid; containers: requests, limits, read-only root, no capabilities."""
    for name, spec in pod_specs().items():
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] != 0, name
        for container in spec["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name


def test_every_pod_reads_the_config_map_and_secret_that_exist() -> None:
    """envFrom points at okr-config and okr-secrets, and both objects are in deploy/k8s/."""
    config_maps = set(by_kind("ConfigMap"))
    for name, spec in pod_specs().items():
        for container in spec["containers"]:
            sources = container["envFrom"]
            assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} <= config_maps, name
            assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} == {"okr-secrets"}, name
    assert {"OKR_DATABASE_URL", "OKR_JWT_SECRET"} <= set(by_kind("Secret")["okr-secrets"]["stringData"])


def test_api_probes_healthz_and_readyz_on_its_port() -> None:
    """The API's liveness probe is /healthz and its readiness probe /readyz, on the named http port."""
    (container,) = pod_specs()["okr-api"]["containers"]
    assert container["args"] == ["serve", "--no-projections"]
    assert {"name": "OKR_NATS_URL", "value": ""} in container["env"], "no second relay inside API pods"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = container["ports"]
    config = by_kind("ConfigMap")["okr-config"]["data"]
    assert (port["name"], port["containerPort"]) == ("http", int(config["OKR_PORT"]))
    assert config["OKR_HOST"] == "0.0.0.0"


def test_workers_run_their_commands_once() -> None:
    """okr-projector runs `okr project`, okr-relay `okr relay`: one replica each, Recreate strategy."""
    deployments = by_kind("Deployment")
    for name, command in (("okr-projector", "project"), ("okr-relay", "relay")):
        deployment = deployments[name]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [command]


def test_service_hpa_and_pdb_select_the_api_pods() -> None:
    """Service and PDB selectors match the API pod labels; the HPA scales the API Deployment, min 2."""
    api = by_kind("Deployment")["okr-api"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = by_kind("Service")["okr-api"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = by_kind("PodDisruptionBudget")["okr-api"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = by_kind("HorizontalPodAutoscaler")["okr-api"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "okr-api"}
    assert hpa["spec"]["minReplicas"] >= 2 > pdb["spec"]["minAvailable"]
    for name, other in by_kind("Deployment").items():
        if name != "okr-api":
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            assert not service["spec"]["selector"].items() <= other_labels.items(), name


# --- compose -------------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec() -> None:
    """check-jsonschema with the vendored compose-spec schema accepts deploy/compose.yaml."""
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_rejects_a_misspelt_key(tmp_path: Path) -> None:
    """The validator is live: a misspelt service key fails the compose-spec schema."""
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("depends_on:", "depend_on:", 1))
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad))
    assert result.returncode != 0
    assert "depend_on" in result.stdout + result.stderr


def test_compose_topology() -> None:
    """PostgreSQL, NATS (JetStream), two API replicas, projector, relay; okr roles wait for their servers."""
    services = compose()["services"]
    assert {"postgres", "nats", "api", "projector", "relay"} <= set(services)
    assert "--jetstream" in services["nats"]["command"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["api"]["command"] == ["serve", "--no-projections"]
    assert "OKR_NATS_URL" not in services["api"]["environment"], "no second relay inside the APIs"
    assert services["relay"]["environment"]["OKR_NATS_URL"] == "nats://nats:4222"
    assert services["projector"]["command"] == ["project"]
    assert services["relay"]["command"] == ["relay"]
    for name in ("postgres", "nats", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("api", "projector", "relay"):
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions.get("schema") == "service_completed_successfully", name
    assert services["schema"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["relay"]["depends_on"]["nats"]["condition"] == "service_healthy"


def test_compose_secrets_come_from_the_env_file() -> None:
    """Every okr role reads okr.env; the example lists the secrets; no filled-in okr.env is committed."""
    services = compose()["services"]
    for name in ("schema", "api", "projector", "relay"):
        assert services[name]["env_file"] == [{"path": "./okr.env", "required": True}], name
        assert "OKR_JWT_SECRET" not in services[name].get("environment", {}), name
        assert "OKR_DATABASE_URL" not in services[name].get("environment", {}), name
    example = (DEPLOY / "okr.env.example").read_text()
    for key in ("OKR_DATABASE_URL", "OKR_JWT_SECRET", "POSTGRES_PASSWORD"):
        assert re.search(rf"^{key}=", example, flags=re.MULTILINE), key
    assert re.search(r"^OKR_JWT_SECRET=$", example, flags=re.MULTILINE), "ship no usable secret"
    assert not (DEPLOY / "okr.env").exists() or "okr.env" in (ROOT / ".gitignore").read_text()


# --- both ----------------------------------------------------------------------------------


def test_deploy_files_only_run_okr_commands_that_exist() -> None:
    """Every okr command line in compose and k8s parses with the real `okr` CLI (commands and options)."""
    command_lines = [compose()["services"][name]["command"] for name in ("api", "projector", "relay")]
    for spec in pod_specs().values():
        command_lines += [c["args"] for c in spec["containers"] if "args" in c]
    parser = cli.build_parser()
    for args in command_lines:
        parser.parse_args(args)  # exits (SystemExit) on an unknown command or option
    assert {args[0] for args in command_lines} == {"serve", "project", "relay"}


def test_schema_bootstrap_snippet_creates_the_event_store(tmp_path: Path) -> None:
    """The one-shot schema command (compose and k8s Job, identical) creates the event and view tables."""
    snippets = [compose()["services"]["schema"]["entrypoint"][-1]]
    snippets += [c["command"][-1] for c in pod_specs()["okr-schema"]["containers"]]
    assert len(set(snippets)) == 1
    env = {"PATH": "/usr/bin:/bin", "OKR_ENVIRONMENT": "test", "OKR_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", snippets[0]], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    tables = set()
    for name in ("okr.sqlite3", "views.sqlite3"):
        with sqlite3.connect(tmp_path / name) as db:
            tables |= {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"stored_events", "proj_positions", "proj_objectives"} <= tables
