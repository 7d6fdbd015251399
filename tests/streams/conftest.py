"""A real worker process on the test broker, and helpers to drive and read it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.topics import ensure_topics


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WorkerProcess:
    """``replenish worker`` in a subprocess, with its own topics and group."""

    bootstrap: str
    app_id: str
    prefix: str
    data_dir: Path
    log_path: Path
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "REPLENISH_BOOTSTRAP_SERVERS": self.bootstrap,
            "REPLENISH_APP_ID": self.app_id,
            "REPLENISH_TOPIC_PREFIX": self.prefix,
            "REPLENISH_WEB_PORT": str(self.web_port),
            "REPLENISH_DATA_DIR": str(self.data_dir),
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout} s:\n{self.log_tail()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(self.url("/metrics"), timeout=5) as reply:
            text = reply.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def events_seen(self) -> float:
        """Sale and stock events the worker has finished with, any outcome."""
        return sum(
            value
            for (name, _), value in self.metrics().items()
            if name == "replenish_ingest_events_total"
        )

    def wait_for_events(self, count: int, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.events_seen() >= count:
                return
            time.sleep(0.5)
        raise AssertionError(
            f"worker saw {self.events_seen()} of {count} events:\n{self.log_tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@pytest.fixture
def worker(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Iterator[WorkerProcess]:
    """A worker (not yet started) with topics of its own."""
    prefix = unique_name("") + "."
    ensure_topics(kafka_bootstrap, partitions=4, prefix=prefix)
    process = WorkerProcess(
        bootstrap=kafka_bootstrap,
        app_id=unique_name("app"),
        prefix=prefix,
        data_dir=tmp_path / "worker",
        log_path=tmp_path / "worker.log",
    )
    yield process
    process.stop()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        return {
            tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()
        }
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str) -> list[dict[str, object]]:
    """Every record of ``topic`` now, decoded from JSON."""
    ends = end_offsets(bootstrap, topic)
    total = sum(ends.values())
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    records = []
    try:
        for message in consumer:
            records.append(orjson.loads(message.value))
            if len(records) >= total:
                break
    finally:
        consumer.close()
    return records
