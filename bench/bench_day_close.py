"""Seconds for one day close against SKU count, publication to Kafka included.

    python bench/bench_day_close.py --sizes 1000 10000 30000 --repeats 3

Needs a Kafka broker (``--bootstrap``, else ``$KAFKA_BOOTSTRAP_SERVERS``).
One ``replenish worker`` process runs on fresh topics with ``--partitions``
partitions (1 by default, so that one close covers every SKU). For each
size, smallest first, and each repeat: one sale per SKU is produced for day
D and the worker is waited on until it has applied them all; then one sale
of day D + 1 per partition (the advancing sale) closes day D. Reported:

- ``worker close``: the increase of ``replenish_day_close_seconds_sum``,
  i.e. the worker's own timing of its closes, from the batched forecast to
  the last command, forecast and changelog record acknowledged by the
  broker (summed over partitions);
- ``sale to closed``: from just before the advancing sales were handed to
  the producer to ``replenish_day_close_last_timestamp_seconds`` (the wall
  time the last close completed), so producer linger, the fetch and the
  collection of the SKU states are included too;
- ``in-process close``: the reference, :meth:`streams.day_close.DayClose.run`
  (the forecaster the same ``REPLENISH_*`` settings give the worker, and its
  policy; no Kafka, no encoding) on as many synthetic SKU states in this
  process, closing consecutive days.

The first close of a size steps SKUs the forecaster has not seen before
(their recurrent state is built from their history); every later repeat
covers the same SKUs, as a worker's days do, so the median over the repeats
after the first is shown (``--repeats`` is at least 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from optimization.policy import QuantilePolicy
from streams.config import Settings
from streams.day_close import DayClose
from streams.forecaster import make_stepper
from streams.policy_book import PolicyBook
from streams.state import SkuState
from streams.supervisor import WorkerProcess
from streams.topics import SALES_EVENTS, ensure_topics

#: Winter, so that London time is UTC and event days are UTC days.
FIRST_DAY = dt.date(2024, 1, 8)
CLOSE_SUM = ("replenish_day_close_seconds_sum", ())
CLOSE_COUNT = ("replenish_day_close_seconds_count", ())
CLOSE_SKUS = ("replenish_day_close_skus_sum", ())
CLOSED_AT = ("replenish_day_close_last_timestamp_seconds", ())
COMMANDS = ("replenish_commands_total", ())


@dataclass(frozen=True)
class Close:
    """One measured close (over all partitions) of ``skus`` SKUs."""

    skus: int
    worker_seconds: float
    end_to_end_seconds: float
    commands: int


def sale(event_id: str, sku: str, at: dt.datetime) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": event_id,
            "sku": sku,
            "quantity": 1 + len(event_id) % 3,
            "unit_price": 4.0,
            "occurred_at": at.isoformat(),
        }
    )


def partition_of(sku: str, partitions: int) -> int:
    return (murmur2(sku.encode()) & 0x7FFFFFFF) % partitions


class Bench:
    """Drives one worker through the closes of growing SKU counts."""

    def __init__(self, worker: WorkerProcess, partitions: int) -> None:
        self.worker = worker
        self.partitions = partitions
        self.topic = worker.prefix + SALES_EVENTS
        self.producer = KafkaProducer(
            bootstrap_servers=worker.bootstrap, linger_ms=5, batch_size=256 * 1024
        )
        self.day = FIRST_DAY
        self.sent = 0

    def close(self, size: int) -> Close:
        skus = [f"SKU{i:06d}" for i in range(size)]
        morning = dt.datetime.combine(self.day, dt.time(10), tzinfo=dt.UTC)
        for sku in skus:
            self.send(sku, morning)
        self.producer.flush()
        self.worker.wait_for_events(self.sent, timeout=600)

        before = self.worker.metrics()
        advancing = {partition_of(s, self.partitions): s for s in skus}
        next_day = morning + dt.timedelta(hours=14, seconds=1)
        sent_at = time.time()
        for sku in advancing.values():
            self.send(sku, next_day)
        self.producer.flush()
        after = self.wait_closes(before[CLOSE_COUNT] + len(advancing))
        self.day += dt.timedelta(days=1)

        closed = int(after[CLOSE_SKUS] - before[CLOSE_SKUS])
        return Close(
            skus=closed,
            worker_seconds=after[CLOSE_SUM] - before[CLOSE_SUM],
            end_to_end_seconds=after[CLOSED_AT] - sent_at,
            commands=int(after[COMMANDS] - before.get(COMMANDS, 0.0)),
        )

    def send(self, sku: str, at: dt.datetime) -> None:
        value = sale(f"{at:%Y%m%d}-{self.sent}", sku, at)
        self.producer.send(self.topic, key=sku.encode(), value=value)
        self.sent += 1

    def wait_closes(self, count: float, timeout: float = 600.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                metrics = self.worker.metrics()
            except OSError:
                # the worker's views do not answer while a large close runs
                continue
            if metrics[CLOSE_COUNT] >= count:
                return metrics
            # the close timestamps come from the worker: polling often only adds
            # load to the worker being measured
            time.sleep(0.5)
        raise TimeoutError(
            f"close count: must reach {count} in {timeout} s:\n{self.worker.log_tail()}"
        )


def in_process_seconds(size: int, day: dt.date, repeats: int) -> float:
    """Median seconds of ``DayClose.run`` over ``size`` synthetic SKU states.

    The same states close ``repeats`` days in a row, as in the worker; the
    first close steps SKUs the forecaster has never seen, so the median is
    taken over the later ones.
    """
    settings = Settings.from_env()
    stepper = make_stepper(settings)
    day_close = DayClose(stepper, QuantilePolicy(), window_days=settings.window_days)
    book = PolicyBook(settings.default_policy, settings.policy_version, {})
    rng = np.random.default_rng(0)
    states = []
    for i in range(size):
        state = SkuState(f"SKU{i:06d}", 0)
        state.history = array("f", rng.poisson(1.0, settings.window_days - 1))
        state.last_closed_day = day - dt.timedelta(days=1)
        states.append(state)
    timings = []
    for repeat in range(max(repeats, 2)):
        closing = day + dt.timedelta(days=repeat)
        for i, state in enumerate(states):
            state.apply_sale(f"e{repeat}-{i}", closing, 2)
        started = time.perf_counter()
        day_close.run(states, closing, book)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 30_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args()
    if not args.bootstrap:
        parser.error("--bootstrap: required when $KAFKA_BOOTSTRAP_SERVERS is unset")
    if args.repeats < 2:
        parser.error(f"--repeats: must be at least 2, got {args.repeats}")
    if sorted(args.sizes) != args.sizes:
        parser.error(f"--sizes: must be in increasing order, got {args.sizes}")

    token = f"bench-close-{uuid.uuid4().hex[:8]}"
    ensure_topics(args.bootstrap, partitions=args.partitions, prefix=f"{token}.")
    os.environ["REPLENISH_PARTITIONS"] = str(args.partitions)
    root = Path(tempfile.mkdtemp(prefix="bench-close-"))
    worker = WorkerProcess(
        bootstrap=args.bootstrap,
        app_id=f"{token}-app",
        prefix=f"{token}.",
        data_dir=root / "worker",
        log_path=root / "worker.log",
    )
    worker.start()
    bench = Bench(worker, args.partitions)
    closes: dict[int, list[Close]] = {}
    try:
        for size in args.sizes:
            closes[size] = [bench.close(size) for _ in range(args.repeats)]
    finally:
        worker.stop()
        bench.producer.close()
    reference = {s: in_process_seconds(s, FIRST_DAY, args.repeats) for s in args.sizes}

    load = os.getloadavg()
    print(
        f"{dt.date.today()}, {platform.node()}, {os.cpu_count()} CPUs,"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f},"
        f" {args.partitions} partition(s), worker log {root / 'worker.log'}"
    )
    print()
    print(
        "| SKUs | in-process close s | worker close incl. publication s"
        " | sale to closed s | commands |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size, runs in closes.items():
        steady = runs[1:]  # the first close of a size meets new SKUs
        worker_s = statistics.median(c.worker_seconds for c in steady)
        end_s = statistics.median(c.end_to_end_seconds for c in steady)
        commands = statistics.median(c.commands for c in steady)
        print(
            f"| {runs[-1].skus:,} | {reference[size]:.3f} | {worker_s:.3f}"
            f" | {end_s:.3f} | {commands:,.0f} |"
        )


if __name__ == "__main__":
    main()
