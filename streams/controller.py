"""What the worker does with each batch of records, with no Kafka objects.

Records are decoded (bad ones go to ``dead-letters`` with their coordinates
and raw bytes) and applied to per-SKU state; sales advance their partition's
clock. When a partition's clock passes the end of a day, every SKU of that
partition is closed for that day in one batched forecast and one vectorized
policy call (run in a thread, off the event loop), and the resulting
forecasts and reorder commands are published.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from forecasting.incremental import LSTMStepper
from streams import events, topics
from streams.accuracy import RollingAccuracy
from streams.config import Settings, UnknownSku
from streams.day_close import CloseResult, DayClose, record_orders
from streams.metrics import Metrics
from streams.models import ModelUpdateError, load_update
from streams.policy_book import PolicyBook
from streams.publication import command_records, forecast_records
from streams.state import Outcome
from streams.store import StateStore

log = logging.getLogger(__name__)

#: Queues a record to a catalogue topic; the result resolves once it is acked.
Publish = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]


class Controller:
    """Applies decoded events to state and closes days.

    The Faust agents call the ``on_*`` coroutines with batches of records
    (objects with ``.message`` and ``.value``, as Faust events have);
    publication goes through ``publish``, so this class can be driven
    without a broker.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: StateStore,
        day_close: DayClose,
        policies: PolicyBook,
        metrics: Metrics,
        publish: Publish,
    ) -> None:
        self.settings = settings
        self.store = store
        self.day_close = day_close
        self.policies = policies
        self.metrics = metrics
        self.publish = publish
        self.sales_topic = settings.topic(topics.SALES_EVENTS)
        self.stock_topic = settings.topic(topics.STOCK_EVENTS)
        self.promotions_topic = settings.topic(topics.PROMOTION_EVENTS)
        self.policies_topic = settings.topic(topics.SKU_POLICIES)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="close")
        self._lock = asyncio.Lock()
        self._last_close: dict[int, tuple[CloseResult, dict[str, str]]] = {}
        self.accuracy = RollingAccuracy(np.asarray(settings.quantile_levels))

    async def on_sales(self, records: Sequence[Any]) -> None:
        await self._ingest(records, self.sales_topic, self._apply_sale)

    async def on_stock(self, records: Sequence[Any]) -> None:
        await self._ingest(records, self.stock_topic, self._apply_stock)

    async def on_promotions(self, records: Sequence[Any]) -> None:
        await self._ingest(records, self.promotions_topic, self._apply_promotion)

    async def on_policies(self, records: Sequence[Any]) -> None:
        await self._ingest(records, self.policies_topic, self._apply_policy)

    async def on_model_update(self, record: Any) -> None:
        """Adopt an announced model version, or keep serving the current one.

        The checkpoint is read and verified off the event loop; a refused
        update (checksum, corrupt file, incompatible model) is logged and
        changes nothing.
        """
        try:
            update = events.decode_model_update(record.value)
        except events.EventError as error:
            await self.dead_letter(
                self.settings.topic(topics.MODEL_UPDATES), record, error
            )
            return
        stepper = self.day_close.stepper
        if not isinstance(stepper, LSTMStepper):
            log.warning(
                "Ignored model %s: this worker forecasts with %s, which has no weights",
                update.model_version,
                stepper.model_version,
            )
            return
        if update.model_version == stepper.model_version:
            return
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(
                self._executor, load_update, update, stepper.model
            )
        except ModelUpdateError as error:
            log.warning(
                "Refused model update, still serving %s: %s",
                stepper.model_version,
                error,
            )
            return
        async with self._lock:
            await loop.run_in_executor(self._executor, stepper.swap, model)
        self.metrics.set_model(model.model_version)
        log.info("Now serving model %s from %s", model.model_version, update.location)

    async def close_due_days(self, now: dt.datetime, partitions: Sequence[int]) -> None:
        """Close, by the wall clock, every day that ended ``close_hour`` ago."""
        cutoff = now.astimezone(self.settings.zone) - dt.timedelta(
            hours=self.settings.close_hour
        )
        async with self._lock:
            for partition in partitions:
                await self._advance_clock(
                    partition, cutoff + self.settings.allowed_lateness
                )
            await self.store.flush()

    async def _ingest(
        self,
        records: Sequence[Any],
        topic: str,
        apply: Callable[[Any], Awaitable[Outcome | None]],
    ) -> None:
        """Apply a batch in order, persist what changed, count the outcomes."""
        outcomes: Counter[Outcome] = Counter()
        async with self._lock:
            for record in records:
                outcome = await apply(record)
                if outcome is not None:
                    outcomes[outcome] += 1
            await self.store.flush()
        for outcome, count in outcomes.items():
            self.metrics.count_events(topic, outcome.value, count)

    async def _decode(
        self, record: Any, topic: str, decoder: Callable[[bytes], Any]
    ) -> Any:
        """The event of ``record``, or None once it went to dead letters."""
        try:
            event = decoder(record.value)
        except events.EventError as error:
            await self.dead_letter(topic, record.message, error)
            return None
        if await self._known(event.sku, topic, record.message):
            return event
        return None

    async def _apply_sale(self, record: Any) -> Outcome | None:
        sale = await self._decode(record, self.sales_topic, events.decode_sale)
        if sale is None:
            return None
        message = record.message
        local = sale.occurred_at.astimezone(self.settings.zone)
        await self._advance_clock(message.partition, local)
        state = self.store.state(sale.sku, message.partition)
        outcome = state.apply_sale(sale.event_id, local.date(), sale.quantity)
        if outcome is Outcome.APPLIED:
            self.store.mark((state,))
        elif outcome is Outcome.LATE:
            log.debug(
                "Late sale %s of %s at %s[%d]@%d",
                sale.event_id,
                sale.sku,
                self.sales_topic,
                message.partition,
                message.offset,
            )
        return outcome

    async def _apply_stock(self, record: Any) -> Outcome | None:
        stock = await self._decode(record, self.stock_topic, events.decode_stock)
        if stock is None:
            return None
        state = self.store.state(stock.sku, record.message.partition)
        outcome = state.apply_stock(
            stock.event_id, stock.kind.value, stock.quantity, stock.command_id
        )
        if outcome is Outcome.APPLIED:
            self.store.mark((state,))
        return outcome

    async def _apply_promotion(self, record: Any) -> Outcome | None:
        promotion = await self._decode(
            record, self.promotions_topic, events.decode_promotion
        )
        if promotion is None:
            return None
        state = self.store.state(promotion.sku, record.message.partition)
        outcome = state.plan_promotion(
            promotion.event_id,
            promotion.starts_on,
            promotion.ends_on,
            promotion.discount,
        )
        if outcome is Outcome.APPLIED:
            self.store.mark((state,))
        return outcome

    async def _apply_policy(self, record: Any) -> Outcome | None:
        try:
            policy = events.decode_sku_policy(record.value)
        except events.EventError as error:
            await self.dead_letter(self.policies_topic, record.message, error)
            return None
        self.policies.load(policy)
        await self.store.save_policy(record.message.partition, policy.sku, record.value)
        return Outcome.APPLIED

    async def _known(self, sku: str, topic: str, message: Any) -> bool:
        """Whether events of ``sku`` are processed (else dead-lettered)."""
        if self.settings.unknown_sku is UnknownSku.DEFAULT or self.policies.has(sku):
            return True
        error = events.EventError(
            "sku",
            "must have a policy on sku-policies",
            sku,
            events.Reason.UNKNOWN_SKU,
        )
        await self.dead_letter(topic, message, error)
        return False

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
        raw = message.value or b""
        letter = events.DeadLetter.from_error(
            error,
            topic=topic,
            partition=message.partition,
            offset=message.offset,
            raw=raw[: events.MAX_DEAD_LETTER_BYTES // 2],
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
        started = time.perf_counter()
        result = await loop.run_in_executor(
            self._executor, self.day_close.run, states, day, self.policies
        )
        command_ids = [
            events.command_id(str(result.skus[i]), day, result.policy_versions[i])
            for i in result.ordered
        ]
        await self._publish_close(result, command_ids)
        record_orders(states, result, command_ids)
        self.store.mark_closed(states)
        await asyncio.gather(*await self.store.flush())
        self._score(partition, result)
        ordered = {
            str(result.skus[i]): cid
            for i, cid in zip(result.ordered, command_ids, strict=True)
        }
        self._last_close[partition] = (result, ordered)
        self.metrics.observe_close(time.perf_counter() - started, len(states), day)
        self.metrics.forecast_step_seconds.observe(result.forecast_seconds)
        log.info(
            "Closed %s for partition %d: %d SKUs, %d reorder commands",
            day,
            partition,
            len(states),
            len(command_ids),
        )

    async def _publish_close(self, result: CloseResult, command_ids: list[str]) -> None:
        """Publish the close's commands (and forecasts); return once all are acked."""
        version = self.day_close.model_version
        sends = [
            await self.publish(topics.REORDER_COMMANDS, key, value)
            for key, value in command_records(result, command_ids, version)
        ]
        if self.settings.publish_forecasts:
            sends += [
                await self.publish(topics.FORECASTS, key, value)
                for key, value in forecast_records(result, version)
            ]
        await asyncio.gather(*sends)
        self.metrics.count_commands(result.decision.order_quantity[result.ordered])

    def _score(self, partition: int, result: CloseResult) -> None:
        """Score yesterday's one-day-ahead forecasts of ``partition``."""
        previous = self._last_close.get(partition)
        if previous is None or previous[0].day != result.day - dt.timedelta(days=1):
            return
        scored = self.accuracy.update(
            previous[0].forecast,
            result.skus,
            result.history[:, -1],
            result.history.mean(axis=1),
        )
        if scored and self.accuracy.coverage is not None:
            self.metrics.set_forecast_accuracy(
                self.accuracy.scaled_error or 0.0,
                self.accuracy.quantile_levels,
                self.accuracy.coverage,
            )

    def latest(self, sku: str) -> dict[str, Any]:
        """The last forecast and command of ``sku`` this process published.

        Empty after a restart until the SKU's partition closes a day again.
        """
        state = self.store.get(sku)
        found = None if state is None else self._last_close.get(state.partition)
        if found is None:
            return {"forecast": None, "command_id": None}
        result, ordered = found
        rows = np.flatnonzero(result.skus == sku)
        if rows.size == 0:
            return {"forecast": None, "command_id": None}
        forecast = result.forecast
        return {
            "forecast": {
                "as_of": result.day.isoformat(),
                "quantile_levels": forecast.quantile_levels.tolist(),
                "values": forecast.values[rows[0]].tolist(),
            },
            "command_id": ordered.get(sku),
        }
