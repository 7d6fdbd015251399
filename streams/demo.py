"""The closed loop on the bundled data, end to end, on a real broker.

A run gets topics and consumer groups of its own (so runs never mix), starts
a worker and a warehouse simulator as child processes, replays a warm-up
period and then the demo period of sale events, waits until the worker has
processed every sale and every receipt the warehouse sent back, and then
reads the topics back into a report: KPIs of the loop, forecast coverage,
and charts of forecasts, stock and orders for the top-selling SKUs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from forecasting.datasets import bundled_dataset_path, load_sales
from streams.config import Settings
from streams.demo_report import DemoReport, build_report
from streams.readback import LagProbe, read_all
from streams.replay import replay, select_days
from streams.supervisor import WorkerProcess
from streams.topics import (
    DEAD_LETTERS,
    FORECASTS,
    REORDER_COMMANDS,
    SALES_EVENTS,
    STOCK_EVENTS,
    ensure_topics,
)

log = logging.getLogger(__name__)

#: SKUs whose forecasts the report reads back to score coverage.
COVERAGE_SAMPLE = 300


@dataclass(frozen=True)
class DemoRun:
    """What one demo run replayed and what came of it."""

    start: dt.date
    end: dt.date
    events: int
    commands: int
    dead_letters: int
    report: DemoReport


def run_demo(
    bootstrap: str,
    *,
    data: Path | None = None,
    start: dt.date = dt.date(2011, 8, 1),
    days: int = 31,
    warmup_days: int = 56,
    out_dir: Path = Path("out/demo"),
    forecaster: str = "lstm",
) -> DemoRun:
    """Replay ``warmup_days`` then ``days`` of sales through the closed loop."""
    end = start + dt.timedelta(days=days - 1)
    sales = load_sales(data or bundled_dataset_path()).events
    settings = Settings.from_env()  # as the worker and the warehouse read them
    first = start - dt.timedelta(days=warmup_days)
    events = select_days(sales, first, end, settings.timezone)
    if events.empty:
        raise ValueError(f"start: no sales between the warm-up and {end}, got {start}")

    run_id = time.strftime("%Y%m%d-%H%M%S")
    prefix = f"demo-{run_id}."
    app_id = f"replenish-demo-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(bootstrap, partitions=settings.partitions, prefix=prefix)
    worker = WorkerProcess(
        bootstrap=bootstrap,
        app_id=app_id,
        prefix=prefix,
        data_dir=out_dir / "worker",
        log_path=out_dir / "worker.log",
        env={"REPLENISH_FORECASTER": forecaster},
    )
    log.info("Starting the worker (%s; log: %s)", forecaster, worker.log_path)
    warehouse: subprocess.Popen[bytes] | None = None
    try:
        worker.start()
        warehouse = _start_warehouse(
            bootstrap, prefix, app_id, out_dir / "warehouse.log"
        )
        sent = replay(events, bootstrap, topic=prefix + SALES_EVENTS)
        _wait_for_loop(
            bootstrap, prefix, app_id, sent, worker=worker, warehouse=warehouse
        )
    finally:
        if warehouse is not None:
            warehouse.terminate()
            warehouse.wait(timeout=30)
        worker.stop()

    log.info("Reading the topics back")
    period = select_days(events, start, end, settings.timezone)
    charted = period.groupby("sku")["quantity"].sum().nlargest(COVERAGE_SAMPLE)
    commands = pd.DataFrame(read_all(bootstrap, prefix + REORDER_COMMANDS))
    report = build_report(
        events,
        pd.DataFrame(read_all(bootstrap, prefix + STOCK_EVENTS)),
        commands,
        pd.DataFrame(
            read_all(bootstrap, prefix + FORECASTS, {s.encode() for s in charted.index})
        ),
        start=start,
        end=end,
        out_dir=out_dir,
        timezone=settings.timezone,
    )
    letters = read_all(bootstrap, prefix + DEAD_LETTERS)
    return DemoRun(start, end, sent, len(commands), len(letters), report)


def _start_warehouse(
    bootstrap: str, prefix: str, app_id: str, log_path: Path
) -> subprocess.Popen[bytes]:
    """``replenish warehouse`` answering this run's commands with receipts."""
    command = [
        sys.executable,
        "-m",
        "streams",
        "warehouse",
        "--bootstrap-servers",
        bootstrap,
        "--topic-prefix",
        prefix,
        "--group-id",
        f"{app_id}-warehouse",
        "--lead-time-spread-days",
        "1",
    ]
    with log_path.open("ab") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ)
        )


def _wait_for_loop(
    bootstrap: str,
    prefix: str,
    app_id: str,
    sent: int,
    *,
    worker: WorkerProcess,
    warehouse: subprocess.Popen[bytes],
) -> None:
    """Wait until the worker has every sale, and the loop has gone quiet.

    Quiet means no record is waiting for the worker (sales, receipts) or for
    the warehouse (commands) on two checks in a row.
    """
    lags = [
        (app_id, prefix + SALES_EVENTS),
        (app_id, prefix + STOCK_EVENTS),
        (f"{app_id}-warehouse", prefix + REORDER_COMMANDS),
    ]
    with (
        LagProbe(bootstrap) as probe,
        tqdm(total=sent, desc="worker", unit="sale") as bar,
    ):
        quiet = 0
        while quiet < 2:
            time.sleep(2.0)
            if worker.process is not None and worker.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
            if warehouse.poll() is not None:
                raise RuntimeError(
                    f"warehouse exited with {warehouse.returncode}; see its log"
                    " next to the report"
                )
            waiting = [probe.lag(group, topic) for group, topic in lags]
            bar.update(sent - waiting[0] - bar.n)
            quiet = quiet + 1 if sum(waiting) == 0 else 0


def summarise(run: DemoRun) -> str:
    """What the terminal shows at the end of a demo."""
    return "\n".join(
        [
            f"Replayed {run.events} sale events (the warm-up, then {run.start} to"
            f" {run.end}); over both the worker issued {run.commands} reorder"
            f" commands and sent {run.dead_letters} records to dead letters. The"
            " table covers the period after the warm-up.",
            "",
            run.report.table(),
            "",
            f"Report with charts: {run.report.report_path}",
        ]
    )
