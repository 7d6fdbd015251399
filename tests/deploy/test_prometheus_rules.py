"""The alert rules: promtool accepts them, their unit tests pass, every alert is
tested firing and silent, links to its runbook section and reads only metrics
the worker exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.metrics import SERIES_NAMES

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules" / "replenish.rules.yml"
RULE_TESTS = sorted((REPO / "deploy" / "prometheus" / "tests").glob("*.yml"))
RUNBOOK = REPO / "docs" / "runbook.md"
RUNBOOK_URL = re.compile(r"^(?:.*/)?docs/runbook\.md#(?P<anchor>[a-z0-9-]+)$")
METRIC_NAME = re.compile(r"\breplenish_[a-zA-Z0-9_]+")
SEVERITIES = {"critical", "warning"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH; install it with `bash deploy/install-promtool.sh`"
            " (extracts promtool from Debian's prometheus package) or from"
            " https://prometheus.io/download/"
        )
    return path


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def runbook_anchors() -> set[str]:
    """GitHub-style anchors of the runbook's level-2 headings."""
    headings = re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {
        re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
        for heading in headings
    }


def run_promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", str(RULES))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_rule_unit_tests_pass(promtool: str) -> None:
    assert RULE_TESTS, "no promtool tests in deploy/prometheus/tests/"

    result = run_promtool(promtool, "test", "rules", *map(str, RULE_TESTS))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_is_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                target = fired if check.get("exp_alerts") else silent
                target.add(check["alertname"])

    names = {rule["alert"] for rule in alert_rules()}

    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"
    assert (fired | silent) - names == set(), "tests of alerts that do not exist"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_duration_and_runbook(rule: dict[str, Any]) -> None:
    annotations = rule.get("annotations", {})
    match = RUNBOOK_URL.match(annotations.get("runbook_url", ""))

    assert rule["labels"]["severity"] in SEVERITIES
    assert annotations.get("summary", "").strip()
    assert re.fullmatch(r"\d+[smhd]", rule.get("for", ""))
    assert match, f"runbook_url {annotations.get('runbook_url')!r}"
    assert match["anchor"] == rule["alert"].lower()
    assert match["anchor"] in runbook_anchors()


def test_runbook_has_a_section_per_alert_and_no_other() -> None:
    anchors = {rule["alert"].lower() for rule in alert_rules()}

    assert runbook_anchors() == anchors


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_rules_use_only_exported_metrics(rule: dict[str, Any]) -> None:
    used = set(METRIC_NAME.findall(rule["expr"]))

    assert used - SERIES_NAMES == set(), "not defined in streams/metrics.py"
