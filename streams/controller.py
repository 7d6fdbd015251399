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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from forecasting.incremental import LSTMStepper
from streams import events, topics
from streams.accuracy import RollingAccuracy
from streams.config import Settings, UnknownSku
from streams.day_close import CloseResult, DayClose, record_orders
from streams.metrics import Metrics
from streams.models import ModelUpdateError, load_update
from streams.outbox import Outbox
from streams.policy_book import PolicyBook
from streams.publication import command_records, forecast_records
from streams.state import Outcome, SkuState
from streams.store import StateStore

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How far past the worker's clock a sale may lie; a later one would move its
#: partition's watermark, and close days, ahead of every real sale.
CLOCK_SKEW = dt.timedelta(days=1)


class Controller:
    """Applies decoded events to state and closes days.

    The worker's consumer calls :meth:`on_batch` with the records of each
    fetch; what it writes goes through ``outbox``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: StateStore,
        day_close: DayClose,
        policies: PolicyBook,
        metrics: Metrics,
        outbox: Outbox,
    ) -> None:
        self.settings = settings
        self.store = store
        self.day_close = day_close
        self.policies = policies
        self.metrics = metrics
        self.outbox = outbox
        self.sales_topic = settings.topic(topics.SALES_EVENTS)
        self.stock_topic = settings.topic(topics.STOCK_EVENTS)
        self.promotions_topic = settings.topic(topics.PROMOTION_EVENTS)
        self.policies_topic = settings.topic(topics.SKU_POLICIES)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="close")
        #: Serializes ingest, day closes, model swaps and partition hand-overs.
        self.lock = asyncio.Lock()
        self._last_close: dict[int, tuple[CloseResult, dict[str, str]]] = {}
        self.accuracy = RollingAccuracy(np.asarray(settings.quantile_levels))
        self._zone = settings.zone
        self._policy_required = settings.unknown_sku is UnknownSku.DEAD_LETTER
        self._lateness = settings.allowed_lateness
        self._appliers: dict[str, Callable[[Any], Outcome | None]] = {
            self.stock_topic: self._apply_stock,
            self.promotions_topic: self._apply_promotion,
            self.policies_topic: self._apply_policy,
        }

    @property
    def input_topics(self) -> list[str]:
        """The topics :meth:`on_batch` reads."""
        return [self.sales_topic, *self._appliers]

    async def on_batch(self, batches: Mapping[Any, Sequence[Any]]) -> None:
        """Apply one fetch of input records, persist what changed, count outcomes.

        ``batches`` maps topic partitions (``.topic``) to their records
        (``.partition``, ``.offset``, ``.key``, ``.value``), in offset order.
        """
        async with self.lock:
            # policies first: a fetch's sales are reviewed under its policies,
            # and with unknown_sku=dead_letter are not refused for want of one
            for tp, records in sorted(
                batches.items(), key=lambda item: item[0].topic != self.policies_topic
            ):
                if tp.topic == self.sales_topic:
                    outcomes = await self._apply_sales(tp.partition, records)
                else:
                    apply = self._appliers[tp.topic]
                    outcomes = Counter(apply(record) for record in records)
                for outcome, count in outcomes.items():
                    if outcome is not None:
                        self.metrics.count_events(tp.topic, outcome.value, count)
            self.store.flush()
            await self.outbox.send()

    async def on_model_update(self, record: Any) -> None:
        """Adopt an announced model version, or keep serving the current one.

        The checkpoint is read and verified off the event loop; a refused
        update (checksum, corrupt file, incompatible model) is logged and
        changes nothing.
        """
        try:
            update = events.decode_model_update(record.value)
        except events.EventError as error:
            self.dead_letter(self.settings.topic(topics.MODEL_UPDATES), record, error)
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
        try:
            model = await self._in_thread(load_update, update, stepper.model)
        except ModelUpdateError as error:
            log.warning(
                "Refused model update, still serving %s: %s",
                stepper.model_version,
                error,
            )
            return
        async with self.lock:
            await self._in_thread(stepper.swap, model)
        self.metrics.set_model(model.model_version)
        log.info("Now serving model %s from %s", model.model_version, update.location)

    async def release(self, partitions: set[int]) -> None:
        """Write what changed, then forget ``partitions`` (revoked from this
        worker) and every policy read so far (another worker may change them
        before a partition comes back)."""
        async with self.lock:
            self.store.flush()
            await self.outbox.send_and_wait()
            self.store.forget(partitions)
            self.policies.forget()
            for partition in partitions:
                self._last_close.pop(partition, None)

    async def close_due_days(self, now: dt.datetime, partitions: Sequence[int]) -> None:
        """Close, by the wall clock, every day that ended ``close_hour`` ago."""
        cutoff = now.astimezone(self.settings.zone) - dt.timedelta(
            hours=self.settings.close_hour
        )
        async with self.lock:
            for partition in partitions:
                clock = self.store.clock(partition)
                if clock.observe(cutoff + self._lateness):
                    self.store.mark_clock(partition)
                await self._close_days(partition)
            self.store.flush()
            await self.outbox.send()

    def _decode(
        self,
        record: Any,
        topic: str,
        decoder: Callable[[bytes], Any],
        *,
        needs_policy: bool = True,
    ) -> Any:
        """The event of ``record``, or None once it went to dead letters: it
        breaks its schema, is keyed by another SKU, or (``needs_policy``) is
        of a SKU the worker does not serve."""
        try:
            event = decoder(record.value)
        except events.EventError as error:
            self.dead_letter(topic, record, error)
            return None
        if record.key != event.sku.encode():
            self.dead_letter(topic, record, _misrouted(event.sku, record.key))
            return None
        if needs_policy and self._policy_required and not self.policies.has(event.sku):
            self.dead_letter(topic, record, _unknown(event.sku))
            return None
        return event

    async def _apply_sales(
        self, partition: int, records: Sequence[Any]
    ) -> Counter[Outcome | None]:
        """Apply sales of ``partition`` in order; close the days they move past.

        The loop runs once per sale event, the worker's hottest path: it
        reads the state cache directly and counts outcomes in a list.
        """
        counts = [0, 0, 0, 0]  # applied, duplicate, late, dead-lettered
        applied, duplicate, late = Outcome.APPLIED, Outcome.DUPLICATE, Outcome.LATE
        store, zone, lateness = self.store, self._zone, self._lateness
        clock = store.clock(partition)
        if clock.closable(lateness):
            # a crash after a close moved the watermark but not the open day
            await self._close_days(partition)
        latest = dt.datetime.now(zone) + CLOCK_SKEW
        watermark, due = clock.watermark, clock.due(lateness, zone)
        for record in records:
            sale = self._decode(record, self.sales_topic, events.decode_sale)
            if sale is None:
                counts[3] += 1
                continue
            local = sale.occurred_at.astimezone(zone)
            if local > latest:
                self.dead_letter(self.sales_topic, record, _in_the_future(sale))
                counts[3] += 1
                continue
            if watermark is None or local > watermark:
                watermark = local
                if due is None or local >= due:
                    # the partition's first sale, or one past the open day
                    clock.observe(local)
                    store.mark_clock(partition)
                    await self._close_days(partition)
                    due = clock.due(lateness, zone)
            state = store.state(sale.sku, partition)
            outcome = state.apply_sale(sale.event_id, local.date(), sale.quantity)
            if outcome is applied:
                counts[0] += 1
                store.mark(state)
            elif outcome is duplicate:
                counts[1] += 1
            else:
                counts[2] += 1
                log.debug(
                    "Late sale %s of %s at %s[%d]@%d",
                    sale.event_id,
                    sale.sku,
                    self.sales_topic,
                    partition,
                    record.offset,
                )
        if watermark is not None and clock.observe(watermark):
            store.mark_clock(partition)
        kinds = (applied, duplicate, late, None)
        return Counter({k: n for k, n in zip(kinds, counts, strict=True) if n})

    def _apply_stock(self, record: Any) -> Outcome | None:
        stock = self._decode(record, self.stock_topic, events.decode_stock)
        if stock is None:
            return None
        state = self.store.state(stock.sku, record.partition)
        outcome = state.apply_stock(
            stock.event_id, stock.kind.value, stock.quantity, stock.command_id
        )
        if outcome is Outcome.APPLIED:
            self.store.mark(state)
        return outcome

    def _apply_promotion(self, record: Any) -> Outcome | None:
        promotion = self._decode(record, self.promotions_topic, events.decode_promotion)
        if promotion is None:
            return None
        state = self.store.state(promotion.sku, record.partition)
        outcome = state.plan_promotion(
            promotion.event_id,
            promotion.starts_on,
            promotion.ends_on,
            promotion.discount,
        )
        if outcome is Outcome.APPLIED:
            self.store.mark(state)
        return outcome

    def _apply_policy(self, record: Any) -> Outcome | None:
        if record.value is None and record.key:
            # a tombstone: the SKU of the key is then a SKU without a policy
            sku = record.key.decode("utf-8", "replace")
            self.policies.remove(sku)
            self.store.delete_policy(record.partition, sku)
            log.info(
                "Policy of %s deleted at %s[%d]@%d; it is now a SKU without one",
                sku,
                self.policies_topic,
                record.partition,
                record.offset,
            )
            return Outcome.APPLIED
        policy = self._decode(
            record, self.policies_topic, events.decode_sku_policy, needs_policy=False
        )
        if policy is None:
            return None
        self.policies.load(policy)
        self.store.save_policy(record.partition, policy.sku, record.value)
        return Outcome.APPLIED

    def dead_letter(self, topic: str, record: Any, error: events.EventError) -> None:
        log.warning(
            "Dead letter from %s[%d]@%d: %s",
            topic,
            record.partition,
            record.offset,
            error,
        )
        raw = record.value or b""
        letter = events.DeadLetter.from_error(
            error,
            topic=topic,
            partition=record.partition,
            offset=record.offset,
            raw=raw[: events.MAX_DEAD_LETTER_BYTES // 2],
        )
        self.outbox.add(
            self.settings.topic(topics.DEAD_LETTERS),
            record.partition,
            record.key,
            events.encode(letter),
        )
        self.metrics.count_dead_letter(topic, error.reason.value)

    async def _close_days(self, partition: int) -> None:
        """Close, in order, every day the partition's watermark has passed."""
        clock = self.store.clock(partition)
        for day in clock.closable_days(self._lateness):
            await self._close(partition, day)
            clock.open_day = day + dt.timedelta(days=1)
            self.store.mark_clock(partition)

    async def _close(self, partition: int, day: dt.date) -> None:
        """Close ``day`` for every SKU of ``partition`` not closed for it yet.

        Writes are ordered so that a crash at any point is repaired by
        processing the same events again: the commands and forecasts reach
        the broker first, then the closed states; the clock moves last. A SKU
        whose closed state was written is skipped when the day is closed
        again, and one whose state was not gets the same command id and
        quantity again.

        The encoding runs in the close thread, off the event loop, so that
        the producer sends what is ready while the rest is encoded: forecasts
        are encoded while the commands travel, closed states while the
        forecasts do (held back until both are acknowledged).
        """
        states = [
            s for s in self.store.partition_states(partition) if not s.is_closed(day)
        ]
        if not states:
            return
        started = time.perf_counter()
        result = await self._in_thread(self.day_close.run, states, day, self.policies)
        ordered = result.ordered.tolist()
        command_ids = events.command_ids(
            result.skus[ordered].tolist(),
            day,
            [result.policy_versions[i] for i in ordered],
        )
        version = self.day_close.model_version
        self._add(
            topics.REORDER_COMMANDS,
            partition,
            command_records(result, command_ids, version),
        )
        published = [asyncio.ensure_future(self.outbox.deliver(self.outbox.take()))]
        if self.settings.publish_forecasts:
            forecasts = await self._in_thread(forecast_records, result, version)
            self._add(topics.FORECASTS, partition, forecasts)
            batches = self.outbox.take()
            published.append(asyncio.ensure_future(self.outbox.deliver(batches)))
        await self._in_thread(self._record_close, states, result, command_ids)
        await asyncio.gather(*published)
        await self.outbox.send_and_wait()

        self.metrics.count_commands(result.decision.order_quantity[result.ordered])
        self._score(partition, result)
        self._last_close[partition] = (
            result,
            dict(zip(result.skus[ordered].tolist(), command_ids, strict=True)),
        )
        self.metrics.observe_close(time.perf_counter() - started, len(states), day)
        self.metrics.forecast_step_seconds.observe(result.forecast_seconds)
        log.info(
            "Closed %s for partition %d: %d SKUs, %d reorder commands",
            day,
            partition,
            len(states),
            len(command_ids),
        )

    def _record_close(
        self, states: list[SkuState], result: CloseResult, command_ids: list[str]
    ) -> None:
        """Put the orders and closed days into the states, their records in the
        outbox (not sent).

        The clock waits for the next flush: were it sent beside the states,
        it could reach the broker without them, and after a crash the day
        would close again from states missing some of its sales.
        """
        record_orders(states, result, command_ids)
        self.store.mark_closed(states)
        self.store.flush(clocks=False)

    def _add(
        self, name: str, partition: int, records: list[tuple[bytes, bytes]]
    ) -> None:
        topic, outbox = self.settings.topic(name), self.outbox
        for key, value in records:
            outbox.add(topic, partition, key, value)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the close thread, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

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


def _in_the_future(sale: events.SaleEvent) -> events.EventError:
    return events.EventError(
        "occurred_at",
        f"must lie at most {CLOCK_SKEW.days} day past the worker's clock",
        sale.occurred_at.isoformat(),
        events.Reason.OUT_OF_RANGE,
    )


def _misrouted(sku: str, key: bytes | None) -> events.EventError:
    """The error of a record whose key is not its SKU: its state would live in
    a partition other than the SKU's."""
    shown = None if key is None else key.decode("utf-8", "replace")
    return events.EventError(
        "sku", f"must equal the record key ({shown!r})", sku, events.Reason.INCONSISTENT
    )


def _unknown(sku: str) -> events.EventError:
    return events.EventError(
        "sku", "must have a policy on sku-policies", sku, events.Reason.UNKNOWN_SKU
    )
