"""Sale events per second through one worker process, against a raw consumer.

    python bench/bench_worker.py --events 200000 --skus 5000 --days 4

Needs a Kafka broker (``--bootstrap``, else ``$KAFKA_BOOTSTRAP_SERVERS``).
Three phases run on fresh topics (their own prefix) in one run:

1. **Raw reference.** ``--events`` sale records over ``--skus`` SKUs and
   ``--days`` event-time days (in time order, so every partition closes
   ``days - 1`` days) are produced, then read back by a plain aiokafka
   consumer that decodes each one with ``streams.events.decode_sale`` and
   does nothing else.
2. **Worker throughput.** ``replenish worker`` starts on the same topics
   (``python -m streams worker`` in a subprocess). The clock starts when its
   ``/readyz`` answers 200 and stops when ``replenish_ingest_events_total``
   (polled on ``/metrics`` every ``--poll`` seconds) reaches the event count;
   events already counted at the start are subtracted. Day closes, commands,
   forecasts and changelog writes are all inside the measured time.
3. **Sale-to-command latency.** The same worker then gets sales produced in
   real time at ``--rate`` events per second for ``--latency-seconds``, with
   event time running so that one day lasts ``--day-seconds`` seconds. In
   each partition the first sale of day D+1 closes day D. The latency of a
   reorder command for (SKU, ``as_of`` D) is the wall time from just before
   that closing sale was handed to the producer to the moment a consumer of
   ``reorder-commands`` (long-polling, started before the phase) received the
   command. It includes producer linger, the worker's fetch, the close
   itself, publication and the consumer fetch. After the last sale the phase
   waits until no command has arrived for ``--grace`` seconds, so that slow
   closes are counted too; the day that is still open at the end is not
   closed and has no command.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streams.events import decode_command, decode_sale
from streams.supervisor import WorkerProcess
from streams.topics import REORDER_COMMANDS, SALES_EVENTS, ensure_topics

PARTITIONS = 4
ZONE = ZoneInfo("Europe/London")
#: Winter, so that London time is UTC and event days are UTC days.
FIRST_DAY = dt.date(2024, 1, 8)


def sale_value(event_id: str, sku: str, quantity: int, at: dt.datetime) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": event_id,
            "sku": sku,
            "quantity": quantity,
            "unit_price": 2.5,
            "occurred_at": at.isoformat(),
        }
    )


def sku_codes(n_skus: int) -> list[str]:
    return [f"SKU{i:06d}" for i in range(n_skus)]


def history(n_events: int, n_skus: int, n_days: int) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` of ``n_events`` sales spread evenly over ``n_days``."""
    rng = np.random.default_rng(0)
    skus = sku_codes(n_skus)
    picks = rng.integers(0, n_skus, n_events)
    quantities = rng.integers(1, 5, n_events)
    start = dt.datetime.combine(FIRST_DAY, dt.time(), tzinfo=dt.UTC)
    step = dt.timedelta(days=n_days) / n_events
    for i in range(n_events):
        sku = skus[picks[i]]
        value = sale_value(f"h-{i}", sku, int(quantities[i]), start + i * step)
        yield sku.encode(), value


async def produce(bootstrap: str, topic: str, records: Iterator[tuple[bytes, bytes]]):
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, n_events: int) -> float:
    """Seconds to consume and decode ``n_events`` records from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started = time.perf_counter()
        while seen < n_events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    decode_sale(record.value)
                seen += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def worker_throughput(worker: WorkerProcess, n_events: int, poll: float) -> float:
    """Events per second from ready to the last event counted."""
    worker.start()
    started = time.perf_counter()
    already = worker.events_seen()
    seen = already
    while seen < n_events:
        time.sleep(poll)
        seen = worker.events_seen()
    seconds = time.perf_counter() - started
    return (n_events - already) / seconds


@dataclass
class LatencyRun:
    """What the latency phase measured."""

    latencies: list[float]
    closes: int
    sent: int


async def latency(
    bootstrap: str,
    prefix: str,
    n_skus: int,
    *,
    first_day: dt.date,
    rate: float,
    seconds: float,
    day_seconds: float,
    grace: float,
) -> LatencyRun:
    """Produce sales in real time; time each command from its closing sale."""
    sales, commands = prefix + SALES_EVENTS, prefix + REORDER_COMMANDS
    partitioner = DefaultPartitioner()
    everywhere = list(range(PARTITIONS))
    skus = sku_codes(n_skus)
    partition_of = {s: partitioner(s.encode(), everywhere, everywhere) for s in skus}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    tps = [TopicPartition(commands, p) for p in everywhere]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    received: list[tuple[float, bytes]] = []

    async def collect() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.time()
            received.extend((now, r.value) for rs in batches.values() for r in rs)

    collector = asyncio.create_task(collect())
    opened: dict[tuple[int, dt.date], float] = {}
    rng = np.random.default_rng(1)
    origin = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
    speed = 86_400 / day_seconds
    started = time.monotonic()
    sent = 0
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = sent / rate
            if due > elapsed:
                await asyncio.sleep(due - elapsed)
                continue
            sku = skus[int(rng.integers(n_skus))]
            at = origin + dt.timedelta(seconds=due * speed)
            day = at.astimezone(ZONE).date()
            value = sale_value(f"l-{sent}", sku, 1, at)
            opened.setdefault((partition_of[sku], day), time.time())
            await producer.send(sales, value, key=sku.encode())
            sent += 1
        await producer.flush()
        # wait for the closes still running: until no command came for `grace`
        deadline = time.monotonic() + 600
        count = -1
        while len(received) != count and time.monotonic() < deadline:
            count = len(received)
            await asyncio.sleep(grace)
    finally:
        collector.cancel()
        await producer.stop()
        await consumer.stop()

    latencies = []
    for arrived, raw in received:
        command = decode_command(raw)
        closing = opened.get((partition_of[command.sku], command.as_of + _DAY))
        if closing is not None:
            latencies.append(arrived - closing)
    return LatencyRun(latencies, len(opened), sent)


_DAY = dt.timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--skus", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--poll", type=float, default=0.25)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--latency-seconds", type=float, default=90.0)
    parser.add_argument("--day-seconds", type=float, default=20.0)
    parser.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args()
    if not args.bootstrap:
        parser.error("--bootstrap: required when $KAFKA_BOOTSTRAP_SERVERS is unset")

    token = f"bench-worker-{uuid.uuid4().hex[:8]}"
    prefix = f"{token}."
    ensure_topics(args.bootstrap, partitions=PARTITIONS, prefix=prefix)
    sales = prefix + SALES_EVENTS
    began = time.perf_counter()
    records = history(args.events, args.skus, args.days)
    asyncio.run(produce(args.bootstrap, sales, records))
    print(f"produced {args.events} sales in {time.perf_counter() - began:.1f} s")

    raw_seconds = asyncio.run(raw_consume(args.bootstrap, sales, args.events))
    raw_rate = args.events / raw_seconds

    root = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    worker = WorkerProcess(
        bootstrap=args.bootstrap,
        app_id=f"{token}-app",
        prefix=prefix,
        data_dir=root / "worker",
        log_path=root / "worker.log",
    )
    try:
        worker_rate = worker_throughput(worker, args.events, args.poll)
        closes = worker.metrics()[("replenish_day_close_seconds_count", ())]
        run = asyncio.run(
            latency(
                args.bootstrap,
                prefix,
                args.skus,
                first_day=FIRST_DAY + dt.timedelta(days=args.days),
                rate=args.rate,
                seconds=args.latency_seconds,
                day_seconds=args.day_seconds,
                grace=args.grace,
            )
        )
    finally:
        worker.stop()

    report(
        args,
        raw_rate=raw_rate,
        worker_rate=worker_rate,
        closes=int(closes),
        run=run,
        log_path=root / "worker.log",
    )


def report(
    args: argparse.Namespace,
    *,
    raw_rate: float,
    worker_rate: float,
    closes: int,
    run: LatencyRun,
    log_path: Path,
) -> None:
    load = os.getloadavg()
    print()
    print(
        f"{dt.date.today()}, {platform.node()}, {os.cpu_count()} CPUs,"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"worker log: {log_path}")
    print()
    print("| consumer | events | events/s | share of raw |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| raw aiokafka + decode_sale | {args.events:,} | {raw_rate:,.0f} | 1.00 |")
    share = worker_rate / raw_rate
    print(
        f"| replenish worker ({closes} day closes) | {args.events:,}"
        f" | {worker_rate:,.0f} | {share:.2f} |"
    )
    print()
    if run.latencies:
        p50, p95, p99 = np.percentile(run.latencies, [50, 95, 99])
        print("| sale-to-command latency | p50 s | p95 s | p99 s | commands | closes |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        print(
            f"| {run.sent:,} sales at {args.rate:g}/s, one day per"
            f" {args.day_seconds:g} s | {p50:.3f} | {p95:.3f} | {p99:.3f}"
            f" | {len(run.latencies):,} | {run.closes} |"
        )
    else:
        print(f"no reorder command arrived in the latency phase; see {log_path}")


if __name__ == "__main__":
    main()
