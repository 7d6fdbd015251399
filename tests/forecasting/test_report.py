"""The markdown report and fan charts of a backtest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from forecasting.base import DemandPanel, QuantileForecast
from forecasting.report import ERROR_METRICS, write_report

LEVELS = np.array([0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.975])
AS_OF = dt.date(2021, 5, 1)


def _metrics(models: dict[str, float]) -> dict:
    """Every error metric equal to the given value; coverage at the levels."""
    summary = {}
    for name, value in models.items():
        overall = {k: value for k in ERROR_METRICS}
        overall |= {"bias": -0.1, "n_skus": 3.0, "n_scored": 2.0}
        overall |= {f"coverage_q{lv:g}": lv for lv in LEVELS}
        timings = {
            "mean_fit_seconds": 1.5,
            "mean_forecast_seconds": 0.25,
            "total_seconds": 3.5,
        }
        summary[name] = {"overall": overall, "origins": {}, "timings": timings}
    return {
        "origins": ["2021-04-24", "2021-05-01"],
        "step_days": 7,
        "horizon": 7,
        "active_days": 28,
        "models": summary,
    }


def _inputs() -> tuple[dict[str, QuantileForecast], DemandPanel, np.ndarray]:
    demand = np.array([[1.0] * 30, [5.0] * 30, [0.0] * 29 + [1.0]])
    price = np.full(demand.shape, 2.0)
    skus = np.array(["small", "A/B 1", "rare"], dtype=object)
    history = DemandPanel(skus, AS_OF - dt.timedelta(days=29), demand, price)
    steps = np.arange(1, 8)[None, :, None]
    values = np.array([1.0, 5.0, 0.1])[:, None, None] * steps * (0.5 + LEVELS)
    forecast = QuantileForecast(skus, AS_OF, LEVELS, values)
    return {"lstm": forecast, "ets": forecast}, history, demand[:, :7]


def test_report_tables_margins_and_fan_charts(tmp_path: Path) -> None:
    forecasts, history, actual = _inputs()
    metrics = _metrics({"lstm": 0.75, "ets": 1.0, "croston_sba": 1.25})

    path = write_report(tmp_path, metrics, forecasts, history, actual, fan_skus=2)

    text = path.read_text()
    assert "| lstm | 0.7500 |" in text and "| croston_sba | 1.2500 |" in text
    # the best baseline is ets (the LSTM is not a baseline)
    assert "| lstm | -25.0% |" in text and "| croston_sba | +25.0% |" in text
    assert "wspl (best ets)" in text
    assert "| 0.025 | 0.165 | 0.25 | 0.5 |" in text
    assert "| ets | 1.50 | 0.25 | 3.50 |" in text
    charts = sorted(p.name for p in tmp_path.glob("fan_*.png"))
    assert charts == ["fan_A_B_1.png", "fan_small.png"]
    assert "![A/B 1](fan_A_B_1.png)" in text
    assert (tmp_path / "fan_small.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_charts(tmp_path: Path) -> None:
    forecasts, history, actual = _inputs()

    write_report(
        tmp_path, _metrics({"ets": 1.0}), forecasts, history, actual, fan_skus=0
    )

    assert "Fan charts" not in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob("*.png"))
