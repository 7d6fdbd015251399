"""Read topics back: end offsets and every record so far, decoded."""

from __future__ import annotations

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send ``(key, value)`` records to ``topic`` and wait until all are acked."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset to be written, per partition of ``topic``."""
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
