"""A local single-node Apache Kafka broker, for development and tests.

The broker runs in KRaft combined mode (broker and controller in one JVM) on
127.0.0.1. Its jars come from Maven Central through ``deploy/kafka/pom.xml``;
jars, data, logs and the pid file live under the cache folder
(``$REPLENISH_CACHE_DIR``, default ``<repo>/.cache``)::

    .cache/maven/                 Maven's local repository
    .cache/kafka/lib/<version>/   the broker's class path
    .cache/kafka/data/            log.dirs (topic data, KRaft metadata)
    .cache/kafka/logs/server.log  the broker log (kafka.out: JVM output)
    .cache/kafka/cluster.id       the cluster id the storage was formatted with
    .cache/kafka/kafka.pid        the pid of the running broker

Use it from the command line (``replenish kafka start|stop|status``) or from
Python::

    broker = LocalKafka.from_env()
    broker.start()
    ...  # bootstrap servers: broker.bootstrap_servers
    broker.stop()
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from streams.config import REPO_ROOT, cache_dir

logger = logging.getLogger(__name__)

KAFKA_DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM_PATH = KAFKA_DEPLOY_DIR / "pom.xml"
DEFAULT_PORT = 9092
DEFAULT_HOST = "127.0.0.1"
DEFAULT_START_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 30.0
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_COMPLETE_MARKER = ".complete"


class BrokerError(RuntimeError):
    """The local broker could not be prepared, started or stopped."""


class JarResolutionError(BrokerError):
    """Maven could not resolve the broker's jars."""


class BrokerStartError(BrokerError):
    """The broker process exited or never answered; the message names its log."""


def kafka_port() -> int:
    """Return the broker port: ``$REPLENISH_KAFKA_PORT`` or 9092."""
    configured = os.environ.get("REPLENISH_KAFKA_PORT", str(DEFAULT_PORT))
    try:
        port = int(configured)
    except ValueError:
        port = -1
    if not 0 < port < 65535:
        raise ValueError(
            "REPLENISH_KAFKA_PORT must be an integer in [1, 65534] (the controller "
            f"takes the next port); got {configured!r}"
        )
    return port


def pinned_kafka_version(pom: Path = POM_PATH) -> str:
    """Return the Kafka version pinned by the ``kafka.version`` property of a pom."""
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise BrokerError(f"{pom}: property kafka.version is missing or empty")
    return (node.text or "").strip()


def broker_answers(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """Return whether a broker answers a metadata request and lists a live broker.

    A closed port is detected with a plain TCP connect first, so probing a
    broker that is not there is quick and does not log client errors.
    """
    host, _, port = bootstrap_servers.split(",", maxsplit=1)[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError:
        return False
    # Run the client in a thread with its own event loop, so this works from
    # synchronous code and from inside a running loop alike.
    with ThreadPoolExecutor(max_workers=1) as pool:
        probe = _metadata_lists_a_broker(bootstrap_servers, timeout)
        return pool.submit(asyncio.run, probe).result()


async def _metadata_lists_a_broker(bootstrap_servers: str, timeout: float) -> bool:
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()


@dataclass(frozen=True)
class BrokerStatus:
    """What ``LocalKafka.status`` found.

    Attributes
    ----------
    bootstrap_servers : str
        Address clients connect to, ``host:port``.
    pid : int or None
        Pid of the broker process this cache folder started, if it is alive.
    answering : bool
        Whether a broker at ``bootstrap_servers`` answers metadata requests
        (it may be one this cache folder did not start).
    log_file : Path
        The broker log.
    """

    bootstrap_servers: str
    pid: int | None
    answering: bool
    log_file: Path

    @property
    def running(self) -> bool:
        """Whether the broker process of this cache folder is alive."""
        return self.pid is not None

    def __str__(self) -> str:
        process = f"running (pid {self.pid})" if self.pid else "not running"
        answer = "answering" if self.answering else "not answering"
        return (
            f"kafka {process}, {self.bootstrap_servers} {answer}; log {self.log_file}"
        )


class LocalKafka:
    """A single-node KRaft broker whose jars, data and logs live in a cache folder.

    Parameters
    ----------
    cache : Path, optional
        Cache folder; default ``cache_dir()``. The broker's files go to
        ``<cache>/kafka``.
    port : int, optional
        Client port on 127.0.0.1; default ``kafka_port()``. The controller
        listens on ``port + 1``.
    lib_dir : Path, optional
        Folder holding the broker jars; default
        ``<cache>/kafka/lib/<pinned version>``, resolved with Maven when absent.
    heap : str
        JVM heap size (``-Xmx``), e.g. ``"512m"``.
    """

    def __init__(
        self,
        cache: Path | None = None,
        port: int | None = None,
        *,
        lib_dir: Path | None = None,
        heap: str = "512m",
    ) -> None:
        self.cache = Path(cache) if cache is not None else cache_dir()
        self.port = port if port is not None else kafka_port()
        self.host = DEFAULT_HOST
        self.heap = heap
        self.version = pinned_kafka_version()
        self.home = self.cache / "kafka"
        self.lib_dir = lib_dir or self.home / "lib" / self.version
        self.data_dir = self.home / "data"
        self.log_dir = self.home / "logs"
        self.log_file = self.log_dir / "server.log"
        self.pid_file = self.home / "kafka.pid"
        self.config_file = self.home / "server.properties"
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_env(cls) -> LocalKafka:
        """Build the broker described by ``REPLENISH_CACHE_DIR`` and ``..._PORT``."""
        return cls()

    @property
    def controller_port(self) -> int:
        """Port of the KRaft controller listener."""
        return self.port + 1

    @property
    def bootstrap_servers(self) -> str:
        """Address clients connect to, ``host:port``."""
        return f"{self.host}:{self.port}"

    def status(self) -> BrokerStatus:
        """Report whether the broker process runs and whether it answers."""
        pid = self._running_pid()
        if pid is not None:
            self._follow_port(pid)
        return BrokerStatus(
            self.bootstrap_servers,
            pid,
            broker_answers(self.bootstrap_servers),
            self.log_file,
        )

    def start(self, timeout: float = DEFAULT_START_TIMEOUT_S) -> bool:
        """Start the broker and wait until it answers metadata requests.

        Returns True when this call started it, False when it was running.
        Raises ``BrokerStartError`` when the port belongs to another process,
        or the broker exits or does not answer within ``timeout`` seconds.
        """
        with self._lock():
            pid = self._running_pid()
            if pid is not None:
                self._follow_port(pid)
                logger.info(
                    "Kafka already running (pid %d) at %s", pid, self.bootstrap_servers
                )
                self.wait_ready(timeout, pid)
                return False
            self._check_ports_free()
            self.resolve_jars()
            self._write_config()
            self.format_storage()
            pid = self._launch()
            self.wait_ready(timeout, pid)
        logger.info("Kafka %s ready at %s", self.version, self.bootstrap_servers)
        return True

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> bool:
        """Stop the broker: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL.

        Returns True when a running broker was stopped, False when none ran.
        """
        with self._lock():
            pid = self._running_pid()
            if pid is None:
                logger.info("Kafka not running (cache %s)", self.home)
                return False
            logger.info("Stopping Kafka (pid %d)", pid)
            os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                logger.warning(
                    "Kafka (pid %d) still running %.0f s after SIGTERM; sending "
                    "SIGKILL",
                    pid,
                    timeout,
                )
                os.kill(pid, signal.SIGKILL)
                self._wait_exit(pid, 10.0)
            self.pid_file.unlink(missing_ok=True)
            self._process = None
        logger.info("Kafka stopped")
        return True

    def wait_ready(self, timeout: float, pid: int | None = None) -> None:
        """Poll until the broker answers; fail fast if process ``pid`` exits."""
        deadline = time.monotonic() + timeout
        while not broker_answers(self.bootstrap_servers, timeout=2.0):
            if pid is not None and not _alive(pid):
                raise BrokerStartError(
                    f"Kafka (pid {pid}) exited before answering on "
                    f"{self.bootstrap_servers}; see {self.log_file} and "
                    f"{self.log_dir / 'kafka.out'}{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"Kafka did not answer on {self.bootstrap_servers} within "
                    f"{timeout:.0f} s; see {self.log_file}{self._log_tail()}"
                )
            time.sleep(0.25)

    def resolve_jars(self) -> Path:
        """Copy the broker jars into ``lib_dir`` with Maven, unless already there."""
        if (self.lib_dir / _COMPLETE_MARKER).exists():
            logger.debug("Kafka jars present in %s", self.lib_dir)
            return self.lib_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise JarResolutionError(
                "`mvn` not found on PATH: Maven 3.6+ is needed to fetch the Kafka "
                f"jars listed in {POM_PATH}"
            )
        staging = self.lib_dir.with_name(self.lib_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        logger.info("Resolving Kafka %s jars from Maven Central", self.version)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM_PATH),
            f"-Dmaven.repo.local={self.cache / 'maven'}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise JarResolutionError(
                f"{' '.join(command)} exited with {done.returncode}:\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        (staging / _COMPLETE_MARKER).touch()
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        staging.rename(self.lib_dir)
        logger.info("Kafka jars in %s", self.lib_dir)
        return self.lib_dir

    def format_storage(self) -> str:
        """Format the KRaft storage once; return the persisted cluster id."""
        id_file = self.home / "cluster.id"
        if not id_file.exists():
            id_file.parent.mkdir(parents=True, exist_ok=True)
            id_file.write_text(_new_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        if (self.data_dir / "meta.properties").exists():
            return cluster_id
        logger.info(
            "Formatting Kafka storage %s (cluster %s)", self.data_dir, cluster_id
        )
        command = [
            *self._java_command(),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.config_file),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerStartError(
                f"formatting {self.data_dir} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return cluster_id

    def _java_command(self) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else "java"
        if shutil.which(java) is None:
            raise BrokerStartError(f"`{java}` not found: Kafka needs Java 17 or newer")
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dlog4j2.configurationFile={KAFKA_DEPLOY_DIR / 'log4j2.properties'}",
            "-cp",
            str(self.lib_dir / "*"),
        ]

    def _write_config(self) -> None:
        template = string.Template((KAFKA_DEPLOY_DIR / "server.properties").read_text())
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            template.substitute(
                host=self.host,
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data_dir,
            )
        )

    def _launch(self) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        logger.info(
            "Starting Kafka %s on %s (data %s, log %s)",
            self.version,
            self.bootstrap_servers,
            self.data_dir,
            self.log_file,
        )
        command = [*self._java_command(), "kafka.Kafka", str(self.config_file)]
        with (self.log_dir / "kafka.out").open("ab") as out:
            # A new session keeps the broker alive when the starting terminal or
            # test run receives Ctrl-C; `stop` ends it.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")
        return self._process.pid

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _alive(pid) and str(self.config_file) in _command_line(pid):
            return pid
        logger.info("Removing stale Kafka pid file %s (pid %d)", self.pid_file, pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def _follow_port(self, pid: int) -> None:
        """Take the port of the running broker ``pid`` if it was started on
        another one: a cache holds one broker, whatever port was asked for."""
        match = re.search(
            r"^listeners=PLAINTEXT://[^,]*:(\d+)",
            self.config_file.read_text(),
            re.MULTILINE,
        )
        if match is None or int(match.group(1)) == self.port:
            return
        running = int(match.group(1))
        logger.warning(
            "Kafka of %s already runs (pid %d) on port %d, not on port %d as asked "
            "(REPLENISH_KAFKA_PORT); using it. Stop it first to change its port.",
            self.home,
            pid,
            running,
            self.port,
        )
        self.port = running

    def _check_ports_free(self) -> None:
        for port in (self.port, self.controller_port):
            with socket.socket() as probe:
                if probe.connect_ex((self.host, port)) == 0:
                    raise BrokerStartError(
                        f"port {self.host}:{port} is in use by a process this cache "
                        f"({self.home}) did not start; set REPLENISH_KAFKA_PORT to "
                        "another port or stop that process"
                    )

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return "\nlast lines of the log:\n" + "\n".join(tail)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start and stop between processes sharing this cache."""
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "kafka.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; reaps it first if it is an exited child of ours."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command_line(pid: int) -> str:
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    done = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def _new_cluster_id() -> str:
    """Return a random cluster id in Kafka's form: 22 url-safe base64 characters."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):  # Kafka rejects ids that read as a flag
            return encoded
