"""What ``replenish simulate`` writes: the summary, its markdown and its plots.

:func:`summarize` gathers KPIs, violations, frontiers and the comparison at
equal fill rate into one JSON-ready dict; :func:`render` turns it into
``report.md``; :func:`plot` draws ``frontier.png`` (the portfolio) and
``frontier_sku.png`` (one SKU).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAVING_TARGET = 0.15
"""Share of the cheapest baseline's cost the quantile policy is asked to save."""

_REPORT_COLUMNS = (
    ("fill_rate", "fill rate", "{:.3f}"),
    ("value_fill_rate", "value fill rate", "{:.3f}"),
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


@dataclass(frozen=True)
class SweepInfo:
    """What every policy was swept along.

    Attributes
    ----------
    parameter
        ``"service_level"`` or ``"fill_price"``.
    values
        The swept values, increasing.
    chosen
        Index of the value the KPI table reports.
    note
        What the reported value is (e.g. "the critical ratio").
    """

    parameter: str
    values: list[float]
    chosen: int
    note: str


def summarize(
    *,
    args: argparse.Namespace,
    panel: Any,
    start: int,
    sweep: SweepInfo,
    runs: dict[str, list[Any]],
    checks: dict[str, Any],
    sku: int,
    baselines_order: tuple[str, ...],
) -> dict[str, Any]:
    from optimization.pareto import kpi_frontier

    config = {k: v for k, v in vars(args).items() if k != "handler"}
    config = {k: str(v) if isinstance(v, dt.date) else v for k, v in config.items()}
    values, chosen = sweep.values, sweep.chosen
    frontiers = {
        name: kpi_frontier(values, kpis, name=sweep.parameter)
        for name, kpis in runs.items()
    }
    value_fill = {
        name: np.array([k.overall.value_fill_rate for k in kpis])
        for name, kpis in runs.items()
    }
    summary: dict[str, Any] = {
        "config": config,
        "skus": len(panel.skus),
        "days": panel.n_days - start,
        "first_day": str(panel.start + dt.timedelta(days=start)),
        "last_day": str(panel.end),
        "sweep": {"parameter": sweep.parameter, "values": values},
        "reported": {"value": values[chosen], "what": sweep.note},
        "policies": {
            name: {"kpis": kpis[chosen].overall.to_dict(), **checks[name].to_dict()}
            for name, kpis in runs.items()
        },
        "frontier": {
            name: {**_frontier_dict(f), "value_fill_rate": _floats(value_fill[name])}
            for name, f in frontiers.items()
        },
        "frontier_sku": {
            "sku": str(panel.skus[sku]),
            **{
                name: _frontier_dict(kpi_frontier(values, kpis, sku=sku))
                for name, kpis in runs.items()
            },
        },
    }
    baselines = [name for name in baselines_order if name in runs]
    if "quantile" in runs and baselines:
        summary["comparison"] = _comparison(frontiers, baselines, value_fill)
    return summary


def _comparison(
    frontiers: dict[str, Any],
    baselines: list[str],
    value_fill: dict[str, np.ndarray],
) -> dict[str, Any]:
    """The quantile policy against the baselines at equal fill rates.

    Read two ways: every frontier interpolated on a common grid, and every
    swept quantile point against the cheapest baseline point within half a
    point of fill rate (``pairs``, with both points' value fill rates).
    """
    from optimization.pareto import compare_at_fill_rate

    found = compare_at_fill_rate(frontiers, "quantile", baselines)
    own = frontiers["quantile"]
    pairs = []
    for i, (level, cost, fill) in enumerate(
        zip(own.parameter, own.cost, own.fill_rate, strict=True)
    ):
        near = []
        for name in baselines:
            other = frontiers[name]
            for k in np.flatnonzero(np.abs(other.fill_rate - fill) <= 0.005):
                near.append((float(other.cost[k]), name, int(k)))
        if near:
            other_cost, name, j = min(near)
            pairs.append(
                {
                    "parameter": float(level),
                    "fill_rate": float(fill),
                    "value_fill_rate": float(value_fill["quantile"][i]),
                    "cost": float(cost),
                    "baseline": name,
                    "baseline_fill_rate": float(frontiers[name].fill_rate[j]),
                    "baseline_value_fill_rate": float(value_fill[name][j]),
                    "baseline_cost": other_cost,
                    "margin": 1.0 - float(cost) / other_cost,
                }
            )
    return {
        "policy": found.policy,
        "baselines": baselines,
        "fill_rate": found.fill_rate.tolist(),
        "cost": {name: _floats(values) for name, values in found.cost.items()},
        "best_baseline": [str(b) for b in found.best_baseline],
        "margin": _floats(found.margin),
        "target": SAVING_TARGET,
        "meets_target_at": found.meets(SAVING_TARGET).tolist(),
        "best_margin": _nan_max(found.margin),
        "pairs": pairs,
    }


def _frontier_dict(frontier: Any) -> dict[str, list[Any]]:
    return {
        "parameter": frontier.parameter.tolist(),
        "total_cost": _floats(frontier.cost),
        "fill_rate": _floats(frontier.fill_rate),
        "efficient": frontier.efficient.tolist(),
    }


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def _nan_max(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None


def render(summary: dict[str, Any]) -> str:
    config = summary["config"]
    priced = "no stockout cost (service-level targets)"
    if config["margin"] is not None:
        priced = f"lost sales priced at a {config['margin']:g} margin on the price"
    elif config["stockout_cost_ratio"] is not None:
        priced = f"stockouts at {config['stockout_cost_ratio']:g} x unit cost"
    budget = config["budget"]
    lines = [
        "# Closed-loop simulation",
        "",
        f"{summary['skus']} SKUs, {summary['first_day']} .. {summary['last_day']}"
        f" ({summary['days']} days), forecaster `{config['forecaster']}`,"
        f" lead time {config['lead_time_days']} days"
        f" (spread {config['lead_time_spread_days']}), review every"
        f" {config['review_period_days']} days,"
        f" {'back-orders' if config['back_orders'] else 'lost sales'}, {priced},"
        f" budget {'none' if budget is None else f'{budget:,.0f} per review day'}.",
        f"KPIs at {_parameter(summary)} {_number(summary['reported']['value'])}"
        f" ({summary['reported']['what']}). Costs in the data's currency;"
        " total = holding + ordering + stockout.",
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
    lines += _violation_lines(summary)
    lines += ["", f"## Frontier ({_parameter(summary)}: fill rate, total cost)", ""]
    for name, f in summary["frontier"].items():
        points = ", ".join(
            f"{_number(a)}: {fill:.3f}, {cost:,.0f}"
            for a, fill, cost in zip(
                f["parameter"], f["fill_rate"], f["total_cost"], strict=True
            )
        )
        lines.append(f"- {name}: {points}")
    lines += ["", "![frontier](frontier.png)", ""]
    lines += _comparison_lines(summary.get("comparison"), _parameter(summary))
    lines += [
        f"One SKU ({summary['frontier_sku']['sku']}):",
        "",
        "![one SKU](frontier_sku.png)",
        "",
    ]
    return "\n".join(lines)


def _violation_lines(summary: dict[str, Any]) -> list[str]:
    kinds = list(next(iter(summary["policies"].values()))["violations"])
    lines = [
        "",
        "## Constraint violations (counted by the simulator)",
        "",
        "At the reported level / over every run of the sweep; `budget` counts"
        " review days over budget, the others offending orders.",
        "",
        "| policy | " + " | ".join(kinds) + " | max review-day spend |",
        "|---" * (len(kinds) + 2) + "|",
    ]
    for name, entry in summary["policies"].items():
        cells = [
            f"{entry['violations'][k]} / {entry['violations_over_sweep'][k]}"
            for k in kinds
        ]
        spend = f"{entry['max_review_spend']:,.0f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {spend} |")
    return lines


def _parameter(summary: dict[str, Any]) -> str:
    """The swept parameter in words."""
    return str(summary["sweep"]["parameter"]).replace("_", " ")


def _number(value: float) -> str:
    """A swept value with every digit that tells levels like 0.9999999 apart."""
    return f"{value:.10g}"


def _comparison_lines(comparison: dict[str, Any] | None, parameter: str) -> list[str]:
    if comparison is None:
        return []
    names = [comparison["policy"], *comparison["baselines"]]
    lines = [
        "## Cost at equal fill rate",
        "",
        "Each policy's sweep read at the same fill rates (linear between swept"
        " points); saving = 1 - quantile / cheapest baseline.",
        "",
        "| fill rate | " + " | ".join(names) + " | cheapest baseline | saving |",
        "|---" * (len(names) + 3) + "|",
    ]
    for i, fill in enumerate(comparison["fill_rate"]):
        if abs(fill * 100 - round(fill * 100)) > 1e-6:
            continue
        costs = [comparison["cost"][n][i] for n in names]
        cells = ["n/a" if c is None else f"{c:,.0f}" for c in costs]
        margin = comparison["margin"][i]
        lines.append(
            f"| {fill:.2f} | "
            + " | ".join(cells)
            + f" | {comparison['best_baseline'][i]} | {margin:+.1%} |"
        )
    lines += [
        "",
        "Swept points within half a point of fill rate of a baseline point:",
        "",
        f"| {parameter} | fill rate | value fill rate | quantile | baseline"
        " | its fill rate | its value fill rate | its cost | saving |",
        "|---" * 9 + "|",
    ]
    for pair in comparison["pairs"]:
        lines.append(
            f"| {_number(pair['parameter'])} | {pair['fill_rate']:.3f}"
            f" | {pair['value_fill_rate']:.3f} | {pair['cost']:,.0f}"
            f" | {pair['baseline']} | {pair['baseline_fill_rate']:.3f}"
            f" | {pair['baseline_value_fill_rate']:.3f}"
            f" | {pair['baseline_cost']:,.0f} | {pair['margin']:+.1%} |"
        )
    met = comparison["meets_target_at"]
    best = comparison["best_margin"]
    verdict = (
        f"met at fill rates {met[0]:.3f} .. {met[-1]:.3f}"
        if met
        else "not met at any fill rate compared"
    )
    lines += [
        "",
        f"Target: {comparison['target']:.0%} below the cheapest baseline:"
        f" {verdict}; best saving"
        f" {'n/a' if best is None else f'{best:+.1%}'}.",
        "",
    ]
    return lines


def plot(
    out: Path, summary: dict[str, Any], runs: dict[str, list[Any]], chosen: int
) -> None:
    from optimization.pareto import Frontier, plot_frontier

    def curves(entries: dict[str, Any]) -> dict[str, Any]:
        return {
            name: Frontier(
                np.asarray(f["parameter"], float),
                np.asarray(f["total_cost"], float),
                np.asarray(f["fill_rate"], float),
            )
            for name, f in entries.items()
            if name != "sku"
        }

    value = _number(summary["reported"]["value"])
    points = {
        f"{name} @ {value}": (
            kpis[chosen].overall.total_cost,
            kpis[chosen].overall.fill_rate,
        )
        for name, kpis in runs.items()
    }
    plot_frontier(out / "frontier.png", curves(summary["frontier"]), points)
    one = summary["frontier_sku"]
    plot_frontier(
        out / "frontier_sku.png",
        curves(one),
        title=f"Total cost against fill rate, SKU {one['sku']}",
    )
