"""``replenish backtest``: score forecasters on rolling origins of real demand.

Writes ``metrics.json``, ``forecasts.parquet``, ``report.md`` and fan charts
to ``--out`` (see :mod:`forecasting.backtest`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

log = logging.getLogger(__name__)

DEFAULT_MODELS = (
    "tsb",
    "seasonal_naive",
    "ets",
    "croston_sba",
    "croston_tsb",
    "adida",
    "imapa",
    "lightgbm",
    "lstm",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backtest", help="rolling-origin backtest of forecasters against their peers"
    )
    add = parser.add_argument
    add("--data", help="sales file (default: the bundled Online Retail II)")
    add(
        "--cutoff",
        type=dt.date.fromisoformat,
        required=True,
        help="first origin, the last day the first forecasts know (YYYY-MM-DD)",
    )
    add("--horizon", type=int, default=28, help="days forecast (default 28)")
    add("--step-days", type=int, default=7, help="days between origins (default 7)")
    add(
        "--active-days",
        type=int,
        default=28,
        help="score SKUs that sold in this many days up to each origin (default 28)",
    )
    add(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated models (default {','.join(DEFAULT_MODELS)})",
    )
    add(
        "--checkpoint",
        help="LSTM checkpoint used at every origin (default: train at each origin)",
    )
    add("--fan-skus", type=int, default=4, help="fan charts drawn (default 4)")
    add("--out", required=True, help="output folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from forecasting.backtest import run_backtest
    from forecasting.datasets import (
        bundled_dataset_path,
        daily_panel,
        load_sales,
    )

    models = [name.strip() for name in args.models.split(",") if name.strip()]
    if args.checkpoint is not None and "lstm" not in models:
        raise SystemExit(
            f"--checkpoint: only the lstm model reads it, and --models is {args.models}"
        )
    path = args.data or bundled_dataset_path()
    log.info("loading sales from %s", path)
    panel = daily_panel(load_sales(path))
    log.info(
        "backtest of %s from %s, horizon %d days, %d SKUs over %s..%s",
        ",".join(models),
        args.cutoff,
        args.horizon,
        len(panel.skus),
        panel.start,
        panel.end,
    )
    result = run_backtest(
        panel,
        args.cutoff,
        horizon=args.horizon,
        models=models,
        out_dir=args.out,
        step_days=args.step_days,
        active_days=args.active_days,
        checkpoint=args.checkpoint,
        fan_skus=args.fan_skus,
    )
    for name, scores in result.metrics["models"].items():
        overall = scores["overall"]
        log.info(
            "%s: WRMSSE %.4f WSPL %.4f bias %+.3f (%.1f s)",
            name,
            overall["wrmsse"],
            overall["wspl"],
            overall["bias"],
            scores["timings"]["total_seconds"],
        )
    log.info("report written to %s", result.out_dir / "report.md")
    return 0
