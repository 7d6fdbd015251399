"""The Faust app: ingest agents, event-time day close, publication.

Sale and stock events arrive keyed by SKU. Each batch of records is decoded
(bad records go to ``dead-letters`` with their coordinates and raw bytes),
applied to per-SKU state, and advances its partition's clock. When a
partition's clock passes the end of a day, every SKU of that partition is
closed for that day in one batched forecast and one vectorized policy call
(run in a thread, off the event loop), and the resulting forecasts and
reorder commands are published.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import prometheus_client

from forecasting.base import Forecaster
from optimization.base import Policy
from optimization.params import SkuPolicy
from streams import events, topics
from streams.config import Settings
from streams.day_close import CloseResult, DayClose, PolicyBook, record_orders
from streams.metrics import Metrics
from streams.state import Outcome
from streams.store import StateStore

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


class Controller:
    """Applies decoded events to state and closes days; owns no Kafka objects.

    The Faust agents call :meth:`on_sales` and :meth:`on_stock` with batches
    of records; publication goes through the ``publish`` coroutine given at
    construction, so this class can be driven without a broker.
    """

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        day_close: DayClose,
        metrics: Metrics,
        publish: Any,
    ) -> None:
        self.settings = settings
        self.store = store
        self.day_close = day_close
        self.metrics = metrics
        self.publish = publish
        self.policies: dict[str, SkuPolicy] = {}
        self.sales_topic = settings.topic(topics.SALES_EVENTS)
        self.stock_topic = settings.topic(topics.STOCK_EVENTS)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="close")
        self._lock = asyncio.Lock()

    async def on_sales(self, records: Sequence[Any]) -> None:
        async with self._lock:
            await self._apply_sales(records)
            self.store.flush()

    async def on_stock(self, records: Sequence[Any]) -> None:
        async with self._lock:
            await self._apply_stock(records)
            self.store.flush()

    async def _apply_sales(self, records: Sequence[Any]) -> None:
        zone = self.settings.zone
        for record in records:
            message = record.message
            try:
                sale = events.decode_sale(record.value)
            except events.EventError as error:
                await self.dead_letter(self.sales_topic, message, error)
                continue
            local = sale.occurred_at.astimezone(zone)
            await self._advance_clock(message.partition, local)
            state = self.store.state(sale.sku, message.partition)
            outcome = state.apply_sale(sale.event_id, local.date(), sale.quantity)
            self._count(self.sales_topic, outcome, message)
            if outcome is Outcome.APPLIED:
                self.store.mark((state,))

    async def _apply_stock(self, records: Sequence[Any]) -> None:
        for record in records:
            message = record.message
            try:
                stock = events.decode_stock(record.value)
            except events.EventError as error:
                await self.dead_letter(self.stock_topic, message, error)
                continue
            state = self.store.state(stock.sku, message.partition)
            if stock.kind is events.StockKind.RECEIPT:
                state.apply_receipt(stock.command_id, stock.quantity)
            elif stock.kind is events.StockKind.ADJUSTMENT:
                state.apply_adjustment(stock.quantity)
            else:
                state.apply_count(stock.quantity)
            self.store.mark((state,))
            self._count(self.stock_topic, Outcome.APPLIED, message)

    async def dead_letter(
        self, topic: str, message: Any, error: events.EventError
    ) -> None:
        log.warning(
            "Dead letter from %s[%d]@%d: %s",
            topic,
            message.partition,
            message.offset,
            error,
        )
        letter = events.DeadLetter.from_error(
            error,
            topic=topic,
            partition=message.partition,
            offset=message.offset,
            raw=message.value or b"",
        )
        await self.publish(topics.DEAD_LETTERS, message.key, events.encode(letter))
        self.metrics.count_dead_letter(topic, error.reason.value)

    async def _advance_clock(self, partition: int, local_time: dt.datetime) -> None:
        clock = self.store.clock(partition)
        before = clock.watermark
        clock.observe(local_time)
        if clock.watermark != before:
            self.store.mark_clock(partition)
        for day in clock.closable_days(self.settings.allowed_lateness):
            await self._close(partition, day)
            clock.open_day = day + dt.timedelta(days=1)
            self.store.mark_clock(partition)

    async def _close(self, partition: int, day: dt.date) -> None:
        """Close ``day`` for every SKU of ``partition`` not closed for it yet.

        Writes are ordered so that a crash at any point is repaired by
        processing the same events again: the commands reach the broker
        first, then the closed states; the clock moves last. A SKU whose
        closed state was written is skipped when the day is closed again, and
        one whose state was not gets the same command id and quantity again.
        """
        states = [
            s for s in self.store.partition_states(partition) if not s.is_closed(day)
        ]
        if not states:
            return
        loop = asyncio.get_running_loop()
        book = PolicyBook(self.settings.default_policy, self.policies)
        started = time.perf_counter()
        result = await loop.run_in_executor(
            self._executor, self.day_close.run, states, day, book
        )
        command_ids = [
            events.command_id(str(result.skus[i]), day, self.settings.policy_version)
            for i in result.ordered
        ]
        await self._publish_close(result, command_ids)
        record_orders(states, result, command_ids)
        self.store.mark(states)
        await asyncio.gather(*self.store.flush())
        self.metrics.observe_close(time.perf_counter() - started, len(states), day)
        log.info(
            "Closed %s for partition %d: %d SKUs, %d reorder commands",
            day,
            partition,
            len(states),
            len(command_ids),
        )

    async def _publish_close(self, result: CloseResult, command_ids: list[str]) -> None:
        decision = result.decision
        sends = []
        for index, command_id in zip(result.ordered, command_ids, strict=True):
            sku = str(result.skus[index])
            command = events.ReorderCommand(
                command_id=command_id,
                sku=sku,
                as_of=result.day,
                quantity=int(decision.order_quantity[index]),
                expected_arrival=result.expected_arrival[index],
                inventory_position=float(decision.inventory_position[index]),
                order_up_to_level=float(decision.order_up_to_level[index]),
                quantile_used=_finite(decision.quantile_used[index]),
                service_level=float(decision.service_level[index]),
                expected_cost=_finite(decision.expected_cost[index]),
                policy_version=self.settings.policy_version,
                model_version=self.day_close.model_version,
            )
            sends.append(
                await self.publish(
                    topics.REORDER_COMMANDS, sku.encode(), events.encode(command)
                )
            )
        await asyncio.gather(*sends)
        self.metrics.count_commands(result.decision.order_quantity[result.ordered])

    def _count(self, topic: str, outcome: Outcome, message: Any) -> None:
        self.metrics.count_events(topic, outcome.value)
        if outcome is Outcome.LATE:
            log.debug("Late event %s[%d]@%d", topic, message.partition, message.offset)


def _finite(value: float) -> float | None:
    """``value`` as a float, or None where a policy left the term undefined."""
    number = float(value)
    return number if math.isfinite(number) else None


def create_app(
    settings: Settings,
    forecaster: Forecaster,
    policy: Policy,
    *,
    model_version: str,
    metrics: Metrics | None = None,
) -> faust.App:
    """Build the worker's Faust app around ``forecaster`` and ``policy``."""
    app = faust.App(
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
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.session_timeout_seconds / 4,
    )
    metrics = metrics or Metrics()
    # A day close writes one changelog record per SKU at once; let the
    # producer buffer hold a close's worth before it pauses to drain.
    app.producer.buffer.max_messages = 100_000

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            settings.topic(name),
            key_type=bytes,
            value_type=bytes,
            value_serializer="raw",
        )

    outputs = {
        name: topic(name) for name in (topics.REORDER_COMMANDS, topics.DEAD_LETTERS)
    }

    async def publish(name: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """Queue a record; the result resolves once the broker has it."""
        return await outputs[name].send(key=key, value=value)

    def table(name: str) -> Any:
        return app.Table(
            name,
            default=None,
            partitions=settings.partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
        )

    day_close = DayClose(
        forecaster,
        policy,
        horizon=settings.horizon,
        quantile_levels=settings.quantile_levels,
        window_days=settings.window_days,
        model_version=model_version,
    )
    store = StateStore(table("sku-state"), table("partition-clock"))
    controller = Controller(settings, store, day_close, metrics, publish)
    metrics.set_model(model_version)
    for name in (topics.SALES_EVENTS, topics.STOCK_EVENTS):
        metrics.declare_topic(settings.topic(name))

    @app.agent(topic(topics.SALES_EVENTS))
    async def ingest_sales(stream: Any) -> None:
        batches = stream.take_events(settings.batch_size, settings.batch_seconds)
        async for batch in batches:
            await controller.on_sales(batch)

    @app.agent(topic(topics.STOCK_EVENTS))
    async def ingest_stock(stream: Any) -> None:
        batches = stream.take_events(settings.batch_size, settings.batch_seconds)
        async for batch in batches:
            await controller.on_stock(batch)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        body = prometheus_client.generate_latest(metrics.registry)
        return web.bytes(body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    @app.page("/healthz")
    async def health_view(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def ready_view(web: Any, request: Any) -> Any:
        tables: Any = app.tables
        ready = not app.rebalancing and tables.recovery.completed.is_set()
        metrics.set_ready(ready)
        return web.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/skus/{sku}")
    async def sku_view(web: Any, request: Any, sku: str) -> Any:
        state = store.get(sku)
        if state is None:
            return web.json(
                {"error": f"sku: not held by this worker, got {sku!r}"}, status=404
            )
        return web.json(state.to_json())

    async def on_revoked(
        sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        revoked: set[Any] = args[0] if args else kwargs["revoked"]
        await asyncio.gather(*store.flush())
        store.forget(
            {tp.partition for tp in revoked if tp.topic == controller.sales_topic}
        )

    app.on_partitions_revoked.connect(on_revoked)
    app.controller = controller  # type: ignore[attr-defined]
    return app
