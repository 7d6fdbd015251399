"""Run ``replenish worker`` as a child process and read its metrics.

The demo and the integration tests drive real worker processes this way:
started with their own topics and consumer group, stopped with a signal (or
killed, to test recovery), and observed through ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


class WorkerProcessError(RuntimeError):
    """The worker exited or did not become ready; the message has its log tail."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WorkerProcess:
    """``replenish worker`` in a subprocess, with its own topics and group.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap address.
    app_id
        Consumer group and internal-topic prefix of this worker.
    prefix
        Topic prefix (see ``Settings.topic_prefix``).
    data_dir
        The worker's local state folder.
    log_path
        Where the worker's output goes.
    web_port
        Port of its HTTP views; a free one by default.
    env
        Further environment variables (``REPLENISH_*`` settings).
    """

    bootstrap: str
    app_id: str
    prefix: str
    data_dir: Path
    log_path: Path
    web_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "REPLENISH_BOOTSTRAP_SERVERS": self.bootstrap,
            "REPLENISH_APP_ID": self.app_id,
            "REPLENISH_TOPIC_PREFIX": self.prefix,
            "REPLENISH_WEB_PORT": str(self.web_port),
            "REPLENISH_DATA_DIR": str(self.data_dir),
            **self.env,
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
                raise WorkerProcessError(f"worker exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise WorkerProcessError(f"worker not ready in {timeout} s:\n{self.log_tail()}")

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
        raise WorkerProcessError(
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
