"""The Faust app: topics, tables, agents and HTTP views around a Controller."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import aiokafka
import faust
import prometheus_client

from forecasting.incremental import IncrementalForecaster
from optimization.base import Policy
from streams import topics
from streams.batch_consumer import BatchApp
from streams.config import Settings
from streams.controller import Controller
from streams.day_close import DayClose
from streams.metrics import Metrics
from streams.outbox import Outbox
from streams.policy_book import PolicyBook
from streams.store import StateStore

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


def create_app(
    settings: Settings,
    stepper: IncrementalForecaster,
    policy: Policy,
    *,
    metrics: Metrics | None = None,
) -> faust.App:
    """Build the worker's Faust app around a forecaster and a policy."""
    # Faust creates only the last level of its data folder.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = BatchApp(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
        web_host=settings.web_host,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.batch_size,
        # Large fetches: a SKU's state is written once per fetch however
        # many of its events the fetch holds.
        consumer_max_fetch_size=4 * 1024 * 1024,
        producer_acks=-1,
        # A close publishes thousands of records at once: batch them.
        producer_linger=0.005,
        producer_max_batch_size=1024 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.session_timeout_seconds / 4,
    )
    metrics = metrics or Metrics()
    producer: Any = app.producer
    outbox = Outbox(producer._ensure_producer)

    def table(name: str) -> Any:
        """A table with JSON keys and bytes values (see ``StateStore``)."""
        return app.Table(
            name,
            default=None,
            partitions=settings.partitions,
            # the changelog's serializer follows value_type, the table's the schema
            value_type=bytes,
            schema=faust.Schema(key_serializer="json", value_serializer="raw"),
        )

    day_close = DayClose(stepper, policy, window_days=settings.window_days)
    policy_table = table("sku-policy")
    store = StateStore(
        table("sku-state"),
        table("partition-clock"),
        policy_table,
        outbox,
    )
    book = PolicyBook(settings.default_policy, settings.policy_version, policy_table)
    controller = Controller(
        settings,
        store=store,
        day_close=day_close,
        policies=book,
        metrics=metrics,
        outbox=outbox,
    )
    metrics.set_model(stepper.model_version)
    metrics.set_live(settings.live)
    for name in controller.input_topics:
        metrics.declare_topic(name)
    # Input waits until the announced model is served: a day closed again
    # after a restart must be closed by the model that closed it before.
    models_read = asyncio.Event()

    async def on_batch(batches: Any) -> None:
        await models_read.wait()
        await controller.on_batch(batches)

    app.route_batches(
        [app.topic(name, value_serializer="raw") for name in controller.input_topics],
        on_batch,
    )

    @app.task
    async def follow_model_updates() -> None:
        """Every worker reads all of ``model-updates`` (no consumer group)."""
        tp = aiokafka.TopicPartition(settings.topic(topics.MODEL_UPDATES), 0)
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            while True:
                fetched = await consumer.getmany(tp, timeout_ms=1000)
                for record in fetched.get(tp, []):
                    await controller.on_model_update(record)
                if not models_read.is_set() and await consumer.position(tp) >= end:
                    log.info("Read model-updates to offset %d; serving input", end)
                    models_read.set()
        finally:
            await consumer.stop()

    async def lags(topics: set[str]) -> dict[Any, int]:
        """Records not yet fetched, per owned partition of ``topics`` (those
        whose end offset is known)."""
        consumer: Any = app.consumer
        found = {}
        for tp in consumer.assignment():
            if tp.topic in topics:
                position, end = await consumer.position(tp), consumer.highwater(tp)
                if position is not None and end is not None and end >= 0:
                    found[tp] = max(end - position, 0)
        return found

    @app.timer(interval=15.0)
    async def export_gauges() -> None:
        """Readiness and the lag of every input partition this worker owns."""
        ready()
        for tp, lag in (await lags(set(controller.input_topics))).items():
            metrics.set_consumer_lag(tp.topic, tp.partition, lag)

    @app.timer(interval=15.0)
    async def close_by_wall_clock() -> None:
        """Close due days of the owned sales partitions that are read to
        their end; not while rebalancing or recovering tables."""
        if not settings.live or not ready():
            return
        lag = await lags({controller.sales_topic})
        partitions = sorted(tp.partition for tp, records in lag.items() if not records)
        await controller.close_due_days(dt.datetime.now(dt.UTC), partitions)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        body = prometheus_client.generate_latest(metrics.registry)
        return web.bytes(body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    @app.page("/healthz")
    async def health_view(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    def ready() -> bool:
        """Not rebalancing, every table recovered from its changelog, and the
        announced model served."""
        tables: Any = app.tables
        is_ready = (
            not app.rebalancing
            and tables.recovery.completed.is_set()
            and models_read.is_set()
        )
        metrics.set_ready(is_ready)
        return bool(is_ready)

    @app.page("/readyz")
    async def ready_view(web: Any, request: Any) -> Any:
        is_ready = ready()
        return web.json({"ready": is_ready}, status=200 if is_ready else 503)

    @app.page("/skus/{sku}")
    async def sku_view(web: Any, request: Any, sku: str) -> Any:
        async with controller.lock:  # not while a close changes the state
            state = store.get(sku)
            if state is None:
                return web.json(
                    {"error": f"sku: not held by this worker, got {sku!r}"},
                    status=404,
                )
            return web.json({"state": state.to_json(), **controller.latest(sku)})

    async def on_revoked(
        sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        revoked: set[Any] = args[0] if args else kwargs["revoked"]
        await controller.release(
            {tp.partition for tp in revoked if tp.topic == controller.sales_topic}
        )
        for tp in revoked:
            metrics.forget_partition(tp.topic, tp.partition)

    app.on_partitions_revoked.connect(on_revoked)
    app.controller = controller  # type: ignore[attr-defined]
    return app
