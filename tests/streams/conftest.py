"""A real worker process on the test broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.supervisor import WorkerProcess
from streams.topics import ensure_topics


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
