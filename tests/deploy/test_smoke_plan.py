"""deploy/smoke.py's plan for the compose run (no I/O beyond reading deploy/): the smoke file is
deploy/compose.yaml changed only where host networking forces it, and the start order it
enacts (podman-compose on podman 4.3 cannot) is the file's depends_on. The run itself is
`bash deploy/smoke.sh`, a step of its own in .ci/run."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"


def smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_smoke", ROOT / "deploy" / "smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def derived(tmp_path: Path) -> dict[str, Any]:
    dest = tmp_path / "compose.yaml"
    args = argparse.Namespace(
        src=str(COMPOSE),
        dest=str(dest),
        port1=18001,
        port2=18002,
        nats_url="nats://127.0.0.1:4222",
        image="img",
    )
    assert smoke().derive_compose(args) == 0
    services: dict[str, Any] = yaml.safe_load(dest.read_text())["services"]
    return services


def test_start_order_follows_depends_on() -> None:
    """Servers first, then the schema job (must complete), the workers, and the APIs last."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    stages = smoke().start_order(services)
    where = {entry.split(":")[0]: n for n, stage in enumerate(stages) for entry in stage}
    wanted = dict(entry.split(":") for stage in stages for entry in stage)
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert where[dep] < where[name], (dep, name)
    assert wanted["schema"] == "service_completed_successfully"
    assert wanted["postgres"] == wanted["nats"] == "service_healthy"
    assert where["api"] > where["projector"]


def test_smoke_file_keeps_the_okr_roles_as_written(tmp_path: Path) -> None:
    """Only network_mode, ports, the relay's NATS URL and the API's port differ from compose.yaml."""
    original = yaml.safe_load(COMPOSE.read_text())["services"]
    services = derived(tmp_path)
    assert set(services) == set(original) | {"api-2"}
    for name in ("schema", "api", "projector", "relay"):
        mine, theirs = services[name], original[name]
        assert mine["network_mode"] == "host", name
        for key in ("command", "entrypoint", "read_only", "tmpfs", "cap_drop", "security_opt", "env_file"):
            assert mine.get(key) == theirs.get(key), (name, key)
        assert set(mine["depends_on"]) == set(theirs["depends_on"]), name
    assert services["relay"]["environment"]["OKR_NATS_URL"] == "nats://127.0.0.1:4222"
    one, two = services["api"], services["api-2"]
    assert (one["environment"]["OKR_PORT"], two["environment"]["OKR_PORT"]) == ("18001", "18002")
    assert "127.0.0.1:18002/readyz" in " ".join(two["healthcheck"]["test"])
    assert {k: v for k, v in one.items() if k not in ("environment", "healthcheck")} == {
        k: v for k, v in two.items() if k not in ("environment", "healthcheck")
    }
    assert "ports" not in one
