"""Fixtures shared by the whole test suite.

``kafka_bootstrap`` is the address of a real Kafka broker, found in this order:

1. ``$KAFKA_BOOTSTRAP_SERVERS``, when set;
2. a testcontainers ``apache/kafka`` container, when a Docker engine answers;
3. the local broker of ``streams.broker`` (started if needed, and stopped at
   the end of the session only if this session started it).
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.broker import (
    BrokerStartError,
    LocalKafka,
    broker_answers,
    pinned_kafka_version,
)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address (``host:port``) of a running Kafka broker."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
    elif _docker_answers():
        yield from _kafka_container()
    else:
        broker = LocalKafka.from_env()
        started = broker.start()
        try:
            yield broker.bootstrap_servers
        finally:
            if started:
                broker.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make topic names and group ids no other test (or test run) uses.

    ``unique_name("sales")`` gives e.g. ``t-test-commit-resumes-1a2b3c4d-sales``;
    every call in one test shares the same test name and token.
    """
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:80]
    token = uuid.uuid4().hex[:8]

    def make(suffix: str = "") -> str:
        return f"t-{test}-{token}" + (f"-{suffix}" if suffix else "")

    return make


@pytest.fixture
def topic_prefix(unique_name: Callable[[str], str]) -> str:
    """A prefix giving a test its own copy of the topic catalogue."""
    return unique_name("") + "."


def _docker_answers() -> bool:
    """Whether a Docker engine answers; quick when there is none."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    import docker  # noqa: PLC0415 - only where a Docker socket exists

    try:
        docker.from_env(timeout=3).ping()
    except (docker.errors.DockerException, OSError):
        return False
    return True


def _kafka_container() -> Iterator[str]:
    """Run ``apache/kafka`` at the pinned version on a free host port."""
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        ),
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    container = DockerContainer(f"apache/kafka:{pinned_kafka_version()}")
    for key, value in env.items():
        container.with_env(key, value)
    container.with_bind_ports(9092, port)
    with container:
        bootstrap = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not broker_answers(bootstrap):
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"apache/kafka container did not answer on {bootstrap} in 120 s"
                )
            time.sleep(0.5)
        yield bootstrap
