"""``replenish simulate``: replay real demand under several ordering policies.

Every policy meets the same demand, lead times (one seed) and initial stock;
the quantile policies read forecasts made once per review day from the
history up to that day. Each policy is also swept over service levels to
draw its cost against fill-rate frontier. Writes ``kpis.json``,
``report.md`` and ``frontier.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

POLICIES = ("quantile", "base_stock", "ss", "newsvendor", "point")
DEFAULT_SWEEP = "0.5,0.7,0.8,0.9,0.95,0.98,0.99"
_REPORT_COLUMNS = (
    ("fill_rate", "fill rate", "{:.3f}"),
    ("cycle_service_level", "cycle service level", "{:.3f}"),
    ("stockout_days", "stockout days", "{:d}"),
    ("lost_units", "lost units", "{:,.0f}"),
    ("average_on_hand", "avg on hand (units)", "{:,.0f}"),
    ("inventory_turns", "turns / year", "{:.1f}"),
    ("holding_cost", "holding", "{:,.0f}"),
    ("ordering_cost", "ordering", "{:,.0f}"),
    ("stockout_cost", "stockout", "{:,.0f}"),
    ("total_cost", "total cost", "{:,.0f}"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="compare ordering policies on real demand, closed loop"
    )
    add = parser.add_argument
    add("--data", help="sales file (default: the bundled Online Retail II)")
    add("--start", type=dt.date.fromisoformat, required=True, help="first day")
    add("--end", type=dt.date.fromisoformat, help="last day (default: data end)")
    add("--policies", default=",".join(POLICIES), help="comma-separated policies")
    add("--forecaster", choices=("tsb", "lstm"), default="tsb")
    add("--checkpoint", help="LSTM checkpoint (required with --forecaster lstm)")
    add("--service-level", type=float, default=0.95, help="target (default 0.95)")
    add(
        "--stockout-cost-ratio",
        type=float,
        help="price the stockout at this multiple of unit cost instead of a target",
    )
    add("--sweep", default=DEFAULT_SWEEP, help="service levels of the frontier")
    add("--lead-time-days", type=float, default=7.0)
    add("--lead-time-spread-days", type=float, default=0.0)
    add("--review-period-days", type=int, default=7)
    add("--holding-cost-rate", type=float, default=0.25, help="per year")
    add("--ordering-cost", type=float, default=0.0)
    add("--case-pack", type=int, default=1)
    add("--moq", type=int, default=0)
    add("--budget", type=float, help="spend per review day, counted if exceeded")
    add("--back-orders", action="store_true", help="back-order instead of lose")
    add("--train-days", type=int, default=91, help="history for SKUs, (s, S)")
    add("--seed", type=int, default=0)
    add("--out", required=True, help="output folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from forecasting.datasets import bundled_dataset_path, daily_panel, load_sales
    from optimization.kpis import compute_kpis
    from optimization.pareto import kpi_frontier, plot_frontier, with_service_level
    from optimization.simulator import simulate

    names = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = sorted(set(names) - set(POLICIES))
    if unknown:
        raise SystemExit(f"--policies: must be among {POLICIES}, got {unknown}")
    sweep = sorted({float(v) for v in args.sweep.split(",")} | {args.service_level})

    path = args.data or bundled_dataset_path()
    log.info("loading sales from %s", path)
    panel = daily_panel(load_sales(path), end=args.end)
    start = (args.start - panel.start).days
    if not args.train_days <= start < panel.n_days:
        raise SystemExit(
            f"--start: needs {args.train_days} days of history inside"
            f" {panel.start}..{panel.end}, got {args.start}"
        )
    rows = np.flatnonzero(panel.demand[:, start - args.train_days : start].sum(1) > 0)
    panel = panel.select(rows)
    params = _params(args, panel, start)
    log.info(
        "simulating %d SKUs active in the %d days before %s, %s..%s",
        len(rows),
        args.train_days,
        args.start,
        args.start,
        panel.end,
    )

    provider = _forecasts(args, panel, tqdm)
    runs: dict[str, list[Any]] = {}
    results: dict[str, Any] = {}
    with tqdm(total=len(names) * len(sweep), desc="simulations", unit="run") as bar:
        for name in names:
            policy_at = _policy_factory(name, args, panel, params, start)
            runs[name] = []
            for level in sweep:
                table = _at_level(params, level, args, with_service_level)
                result = simulate(
                    policy_at(level),
                    panel.demand,
                    table,
                    provider if name in {"quantile", "point"} else None,
                    start,
                    lost_sales=not args.back_orders,
                    seed=args.seed,
                    budget=args.budget,
                    first_day=panel.start,
                )
                runs[name].append(compute_kpis(result))
                if math.isclose(level, args.service_level):
                    results[name] = result
                bar.update()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = sweep.index(args.service_level)
    frontiers = {name: kpi_frontier(sweep, runs[name]) for name in names}
    summary = _summary(
        args=args,
        panel=panel,
        start=start,
        names=names,
        runs=runs,
        results=results,
        frontiers=frontiers,
        chosen=chosen,
    )
    (out / "kpis.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(_report(summary))
    points = {
        f"{name} @ {args.service_level:g}": (
            runs[name][chosen].overall.total_cost,
            runs[name][chosen].overall.fill_rate,
        )
        for name in names
    }
    plot_frontier(out / "frontier.png", frontiers, points)
    log.info("wrote kpis.json, report.md and frontier.png to %s", out)
    return 0


def _params(args: argparse.Namespace, panel: Any, start: int) -> Any:
    """One policy for every SKU; unit cost is the SKU's median price before start."""
    from optimization.params import PolicyTable, SkuPolicy

    sku = SkuPolicy(
        "template",
        lead_time_days=args.lead_time_days,
        lead_time_spread_days=args.lead_time_spread_days,
        review_period_days=args.review_period_days,
        holding_cost_rate=args.holding_cost_rate,
        ordering_cost=args.ordering_cost,
        stockout_cost=None,
        service_level=args.service_level,
        moq=args.moq,
        case_pack=args.case_pack,
    )
    table = PolicyTable.uniform(list(panel.skus), sku)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        price = np.nanmedian(panel.unit_price[:, :start], axis=1)
    fields = dict(vars(table))
    fields["unit_cost"] = np.where(np.isfinite(price) & (price > 0), price, 1.0)
    return PolicyTable(**fields)


def _at_level(
    params: Any, level: float, args: argparse.Namespace, with_service_level: Any
) -> Any:
    """Params at a swept service level, or priced stockouts when asked."""
    if args.stockout_cost_ratio is None:
        return with_service_level(params, level)
    fields = dict(vars(params))
    fields["stockout_cost"] = args.stockout_cost_ratio * params.unit_cost
    fields["service_level"] = np.full(len(params), np.nan)
    return type(params)(**fields)


def _forecasts(args: argparse.Namespace, panel: Any, tqdm: Any) -> Any:
    """A provider that forecasts on ``panel.until(day)`` once per review day."""
    from forecasting.base import DEFAULT_HORIZON, DEFAULT_QUANTILE_LEVELS

    if args.forecaster == "lstm":
        if not args.checkpoint:
            raise SystemExit("--checkpoint: required with --forecaster lstm")
        from forecasting.lstm import LSTMForecaster

        forecaster: Any = LSTMForecaster.load(args.checkpoint)
        horizon = forecaster.model_.horizon
    else:
        from forecasting.tsb import TSBForecaster

        forecaster = TSBForecaster()
        horizon = max(DEFAULT_HORIZON, math.ceil(args.lead_time_days) + 8)
        horizon = max(horizon, args.review_period_days + math.ceil(args.lead_time_days))
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    days = panel.n_days - (args.start - panel.start).days
    reviews = math.ceil(days / args.review_period_days)
    bar = tqdm(total=reviews, desc=f"{forecaster.name} forecasts", unit="day")

    def provide(as_of: int) -> tuple[np.ndarray, np.ndarray]:
        if as_of not in cache:
            day = panel.start + dt.timedelta(days=as_of)
            fc = forecaster.forecast(panel.until(day), horizon, DEFAULT_QUANTILE_LEVELS)
            cache[as_of] = (fc.values, np.asarray(fc.quantile_levels))
            bar.update()
        return cache[as_of]

    return provide


def _policy_factory(
    name: str, args: argparse.Namespace, panel: Any, params: Any, start: int
) -> Any:
    """``level -> Policy``; the (s, S) grid is simulated once and re-picked."""
    from optimization import baselines

    if name == "quantile":
        from optimization.policy import QuantilePolicy

        return lambda _level: QuantilePolicy()
    if name == "base_stock":
        return lambda _level: baselines.BaseStockNormal()
    if name == "newsvendor":
        return lambda _level: baselines.MyopicNewsvendor()
    if name == "point":
        return lambda _level: baselines.PointAtPercentile()
    train = panel.demand[:, start - args.train_days : start]
    fitted = baselines.SSPolicy(lost_sales=not args.back_orders, seed=args.seed)
    fitted.fit(train, params)
    if args.stockout_cost_ratio is not None:
        return lambda _level: fitted
    return fitted.retarget


def _summary(
    *,
    args: argparse.Namespace,
    panel: Any,
    start: int,
    names: list[str],
    runs: dict[str, list[Any]],
    results: dict[str, Any],
    frontiers: dict[str, Any],
    chosen: int,
) -> dict[str, Any]:
    config = {k: v for k, v in vars(args).items() if k != "handler"}
    config = {k: str(v) if isinstance(v, dt.date) else v for k, v in config.items()}
    policies = {}
    for name in names:
        result = results[name]
        policies[name] = {
            "kpis": runs[name][chosen].overall.to_dict(),
            "violations": dict(result.violations),
            "violations_total": result.total_violations,
            "decision_status_days": result.decision_status,
        }
    frontier = {
        name: {
            "service_level": f.parameter.tolist(),
            "total_cost": f.cost.tolist(),
            "fill_rate": f.fill_rate.tolist(),
            "efficient": f.efficient.tolist(),
        }
        for name, f in frontiers.items()
    }
    return {
        "config": config,
        "skus": len(panel.skus),
        "days": panel.n_days - start,
        "first_day": str(panel.start + dt.timedelta(days=start)),
        "last_day": str(panel.end),
        "policies": policies,
        "frontier": frontier,
    }


def _report(summary: dict[str, Any]) -> str:
    config = summary["config"]
    lines = [
        "# Closed-loop simulation",
        "",
        f"{summary['skus']} SKUs, {summary['first_day']} .. {summary['last_day']}"
        f" ({summary['days']} days), forecaster `{config['forecaster']}`,"
        f" target service level {config['service_level']},"
        f" lead time {config['lead_time_days']} days"
        f" (spread {config['lead_time_spread_days']}), review every"
        f" {config['review_period_days']} days,"
        f" {'back-orders' if config['back_orders'] else 'lost sales'}.",
        "Costs in the data's currency; total = holding + ordering + stockout.",
        "",
        "| policy | " + " | ".join(c[1] for c in _REPORT_COLUMNS) + " | violations |",
        "|---" * (len(_REPORT_COLUMNS) + 2) + "|",
    ]
    for name, entry in summary["policies"].items():
        kpis = entry["kpis"]
        cells = [
            "n/a" if kpis[key] is None else fmt.format(kpis[key])
            for key, _, fmt in _REPORT_COLUMNS
        ]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {entry['violations_total']} |"
        )
    lines += ["", "## Frontier (service level: fill rate, total cost)", ""]
    for name, f in summary["frontier"].items():
        points = ", ".join(
            f"{a:g}: {fill:.3f}, {cost:,.0f}"
            for a, fill, cost in zip(
                f["service_level"], f["fill_rate"], f["total_cost"], strict=True
            )
        )
        lines.append(f"- {name}: {points}")
    lines += ["", "![frontier](frontier.png)", ""]
    return "\n".join(lines)
