"""The closed loop on the bundled data, end to end, on a real broker.

A run gets topics and a consumer group of its own (so runs never mix), starts
a worker process, replays a warm-up period and then the demo period of sale
events, waits until the worker has processed all of them, and summarises the
reorder commands it published.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from forecasting.datasets import bundled_dataset_path, load_sales
from streams.readback import read_all
from streams.replay import replay, select_days
from streams.supervisor import WorkerProcess
from streams.topics import DEAD_LETTERS, REORDER_COMMANDS, SALES_EVENTS, ensure_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoRun:
    """What one demo run replayed and what the worker decided."""

    start: dt.date
    end: dt.date
    events: int
    commands: pd.DataFrame
    dead_letters: int
    out_dir: Path


def run_demo(
    bootstrap: str,
    *,
    data: Path | None = None,
    start: dt.date = dt.date(2011, 8, 1),
    days: int = 31,
    warmup_days: int = 56,
    out_dir: Path = Path("out/demo"),
) -> DemoRun:
    """Replay ``warmup_days`` then ``days`` of sales and collect the decisions."""
    end = start + dt.timedelta(days=days - 1)
    sales = load_sales(data or bundled_dataset_path()).events
    events = select_days(sales, start - dt.timedelta(days=warmup_days), end)
    if events.empty:
        raise ValueError(f"start: no sales between the warm-up and {end}, got {start}")

    run_id = time.strftime("%Y%m%d-%H%M%S")
    prefix = f"demo-{run_id}."
    out_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(bootstrap, prefix=prefix)
    worker = WorkerProcess(
        bootstrap=bootstrap,
        app_id=f"replenish-demo-{run_id}",
        prefix=prefix,
        data_dir=out_dir / "worker",
        log_path=out_dir / "worker.log",
    )
    log.info("Starting a worker (log: %s)", worker.log_path)
    worker.start()
    try:
        sent = replay(events, bootstrap, topic=prefix + SALES_EVENTS)
        _wait_with_progress(worker, sent)
    finally:
        worker.stop()

    commands = pd.DataFrame(read_all(bootstrap, prefix + REORDER_COMMANDS))
    letters = read_all(bootstrap, prefix + DEAD_LETTERS)
    if not commands.empty:
        commands.to_csv(out_dir / "reorder-commands.csv", index=False)
    return DemoRun(start, end, sent, commands, len(letters), out_dir)


def _wait_with_progress(worker: WorkerProcess, sent: int) -> None:
    with tqdm(total=sent, desc="worker", unit="event") as bar:
        while (seen := int(worker.events_seen())) < sent:
            bar.update(seen - bar.n)
            time.sleep(0.5)
            if worker.process is not None and worker.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
        bar.update(sent - bar.n)


def summarise(run: DemoRun) -> str:
    """A terminal summary of what the worker decided during the demo period."""
    lines = [f"Replayed {run.events} sale events up to {run.end}."]
    commands = run.commands
    if commands.empty:
        return "\n".join([*lines, "No reorder commands were published."])

    commands = commands.assign(as_of=pd.to_datetime(commands["as_of"]).dt.date)
    period = commands[commands["as_of"] >= run.start]
    weekly = (
        period.assign(week=pd.to_datetime(period["as_of"]).dt.to_period("W"))
        .groupby("week")
        .agg(commands=("command_id", "size"), units=("quantity", "sum"))
    )
    top = (
        period.groupby("sku")
        .agg(orders=("command_id", "size"), units=("quantity", "sum"))
        .sort_values("units", ascending=False)
        .head(10)
    )
    example = period.iloc[0] if len(period) else commands.iloc[0]
    lines += [
        f"{len(commands)} reorder commands in all, {len(period)} from {run.start} on;"
        f" {run.dead_letters} records went to dead letters.",
        "",
        "Commands per week:",
        weekly.to_string(),
        "",
        "SKUs ordered most (units):",
        top.to_string(),
        "",
        "One decision, with its terms:",
        *(f"  {key}: {example[key]}" for key in _TERMS),
        "",
        f"All commands: {run.out_dir / 'reorder-commands.csv'}",
    ]
    return "\n".join(lines)


_TERMS = (
    "command_id",
    "sku",
    "as_of",
    "quantity",
    "expected_arrival",
    "inventory_position",
    "order_up_to_level",
    "quantile_used",
    "service_level",
    "expected_cost",
    "model_version",
    "policy_version",
)
