"""``replenish simulate``: replay real demand under several ordering policies.

Every policy meets the same demand, lead times (one seed), initial stock and
budget; the quantile policies read forecasts made once per review day from
the history up to that day. Each policy is swept over service levels to draw
its cost against fill-rate frontier, total cost always priced the same way;
the quantile policy is then compared with the cheapest baseline at equal fill
rates. Writes ``kpis.json``, ``report.md``, ``frontier.png`` and
``frontier_sku.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

POLICIES = ("quantile", "base_stock", "ss", "ss_cost", "newsvendor", "point")
BASELINES = ("base_stock", "ss", "ss_cost", "newsvendor")
DEFAULT_SWEEP = "0.5,0.7,0.8,0.9,0.95,0.98,0.99"


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
    priced = parser.add_mutually_exclusive_group()
    priced.add_argument(
        "--margin",
        type=float,
        help="price stockouts as lost margin: unit cost (1 - margin) x price,"
        " stockout cost margin x price",
    )
    priced.add_argument(
        "--stockout-cost-ratio",
        type=float,
        help="price stockouts at this multiple of unit cost",
    )
    sweep = parser.add_mutually_exclusive_group()
    sweep.add_argument(
        "--sweep",
        help=f"service levels of the frontier, one for every SKU"
        f" (default {DEFAULT_SWEEP})",
    )
    sweep.add_argument(
        "--fill-prices",
        help="sweep the price of a unit short instead: each SKU at its own level"
        " (p + price) / (p + price + h R), every policy alike",
    )
    add("--lead-time-days", type=float, default=7.0)
    add("--lead-time-spread-days", type=float, default=0.0)
    add("--review-period-days", type=int, default=7)
    add("--holding-cost-rate", type=float, default=0.25, help="per year")
    add("--ordering-cost", type=float, default=0.0)
    add("--case-pack", type=int, default=1)
    add("--moq", type=int, default=0)
    add("--budget", type=float, help="most spend of one review day's orders")
    add("--back-orders", action="store_true", help="back-order instead of lose")
    add("--train-days", type=int, default=91, help="history for SKUs, (s, S)")
    add("--seed", type=int, default=0)
    add("--frontier-sku", help="SKU of the one-SKU frontier (default: top seller)")
    add("--out", required=True, help="output folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from forecasting.datasets import bundled_dataset_path, daily_panel, load_sales
    from optimization.budgeted import with_budget
    from optimization.kpis import compute_kpis
    from optimization.pareto import with_service_level
    from optimization.simulator import simulate
    from streams.cli import simulate_report as report

    names = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = sorted(set(names) - set(POLICIES))
    if unknown:
        raise SystemExit(f"--policies: must be among {POLICIES}, got {unknown}")
    if args.margin is not None and not 0 < args.margin < 1:
        raise SystemExit(f"--margin: must lie in (0, 1), got {args.margin}")
    if args.budget is not None and not args.budget >= 0:
        raise SystemExit(f"--budget: must be a number >= 0, got {args.budget}")

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
    penalty = np.nan_to_num(params.stockout_cost, nan=0.0)
    provider = _forecasts(args, panel, tqdm)
    sweep = _Sweep.from_args(args, params, start, provider)
    log.info(
        "simulating %d SKUs active in the %d days before %s, %s..%s",
        len(rows),
        args.train_days,
        args.start,
        args.start,
        panel.end,
    )

    runs: dict[str, list[Any]] = {}
    checks: dict[str, _Checks] = {}
    fitted: dict[str, Any] = {}
    total = len(names) * len(sweep.values)
    with tqdm(total=total, desc="simulations", unit="run") as bar:
        for name in names:
            policy_at = _policy_factory(name, args, panel, params, start, fitted=fitted)
            runs[name] = []
            checks[name] = _Checks(args.budget)
            for value in sweep.values:
                levels = sweep.levels(value)
                result = simulate(
                    with_budget(policy_at(levels), args.budget),
                    panel.demand,
                    with_service_level(params, levels),
                    provider if name in {"quantile", "point"} else None,
                    start,
                    lost_sales=not args.back_orders,
                    seed=args.seed,
                    budget=args.budget,
                    first_day=panel.start,
                )
                runs[name].append(compute_kpis(result, stockout_penalty=penalty))
                checks[name].add(result, chosen=value == sweep.reported)
                bar.update()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sku = _frontier_sku(args, panel, params, start)
    chosen = sweep.values.index(sweep.reported)
    summary = report.summarize(
        args=args,
        panel=panel,
        start=start,
        sweep=report.SweepInfo(sweep.parameter, sweep.values, chosen, sweep.note),
        runs=runs,
        checks=checks,
        sku=sku,
        baselines_order=BASELINES,
    )
    (out / "kpis.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(report.render(summary))
    report.plot(out, summary, runs, chosen)
    log.info("wrote kpis.json, report.md and the frontier plots to %s", out)
    return 0


class _Checks:
    """Constraint violations and budget use of one policy over its sweep."""

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self.sweep: dict[str, int] = {}
        self.chosen: dict[str, int] = {}
        self.status_days = 0
        self.max_spend = 0.0

    def add(self, result: Any, *, chosen: bool) -> None:
        for kind, count in result.violations.items():
            self.sweep[kind] = self.sweep.get(kind, 0) + int(count)
        if chosen:
            self.chosen = dict(result.violations)
            self.status_days = int(result.decision_status)
        spend = (result.orders * result.params.unit_cost[:, None]).sum(axis=0)
        self.max_spend = max(self.max_spend, float(spend.max(initial=0.0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "violations": self.chosen,
            "violations_total": int(sum(self.chosen.values())),
            "violations_over_sweep": self.sweep,
            "violations_over_sweep_total": int(sum(self.sweep.values())),
            "decision_status_days": self.status_days,
            "max_review_spend": self.max_spend,
            "budget": self.budget,
        }


@dataclass(frozen=True)
class _Sweep:
    """What the frontier is swept along and the point the KPI table reports.

    ``parameter`` is ``"service_level"`` (one level for every SKU) or
    ``"fill_price"`` (each SKU at its own level, see
    :mod:`optimization.fill_price`).
    """

    parameter: str
    values: list[float]
    reported: float
    note: str
    params: Any

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, params: Any, start: int, provider: Any
    ) -> _Sweep:
        from optimization.baselines import target_service_level

        priced = bool(np.isfinite(params.stockout_cost).any())
        if args.fill_prices is None:
            values = _numbers("--sweep", args.sweep or DEFAULT_SWEEP, prices=False)
            if priced:
                level = round(float(np.mean(target_service_level(params))), 6)
                note = "the critical ratio"
            else:
                level, note = args.service_level, "--service-level"
            return cls("service_level", sorted({*values, level}), level, note, params)
        values = _numbers("--fill-prices", args.fill_prices, prices=True)
        if priced:
            price, note = 0.0, "the critical ratio"
        else:
            price, note = _price_for_target(args, params, start, provider)
        return cls("fill_price", sorted({*values, price}), price, note, params)

    def levels(self, value: float) -> np.ndarray:
        """Every SKU's service level at swept ``value``, shape ``(n,)``."""
        from optimization.fill_price import fill_price_levels

        if self.parameter == "fill_price":
            return fill_price_levels(self.params, value)
        return np.full(len(self.params), value)


def _numbers(option: str, text: str, *, prices: bool) -> list[float]:
    """Comma-separated service levels in (0, 1), or prices >= 0."""
    rule = "a number >= 0" if prices else "a level in (0, 1)"
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(
            f"{option}: every value must be {rule}, got {text!r}"
        ) from None
    ok = [0 <= v < math.inf if prices else 0 < v < 1 for v in values]
    if not values or not all(ok):
        raise SystemExit(f"{option}: every value must be {rule}, got {text!r}")
    return values


def _price_for_target(
    args: argparse.Namespace, params: Any, start: int, provider: Any
) -> tuple[float, str]:
    """The fill price the forecast at the first review picks for
    ``--service-level`` as the portfolio's fill rate."""
    from optimization.base import ReviewInputs
    from optimization.fill_price import FillPriceStatus, select_for_review

    cumulative, levels = provider(start)
    inputs = ReviewInputs(
        as_of=args.start,
        inventory_position=np.zeros(len(params)),
        params=params,
        quantile_levels=levels,
        cumulative_quantiles=cumulative,
    )
    picked = select_for_review(inputs, args.service_level)
    if picked.status is FillPriceStatus.INFEASIBLE:
        raise SystemExit(f"--service-level: as a fill-rate target, {picked.message}")
    log.info("fill price for the target: %s", picked.message)
    note = (
        f"the fill price the forecast at {args.start} picks for a portfolio fill"
        f" rate of {args.service_level:g}"
    )
    return float(f"{picked.fill_price:.6g}"), note


def _params(args: argparse.Namespace, panel: Any, start: int) -> Any:
    """One policy for every SKU, priced from its median price before ``start``.

    Without ``--margin`` the unit cost is the median price; with it the unit
    cost is ``(1 - margin)`` of the price and a lost sale costs ``margin`` of
    it. ``--stockout-cost-ratio`` prices a lost sale at that multiple of the
    unit cost.
    """
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
    price = median_prices(panel, start)
    fields = dict(vars(table))
    fields["unit_cost"] = price
    if args.margin is not None:
        fields["unit_cost"] = (1.0 - args.margin) * price
        fields["stockout_cost"] = args.margin * price
    elif args.stockout_cost_ratio is not None:
        fields["stockout_cost"] = args.stockout_cost_ratio * price
    if "stockout_cost" in fields and np.isfinite(fields["stockout_cost"]).all():
        fields["service_level"] = np.full(len(table), np.nan)
    return PolicyTable(**fields)


def median_prices(panel: Any, start: int) -> np.ndarray:
    """Each SKU's median daily price before demand column ``start``; 1 where
    it never sold at a positive price."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        price = np.nanmedian(panel.unit_price[:, :start], axis=1)
    return np.where(np.isfinite(price) & (price > 0), price, 1.0)


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
    name: str,
    args: argparse.Namespace,
    panel: Any,
    params: Any,
    start: int,
    *,
    fitted: dict[str, Any],
) -> Any:
    """``levels (n,) -> Policy``; the (s, S) grid is simulated once into ``fitted``.

    Every policy but (s, S) reads its levels from the parameters it is
    simulated with; (s, S) re-picks its pairs for them.
    """
    from optimization import baselines
    from optimization.ss_policy import SSPolicy

    if name == "quantile":
        from optimization.policy import QuantilePolicy

        return lambda _level: QuantilePolicy()
    if name == "base_stock":
        return lambda _level: baselines.BaseStockNormal()
    if name == "newsvendor":
        return lambda _level: baselines.MyopicNewsvendor()
    if name == "point":
        return lambda _level: baselines.PointAtPercentile()
    if "ss" not in fitted:
        train = panel.demand[:, start - args.train_days : start]
        policy = SSPolicy(lost_sales=not args.back_orders, seed=args.seed)
        fitted["ss"] = policy.fit(train, params)
    by_cost = name == "ss_cost"

    def ss_at(levels: np.ndarray) -> Any:
        policy = fitted["ss"].retarget(levels, implied_cost=by_cost)
        policy.name = name
        return policy

    return ss_at


def _frontier_sku(args: argparse.Namespace, panel: Any, params: Any, start: int) -> int:
    """Row of the one-SKU frontier: ``--frontier-sku`` or the top seller by value."""
    if args.frontier_sku is not None:
        hit = np.flatnonzero(panel.skus.astype(str) == args.frontier_sku)
        if hit.size == 0:
            raise SystemExit(
                f"--frontier-sku: must be one of the simulated SKUs,"
                f" got {args.frontier_sku!r}"
            )
        return int(hit[0])
    value = panel.demand[:, start - args.train_days : start].sum(1) * params.unit_cost
    return int(np.argmax(value))
