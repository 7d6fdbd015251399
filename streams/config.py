"""Worker settings: defaults, then ``REPLENISH_*`` environment variables."""

from __future__ import annotations

import datetime as dt
import math
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from forecasting.base import DEFAULT_HORIZON, DEFAULT_QUANTILE_LEVELS
from optimization.params import SkuPolicy
from streams.events import EventError, rules

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Where local state goes: ``$REPLENISH_CACHE_DIR``, else ``<repo>/.cache``."""
    configured = os.environ.get("REPLENISH_CACHE_DIR")
    # absolute, so that one folder has one name (the broker's pid file is
    # found by it whatever the working directory)
    return (
        Path(configured).expanduser().resolve() if configured else REPO_ROOT / ".cache"
    )


class UnknownSku(StrEnum):
    """What the worker does with events of a SKU that has no loaded policy."""

    DEFAULT = "default"
    DEAD_LETTER = "dead_letter"


_UNKNOWN_SKU_CHOICES = "one of " + ", ".join(UnknownSku)


class ConfigError(ValueError):
    """A setting breaks its rule; the message names the setting and the value."""


def default_policy() -> SkuPolicy:
    return SkuPolicy(sku="*", lead_time_days=7.0, review_period_days=1)


@dataclass(frozen=True)
class Settings:
    """How one worker runs. Every field can be set as ``REPLENISH_<FIELD>``.

    Attributes
    ----------
    bootstrap_servers
        Kafka bootstrap address, ``host:port[,host:port]``.
    app_id
        Consumer group and prefix of the worker's internal topics.
    topic_prefix
        Prepended to every topic name, so several deployments (or tests)
        can share one cluster.
    partitions
        Partitions of every SKU-keyed topic.
    web_host, web_port
        Where ``/metrics`` and the status views are served.
    timezone
        The shop's time zone: days open and close at its midnight.
    allowed_lateness_hours
        How long after midnight a day stays open for late events.
    window_days
        Closed days of demand kept per SKU. The LSTM's state is rebuilt
        exactly from the last ``window_days - 56`` of them (its inputs are
        scaled by the 56 days before each), so keep at least 57.
    horizon
        Days ahead the forecasts cover.
    policy_version
        Part of every command id; change it when the policy parameters change.
    batch_size
        The most input records one fetch hands to the worker; they are
        applied together and their state changes written once.
    session_timeout_seconds
        How long the group waits for a silent worker before moving its
        partitions to the others.
    unknown_sku
        ``default``: a SKU with no loaded policy gets ``default_policy``;
        ``dead_letter``: its events go to dead letters.
    publish_forecasts
        Whether each day close publishes every SKU's forecast.
    forecaster
        ``lstm`` (the global network) or ``tsb`` (the baseline).
    checkpoint
        The LSTM's weights; the bundled checkpoint when None.
    device
        Where the LSTM step runs: ``cpu`` or ``cuda``.
    cpu_threads
        Threads of the LSTM step on the CPU. The step shares the worker's
        cores with the event loop, the Kafka consumer thread and usually the
        broker; with more threads than free cores, idle threads spin-wait
        and every step gets slower, so one is the default.
    live
        Also close days by the wall clock, ``close_hour`` hours after
        midnight, when no later event has closed them (for shops that do
        not sell every day); off for replays. ``close_hour`` lies in
        ``[allowed_lateness_hours, 24)``, so that no day closes by the clock
        while late events may still arrive.
    data_dir
        The worker's local state folder; created if missing.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "replenish"
    topic_prefix: str = ""
    partitions: int = 4
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    timezone: str = "Europe/London"
    allowed_lateness_hours: float = 0.0
    window_days: int = 112
    horizon: int = DEFAULT_HORIZON
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS
    policy_version: str = "1"
    batch_size: int = 100_000
    session_timeout_seconds: float = 10.0
    unknown_sku: UnknownSku = UnknownSku.DEFAULT
    publish_forecasts: bool = True
    forecaster: str = "lstm"
    checkpoint: Path | None = None
    device: str = "cpu"
    cpu_threads: int = 1
    live: bool = False
    close_hour: float = 2.0
    data_dir: Path = field(default_factory=lambda: cache_dir() / "worker")
    default_policy: SkuPolicy = field(default_factory=default_policy)

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ConfigError(
                f"timezone: must be an IANA zone name, got {self.timezone!r}"
            ) from exc
        try:
            object.__setattr__(self, "unknown_sku", UnknownSku(self.unknown_sku))
        except ValueError:
            raise ConfigError(
                f"unknown_sku: must be {_UNKNOWN_SKU_CHOICES}, got {self.unknown_sku!r}"
            ) from None
        if self.forecaster not in ("lstm", "tsb"):
            raise ConfigError(
                f"forecaster: must be 'lstm' or 'tsb', got {self.forecaster!r}"
            )
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(
                f"device: must be 'cpu' or 'cuda[:N]', got {self.device!r}"
            )
        for name in (
            "partitions",
            "window_days",
            "horizon",
            "batch_size",
            "cpu_threads",
        ):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"{name}: must be at least 1, got {value!r}")
        if not 0 <= self.allowed_lateness_hours < math.inf:
            raise ConfigError(
                "allowed_lateness_hours: must be a non-negative number of hours,"
                f" got {self.allowed_lateness_hours!r}"
            )
        if not 0 <= self.close_hour < 24:
            raise ConfigError(
                f"close_hour: must be at least 0 and below 24, got {self.close_hour!r}"
            )
        if self.live and self.close_hour < self.allowed_lateness_hours:
            raise ConfigError(
                "close_hour: must not come before the allowed lateness"
                f" ({self.allowed_lateness_hours} hours) has passed, got"
                f" {self.close_hour!r}"
            )
        try:
            rules.identifier("policy_version", self.policy_version)
        except EventError as error:  # the rule of the command ids it goes into
            raise ConfigError(str(error)) from None
        if not 0 < self.session_timeout_seconds < math.inf:
            raise ConfigError(
                "session_timeout_seconds: must be a positive number of seconds,"
                f" got {self.session_timeout_seconds!r}"
            )
        if not 1 <= self.web_port <= 65_535:
            raise ConfigError(
                f"web_port: must be between 1 and 65535, got {self.web_port!r}"
            )

    def topic(self, name: str) -> str:
        """The full name of catalogue topic ``name`` in this deployment."""
        return self.topic_prefix + name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def allowed_lateness(self) -> dt.timedelta:
        return dt.timedelta(hours=self.allowed_lateness_hours)

    @property
    def broker_url(self) -> str:
        hosts = self.bootstrap_servers.split(",")
        return ";".join(f"kafka://{h.strip()}" for h in hosts)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, **overrides: object
    ) -> Settings:
        """Defaults, then ``REPLENISH_*`` variables, then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"REPLENISH_{f.name.upper()}")
            if raw is None or f.name in ("quantile_levels", "default_policy"):
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _parse(name: str, kind: object, raw: str) -> object:
    converters: dict[str, Any] = {
        "int": int,
        "float": float,
        "str": str,
        "Path": Path,
        "Path | None": Path,
        "bool": _boolean,
        "UnknownSku": UnknownSku,
    }
    convert = converters.get(str(kind), str)
    try:
        return convert(raw)
    except ValueError as exc:
        expected = _UNKNOWN_SKU_CHOICES if kind == "UnknownSku" else kind
        raise ConfigError(
            f"REPLENISH_{name.upper()}: must be {expected}, got {raw!r}"
        ) from exc


def _boolean(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
