"""docker-compose.yml, the Dockerfile and the Prometheus scrape configuration.

No Docker engine is needed: the files are parsed and checked against each
other and against the pinned broker version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from forecasting.checkpoint import BUNDLED_CHECKPOINT
from forecasting.datasets import bundled_dataset_path
from streams.broker import pinned_kafka_version
from streams.config import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
PROMETHEUS = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_kafka_image_is_the_pinned_version(services):
    image, _, tag = services["kafka"]["image"].partition(":")

    assert image == "apache/kafka"
    assert tag == pinned_kafka_version()


def test_worker_reaches_kafka_on_its_advertised_listener(services):
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    command = services["worker"]["command"]
    bootstrap = command[command.index("--bootstrap-servers") + 1]

    assert f"PLAINTEXT://{bootstrap}" in advertised.split(",")


def test_services_start_in_order(services):
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    topics_done = services["worker"]["depends_on"]["topics"]["condition"]
    assert topics_done == "service_completed_successfully"
    assert "ensure_topics" in " ".join(services["topics"]["command"])


@pytest.mark.parametrize("service", ["prometheus", "grafana"])
def test_mounts_are_existing_files(services, service):
    for volume in services[service]["volumes"]:
        source = volume.split(":")[0]
        assert (REPO_ROOT / source).exists(), source


def test_grafana_loads_the_dashboard_from_prometheus(services):
    grafana = REPO_ROOT / "deploy" / "grafana" / "provisioning"
    provider = yaml.safe_load((grafana / "dashboards" / "replenish.yml").read_text())
    source = yaml.safe_load((grafana / "datasources" / "prometheus.yml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    prometheus_port = services["prometheus"]["ports"][0].split(":")[-1]

    assert (
        provider["providers"][0]["options"]["path"]
        == mounts["./deploy/grafana/dashboards"]
    )
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert source["datasources"][0]["url"] == f"http://prometheus:{prometheus_port}"


def test_prometheus_scrapes_the_worker_and_loads_the_rules(services):
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    discovery = jobs["replenish-worker"]["dns_sd_configs"][0]
    worker_ports = [p.split(":")[-1] for p in services["worker"]["ports"]]

    assert discovery["names"] == ["worker"]
    assert [str(discovery["port"])] == worker_ports
    assert services["worker"]["environment"]["REPLENISH_WEB_HOST"] == "0.0.0.0"
    mounted = _container_path(services, "./deploy/prometheus/rules")
    for pattern in config["rule_files"]:
        relative = Path(pattern).relative_to(mounted)
        assert list((REPO_ROOT / "deploy/prometheus/rules").glob(str(relative)))


def test_dockerfile_runs_replenish_and_exposes_metrics():
    lines = (REPO_ROOT / "Dockerfile").read_text().splitlines()

    assert 'ENTRYPOINT ["replenish"]' in lines
    assert "EXPOSE 6066" in lines


def test_the_image_holds_the_bundled_checkpoint_and_dataset():
    copied = {
        line.split()[1]
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    }
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    needed = [BUNDLED_CHECKPOINT, bundled_dataset_path()]

    for path in needed:
        top = path.relative_to(REPO_ROOT).parts[0]
        assert top in copied, top
        assert top not in ignored, top


def _container_path(services: dict[str, Any], source: str) -> str:
    for volume in services["prometheus"]["volumes"]:
        host, container, *_ = volume.split(":")
        if host == source:
            return container
    raise KeyError(f"prometheus mounts no {source}")
