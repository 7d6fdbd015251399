"""The readable side of a backtest: a markdown report and fan charts.

:func:`write_report` turns the ``metrics.json`` content of
:func:`forecasting.backtest.run_backtest` into ``report.md`` and draws, for
the top-revenue SKUs at the last origin, one fan chart of cumulative demand
per SKU with a panel per model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.base import DemandPanel, QuantileForecast
from forecasting.metrics import revenue_weights

ERROR_METRICS = (
    "wrmsse",
    "wspl",
    "spl_cum7_q0.9",
    "spl_cum7_q0.95",
    "spl_cum14_q0.9",
    "spl_cum14_q0.95",
)
"""Lower is better for each of these."""
CANDIDATE = "lstm"
FAN_BANDS = ((0.025, 0.975), (0.165, 0.835), (0.25, 0.75))


def write_report(
    out_dir: Path,
    metrics: Mapping[str, Any],
    forecasts: Mapping[str, QuantileForecast],
    history: DemandPanel,
    actual: np.ndarray,
    *,
    fan_skus: int = 4,
) -> Path:
    """Write ``report.md`` and ``fan_<sku>.png`` files into ``out_dir``.

    Parameters
    ----------
    out_dir
        Destination folder.
    metrics
        The ``metrics.json`` content.
    forecasts
        Each model's forecast at the last origin, for the SKUs of ``history``.
    history
        Demand up to the last origin; its revenue ranks the SKUs charted.
    actual
        Daily demand after the last origin, shape ``(n_skus, horizon)``.
    fan_skus
        Number of SKUs charted.
    """
    models = metrics["models"]
    lines = [
        "# Backtest report",
        "",
        f"Origins: {len(metrics['origins'])}, every {metrics['step_days']} days from"
        f" {metrics['origins'][0]} to {metrics['origins'][-1]}; horizon"
        f" {metrics['horizon']} days. Scored at each origin: SKUs with a sale in the"
        f" {metrics['active_days']} days up to it (mean"
        f" {_mean_of(models, 'n_skus'):.0f} SKUs, of which"
        f" {_mean_of(models, 'n_scored'):.0f} have a scale and revenue). Every"
        " metric is the mean over origins; see `forecasting.metrics` for the"
        " definitions.",
        "",
        "## Accuracy",
        "",
        *_table(
            ["model", *ERROR_METRICS, "bias"], _rows(models, [*ERROR_METRICS, "bias"])
        ),
        "",
        "## Margin against the best baseline",
        "",
        "Relative difference to the best model other than the LSTM on each metric"
        " (negative is better).",
        "",
        *_margins(models),
        "",
        "## Coverage of cumulative demand",
        "",
        "Share of (SKU, horizon) pairs with cumulative demand at or below the"
        " quantile; the header gives the nominal level.",
        "",
        *_coverage(models),
        "",
        "## Timings",
        "",
        "Seconds per origin. A point peer's fit is the calibration of its"
        " cumulative errors (its per-SKU models are fitted at forecast time).",
        "",
        *_table(
            ["model", "mean fit s", "mean forecast s", "total s"],
            [
                [
                    name,
                    *(
                        f"{m['timings'][k]:.2f}"
                        for k in (
                            "mean_fit_seconds",
                            "mean_forecast_seconds",
                            "total_seconds",
                        )
                    ),
                ]
                for name, m in models.items()
            ],
        ),
        "",
    ]
    charts = fan_charts(out_dir, forecasts, history, actual, fan_skus)
    if charts:
        lines += [
            "## Fan charts",
            "",
            f"Cumulative demand after {history.end} for the top-revenue SKUs:"
            " median line, 50/67/95% bands, actual in black.",
            "",
            *(f"![{sku}]({path.name})" for sku, path in charts.items()),
            "",
        ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def fan_charts(
    out_dir: Path,
    forecasts: Mapping[str, QuantileForecast],
    history: DemandPanel,
    actual: np.ndarray,
    n: int,
) -> dict[str, Path]:
    """One PNG per top-revenue SKU, a panel per model; returns SKU to path."""
    if n <= 0 or not forecasts:
        return {}
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    top = np.argsort(-revenue_weights(history), kind="stable")[:n]
    cumulative = np.cumsum(actual, axis=1)
    paths = {}
    for row in top:
        sku = str(history.skus[row])
        fig, axes = plt.subplots(
            1,
            len(forecasts),
            figsize=(3 * len(forecasts), 3),
            sharey=True,
            squeeze=False,
        )
        for ax, (name, forecast) in zip(axes[0], forecasts.items(), strict=True):
            _fan(ax, forecast, row, cumulative[row])
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("horizon (days)")
        axes[0, 0].set_ylabel("cumulative units")
        fig.suptitle(f"SKU {sku}, as of {history.end}", fontsize=10)
        fig.tight_layout()
        path = out_dir / f"fan_{re.sub(r'[^A-Za-z0-9_-]', '_', sku)}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths[sku] = path
    return paths


def _fan(ax: Any, forecast: QuantileForecast, row: int, actual: np.ndarray) -> None:
    steps = np.arange(1, forecast.horizon + 1)
    levels = np.asarray(forecast.quantile_levels)
    for alpha, (low, high) in zip((0.15, 0.3, 0.45), FAN_BANDS, strict=True):
        lo, hi = np.isclose(levels, low), np.isclose(levels, high)
        if lo.any() and hi.any():
            band = forecast.values[row][:, lo | hi]
            ax.fill_between(steps, band[:, 0], band[:, -1], alpha=alpha, color="C0")
    median = np.isclose(levels, 0.5)
    if median.any():
        ax.plot(steps, forecast.values[row][:, median][:, 0], color="C0")
    ax.step(steps, actual, where="post", color="black", linewidth=1)


def _rows(models: Mapping[str, Any], keys: list[str]) -> list[list[str]]:
    return [
        [name, *(f"{m['overall'][k]:.4f}" for k in keys)] for name, m in models.items()
    ]


def _margins(models: Mapping[str, Any]) -> list[str]:
    baselines = [name for name in models if name != CANDIDATE]
    if not baselines:
        return ["No baseline was run."]
    best = {
        k: min(baselines, key=lambda name: models[name]["overall"][k])
        for k in ERROR_METRICS
    }
    header = ["model", *(f"{k} (best {best[k]})" for k in ERROR_METRICS)]
    rows = []
    for name, m in models.items():
        cells = []
        for k in ERROR_METRICS:
            reference = models[best[k]]["overall"][k]
            cells.append(f"{100 * (m['overall'][k] / reference - 1):+.1f}%")
        rows.append([name, *cells])
    return _table(header, rows)


def _coverage(models: Mapping[str, Any]) -> list[str]:
    first = next(iter(models.values()))["overall"]
    keys = [k for k in first if k.startswith("coverage_q")]
    header = ["model", *(k.removeprefix("coverage_q") for k in keys)]
    rows = [
        [name, *(f"{m['overall'][k]:.3f}" for k in keys)] for name, m in models.items()
    ]
    return _table(header, rows)


def _mean_of(models: Mapping[str, Any], key: str) -> float:
    return float(np.mean([m["overall"][key] for m in models.values()]))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
