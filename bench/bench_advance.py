"""Advance many SKUs by one day: one batched step against a per-SKU loop.

    python bench/bench_advance.py --skus 30000

Both sides use the same :class:`~forecasting.online.SkuStates` and network
(default sizes, random weights: speed does not depend on their values), on
CPU with ``--threads`` torch threads. The per-SKU reference advances
``--loop-sample`` SKUs one call each and extrapolates to all SKUs; the output
says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import numpy as np
import torch

from forecasting.checkpoint import TrainedModel
from forecasting.features import N_INPUT, N_KNOWN, FeatureConfig
from forecasting.network import DemandNetwork, NetworkConfig
from forecasting.online import SkuStates


def build_states(
    n_skus: int, hidden: int, warm_days: int
) -> tuple[SkuStates, np.ndarray]:
    torch.manual_seed(0)
    config = NetworkConfig(N_INPUT, N_KNOWN, hidden_size=hidden)
    model = TrainedModel(DemandNetwork(config).eval(), FeatureConfig(), "bench")
    states = SkuStates(model, capacity=n_skus)
    skus = np.array([f"SKU{i:06d}" for i in range(n_skus)], dtype=object)
    rng = np.random.default_rng(0)
    for t in range(warm_days):
        demand = rng.poisson(1.0, n_skus).astype(float)
        states.advance(skus, START + dt.timedelta(days=t), demand)
    return states, skus


START = dt.date(2011, 1, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=30_000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-sample", type=int, default=1_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    warm = 3
    states, skus = build_states(args.skus, args.hidden, warm)
    rng = np.random.default_rng(1)
    batched = []
    for r in range(args.repeats):
        demand = rng.poisson(1.0, args.skus).astype(float)
        day = START + dt.timedelta(days=warm + r)
        began = time.perf_counter()
        states.advance(skus, day, demand)
        batched.append(time.perf_counter() - began)

    sample = min(args.loop_sample, args.skus)
    day = START + dt.timedelta(days=warm + args.repeats)
    demand = rng.poisson(1.0, sample).astype(float)
    began = time.perf_counter()
    for i in range(sample):
        states.advance(skus[i : i + 1], day, demand[i : i + 1])
    per_sku = (time.perf_counter() - began) / sample
    looped = per_sku * args.skus

    step = statistics.median(batched)
    print(f"SKUs {args.skus}, hidden {args.hidden}, torch threads {args.threads}")
    print(f"batched advance (median of {args.repeats}): {step:.3f} s")
    print(
        f"one by one: {looped:.2f} s (measured on {sample} SKUs,"
        f" {per_sku * 1e3:.3f} ms each, extrapolated to {args.skus})"
    )
    print(f"speed-up: {looped / step:.0f}x")


if __name__ == "__main__":
    main()
