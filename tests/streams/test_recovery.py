"""Crashes and rebalances leave exactly the commands and state of a calm run."""

from __future__ import annotations

import datetime as dt
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pandas as pd
import pytest

from forecasting.datasets import bundled_dataset_path, load_sales
from streams.readback import LagProbe, latest_values, read_all
from streams.replay import replay, select_days
from streams.supervisor import WorkerProcess
from streams.topics import REORDER_COMMANDS, SALES_EVENTS, ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START, END = dt.date(2011, 8, 1), dt.date(2011, 8, 31)


@dataclass(frozen=True)
class Outcome:
    commands: set[tuple[str, int]]
    state: dict[bytes, bytes]


@dataclass
class Deployment:
    """Topics, a consumer group and any number of worker processes."""

    bootstrap: str
    prefix: str
    app_id: str
    root: Path

    def worker(self, name: str) -> WorkerProcess:
        return WorkerProcess(
            bootstrap=self.bootstrap,
            app_id=self.app_id,
            prefix=self.prefix,
            data_dir=self.root / name,
            log_path=self.root / f"{name}.log",
        )

    def replay(self, events: pd.DataFrame) -> None:
        replay(events, self.bootstrap, topic=self.prefix + SALES_EVENTS, progress=False)

    def wait_caught_up(
        self, workers: list[WorkerProcess], timeout: float = 600
    ) -> None:
        deadline = time.monotonic() + timeout
        topic = self.prefix + SALES_EVENTS
        with LagProbe(self.bootstrap) as probe:
            while probe.lag(self.app_id, topic) > 0:
                if time.monotonic() > deadline:
                    tails = "\n".join(w.log_tail() for w in workers)
                    raise AssertionError(f"workers did not catch up:\n{tails}")
                time.sleep(1)

    def outcome(self) -> Outcome:
        commands = read_all(self.bootstrap, self.prefix + REORDER_COMMANDS)
        return Outcome(
            commands={
                (str(c["command_id"]), cast(int, c["quantity"])) for c in commands
            },
            state=latest_values(self.bootstrap, f"{self.app_id}-sku-state-changelog"),
        )


def differences(outcome: Outcome, calm: Outcome) -> str:
    """What sets the commands of ``outcome`` apart from the calm run's."""
    here, there = quantities(outcome), quantities(calm)
    changed = {
        i: (here[i], there[i])
        for i in here.keys() & there.keys()
        if here[i] != there[i]
    }
    return (
        f"{len(here.keys() - there.keys())} command ids only here,"
        f" {len(there.keys() - here.keys())} only in the calm run,"
        f" {len(changed)} with other quantities (here, calm):"
        f" {sorted(changed.items())[:5]}"
    )


def quantities(outcome: Outcome) -> dict[str, set[int]]:
    """The quantities published under each command id."""
    by_id: dict[str, set[int]] = {}
    for command_id, quantity in outcome.commands:
        by_id.setdefault(command_id, set()).add(quantity)
    return by_id


@pytest.fixture(scope="module")
def month() -> pd.DataFrame:
    return select_days(load_sales(bundled_dataset_path()).events, START, END)


@pytest.fixture
def deployment(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Deployment:
    prefix = unique_name("") + "."
    ensure_topics(kafka_bootstrap, prefix=prefix)
    return Deployment(kafka_bootstrap, prefix, unique_name("app"), tmp_path)


@pytest.fixture(scope="module")
def calm(
    kafka_bootstrap: str, month: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outcome]:
    """The month replayed through one worker that is never disturbed."""
    token = f"calm-{time.time_ns()}"
    ensure_topics(kafka_bootstrap, prefix=f"{token}.")
    calm = Deployment(
        kafka_bootstrap, f"{token}.", token, tmp_path_factory.mktemp("calm")
    )
    worker = calm.worker("worker")
    worker.start()
    try:
        calm.replay(month)
        calm.wait_caught_up([worker])
        yield calm.outcome()
    finally:
        worker.stop()


def test_sigkill_at_random_points_changes_no_command_and_no_state(
    deployment: Deployment, month: pd.DataFrame, calm: Outcome
) -> None:
    worker = deployment.worker("worker")
    worker.start()
    deployment.replay(month)
    rng = random.Random(20110801)
    try:
        for _ in range(3):
            time.sleep(rng.uniform(2.0, 8.0))
            worker.stop(signal.SIGKILL)
            worker.start()
        deployment.wait_caught_up([worker])
    finally:
        worker.stop()

    outcome = deployment.outcome()
    assert calm.commands, "the calm run published no command"
    assert outcome.commands == calm.commands, differences(outcome, calm)
    assert outcome.state == calm.state


def test_a_worker_leaving_and_rejoining_changes_no_command_and_no_state(
    deployment: Deployment, month: pd.DataFrame, calm: Outcome
) -> None:
    first, second = deployment.worker("first"), deployment.worker("second")
    first.start()
    second.start()
    try:
        deployment.replay(month)
        time.sleep(5)
        second.stop()
        time.sleep(5)
        second.start()
        deployment.wait_caught_up([first, second])
    finally:
        first.stop()
        second.stop()

    outcome = deployment.outcome()
    assert outcome.commands == calm.commands, differences(outcome, calm)
    assert outcome.state == calm.state
