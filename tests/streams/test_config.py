import datetime as dt
from pathlib import Path

import pytest

from streams.config import ConfigError, Settings, UnknownSku, cache_dir


def test_variables_override_defaults_and_arguments_override_variables():
    env = {
        "REPLENISH_PARTITIONS": "8",
        "REPLENISH_ALLOWED_LATENESS_HOURS": "1.5",
        "REPLENISH_LIVE": "yes",
        "REPLENISH_UNKNOWN_SKU": "dead_letter",
        "REPLENISH_CHECKPOINT": "/models/lstm.pt",
        "REPLENISH_TIMEZONE": "America/New_York",
    }

    settings = Settings.from_env(env, partitions=2, checkpoint=None)

    assert settings.partitions == 2
    assert settings.allowed_lateness == dt.timedelta(hours=1.5)
    assert settings.live is True
    assert settings.unknown_sku is UnknownSku.DEAD_LETTER
    assert settings.checkpoint == Path("/models/lstm.pt")
    assert settings.zone.key == "America/New_York"


def test_broker_url_lists_every_bootstrap_server():
    settings = Settings(bootstrap_servers="a:9092, b:9093")

    assert settings.broker_url == "kafka://a:9092;kafka://b:9093"


def test_topics_carry_the_deployment_prefix():
    assert Settings(topic_prefix="shop1.").topic("sales-events") == "shop1.sales-events"


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        (
            "REPLENISH_PARTITIONS",
            "four",
            "REPLENISH_PARTITIONS: must be int, got 'four'",
        ),
        ("REPLENISH_LIVE", "maybe", "REPLENISH_LIVE: must be bool, got 'maybe'"),
        (
            "REPLENISH_UNKNOWN_SKU",
            "drop",
            "REPLENISH_UNKNOWN_SKU: must be one of default, dead_letter, got 'drop'",
        ),
        (
            "REPLENISH_CLOSE_HOUR",
            "2am",
            "REPLENISH_CLOSE_HOUR: must be float, got '2am'",
        ),
    ],
)
def test_an_unreadable_variable_is_named_with_its_value(variable, raw, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: raw})

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("partitions", 0, "must be at least 1"),
        ("batch_size", -5, "must be at least 1"),
        ("cpu_threads", 0, "must be at least 1"),
        ("allowed_lateness_hours", -1.0, "non-negative number of hours"),
        ("allowed_lateness_hours", float("nan"), "non-negative number of hours"),
        ("close_hour", 24.0, "at least 0 and below 24"),
        ("close_hour", -0.5, "at least 0 and below 24"),
        ("session_timeout_seconds", 0.0, "positive number of seconds"),
        ("web_port", 70_000, "between 1 and 65535"),
        ("timezone", "Mars/Olympus", "IANA zone name"),
        ("timezone", "America", "IANA zone name"),
        ("policy_version", "", "must have 1 to 128 characters"),
        ("forecaster", "prophet", "'lstm' or 'tsb'"),
        ("unknown_sku", "drop", "one of default, dead_letter"),
        ("device", "tpu", "'cpu' or 'cuda[:N]'"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_by_name_and_value(field, value, rule):
    with pytest.raises(ConfigError) as caught:
        Settings(**{field: value})

    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert rule in message
    assert repr(value) in message


def test_a_variable_out_of_range_is_refused_like_an_argument():
    with pytest.raises(ConfigError, match=r"close_hour: .* got 25\.0"):
        Settings.from_env({"REPLENISH_CLOSE_HOUR": "25"})


def test_a_live_close_within_the_allowed_lateness_is_refused():
    with pytest.raises(ConfigError, match=r"close_hour: .*\(3\.0 hours\).* got 2\.0"):
        Settings(live=True, close_hour=2.0, allowed_lateness_hours=3.0)

    assert Settings(live=False, close_hour=2.0, allowed_lateness_hours=3.0)


def test_a_relative_cache_folder_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLENISH_CACHE_DIR", "state")

    assert cache_dir() == tmp_path / "state"
