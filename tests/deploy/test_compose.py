"""deploy/compose/compose.yaml: valid Compose, every file it mounts present, configs that load.

Validated offline against the Compose specification's JSON Schema (vendored with its source
in tests/deploy/schemas/SOURCES.md). Prometheus' and Alertmanager's configs are checked by
promtool and amtool in the layout the containers see, built from the stack's own mounts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

COMPOSE = Path("deploy/compose/compose.yaml")
SCHEMA = json.loads(Path("tests/deploy/schemas/compose-spec.json").read_text())


def stack() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def bind_mounts(service: dict) -> list[tuple[Path, str]]:
    """(host path, container path) of each bind mount, host paths relative to the file."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        elif volume.get("type") == "bind":
            source, target = volume["source"], volume["target"]
        else:
            continue
        if source.startswith((".", "/")):  # else a named volume
            mounts.append(((COMPOSE.parent / source).resolve(), target))
    return mounts


def test_the_stack_is_valid_compose():
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(stack())
    ]
    assert errors == []


def test_the_schema_refuses_a_misspelt_key():
    # The schema is strict: a typo in the file would fail the test above, not pass silently.
    broken = stack()
    broken["services"]["worker-1"]["enviroment"] = {"X": "1"}
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(broken)


def test_every_mounted_file_and_build_input_exists():
    services = stack()["services"]
    for name, service in services.items():
        for source, _target in bind_mounts(service):
            assert source.exists(), f"{name} mounts {source}, which does not exist"
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_the_stack_has_kafka_two_workers_prometheus_alertmanager_and_grafana():
    services = stack()["services"]
    workers = [s for s in services.values() if "build" in s and "profiles" not in s]
    assert len(workers) == 2
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    for worker in workers:
        assert worker["environment"]["EDC_LATENCY_METRICS_HOST"] == "0.0.0.0"
    assert {"prometheus", "alertmanager", "grafana"} <= set(services)


def _container_view(service: dict, root: Path) -> None:
    """Lay the service's bind mounts out under root as the container sees them."""
    for source, target in bind_mounts(service):
        place = root / target.lstrip("/")
        place.parent.mkdir(parents=True, exist_ok=True)
        place.symlink_to(source, target_is_directory=source.is_dir())


@pytest.mark.integration
def test_prometheus_loads_the_projects_rules_and_scrapes_both_workers(tmp_path):
    services = stack()["services"]
    _container_view(services["prometheus"], tmp_path)
    config = tmp_path / "etc/prometheus/prometheus.yml"
    result = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load(config.read_text())["rule_files"]
    assert sorted(Path(r).name for r in rules) == sorted(
        p.name for p in Path("deploy/prometheus/rules").glob("*.yml")
    )
    targets = yaml.safe_load(config.read_text())["scrape_configs"][0]["static_configs"][0]
    workers = [n for n, s in services.items() if "build" in s and "profiles" not in s]
    assert sorted(targets["targets"]) == sorted(f"{w}:9464" for w in workers)


@pytest.mark.integration
def test_alertmanager_loads_the_projects_config(tmp_path):
    _container_view(stack()["services"]["alertmanager"], tmp_path)
    result = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "etc/alertmanager/alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_gets_the_datasource_every_dashboard_names():
    grafana = stack()["services"]["grafana"]
    mounts = dict((target, source) for source, target in bind_mounts(grafana))
    (datasource_file,) = [s for t, s in mounts.items() if "/datasources/" in t]
    (datasource,) = yaml.safe_load(datasource_file.read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(
        next(s for t, s in mounts.items() if "/provisioning/dashboards/" in t).read_text()
    )["providers"][0]
    dashboards = mounts[provider["options"]["path"]]
    files = sorted(dashboards.glob("*.json"))
    assert files
    for path in files:
        uids = {
            target["datasource"]["uid"]
            for panel in json.loads(path.read_text())["panels"]
            for target in panel.get("targets", [])
        }
        assert uids == {datasource["uid"]}, path.name
