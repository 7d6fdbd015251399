"""Metric definitions: names, labels and what each helper records."""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streams.metrics import (
    HISTOGRAM_NAMES,
    INGEST_OUTCOMES,
    METRIC_NAMES,
    SERIES_NAMES,
    Metrics,
    MetricValueError,
    quantile_level_label,
)

EXPECTED_LABELS = {
    "replenish_ingest_events_total": {"topic", "outcome"},
    "replenish_dead_letters_total": {"topic", "reason"},
    "replenish_forecast_coverage_ratio": {"quantile_level"},
    "replenish_consumer_lag_records": {"topic", "partition"},
    "replenish_model_info": {"model_version"},
}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, process_metrics=False)


def promql_names(registry: CollectorRegistry) -> dict[str, str]:
    """Family name as PromQL selects it -> family type."""
    suffix = {"counter": "_total", "info": "_info"}
    return {
        family.name + suffix.get(family.type, ""): family.type
        for family in registry.collect()
    }


def exercise(metrics: Metrics) -> None:
    """Touch every metric so that labelled ones export a sample."""
    metrics.count_events("sales-events", "applied")
    metrics.count_dead_letter("sales-events", "schema")
    metrics.observe_close(0.2, 10, dt.date(2011, 12, 9))
    metrics.forecast_step_seconds.observe(0.01)
    metrics.count_commands([3.0])
    metrics.set_forecast_accuracy(0.8, [0.9], [0.88])
    metrics.set_consumer_lag("sales-events", 0, 5)
    metrics.set_model("v1")
    metrics.set_ready(True)
    metrics.set_live(True)


def test_registry_exports_exactly_the_documented_names(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    names = promql_names(registry)

    assert set(names) == METRIC_NAMES
    assert {n for n, kind in names.items() if kind == "histogram"} == HISTOGRAM_NAMES
    assert METRIC_NAMES <= SERIES_NAMES


def test_names_follow_the_convention(registry: CollectorRegistry) -> None:
    Metrics(registry, process_metrics=False)

    for name, kind in promql_names(registry).items():
        assert name.startswith("replenish_"), name
        assert (kind == "counter") == name.endswith("_total"), name
        assert "_ms" not in name and "milli" not in name, name
        if kind == "histogram" or name.endswith("_timestamp_seconds"):
            assert name.endswith(("_seconds", "_skus")), name


def test_labels_are_the_documented_ones(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    exercise(metrics)

    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            expected = EXPECTED_LABELS.get(sample.name, set())
            assert set(sample.labels) - {"le"} == expected, sample.name


def test_count_events_counts_by_topic_and_outcome(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.count_events("sales-events", "applied", n=3)
    metrics.count_events("sales-events", "duplicate")
    metrics.count_events("stock-events", "late", n=2)

    def value(topic: str, outcome: str) -> float | None:
        return registry.get_sample_value(
            "replenish_ingest_events_total", {"topic": topic, "outcome": outcome}
        )

    assert value("sales-events", "applied") == 3
    assert value("sales-events", "duplicate") == 1
    assert value("stock-events", "late") == 2
    assert value("stock-events", "applied") is None


@pytest.mark.parametrize("outcome", ["dead_letter", "dropped", ""])
def test_count_events_rejects_outcomes_it_does_not_own(
    metrics: Metrics, outcome: str
) -> None:
    with pytest.raises(MetricValueError, match="outcome"):
        metrics.count_events("sales-events", outcome)


def test_dead_letters_count_by_reason_and_as_an_ingest_outcome(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.count_dead_letter("sales-events", "schema", n=2)
    metrics.count_dead_letter("sales-events", "unknown_sku")

    def reason(name: str) -> float | None:
        return registry.get_sample_value(
            "replenish_dead_letters_total", {"topic": "sales-events", "reason": name}
        )

    assert reason("schema") == 2
    assert reason("unknown_sku") == 1
    assert (
        registry.get_sample_value(
            "replenish_ingest_events_total",
            {"topic": "sales-events", "outcome": "dead_letter"},
        )
        == 3
    )


def test_declare_topic_exports_zero_for_every_outcome(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.declare_topic("promotion-events")

    for outcome in INGEST_OUTCOMES:
        labels = {"topic": "promotion-events", "outcome": outcome}
        assert registry.get_sample_value("replenish_ingest_events_total", labels) == 0


def test_observe_close_records_duration_skus_and_both_timestamps(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.observe_close(0.3, 1200, dt.date(2011, 12, 9), completed_at=1.7e9)
    metrics.observe_close(4.0, 1300, dt.date(2011, 12, 10), completed_at=1.7e9 + 86400)

    def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
        return registry.get_sample_value(name, labels or {})

    assert sample("replenish_day_close_seconds_count") == 2
    assert sample("replenish_day_close_seconds_sum") == pytest.approx(4.3)
    assert sample("replenish_day_close_seconds_bucket", {"le": "0.5"}) == 1
    assert sample("replenish_day_close_seconds_bucket", {"le": "5.0"}) == 2
    assert sample("replenish_day_close_skus_sum") == 2500
    assert sample("replenish_day_close_skus_bucket", {"le": "1000.0"}) == 0
    assert sample("replenish_day_close_last_timestamp_seconds") == 1.7e9 + 86400
    assert sample("replenish_day_close_last_day_timestamp_seconds") == (
        dt.datetime(2011, 12, 10, tzinfo=dt.UTC).timestamp()
    )


def test_observe_close_defaults_completion_to_now(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    # time.time(), as the metric reads it: a datetime drops the sub-microsecond
    before = time.time()
    metrics.observe_close(0.1, 5, dt.date(2011, 12, 9))
    after = time.time()

    stamp = registry.get_sample_value("replenish_day_close_last_timestamp_seconds")
    assert stamp is not None
    assert before <= stamp <= after


@pytest.mark.parametrize(("seconds", "n_skus"), [(-0.1, 5), (0.1, -1)])
def test_observe_close_rejects_negative_inputs(
    metrics: Metrics, seconds: float, n_skus: int
) -> None:
    with pytest.raises(MetricValueError, match="must be >= 0"):
        metrics.observe_close(seconds, n_skus, dt.date(2011, 12, 9))


def test_count_commands_counts_commands_and_units(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.count_commands(np.array([12.0, 6.0, 24.0]))
    metrics.count_commands(np.array([]))
    metrics.count_commands([1.5])

    assert registry.get_sample_value("replenish_commands_total") == 4
    assert registry.get_sample_value("replenish_commands_units_total") == 43.5


@pytest.mark.parametrize(
    ("quantities", "match"),
    [(np.array([3.0, -1.0]), "must all be >= 0"), (np.ones((2, 2)), "1-D")],
)
def test_count_commands_rejects_bad_quantities(
    metrics: Metrics, registry: CollectorRegistry, quantities: np.ndarray, match: str
) -> None:
    with pytest.raises(MetricValueError, match=match):
        metrics.count_commands(quantities)

    assert registry.get_sample_value("replenish_commands_total") == 0


def test_forecast_accuracy_sets_error_and_coverage_per_level(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    levels = np.array([0.005, 0.5, 0.9, 0.95], dtype=np.float32)
    metrics.set_forecast_accuracy(0.91, levels, np.array([0.0, 0.52, 0.86, 0.97]))

    def coverage(level: str) -> float | None:
        return registry.get_sample_value(
            "replenish_forecast_coverage_ratio", {"quantile_level": level}
        )

    assert registry.get_sample_value("replenish_forecast_scaled_error") == 0.91
    assert coverage("0.005") == 0.0
    assert coverage("0.5") == 0.52
    assert coverage("0.9") == 0.86
    assert coverage("0.95") == 0.97


@pytest.mark.parametrize(
    ("levels", "coverage", "match"),
    [
        ([0.9, 0.95], [0.9], "shape"),
        ([0.9], [1.2], r"\[0, 1\]"),
        ([1.0], [0.9], "quantile_level"),
    ],
)
def test_forecast_accuracy_rejects_bad_input(
    metrics: Metrics, levels: list[float], coverage: list[float], match: str
) -> None:
    with pytest.raises(MetricValueError, match=match):
        metrics.set_forecast_accuracy(1.0, levels, coverage)


def test_quantile_level_label_is_the_shortest_decimal() -> None:
    assert quantile_level_label(0.95) == "0.95"
    assert quantile_level_label(float(np.float32(0.9))) == "0.9"
    assert quantile_level_label(0.005) == "0.005"
    with pytest.raises(MetricValueError, match="quantile_level"):
        quantile_level_label(0.0)


def test_consumer_lag_per_partition_and_forgetting_a_partition(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.set_consumer_lag("sales-events", 0, 120)
    metrics.set_consumer_lag("sales-events", 1, 7)
    metrics.forget_partition("sales-events", 0)
    metrics.forget_partition("sales-events", 9)

    def lag(partition: str) -> float | None:
        return registry.get_sample_value(
            "replenish_consumer_lag_records",
            {"topic": "sales-events", "partition": partition},
        )

    assert lag("0") is None
    assert lag("1") == 7


def test_set_model_replaces_the_version_and_stamps_the_load(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.set_model("2011-12-01-a", loaded_at=100.0)
    metrics.set_model("2011-12-08-b", loaded_at=200.0)

    def info(version: str) -> float | None:
        return registry.get_sample_value(
            "replenish_model_info", {"model_version": version}
        )

    assert info("2011-12-08-b") == 1
    assert info("2011-12-01-a") is None
    assert registry.get_sample_value("replenish_model_loaded_timestamp_seconds") == 200


def test_ready_and_live_flags(metrics: Metrics, registry: CollectorRegistry) -> None:
    assert registry.get_sample_value("replenish_worker_ready") == 0
    metrics.set_ready(True)
    metrics.set_live(True)
    metrics.set_live(False)

    assert registry.get_sample_value("replenish_worker_ready") == 1
    assert registry.get_sample_value("replenish_worker_live") == 0


def test_instances_on_separate_registries_do_not_clash() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    a = Metrics(first, process_metrics=False)
    b = Metrics(second, process_metrics=False)
    a.count_events("sales-events", "applied", n=5)
    b.count_events("sales-events", "applied", n=2)

    labels = {"topic": "sales-events", "outcome": "applied"}
    assert first.get_sample_value("replenish_ingest_events_total", labels) == 5
    assert second.get_sample_value("replenish_ingest_events_total", labels) == 2


def test_a_second_instance_on_the_same_registry_is_refused(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry, process_metrics=False)


def test_default_registry_is_fresh() -> None:
    a, b = Metrics(process_metrics=False), Metrics(process_metrics=False)

    assert a.registry is not b.registry


@pytest.mark.skipif(sys.platform != "linux", reason="process metrics read /proc")
def test_process_metrics_provide_the_start_time(registry: CollectorRegistry) -> None:
    Metrics(registry)

    assert registry.get_sample_value("process_start_time_seconds") is not None
    assert b"replenish_worker_ready" in generate_latest(registry)
