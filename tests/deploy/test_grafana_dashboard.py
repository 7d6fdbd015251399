"""The Grafana dashboard and its provisioning: valid, consistent with the
metrics the worker exports, and pointing at each other."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.metrics import METRIC_NAMES, SERIES_NAMES

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "replenish.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "replenish.yml"
METRIC_NAME = re.compile(r"\breplenish_[a-zA-Z0-9_]+")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the panels and template variables."""
    exprs = [
        target["expr"]
        for panel in all_panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query" and isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]

    assert len(ids) == len(set(ids))


def test_queries_use_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    used = {name for expr in queries(dashboard) for name in METRIC_NAME.findall(expr)}

    assert used, "no replenish_ metric in any panel"
    assert used - SERIES_NAMES == set(), "not defined in streams/metrics.py"


def test_every_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    used = {name for expr in queries(dashboard) for name in METRIC_NAME.findall(expr)}
    base = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}

    assert METRIC_NAMES - base == set()


def test_panels_query_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    graphs = [p for p in all_panels(dashboard["panels"]) if p["type"] != "row"]

    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert graphs
    for panel in graphs:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in all_panels(dashboard["panels"]):
        grid = panel["gridPos"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }

        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert not cells & area, panel["title"]
        cells |= area


def test_provisioning_points_at_prometheus_and_the_dashboard_folder() -> None:
    datasources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]

    assert [d["type"] for d in datasources] == ["prometheus"]
    assert datasources[0]["url"].startswith("http")
    assert [p["type"] for p in providers] == ["file"]
    assert providers[0]["options"]["path"].startswith("/")
