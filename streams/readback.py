"""Read topics back: end offsets and every record so far, decoded."""

from __future__ import annotations

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send ``(key, value)`` records to ``topic`` and wait until all are acked."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset to be written, per partition of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        return {
            tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()
        }
    finally:
        consumer.close()


def read_all(
    bootstrap: str, topic: str, keys: set[bytes] | None = None
) -> list[dict[str, object]]:
    """Every record of ``topic`` now (only those keyed by ``keys`` if given),
    decoded from JSON."""
    ends = end_offsets(bootstrap, topic)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    records: list[dict[str, object]] = []
    try:
        tps = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
        if not tps:
            return records
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        remaining = {tp: ends[tp.partition] for tp in tps}
        for message in consumer:
            if keys is None or message.key in keys:
                records.append(orjson.loads(message.value))
            tp = TopicPartition(message.topic, message.partition)
            if message.offset + 1 >= remaining.get(tp, 0):
                remaining.pop(tp, None)
                if not remaining:
                    break
    finally:
        consumer.close()
    return records


def latest_values(bootstrap: str, topic: str) -> dict[bytes, bytes]:
    """The last value of every key of ``topic`` (a changelog, say), raw."""
    ends = end_offsets(bootstrap, topic)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    latest: dict[bytes, bytes] = {}
    try:
        tps = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
        if not tps:
            return latest
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        remaining = {tp: ends[tp.partition] for tp in tps}
        for message in consumer:
            latest[message.key] = message.value
            tp = TopicPartition(message.topic, message.partition)
            if message.offset + 1 >= remaining[tp]:
                remaining.pop(tp)
                if not remaining:
                    break
    finally:
        consumer.close()
    return latest


class LagProbe:
    """Lag of consumer groups on topics, over one pair of long-lived clients.

    Use it as a context manager when polling often; :func:`committed_lag`
    is the one-off form.
    """

    def __init__(self, bootstrap: str) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False
        )
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap)

    def __enter__(self) -> LagProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._consumer.close()
        self._admin.close()

    def lag(self, group: str, topic: str) -> int:
        """Records of ``topic`` that consumer group ``group`` has not committed."""
        partitions = self._consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = self._consumer.end_offsets(tps)
        committed = self._admin.list_group_offsets({group: None}).get(group, {})
        done = {
            tp.partition: meta.offset
            for tp, meta in committed.items()
            if tp.topic == topic and meta.offset >= 0
        }
        return sum(end - done.get(tp.partition, 0) for tp, end in ends.items())


def committed_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of ``topic`` that consumer group ``group`` has not committed."""
    with LagProbe(bootstrap) as probe:
        return probe.lag(group, topic)
