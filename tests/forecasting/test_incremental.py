from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pytest
import torch

from forecasting.base import DemandPanel
from forecasting.checkpoint import TrainedModel, weights_digest
from forecasting.features import N_INPUT, N_KNOWN, FeatureConfig
from forecasting.incremental import (
    IncrementalForecaster,
    LSTMStepper,
    PanelStepper,
    StepperError,
)
from forecasting.network import DemandNetwork, NetworkConfig
from forecasting.online import SkuStates
from forecasting.training import TrainingConfig, train
from forecasting.tsb import TSBForecaster
from tests.forecasting.conftest import synthetic_panel

FEATURES = FeatureConfig(scale_window=14)
RING_DAYS = 14
WINDOW = 30  # history columns: at least RING_DAYS + scale_window
LEVELS = (0.1, 0.5, 0.9)
Snapshots = dict[str, dict | None]


def trained(seed: int) -> TrainedModel:
    config = TrainingConfig(
        epochs=1,
        batch_size=32,
        windows_per_epoch=64,
        hidden_size=8,
        num_layers=2,
        horizon=7,
        context_days=28,
        min_context_days=14,
        validation_days=14,
        seed=seed,
        features=FEATURES,
        progress=False,
    )
    return train(synthetic_panel(n_skus=12, n_days=80, seed=seed), config)


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    return trained(0)


@pytest.fixture(scope="module")
def other_model() -> TrainedModel:
    return trained(1)


@pytest.fixture(scope="module")
def demand() -> DemandPanel:
    """20 SKUs over 90 days; SKU i is first seen on day ``BIRTH[i]``."""
    panel = synthetic_panel(n_skus=20, n_days=90, seed=3)
    alive = np.arange(panel.n_days)[None, :] >= BIRTH[:, None]
    return DemandPanel(panel.skus, panel.start, np.where(alive, panel.demand, 0.0))


BIRTH = np.array([0] * 8 + [12, 12, 25, 25, 25, 40, 40, 41, 60, 60, 61, 75])
FIRST_STEP = 25  # SKUs born before it have history but no snapshot then


class Worker:
    """What the stream worker keeps durably: history and snapshots per SKU."""

    def __init__(self, panel: DemandPanel, window: int = WINDOW) -> None:
        self.panel, self.window = panel, window
        self.snapshots: Snapshots = {str(s): None for s in panel.skus}

    def history(self, rows: np.ndarray, t: int) -> np.ndarray:
        out = np.zeros((rows.size, self.window))
        take = min(self.window, t + 1)
        out[:, -take:] = self.panel.demand[rows, t + 1 - take : t + 1]
        return out

    def close(
        self, stepper: IncrementalForecaster, t: int, rows: np.ndarray
    ) -> np.ndarray:
        skus = self.panel.skus[rows]
        day = self.panel.start + dt.timedelta(days=t)
        given = [self.snapshots[str(s)] for s in skus]
        forecast, snapshots = stepper.step(skus, day, self.history(rows, t), given)
        assert forecast.as_of == day
        self.snapshots.update(zip(map(str, skus), snapshots, strict=True))
        return forecast.values


def alive(t: int, skipped: tuple[int, ...] = ()) -> np.ndarray:
    rows = np.flatnonzero(t >= BIRTH)
    return np.setdiff1d(rows, skipped) if skipped else rows


def stepper(model: TrainedModel, horizon: int = 7) -> LSTMStepper:
    return LSTMStepper(model, horizon, LEVELS, ring_days=RING_DAYS)


def test_a_crash_before_every_day_changes_nothing(
    model: TrainedModel, demand: DemandPanel
) -> None:
    calm, crashing = Worker(demand), Worker(demand)
    steady = stepper(model)

    for t in range(FIRST_STEP, demand.n_days):
        # SKU 3 skips three closes: its next snapshot is stale and rebuilt
        rows = alive(t, skipped=(3,) if 50 <= t < 53 else ())
        expected = calm.close(steady, t, rows)
        crashing.snapshots = pickle.loads(pickle.dumps(crashing.snapshots))
        got = crashing.close(stepper(model), t, rows)

        np.testing.assert_array_equal(got, expected, err_msg=f"day index {t}")
        assert crashing.snapshots == calm.snapshots


def test_steps_equal_advancing_the_online_state(
    model: TrainedModel, demand: DemandPanel
) -> None:
    worker, states = Worker(demand), SkuStates(model, ring_days=RING_DAYS)
    levels = tuple(model.quantile_levels)
    whole = LSTMStepper(model, model.horizon, levels, ring_days=RING_DAYS)

    for t in range(demand.n_days):
        rows = alive(t)
        got = worker.close(whole, t, rows)
        day = demand.start + dt.timedelta(days=t)
        expected = states.advance(demand.skus[rows], day, demand.demand[rows, t])

        np.testing.assert_array_equal(got, expected.values)


def test_snapshots_hold_the_recurrent_state_as_float32_bytes(
    model: TrainedModel, demand: DemandPanel
) -> None:
    worker, steady = Worker(demand), stepper(model)
    for t in range(30):
        worker.close(steady, t, alive(t))
    snapshot = worker.snapshots["SKU000"]
    assert snapshot is not None

    layers, hidden = model.network_config.num_layers, model.network_config.hidden_size
    assert set(snapshot) == {"model_version", "days_seen", "last_day", "h", "c"}
    assert snapshot["days_seen"] == 30 and snapshot["last_day"] == "2011-02-01"
    row = int(steady.states.rows(np.array(["SKU000"], dtype=object))[0])
    for key, tensor in (("h", steady.states.h), ("c", steady.states.c)):
        assert len(snapshot[key]) == layers * hidden * 4
        kept = np.frombuffer(snapshot[key], dtype="<f4").reshape(layers, hidden)
        np.testing.assert_array_equal(kept, tensor[:, row].numpy())


def test_snapshot_of_the_default_network_takes_256_bytes_of_state() -> None:
    torch.manual_seed(0)
    network = DemandNetwork(NetworkConfig(N_INPUT, N_KNOWN)).eval()
    model = TrainedModel(network, FeatureConfig(), f"v-{weights_digest(network)}")
    skus = np.array(["A", "B"], dtype=object)
    history = np.random.default_rng(0).poisson(3.0, (2, 112)).astype(float)

    _, snapshots = LSTMStepper(model, 28, LEVELS).step(
        skus, dt.date(2011, 6, 1), history, [None, None]
    )

    assert all(s is not None and len(s["h"]) + len(s["c"]) == 256 for s in snapshots)


def test_a_mixed_batch_equals_each_group_stepped_apart(
    model: TrainedModel, demand: DemandPanel
) -> None:
    cached, restored = np.arange(0, 4), np.arange(4, 8)
    history_only, new = np.array([8, 9]), np.array([10, 11])
    mixed, mixed_worker = stepper(model), Worker(demand)
    alone, alone_worker = stepper(model), Worker(demand)
    other, other_worker = stepper(model), Worker(demand)
    for t in range(FIRST_STEP, 30):
        mixed_worker.close(mixed, t, cached)
        alone_worker.close(alone, t, cached)
        other_worker.close(other, t, restored)
    for sku in demand.skus[restored]:
        mixed_worker.snapshots[str(sku)] = other_worker.snapshots[str(sku)]

    order = np.array([10, 0, 4, 8, 1, 5, 11, 2, 6, 9, 3, 7])
    together = mixed_worker.close(mixed, 30, order)

    apart = {
        "cached": (cached, alone_worker.close(alone, 30, cached)),
        "restored": (restored, other_worker.close(other, 30, restored)),
        "history only": (
            history_only,
            Worker(demand).close(stepper(model), 30, history_only),
        ),
        "new": (new, Worker(demand).close(stepper(model), 30, new)),
    }
    # other rows in the batch change no row's result on CPU beyond float32
    # rounding: batches of other sizes may sum in another order (1e-6 relative)
    position = np.argsort(order)
    for group, (rows, values) in apart.items():
        np.testing.assert_allclose(
            together[position[rows]], values, rtol=1e-6, atol=1e-6, err_msg=group
        )
    assert mixed_worker.snapshots["SKU005"] == other_worker.snapshots["SKU005"]


def test_swap_equals_a_fresh_stepper_of_the_new_model(
    model: TrainedModel, other_model: TrainedModel, demand: DemandPanel
) -> None:
    swapped, worker = stepper(model), Worker(demand)
    for t in range(FIRST_STEP, 50):
        worker.close(swapped, t, alive(t))
    before_swap = pickle.loads(pickle.dumps(worker.snapshots))

    swapped.swap(other_model)
    got = worker.close(swapped, 50, alive(50))

    fresh = Worker(demand)
    fresh.snapshots = before_swap
    expected = fresh.close(stepper(other_model), 50, alive(50))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert {s["model_version"] for s in worker.snapshots.values() if s} == {
        other_model.model_version
    }


def test_a_snapshot_of_another_version_is_rebuilt_not_restored(
    model: TrainedModel, other_model: TrainedModel, demand: DemandPanel
) -> None:
    states, worker = SkuStates(model, ring_days=RING_DAYS), Worker(demand)
    rows = np.arange(8)
    for t in range(50):
        states.advance(
            demand.skus[rows],
            demand.start + dt.timedelta(days=t),
            demand.demand[rows, t],
        )
        worker.close(stepper(model), t, rows)
    states.rebuild(other_model)
    day = demand.start + dt.timedelta(days=50)
    expected = states.advance(demand.skus[rows], day, demand.demand[rows, 50])

    full = LSTMStepper(
        other_model, 7, tuple(other_model.quantile_levels), ring_days=RING_DAYS
    )
    relabelled = Worker(demand)
    relabelled.snapshots = {
        k: {**s, "model_version": other_model.model_version}
        for k, s in worker.snapshots.items()
        if s
    }
    got = worker.close(full, 50, rows)

    np.testing.assert_allclose(got, expected.values, rtol=0, atol=1e-6)
    misread = relabelled.close(
        LSTMStepper(
            other_model, 7, tuple(other_model.quantile_levels), ring_days=RING_DAYS
        ),
        50,
        rows,
    )
    assert not np.allclose(misread, got)


def test_swap_refuses_other_feature_rules(model: TrainedModel) -> None:
    torch.manual_seed(0)
    network = DemandNetwork(model.network_config).eval()
    other = TrainedModel(network, FeatureConfig(scale_window=7), "other")

    with pytest.raises(StepperError, match="feature_config"):
        stepper(model).swap(other)


def test_panel_stepper_equals_the_panel_forecast() -> None:
    panel = synthetic_panel(n_skus=10, n_days=56)
    tsb = TSBForecaster()
    wrapped = PanelStepper(tsb, horizon=14, quantile_levels=LEVELS)

    forecast, snapshots = wrapped.step(panel.skus, panel.end, panel.demand, [None] * 10)

    expected = tsb.forecast(panel, 14, LEVELS)
    np.testing.assert_array_equal(forecast.values, expected.values)
    assert forecast.as_of == panel.end and snapshots == [None] * 10
    assert isinstance(wrapped, IncrementalForecaster)
    assert wrapped.model_version == "tsb"


def test_bad_steps_are_refused(model: TrainedModel, demand: DemandPanel) -> None:
    worker = Worker(demand)
    worker.close(stepper(model), 30, np.arange(3))
    skus, day = demand.skus[:3], demand.start + dt.timedelta(days=30)
    snapshots = [worker.snapshots[str(s)] for s in skus]
    history = worker.history(np.arange(3), 30)

    with pytest.raises(StepperError, match="history: must cover"):
        stepper(model).step(skus, day, history[:, 3:], snapshots)
    with pytest.raises(StepperError, match="last_day of sku 'SKU000'"):
        stepper(model).step(skus, day, history, snapshots)
    with pytest.raises(StepperError, match="snapshots: entry of sku 'SKU001'"):
        stepper(model).step(skus, day, history, [None, {"h": []}, None])
    cut = [snapshots[0], {**snapshots[1], "h": snapshots[1]["h"][:-4]}, None]
    with pytest.raises(StepperError, match="snapshots: h of sku index 1 must be"):
        stepper(model).step(skus, day + dt.timedelta(days=1), history, cut)
    with pytest.raises(StepperError, match="history: must be finite"):
        stepper(model).step(skus, day, -history, [None] * 3)
    with pytest.raises(StepperError, match="horizon"):
        LSTMStepper(model, 8, LEVELS)
