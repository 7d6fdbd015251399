"""Coverage of the forecasts the quantile policy reads, and what recalibrating
them would change in closed loop.

Usage::

    python bench/bench_coverage.py [--forecaster tsb|lstm] [--checkpoint F]
        [--start 2011-07-01] [--margin 0.4]

On the bundled data, for the SKUs ``replenish simulate`` uses (sold in the 91
days before ``--start``), forecasts are made every 7 days over the 13 weeks
before the start and the 13 weeks after it. For each, the share of 14-day
outcomes (7-day lead time plus weekly review) at or below the forecast's
quantile at 0.9, 0.95, 0.975 and 0.99 is printed, for all SKUs and by the
SKU's mean daily demand over the 56 days before the forecast. The reference
is the nominal level.

Then the quantile policy is simulated over the weeks after the start at
target levels 0.9 .. 0.99, once reading the forecast as it is and once
recalibrated: per demand segment, the target level is replaced by the level
the forecast's own quantile function needed to cover that share of the
14-day outcomes *before* the start (randomized PIT of the discrete
outcomes). Costs are priced as with ``replenish simulate --margin``. If the
two sweeps trace the same cost against fill-rate curve, recalibration only
moves the policy along it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasting.base import DEFAULT_QUANTILE_LEVELS, DemandPanel
from forecasting.datasets import bundled_dataset_path, daily_panel, load_sales
from forecasting.lstm import LSTMForecaster
from forecasting.tsb import TSBForecaster
from optimization.kpis import compute_kpis
from optimization.params import PolicyTable, SkuPolicy
from optimization.pareto import with_service_level
from optimization.policy import QuantilePolicy
from optimization.quantiles import cdf_at
from optimization.simulator import simulate
from streams.cli.simulate import median_prices

COVER_DAYS = 14
WEEKS = 13
SEGMENTS = (0.0, 0.5, 2.0, 10.0, math.inf)
CHECKED = (0.9, 0.95, 0.975, 0.99)
TARGETS = (0.9, 0.93, 0.95, 0.97, 0.98, 0.99)
MAX_LEVEL = 0.999999


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forecaster", choices=("tsb", "lstm"), default="tsb")
    parser.add_argument("--checkpoint")
    parser.add_argument("--start", type=dt.date.fromisoformat, default="2011-07-01")
    parser.add_argument("--margin", type=float, default=0.4)
    args = parser.parse_args()

    panel = daily_panel(load_sales(bundled_dataset_path()))
    start = (args.start - panel.start).days
    panel = panel.select(np.flatnonzero(panel.demand[:, start - 91 : start].sum(1)))
    forecaster = _forecaster(args)
    levels = np.asarray(DEFAULT_QUANTILE_LEVELS)
    rng = np.random.default_rng(0)
    cache: dict[int, np.ndarray] = {}

    def forecast(t: int) -> np.ndarray:
        if t not in cache:
            day = panel.start + dt.timedelta(days=t)
            cache[t] = forecaster.forecast(panel.until(day), 28, levels).values
        return cache[t]

    def outcomes(origins: range) -> Outcomes:
        found = Outcomes([], [], [])
        for t in origins:
            quantiles = forecast(t)[:, COVER_DAYS - 1, :]
            actual = panel.demand[:, t + 1 : t + 1 + COVER_DAYS].sum(1)
            below = np.where(actual > 0, cdf_at(quantiles, levels, actual - 1), 0.0)
            at = cdf_at(quantiles, levels, actual)
            found.cdf.append(at)
            found.pit.append(below + rng.random(actual.size) * (at - below))
            found.segment.append(_segment(panel.demand[:, t - 55 : t + 1]))
        return found

    before = outcomes(range(start - 7 * WEEKS, start - COVER_DAYS, 7))
    last = panel.n_days - 1 - COVER_DAYS
    after = outcomes(range(start, last + 1, 7))
    print(f"forecaster {forecaster.name}, {len(panel.skus)} SKUs, start {args.start}")
    _coverage_table({"before the start": before, "after the start": after})

    params = _params(panel, start, args.margin)
    segment = _segment(panel.demand[:, start - 56 : start])
    policy = QuantilePolicy(max_service_level=MAX_LEVEL)
    print("\n| target | fill rate | total cost | recalibrated fill rate | total cost |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for target in TARGETS:
        row = [f"{target:g}"]
        mapped = _level_map(before, segment, target)
        for level in (np.full(len(panel.skus), target), mapped):
            result = simulate(
                policy,
                panel.demand,
                with_service_level(params, level),
                lambda t: (forecast(t), levels),
                start,
                first_day=panel.start,
            )
            kpis = compute_kpis(result, stockout_penalty=params.stockout_cost)
            row += [f"{kpis.overall.fill_rate:.3f}", f"{kpis.overall.total_cost:,.0f}"]
        print("| " + " | ".join(row) + " |")


@dataclass
class Outcomes:
    """Per outcome (concatenated over origins): the forecast's CDF at it, its
    randomized PIT (uniform between the CDF just below and at the count) and
    the SKU's demand segment at the origin."""

    cdf: list[np.ndarray]
    pit: list[np.ndarray]
    segment: list[np.ndarray]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.concatenate(self.cdf),
            np.concatenate(self.pit),
            np.concatenate(self.segment),
        )


def _forecaster(args: argparse.Namespace) -> Any:
    if args.forecaster == "lstm":
        if not args.checkpoint:
            raise SystemExit("--checkpoint: required with --forecaster lstm")
        return LSTMForecaster.load(args.checkpoint)
    return TSBForecaster()


def _segment(history: np.ndarray) -> np.ndarray:
    """Index into ``SEGMENTS`` of each SKU's mean daily demand."""
    return np.digitize(history.mean(axis=1), SEGMENTS[1:-1])


def _coverage_table(samples: dict[str, Outcomes]) -> None:
    """Share of outcomes at or below the forecast's quantile at each level."""
    bounds = itertools.pairwise(SEGMENTS)
    names = ["all", *(f"[{a:g}, {b:g})" for a, b in bounds)]
    head = " | ".join(f"{level:g}" for level in CHECKED)
    print(f"\n| period | mean daily demand | outcomes | {head} |")
    print("| --- | --- | ---: |" + " ---: |" * len(CHECKED))
    for period, found in samples.items():
        cdf, _, segment = found.arrays()
        for k, name in enumerate(names):
            chosen = cdf if k == 0 else cdf[segment == k - 1]
            shares = " | ".join(f"{np.mean(chosen <= u):.3f}" for u in CHECKED)
            print(f"| {period} | {name} | {chosen.size} | {shares} |")


def _level_map(before: Outcomes, at_start: np.ndarray, target: float) -> np.ndarray:
    """Per SKU, the level whose share of earlier outcomes covered is ``target``."""
    _, pit, segment = before.arrays()
    mapped = np.full(at_start.size, target)
    for k in range(len(SEGMENTS) - 1):
        seen = pit[segment == k]
        if seen.size:
            mapped[at_start == k] = np.quantile(seen, target)
    return np.clip(mapped, 1e-6, MAX_LEVEL)


def _params(panel: DemandPanel, start: int, margin: float) -> PolicyTable:
    """Weekly review, 7-day lead time; unit cost and lost margin from the price."""
    template = SkuPolicy("x", lead_time_days=7.0, review_period_days=7)
    table = PolicyTable.uniform(list(panel.skus), template)
    price = median_prices(panel, start)
    fields = dict(vars(table))
    fields["unit_cost"] = (1.0 - margin) * price
    fields["stockout_cost"] = margin * price
    return PolicyTable(**fields)


if __name__ == "__main__":
    main()
