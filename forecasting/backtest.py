"""Rolling-origin backtest of forecasters on the same SKUs and days.

From the cutoff, every ``step_days`` days while ``horizon`` days of actual
demand follow, an origin is a last day of known data. At each origin every
model gets a fresh instance, is fitted and forecasts on
``panel.until(origin)`` restricted to the scored SKUs (the panel's arrays
are read-only views; no later day exists in what a model is given), and its
cumulative quantiles are scored against the demand of the next ``horizon``
days with :func:`forecasting.metrics.evaluate`.

Scored SKUs are those with a sale in the ``active_days`` days up to the
origin (the window M5 revenue weights read, so the weighted metrics lose
nothing); every model sees the same SKUs.

Outputs in ``out_dir``: ``metrics.json`` (per model: per origin, overall as
the mean over origins, and timings; rewritten after every origin, so a long
run can be read while it goes), ``forecasts.parquet`` (one row per
model, origin, SKU, horizon and quantile level with the cumulative quantile,
stored as float32 and scored at that precision, so :func:`rescore` on it and
the data reproduces ``metrics.json``), ``report.md`` and fan charts.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    Forecaster,
    QuantileForecast,
)
from forecasting.datasets import daily_panel
from forecasting.metrics import WEIGHT_DAYS, evaluate
from forecasting.report import write_report

FORECASTERS: dict[str, tuple[str, str]] = {
    "tsb": ("forecasting.tsb", "TSBForecaster"),
    "seasonal_naive": ("forecasting.peers", "SeasonalNaiveForecaster"),
    "ets": ("forecasting.peers", "ETSForecaster"),
    "croston_sba": ("forecasting.peers", "CrostonSBAForecaster"),
    "croston_tsb": ("forecasting.peers", "CrostonTSBForecaster"),
    "adida": ("forecasting.peers", "ADIDAForecaster"),
    "imapa": ("forecasting.peers", "IMAPAForecaster"),
    "lightgbm": ("forecasting.peers", "LightGBMForecaster"),
    "lstm": ("forecasting.lstm", "LSTMForecaster"),
}
"""Model name to (module, class); modules are imported when a model is made."""

PEERS = ("seasonal_naive", "ets", "croston_sba", "croston_tsb", "adida", "imapa")
PEERS_WITH_HORIZON = (*PEERS, "lightgbm")
CANDIDATE = "lstm"

ModelSpec = str | Callable[[], Forecaster]


class BacktestError(ValueError):
    """A backtest that cannot run as asked; the message names field and value."""


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest wrote and scored.

    Attributes
    ----------
    metrics
        The content of ``metrics.json``.
    out_dir
        Folder holding ``metrics.json``, ``forecasts.parquet``, ``report.md``
        and the fan charts.
    """

    metrics: dict[str, Any]
    out_dir: Path


class Pretrained:
    """A forecaster whose weights are fixed: ``fit`` leaves it unchanged.

    Parameters
    ----------
    forecaster
        A loaded model; it must have been trained on data up to the first
        origin only, which the backtest cannot check.
    """

    def __init__(self, forecaster: Forecaster) -> None:
        self.forecaster = forecaster
        self.name = forecaster.name

    def fit(self, panel: DemandPanel) -> Pretrained:
        return self

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        return self.forecaster.forecast(panel, horizon, quantile_levels)


def make_forecaster(
    name: str, horizon: int = DEFAULT_HORIZON, checkpoint: str | None = None
) -> Forecaster:
    """A fresh forecaster from :data:`FORECASTERS`.

    Parameters
    ----------
    name
        A key of :data:`FORECASTERS`.
    horizon
        Longest horizon a peer calibrates or trains for.
    checkpoint
        For ``lstm``: a checkpoint file to load instead of training.
    """
    if name not in FORECASTERS:
        raise BacktestError(
            f"models: unknown model {name!r}; known: {list(FORECASTERS)}"
        )
    module_name, class_name = FORECASTERS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise BacktestError(
            f"models: {name!r} needs module {module_name}, which is not installed"
        ) from exc
    cls = getattr(module, class_name)
    if name == CANDIDATE and checkpoint is not None:
        return Pretrained(cls.load(checkpoint))
    if name in PEERS_WITH_HORIZON:
        return cls(horizon=horizon)
    return cls()


def rolling_origins(
    panel: DemandPanel, cutoff: dt.date, horizon: int, step_days: int = 7
) -> list[dt.date]:
    """Origins ``cutoff, cutoff + step_days, ...`` followed by ``horizon`` days."""
    if step_days < 1:
        raise BacktestError(f"step_days: must be >= 1, got {step_days}")
    if not panel.start < cutoff:
        raise BacktestError(
            f"cutoff: must follow the first day {panel.start}, got {cutoff}"
        )
    last = panel.end - dt.timedelta(days=horizon)
    origins = []
    origin = cutoff
    while origin <= last:
        origins.append(origin)
        origin += dt.timedelta(days=step_days)
    if not origins:
        raise BacktestError(
            f"cutoff: must leave {horizon} days before the last day {panel.end},"
            f" got {cutoff}"
        )
    return origins


def active_rows(panel: DemandPanel, origin: dt.date, days: int) -> np.ndarray:
    """Rows of SKUs with a sale in the ``days`` days up to ``origin``."""
    last = (origin - panel.start).days + 1
    return np.flatnonzero((panel.demand[:, max(last - days, 0) : last] > 0).any(axis=1))


def run_backtest(
    data: Any,
    cutoff: dt.date,
    *,
    horizon: int = DEFAULT_HORIZON,
    models: Sequence[ModelSpec] = ("tsb", *PEERS, "lightgbm"),
    out_dir: str | Path = "backtest",
    step_days: int = 7,
    active_days: int = WEIGHT_DAYS,
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    checkpoint: str | None = None,
    fan_skus: int = 4,
    progress: bool = True,
) -> BacktestResult:
    """Fit, forecast and score every model at every rolling origin.

    Parameters
    ----------
    data
        A :class:`DemandPanel`, or sales from :mod:`forecasting.datasets`.
    cutoff
        The first origin (the last day the first forecasts know).
    horizon
        Days forecast and scored after each origin.
    models
        Names from :data:`FORECASTERS`, or factories returning a forecaster.
    out_dir
        Folder for the outputs (created).
    step_days
        Days between origins.
    active_days
        A SKU is scored at an origin if it sold in these days up to it.
    quantile_levels
        Levels asked of every model; must include the M5 levels, 0.9, 0.95.
    checkpoint
        A checkpoint the ``lstm`` model loads instead of training.
    fan_skus
        Fan charts drawn, for the top-revenue SKUs at the last origin.
    progress
        Show a progress bar.
    """
    panel = _as_panel(data)
    if not models:
        raise BacktestError("models: must name at least one model, got none")
    origins = rolling_origins(panel, cutoff, horizon, step_days)
    if checkpoint is not None:
        warnings.warn(
            f"checkpoint: {checkpoint} is used as is at every origin; it must have"
            f" been trained on data up to {origins[0]} only",
            stacklevel=2,
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    factories = [_factory(spec, horizon, checkpoint) for spec in models]
    names: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    last_forecasts: dict[str, QuantileForecast] = {}

    bar = tqdm(total=len(origins) * len(factories), disable=not progress, unit="fit")
    with pq.ParquetWriter(out / "forecasts.parquet", FORECAST_SCHEMA) as writer:
        for origin in origins:
            history, actual = _slice(panel, origin, horizon, active_days)
            for factory in factories:
                model = factory()
                bar.set_description(f"{origin} {model.name}")
                started = time.perf_counter()
                model.fit(history)
                fitted = time.perf_counter()
                forecast = model.forecast(history, horizon, quantile_levels)
                done = time.perf_counter()
                forecast = _checked(forecast, model.name, history, horizon)
                writer.write_table(forecast_table(forecast, origin))
                record = records.setdefault(model.name, {"origins": {}, "timings": {}})
                if model.name not in names:
                    names.append(model.name)
                record["origins"][str(origin)] = evaluate(forecast, history, actual)
                record["timings"][str(origin)] = {
                    "fit_seconds": fitted - started,
                    "forecast_seconds": done - fitted,
                }
                last_forecasts[model.name] = forecast
                bar.update()
            done_origins = origins[: origins.index(origin) + 1]
            metrics = {
                "cutoff": str(cutoff),
                "horizon": horizon,
                "step_days": step_days,
                "active_days": active_days,
                "origins": [str(o) for o in done_origins],
                "models": {name: _summarise(records[name]) for name in names},
            }
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    bar.close()

    history, actual = _slice(panel, origins[-1], horizon, active_days)
    write_report(out, metrics, last_forecasts, history, actual, fan_skus=fan_skus)
    return BacktestResult(metrics, out)


FORECAST_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("origin", pa.date32()),
        ("sku", pa.string()),
        ("horizon", pa.int16()),
        ("quantile_level", pa.float64()),
        ("value", pa.float32()),
    ]
)


def forecast_table(forecast: QuantileForecast, origin: dt.date) -> pa.Table:
    """One row per (SKU, horizon, level) of ``forecast``, SKU-major."""
    n, horizon, q = forecast.values.shape
    columns = {
        "model": pa.array(np.full(n * horizon * q, forecast.model)),
        "origin": pa.array(np.full(n * horizon * q, origin), pa.date32()),
        "sku": pa.array(np.repeat(forecast.skus.astype(str), horizon * q)),
        "horizon": pa.array(np.tile(np.repeat(np.arange(1, horizon + 1), q), n)),
        "quantile_level": pa.array(np.tile(forecast.quantile_levels, n * horizon)),
        "value": pa.array(forecast.values.ravel().astype(np.float32)),
    }
    return pa.Table.from_pydict(columns, schema=FORECAST_SCHEMA)


def forecasts_from_frame(
    frame: pd.DataFrame,
) -> dict[tuple[str, dt.date], QuantileForecast]:
    """Rebuild forecasts from rows of ``forecasts.parquet``, keyed (model, origin)."""
    result = {}
    for (model, origin), group in frame.groupby(["model", "origin"], sort=False):
        rows = group.sort_values(["sku", "horizon", "quantile_level"])
        skus = rows["sku"].unique()
        levels = np.sort(rows["quantile_level"].unique())
        values = rows["value"].to_numpy(np.float64).reshape(len(skus), -1, len(levels))
        as_of = pd.Timestamp(str(origin)).date()
        result[(str(model), as_of)] = QuantileForecast(
            np.asarray(skus, dtype=object), as_of, levels, values, str(model)
        )
    return result


def rescore(
    forecasts_path: str | Path, data: Any, weight_days: int = WEIGHT_DAYS
) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per model and origin recomputed from ``forecasts.parquet`` and data."""
    panel = _as_panel(data)
    position = {str(sku): i for i, sku in enumerate(panel.skus)}
    scores: dict[str, dict[str, dict[str, float]]] = {}
    names = pq.read_table(forecasts_path, columns=["model"]).column("model").unique()
    for name in names.to_pylist():
        frame = pd.read_parquet(forecasts_path, filters=[("model", "=", name)])
        scores.update(_rescore_model(frame, panel, position, weight_days))
    return scores


def _rescore_model(
    frame: pd.DataFrame,
    panel: DemandPanel,
    position: dict[str, int],
    weight_days: int,
) -> dict[str, dict[str, dict[str, float]]]:
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for (model, origin), stored in forecasts_from_frame(frame).items():
        rows = np.array([position[str(sku)] for sku in stored.skus])
        history = panel.until(origin).select(rows)
        first = (origin - panel.start).days + 1
        actual = panel.demand[rows, first : first + stored.horizon]
        scores.setdefault(model, {})[str(origin)] = evaluate(
            replace(stored, skus=history.skus), history, actual, weight_days
        )
    return scores


def _factory(
    spec: ModelSpec, horizon: int, checkpoint: str | None
) -> Callable[[], Forecaster]:
    if callable(spec):
        return spec
    make_forecaster(spec, horizon, checkpoint)
    return lambda: make_forecaster(spec, horizon, checkpoint)


def _slice(
    panel: DemandPanel, origin: dt.date, horizon: int, active_days: int
) -> tuple[DemandPanel, np.ndarray]:
    """Read-only history of the scored SKUs up to ``origin``, and what followed."""
    rows = active_rows(panel, origin, active_days)
    if rows.size == 0:
        raise BacktestError(
            f"active_days: no SKU sold in the {active_days} days up to {origin}"
        )
    history = panel.until(origin).select(rows)
    for array in (history.demand, history.unit_price, history.discount):
        if array is not None:
            array.flags.writeable = False
    first = (origin - panel.start).days + 1
    return history, panel.demand[rows, first : first + horizon]


def _checked(
    forecast: QuantileForecast, name: str, history: DemandPanel, horizon: int
) -> QuantileForecast:
    """The forecast at stored precision, after checking it answers the question."""
    if forecast.as_of != history.end:
        raise BacktestError(
            f"{name}: as_of must be the origin {history.end}, got {forecast.as_of}"
        )
    if not np.array_equal(forecast.skus, history.skus):
        raise BacktestError(f"{name}: skus must be the history's SKUs in order")
    if forecast.horizon != horizon:
        raise BacktestError(
            f"{name}: horizon must be {horizon}, got {forecast.horizon}"
        )
    stored = forecast.values.astype(np.float32).astype(np.float64)
    return replace(forecast, values=stored, model=name)


def _summarise(record: dict[str, Any]) -> dict[str, Any]:
    per_origin = record["origins"]
    keys = next(iter(per_origin.values())).keys()
    overall = {k: float(np.mean([m[k] for m in per_origin.values()])) for k in keys}
    fit = [t["fit_seconds"] for t in record["timings"].values()]
    predict = [t["forecast_seconds"] for t in record["timings"].values()]
    timings = {
        "per_origin": record["timings"],
        "mean_fit_seconds": float(np.mean(fit)),
        "mean_forecast_seconds": float(np.mean(predict)),
        "total_seconds": float(np.sum(fit) + np.sum(predict)),
    }
    return {"overall": overall, "origins": per_origin, "timings": timings}


def _as_panel(data: Any) -> DemandPanel:
    if isinstance(data, DemandPanel):
        return data
    return daily_panel(data)
