"""The local broker: start, readiness, status, stop, and their failure modes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import (
    BrokerStartError,
    LocalKafka,
    broker_answers,
    pinned_kafka_version,
)
from streams.cli import main


def _free_port_pair() -> int:
    """A port ``p`` such that ``p`` and ``p + 1`` are both free."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port


@pytest.fixture(scope="module")
def jars() -> Path:
    """The broker jars of the default cache, resolved once and shared."""
    return LocalKafka.from_env().resolve_jars()


@pytest.fixture
def idle_broker(tmp_path: Path) -> LocalKafka:
    """A broker of its own (cache folder, free ports) that is never started."""
    return LocalKafka(tmp_path, port=_free_port_pair())


@pytest.fixture
def broker(tmp_path: Path, jars: Path) -> Iterator[LocalKafka]:
    """A broker of its own (cache folder, free ports) that the test may start."""
    local = LocalKafka(tmp_path, port=_free_port_pair(), lib_dir=jars)
    yield local
    local.stop(timeout=10)


def test_pinned_version_is_a_release_number():
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_kafka_version())


@pytest.mark.integration
async def test_start_status_stop_and_restart_keep_cluster_and_topics(broker):
    assert not broker.status().running
    assert not broker.status().answering

    assert broker.start() is True
    status = broker.status()
    assert status.running and status.answering
    assert status.pid == int(broker.pid_file.read_text())
    cluster_id = (broker.home / "cluster.id").read_text().strip()
    meta = (broker.data_dir / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta
    assert broker.start() is False  # already running: a no-op
    assert broker.status().pid == status.pid
    await _create_topic(broker.bootstrap_servers, "kept")

    assert broker.stop() is True
    assert not broker.status().running
    assert not broker.status().answering
    assert not broker.pid_file.exists()
    assert broker.stop() is False

    assert broker.start() is True
    assert (broker.home / "cluster.id").read_text().strip() == cluster_id
    assert "kept" in await _topic_names(broker.bootstrap_servers)
    assert broker.log_file.stat().st_size > 0


@pytest.mark.integration
def test_a_running_broker_is_found_on_its_own_port_whatever_port_is_asked(
    broker, jars, caplog
):
    broker.start()
    other_port = LocalKafka(broker.cache, port=_free_port_pair(), lib_dir=jars)

    assert other_port.start() is False
    assert other_port.bootstrap_servers == broker.bootstrap_servers
    assert f"on port {broker.port}, not on port" in caplog.text
    assert other_port.status().answering


def test_start_refuses_a_port_another_process_holds(idle_broker):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", idle_broker.port))
        squatter.listen()
        with pytest.raises(BrokerStartError, match=f"{idle_broker.port} is in use"):
            idle_broker.start(timeout=5)
    assert not idle_broker.pid_file.exists()


def test_wait_ready_times_out_naming_the_log(idle_broker):
    with pytest.raises(BrokerStartError, match="did not answer") as error:
        idle_broker.wait_ready(timeout=0.5)
    assert str(idle_broker.log_file) in str(error.value)


def test_wait_ready_fails_fast_when_the_process_exits(idle_broker):
    process = subprocess.Popen(["true"])
    process.wait()
    with pytest.raises(BrokerStartError, match="exited before answering") as error:
        idle_broker.wait_ready(timeout=30, pid=process.pid)
    assert str(idle_broker.log_file) in str(error.value)


def test_stale_pid_file_is_not_a_running_broker(idle_broker):
    idle_broker.home.mkdir(parents=True)
    idle_broker.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a broker

    assert idle_broker.status().running is False
    assert not idle_broker.pid_file.exists()


def test_broker_answers_is_false_on_a_closed_port(idle_broker):
    assert broker_answers(idle_broker.bootstrap_servers) is False


@pytest.mark.integration
def test_broker_answers_on_the_session_broker(kafka_bootstrap):
    assert broker_answers(kafka_bootstrap) is True


def test_cli_status_of_a_stopped_broker(idle_broker, monkeypatch, capsys):
    monkeypatch.setenv("REPLENISH_CACHE_DIR", str(idle_broker.cache))
    monkeypatch.setenv("REPLENISH_KAFKA_PORT", str(idle_broker.port))

    assert main(["kafka", "status"]) == 1
    assert "not running" in capsys.readouterr().out


async def _create_topic(bootstrap_servers: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()


async def _topic_names(bootstrap_servers: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()
