"""Time the quantile policy and the budgeted allocation on synthetic SKUs.

Usage::

    python bench/bench_policy.py [--skus 100000] [--budget-skus 30000]

Demand is normal per SKU (daily mean drawn from a gamma, variance 1.5 times
the mean) over a 28-day horizon at the default eleven quantile levels. The
reference is the same policy run one SKU at a time in a Python loop, timed on
a subset and extrapolated (the table says so). Prints a markdown table with
the fastest wall-clock and process CPU seconds (on a shared machine the CPU
time shows the work; the wall time also shows the wait).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from scipy import stats

from optimization.allocation import allocate
from optimization.base import ReviewInputs
from optimization.params import PolicyTable, SkuPolicy
from optimization.policy import QuantilePolicy

LEVELS = np.array(
    [0.005, 0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.9, 0.95, 0.975, 0.995]
)
HORIZON = 28
LOOP_SUBSET = 2_000
T = TypeVar("T")


def synthetic(n: int, spread: float, seed: int = 0) -> ReviewInputs:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 5.0, n)
    days = np.arange(1, HORIZON + 1)
    mean = rate[:, None] * days[None, :]
    cube = mean[:, :, None] + stats.norm.ppf(LEVELS) * np.sqrt(1.5 * mean)[:, :, None]
    cube = np.maximum.accumulate(np.maximum(cube, 0.0), axis=1)
    record = SkuPolicy(
        "sku",
        lead_time_spread_days=spread,
        stockout_cost=0.5,
        moq=12,
        case_pack=6,
        capacity=2_000.0,
    )
    params = PolicyTable.uniform([f"S{i}" for i in range(n)], record)
    position = rng.uniform(0, 150, n)
    return ReviewInputs(dt.date(2011, 12, 9), position, params, LEVELS, cube)


def subset(inputs: ReviewInputs, rows: slice) -> ReviewInputs:
    p = inputs.params
    params = PolicyTable(**{f: getattr(p, f)[rows] for f in p.__dataclass_fields__})
    return ReviewInputs(
        inputs.as_of,
        inputs.inventory_position[rows],
        params,
        inputs.quantile_levels,
        inputs.cumulative_quantiles[rows],
    )


def best_of(repeats: int, call: Callable[[], T]) -> tuple[tuple[float, float], T]:
    """Fastest wall-clock and process CPU seconds of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return (min(walls), min(cpus)), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--budget-skus", type=int, default=30_000)
    args = parser.parse_args()
    policy = QuantilePolicy()
    rows: list[tuple[str, int, tuple[float, float], str]] = []

    inputs = synthetic(args.skus, spread=0.0)
    seconds, decision = best_of(5, lambda: policy.decide(inputs))
    rows.append(("QuantilePolicy, fixed lead time", args.skus, seconds, ""))

    count = min(LOOP_SUBSET, args.skus)
    singles = [subset(inputs, slice(i, i + 1)) for i in range(count)]
    (wall, cpu), looped = best_of(  # best of as many as the vectorized side
        5, lambda: [policy.decide(one).order_quantity[0] for one in singles]
    )
    loop = (wall * args.skus / count, cpu * args.skus / count)
    same = np.array_equal(np.array(looped), decision.order_quantity[:count])
    note = f"timed on {count} SKUs, extrapolated; same orders: {same}"
    rows.append(("per-SKU Python loop (reference)", args.skus, loop, note))

    uncertain = synthetic(args.skus, spread=2.0)
    seconds, _ = best_of(3, lambda: policy.decide(uncertain))
    rows.append(("QuantilePolicy, lead time spread 2 days", args.skus, seconds, ""))

    budgeted = synthetic(args.budget_skus, spread=0.0, seed=1)
    full = policy.decide(budgeted)
    budget = 0.5 * float(np.sum(full.order_quantity * budgeted.params.unit_cost))
    seconds, result = best_of(3, lambda: allocate(budgeted, budget))
    note = (
        f"budget 50% of unconstrained spend; {result.method}, "
        f"{result.status.name}, gap {result.gap / result.total_expected_cost:.1e} "
        f"of cost, spend {result.budget_used / budget:.4f} of budget"
    )
    rows.append(("allocate (shared budget)", args.budget_skus, seconds, note))

    print("| what | SKUs | wall s | CPU s | notes |")
    print("| --- | ---: | ---: | ---: | --- |")
    for what, n, (wall, cpu), notes in rows:
        print(f"| {what} | {n:,} | {wall:.4f} | {cpu:.4f} | {notes} |")


if __name__ == "__main__":
    main()
