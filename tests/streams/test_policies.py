"""Loading SKU policies from CSV and publishing them on ``sku-policies``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optimization.params import SkuPolicy
from streams.cli import main
from streams.events import decode_sku_policy
from streams.policies import (
    COLUMNS,
    PolicyFileError,
    publish_policies,
    read_policies,
)
from streams.readback import end_offsets, latest_values, read_all
from streams.topics import SKU_POLICIES, TOPICS, ensure_topics

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "policies" / "example.csv"


def write(tmp_path: Path, text: str, name: str = "policies.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_file_loads():
    policies = read_policies(EXAMPLE)

    assert len(policies) == 5
    assert len({p.sku for p in policies}) == 5
    by_sku = {p.sku: p for p in policies}
    assert by_sku["85099B"].stockout_cost == 1.2
    assert by_sku["85099B"].service_level is None
    assert by_sku["22423"].capacity is None
    assert by_sku["85123A"].to_policy().capacity == 2000.0


def test_blank_and_absent_cells_take_the_skupolicy_defaults(tmp_path):
    path = write(tmp_path, "sku,lead_time_days,capacity\nA,,\nB,3,\n")

    a, b = read_policies(path, policy_version="7")

    assert a.to_policy() == SkuPolicy(sku="A")
    assert b.to_policy() == SkuPolicy(sku="B", lead_time_days=3.0)
    assert a.policy_version == "7"
    assert math.isinf(a.to_policy().capacity)


def test_version_cell_wins_over_the_default_and_integral_floats_are_whole(tmp_path):
    path = write(
        tmp_path,
        "# a comment\n\nsku,policy_version,review_period_days,moq\n"
        "A,v2,7.0,12\nB,,2,0\n",
    )

    a, b = read_policies(path, policy_version="v1")

    assert (a.policy_version, a.review_period_days, a.moq) == ("v2", 7, 12)
    assert b.policy_version == "v1"
    assert isinstance(a.review_period_days, int)


def test_a_bad_file_lists_every_error_with_line_field_and_value(tmp_path):
    path = write(
        tmp_path,
        "# policies\n"
        "sku,policy_version,lead_time_days,service_level,stockout_cost,case_pack,moq\n"
        "A,1,7,0.95,,1,0\n"
        "B,1,-2,1.5,,0.5,0\n"
        "C,1,7,0.9,3.0,1,lots\n"
        ",1,7,,,1,0\n"
        "A,1,7,,,1,0\n"
        "D,1,7\n",
    )

    with pytest.raises(PolicyFileError) as caught:
        read_policies(path)

    found = {(e.line, e.field, e.value) for e in caught.value.errors}
    assert found == {
        (4, "lead_time_days", "-2"),
        (4, "service_level", "1.5"),
        (4, "case_pack", "0.5"),
        (5, "service_level", "0.9"),
        (5, "moq", "lots"),
        (6, "sku", ""),
        (7, "sku", "A"),
        (8, "file", 3),
    }
    message = str(caught.value)
    assert "nothing published" in message
    assert "line 4: lead_time_days: must lie in [0, 365], got '-2'" in message
    assert "line 7: sku: must be unique in the file (first on line 3)" in message


def test_a_bad_header_is_refused_naming_the_column(tmp_path):
    path = write(tmp_path, "sku,lead_time,lead_time\nA,1,2\n")

    with pytest.raises(PolicyFileError) as caught:
        read_policies(path)

    fields = [(e.line, e.field) for e in caught.value.errors]
    assert fields == [(1, "lead_time"), (1, "lead_time"), (1, "policy_version")]


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "sku,policy_version\n"], ids=repr
)
def test_a_file_without_policies_is_refused(tmp_path, text):
    with pytest.raises(PolicyFileError):
        read_policies(write(tmp_path, text), policy_version="1")


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,policy_version\nA,1\nCAF\xc9,1\n".encode("latin-1"))

    with pytest.raises(PolicyFileError) as caught:
        read_policies(path)

    (error,) = caught.value.errors
    assert (error.line, error.field, error.rule) == (3, "file", "must be UTF-8 text")


def test_every_skupolicy_field_is_a_column():
    names = {"sku", *(f for f in SkuPolicy.__dataclass_fields__)}
    assert set(COLUMNS) == names | {"policy_version"}


def test_check_only_publishes_nothing(tmp_path, capsys):
    code = main(["policies", "load", str(EXAMPLE), "--check-only"])

    assert code == 0
    assert "5 policies checked, none published" in capsys.readouterr().out


@pytest.mark.integration
def test_load_publishes_valid_rows_keyed_by_sku_latest_wins(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys
):
    first = write(
        tmp_path,
        "sku,policy_version,lead_time_days,service_level\nA,1,7,0.9\nB,1,5,0.95\n",
        "first.csv",
    )
    second = write(tmp_path, "sku,policy_version,lead_time_days\nA,2,9\n", "second.csv")
    common = ["--bootstrap-servers", kafka_bootstrap, "--topic-prefix", topic_prefix]
    common += ["--partitions", "2"]

    assert main(["policies", "load", str(first), *common]) == 0
    assert main(["policies", "load", str(second), *common]) == 0

    out = capsys.readouterr().out
    assert f"2 policies published to {topic_prefix}sku-policies" in out
    assert f"1 policies published to {topic_prefix}sku-policies" in out
    topic = topic_prefix + SKU_POLICIES
    assert len(read_all(kafka_bootstrap, topic)) == 3
    latest = {
        key.decode(): decode_sku_policy(value)
        for key, value in latest_values(kafka_bootstrap, topic).items()
    }
    assert set(latest) == {"A", "B"}
    assert (latest["A"].policy_version, latest["A"].lead_time_days) == ("2", 9.0)
    assert latest["B"].to_policy() == SkuPolicy(
        sku="B", lead_time_days=5.0, service_level=0.95
    )


@pytest.mark.integration
def test_a_file_with_a_bad_row_publishes_nothing(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys
):
    ensure_topics(
        kafka_bootstrap,
        partitions=2,
        prefix=topic_prefix,
        topics=[TOPICS[SKU_POLICIES]],
    )
    path = write(tmp_path, "sku,policy_version,unit_cost\nA,1,2\nB,1,-1\n")

    code = main(
        [
            "policies",
            "load",
            str(path),
            "--bootstrap-servers",
            kafka_bootstrap,
            "--topic-prefix",
            topic_prefix,
            "--partitions",
            "2",
        ]
    )

    assert code == 1
    assert "line 3: unit_cost: must be positive, got '-1'" in capsys.readouterr().err
    assert sum(end_offsets(kafka_bootstrap, topic_prefix + SKU_POLICIES).values()) == 0


@pytest.mark.integration
def test_publish_policies_returns_the_count_acknowledged(
    kafka_bootstrap: str, topic_prefix: str
):
    ensure_topics(
        kafka_bootstrap,
        partitions=2,
        prefix=topic_prefix,
        topics=[TOPICS[SKU_POLICIES]],
    )

    count = publish_policies(
        read_policies(EXAMPLE), kafka_bootstrap, topic_prefix + SKU_POLICIES
    )

    assert count == 5
    assert len(latest_values(kafka_bootstrap, topic_prefix + SKU_POLICIES)) == 5
