"""Rolling-origin backtest: outputs, reproducible metrics, no look-ahead."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import pytest

from forecasting import backtest
from forecasting.backtest import (
    BacktestError,
    make_forecaster,
    rescore,
    rolling_origins,
    run_backtest,
)
from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    QuantileForecast,
    check_quantile_levels,
)

START = dt.date(2021, 1, 4)
HORIZON = 14
CUTOFF = START + dt.timedelta(days=99)


@pytest.fixture
def panel() -> DemandPanel:
    """Eight SKUs over 130 days; one never sells, one stops selling early."""
    rng = np.random.default_rng(11)
    n_days = 130
    rates = np.array([0.2, 0.5, 1.0, 3.0, 8.0, 0.05, 0.0, 2.0])
    demand = rng.poisson(rates[:, None], (8, n_days)).astype(float)
    demand[7, 40:] = 0.0
    price = np.where(demand > 0, np.linspace(1.0, 8.0, 8)[:, None], np.nan)
    skus = np.array([f"sku-{i}" for i in range(8)], dtype=object)
    return DemandPanel(skus, START, demand, price)


class Spy:
    """Forecasts the recent mean and records the last day of every panel given."""

    name = "spy"
    seen: ClassVar[list[tuple[str, dt.date]]] = []

    def fit(self, panel: DemandPanel) -> Self:
        Spy.seen.append(("fit", panel.end))
        return self

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        Spy.seen.append(("forecast", panel.end))
        levels = check_quantile_levels(quantile_levels)
        rate = panel.demand[:, -28:].mean(axis=1)
        steps = np.arange(1, horizon + 1)
        spread = (0.5 + levels)[None, None, :]
        values = rate[:, None, None] * steps[None, :, None] * spread
        return QuantileForecast(panel.skus, panel.end, levels, values, self.name)


class Peeking(Spy):
    """Claims a forecast from a later day than the one it was given."""

    name = "peeking"

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        honest = super().forecast(panel, horizon, quantile_levels)
        later = panel.end + dt.timedelta(days=1)
        return QuantileForecast(
            honest.skus, later, honest.quantile_levels, honest.values
        )


class Mutating(Spy):
    name = "mutating"

    def fit(self, panel: DemandPanel) -> Self:
        panel.demand[:, -1] = 0.0
        return self


def test_origins_step_while_the_horizon_fits(panel: DemandPanel) -> None:
    origins = rolling_origins(panel, CUTOFF, HORIZON, 7)

    assert origins == [CUTOFF + dt.timedelta(days=d) for d in (0, 7, 14)]
    assert origins[-1] + dt.timedelta(days=HORIZON) <= panel.end
    assert origins[-1] + dt.timedelta(days=HORIZON + 7) > panel.end


def test_cutoff_without_room_for_the_horizon_is_refused(panel: DemandPanel) -> None:
    with pytest.raises(BacktestError, match="cutoff: must leave 14 days"):
        rolling_origins(panel, panel.end - dt.timedelta(days=3), HORIZON)


def test_backtest_writes_outputs_that_reproduce_its_metrics(
    panel: DemandPanel, tmp_path: Path
) -> None:
    Spy.seen = []
    result = run_backtest(
        panel,
        CUTOFF,
        horizon=HORIZON,
        models=["seasonal_naive", "croston_sba", Spy],
        out_dir=tmp_path,
        fan_skus=2,
        progress=False,
    )

    files = {p.name for p in tmp_path.iterdir()}
    assert {"metrics.json", "forecasts.parquet", "report.md"} <= files
    assert len([f for f in files if f.startswith("fan_")]) == 2
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert stored == json.loads(json.dumps(result.metrics))
    assert list(stored["models"]) == ["seasonal_naive", "croston_sba", "spy"]

    frame = pd.read_parquet(tmp_path / "forecasts.parquet")
    n_skus = [len(backtest.active_rows(panel, o, 28)) for o in stored_origins(stored)]
    assert len(frame) == 3 * sum(n_skus) * HORIZON * len(DEFAULT_QUANTILE_LEVELS)
    assert not frame.duplicated(
        ["model", "origin", "sku", "horizon", "quantile_level"]
    ).any()

    recomputed = rescore(tmp_path / "forecasts.parquet", panel)
    for model, scores in stored["models"].items():
        assert set(recomputed[model]) == set(scores["origins"])
        for origin, metrics in scores["origins"].items():
            assert recomputed[model][origin] == pytest.approx(metrics, rel=1e-9)
        timings = scores["timings"]["per_origin"]
        assert all(t["fit_seconds"] >= 0 for t in timings.values())


def stored_origins(metrics: dict) -> list[dt.date]:
    return [dt.date.fromisoformat(o) for o in metrics["origins"]]


def test_models_only_ever_see_data_up_to_their_origin(
    panel: DemandPanel, tmp_path: Path
) -> None:
    Spy.seen = []
    run_backtest(
        panel, CUTOFF, horizon=HORIZON, models=[Spy], out_dir=tmp_path, progress=False
    )

    origins = rolling_origins(panel, CUTOFF, HORIZON)
    expected = [(call, o) for o in origins for call in ("fit", "forecast")]
    assert Spy.seen == expected


def test_a_forecast_from_after_the_origin_is_detected(
    panel: DemandPanel, tmp_path: Path
) -> None:
    with pytest.raises(BacktestError, match="peeking: as_of must be the origin"):
        run_backtest(
            panel,
            CUTOFF,
            horizon=HORIZON,
            models=[Peeking],
            out_dir=tmp_path,
            progress=False,
        )


def test_models_cannot_change_the_data(panel: DemandPanel, tmp_path: Path) -> None:
    before = panel.demand.copy()

    with pytest.raises(ValueError, match="read-only"):
        run_backtest(
            panel,
            CUTOFF,
            horizon=HORIZON,
            models=[Mutating],
            out_dir=tmp_path,
            progress=False,
        )
    np.testing.assert_array_equal(panel.demand, before)


def test_a_panel_without_prices_is_scored_by_units(
    panel: DemandPanel, tmp_path: Path
) -> None:
    no_price = np.full(panel.demand.shape, np.nan)
    unpriced = DemandPanel(panel.skus, panel.start, panel.demand, no_price)

    with pytest.warns(UserWarning, match="weighting SKUs by units"):
        result = run_backtest(
            unpriced,
            CUTOFF,
            horizon=HORIZON,
            models=[Spy],
            out_dir=tmp_path,
            progress=False,
        )

    scores = result.metrics["models"]["spy"]["origins"].values()
    assert all(s["n_scored"] > 0 and np.isfinite(s["wspl"]) for s in scores)


def test_scored_skus_sold_recently(panel: DemandPanel) -> None:
    rows = backtest.active_rows(panel, CUTOFF, 28)

    assert list(rows) == [0, 1, 2, 3, 4, 5]


def test_unknown_model_is_named() -> None:
    with pytest.raises(BacktestError, match="unknown model 'arima'"):
        make_forecaster("arima")


def test_model_whose_module_is_missing_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        backtest.FORECASTERS, "lstm", ("forecasting.not_there", "LSTMForecaster")
    )

    with pytest.raises(BacktestError, match=r"needs module forecasting\.not_there"):
        make_forecaster("lstm")


def test_registry_makes_every_peer_by_name() -> None:
    for name in backtest.PEERS_WITH_HORIZON:
        model = make_forecaster(name, horizon=21)
        assert model.name == name
        assert model.horizon == 21  # type: ignore[attr-defined]
