"""Every Prometheus metric the worker exports, on one injectable registry.

Names follow ``replenish_<subsystem>_<name>_<unit>`` in base units (seconds,
records, units of stock); counters end in ``_total``. The alert rules in
``deploy/prometheus/rules/`` and the dashboard in ``deploy/grafana/`` use only
the series listed in :data:`SERIES_NAMES`, and tests hold the three together.

A :class:`Metrics` owns its metrics on the registry it is given (a fresh one
by default), so tests and several workers in one process never clash::

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.count_events("sales-events", "applied", n=120)
    metrics.observe_close(seconds=0.42, n_skus=5000, day=dt.date(2011, 12, 9))
    prometheus_client.generate_latest(registry)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Sequence

import numpy as np
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
)

INGEST_OUTCOMES: tuple[str, ...] = ("applied", "duplicate", "late", "dead_letter")
"""Values of the ``outcome`` label of ``replenish_ingest_events_total``."""

DAY_CLOSE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram buckets of ``replenish_day_close_seconds``, in seconds."""

FORECAST_STEP_BUCKETS = (0.001, 0.0025, 0.005, *DAY_CLOSE_BUCKETS)
"""Histogram buckets of ``replenish_forecast_step_seconds``, in seconds."""

DAY_CLOSE_SKU_BUCKETS = (10.0, 50.0, 100.0, 500.0, 1e3, 5e3, 1e4, 5e4, 1e5, 5e5)
"""Histogram buckets of ``replenish_day_close_skus``, in SKUs."""

METRIC_NAMES: frozenset[str] = frozenset(
    {
        "replenish_ingest_events_total",
        "replenish_dead_letters_total",
        "replenish_day_close_seconds",
        "replenish_day_close_skus",
        "replenish_day_close_last_timestamp_seconds",
        "replenish_day_close_last_day_timestamp_seconds",
        "replenish_forecast_step_seconds",
        "replenish_forecast_scaled_error",
        "replenish_forecast_coverage_ratio",
        "replenish_commands_total",
        "replenish_commands_units_total",
        "replenish_consumer_lag_records",
        "replenish_model_info",
        "replenish_model_loaded_timestamp_seconds",
        "replenish_worker_ready",
        "replenish_worker_live",
    }
)
"""Metric names as PromQL sees them (histograms by their base name)."""

HISTOGRAM_NAMES: frozenset[str] = frozenset(
    {
        "replenish_day_close_seconds",
        "replenish_day_close_skus",
        "replenish_forecast_step_seconds",
    }
)
"""The names in :data:`METRIC_NAMES` that are histograms."""

SERIES_NAMES: frozenset[str] = METRIC_NAMES | {
    name + suffix
    for name in HISTOGRAM_NAMES
    for suffix in ("_bucket", "_sum", "_count")
}
"""Every series name a query may select: metric names and histogram series."""


class MetricValueError(ValueError):
    """A value or label a metric cannot take; the message names field and value."""


def quantile_level_label(level: float) -> str:
    """Format a quantile level as the ``quantile_level`` label value.

    Parameters
    ----------
    level
        A fraction in (0, 1), e.g. ``0.95``.

    Returns
    -------
    str
        The shortest decimal form, e.g. ``"0.95"`` or ``"0.005"``; alert rules
        select on these strings.
    """
    if not 0.0 < level < 1.0:
        raise MetricValueError(f"quantile_level: must lie in (0, 1), got {level!r}")
    return f"{float(level):g}"


class Metrics:
    """The worker's metrics, registered on one registry.

    Parameters
    ----------
    registry
        Where the metrics register. A fresh :class:`CollectorRegistry` when
        omitted; pass ``prometheus_client.REGISTRY`` to export through the
        library's default endpoint.
    process_metrics
        Also register the standard ``process_*`` metrics (start time, CPU,
        memory); the day-close alert reads ``process_start_time_seconds``.
        Ignored for the default registry, which already has them.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        process_metrics: bool = True,
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        reg = self.registry
        if process_metrics and reg is not REGISTRY:
            ProcessCollector(registry=reg)

        self.ingest_events = Counter(
            "replenish_ingest_events_total",
            "Input events by source topic and what ingest did with them.",
            ("topic", "outcome"),
            registry=reg,
        )
        self.dead_letters = Counter(
            "replenish_dead_letters_total",
            "Events sent to dead-letters, by source topic and reason code.",
            ("topic", "reason"),
            registry=reg,
        )
        self.day_close_seconds = Histogram(
            "replenish_day_close_seconds",
            "Wall time of one day close over every SKU of the worker.",
            buckets=DAY_CLOSE_BUCKETS,
            registry=reg,
        )
        self.day_close_skus = Histogram(
            "replenish_day_close_skus",
            "SKUs advanced by one day close.",
            buckets=DAY_CLOSE_SKU_BUCKETS,
            registry=reg,
        )
        self.day_close_last_timestamp = Gauge(
            "replenish_day_close_last_timestamp_seconds",
            "Wall-clock Unix time at which the last day close completed.",
            registry=reg,
        )
        self.day_close_last_day_timestamp = Gauge(
            "replenish_day_close_last_day_timestamp_seconds",
            "Unix time of 00:00 UTC of the last event-time day closed.",
            registry=reg,
        )
        self.forecast_step_seconds = Histogram(
            "replenish_forecast_step_seconds",
            "Wall time of one batched network step over the closing SKUs.",
            buckets=FORECAST_STEP_BUCKETS,
            registry=reg,
        )
        self.forecast_scaled_error = Gauge(
            "replenish_forecast_scaled_error",
            "Mean absolute error of the one-day-ahead median over mean daily"
            " demand, smoothed over closes.",
            registry=reg,
        )
        self.forecast_coverage = Gauge(
            "replenish_forecast_coverage_ratio",
            "Share of recent actuals at or below the forecast quantile.",
            ("quantile_level",),
            registry=reg,
        )
        self.commands = Counter(
            "replenish_commands_total",
            "Reorder commands produced.",
            registry=reg,
        )
        self.commands_units = Counter(
            "replenish_commands_units_total",
            "Units of stock ordered by the reorder commands produced.",
            registry=reg,
        )
        self.consumer_lag = Gauge(
            "replenish_consumer_lag_records",
            "Records between the fetch position and the end of the partition.",
            ("topic", "partition"),
            registry=reg,
        )
        self.model = Info(
            "replenish_model",
            "The forecasting model the worker serves (value is always 1).",
            registry=reg,
        )
        self.model_loaded_timestamp = Gauge(
            "replenish_model_loaded_timestamp_seconds",
            "Unix time at which the current model weights were loaded.",
            registry=reg,
        )
        self.worker_ready = Gauge(
            "replenish_worker_ready",
            "1 when the worker processes events, 0 while it rebalances, recovers"
            " its tables or reads model-updates at start.",
            registry=reg,
        )
        self.worker_live = Gauge(
            "replenish_worker_live",
            "1 when days close on the wall clock, 0 while replaying history.",
            registry=reg,
        )

    def count_events(self, topic: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` events of ``topic`` that ingest applied, deduplicated or
        found late.

        Dead letters are counted by :meth:`count_dead_letter`, which keeps the
        ``dead_letter`` outcome equal to the sum over reasons.
        """
        if outcome == "dead_letter":
            raise MetricValueError(
                "outcome: 'dead_letter' is counted by count_dead_letter(topic,"
                " reason), got it in count_events"
            )
        if outcome not in INGEST_OUTCOMES:
            raise MetricValueError(
                f"outcome: must be one of {INGEST_OUTCOMES}, got {outcome!r}"
            )
        self.ingest_events.labels(topic=topic, outcome=outcome).inc(n)

    def count_dead_letter(self, topic: str, reason: str, n: int = 1) -> None:
        """Count ``n`` events of ``topic`` sent to dead-letters for ``reason``.

        ``reason`` is a short fixed code (``"schema"``, ``"unknown_sku"``),
        never an error message: every distinct value is a new time series.
        """
        self.dead_letters.labels(topic=topic, reason=reason).inc(n)
        self.ingest_events.labels(topic=topic, outcome="dead_letter").inc(n)

    def declare_topic(self, topic: str) -> None:
        """Export zero for every ingest outcome of ``topic`` before any event.

        Rates over series that do not exist yet are empty, not zero; declaring
        the topic at start-up lets alerts and panels see a quiet topic.
        """
        for outcome in INGEST_OUTCOMES:
            self.ingest_events.labels(topic=topic, outcome=outcome)

    def observe_close(
        self,
        seconds: float,
        n_skus: int,
        day: dt.date,
        completed_at: float | None = None,
    ) -> None:
        """Record one completed day close.

        Parameters
        ----------
        seconds
            Wall time the close took.
        n_skus
            SKUs advanced by the close.
        day
            The event-time day that was closed.
        completed_at
            Unix time the close completed; now when omitted.
        """
        if seconds < 0:
            raise MetricValueError(f"seconds: must be >= 0, got {seconds!r}")
        if n_skus < 0:
            raise MetricValueError(f"n_skus: must be >= 0, got {n_skus!r}")
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)

        self.day_close_seconds.observe(seconds)
        self.day_close_skus.observe(n_skus)
        self.day_close_last_day_timestamp.set(midnight.timestamp())
        self.day_close_last_timestamp.set(
            time.time() if completed_at is None else completed_at
        )

    def count_commands(self, quantities: np.ndarray | Sequence[float]) -> None:
        """Count the reorder commands of one close and the units they order.

        Parameters
        ----------
        quantities
            Order quantity of every command produced, shape ``(n_commands,)``.
        """
        q = np.asarray(quantities, dtype=np.float64)
        if q.ndim != 1:
            raise MetricValueError(
                f"quantities: must be 1-D (n_commands,), got shape {q.shape}"
            )
        if q.size and not np.all(q >= 0):
            raise MetricValueError(
                f"quantities: must all be >= 0, got minimum {q.min()!r}"
            )

        self.commands.inc(q.size)
        self.commands_units.inc(float(q.sum()))

    def set_forecast_accuracy(
        self,
        scaled_error: float,
        quantile_levels: np.ndarray | Sequence[float],
        coverage: np.ndarray | Sequence[float],
    ) -> None:
        """Publish the rolling accuracy of recent forecasts.

        Parameters
        ----------
        scaled_error
            Smoothed absolute error of the median over mean daily demand.
        quantile_levels
            Forecast quantile levels, shape ``(n_levels,)``, in (0, 1).
        coverage
            Share of recent actuals at or below each level's quantile, shape
            ``(n_levels,)``, in [0, 1]; nominal is the level itself.
        """
        levels = np.asarray(quantile_levels, dtype=np.float64)
        cov = np.asarray(coverage, dtype=np.float64)
        if cov.shape != levels.shape or levels.ndim != 1:
            raise MetricValueError(
                f"coverage: must have the shape of quantile_levels {levels.shape}"
                f" (1-D), got {cov.shape}"
            )
        if not np.all((cov >= 0) & (cov <= 1)):
            raise MetricValueError(
                f"coverage: must lie in [0, 1], got {cov.tolist()!r}"
            )
        labels = [quantile_level_label(level) for level in levels.tolist()]

        self.forecast_scaled_error.set(scaled_error)
        for label, value in zip(labels, cov.tolist(), strict=True):
            self.forecast_coverage.labels(quantile_level=label).set(value)

    def set_consumer_lag(self, topic: str, partition: int, records: int) -> None:
        """Publish the lag of one assigned partition, in records."""
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(records)

    def forget_partition(self, topic: str, partition: int) -> None:
        """Stop exporting the lag of a partition the worker no longer owns."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    def set_model(self, model_version: str, loaded_at: float | None = None) -> None:
        """Publish the served model version and when its weights were loaded."""
        self.model.info({"model_version": model_version})
        self.model_loaded_timestamp.set(time.time() if loaded_at is None else loaded_at)

    def set_ready(self, ready: bool) -> None:
        """Mark the worker ready (processing) or not (rebalancing, recovering
        its tables, or reading model-updates at start)."""
        self.worker_ready.set(1 if ready else 0)

    def set_live(self, live: bool) -> None:
        """Mark whether days close on the wall clock (live) or in a replay."""
        self.worker_live.set(1 if live else 0)
