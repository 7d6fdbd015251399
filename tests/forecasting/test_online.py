from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from forecasting.base import DemandPanel
from forecasting.checkpoint import TrainedModel, weights_digest
from forecasting.features import N_INPUT, N_KNOWN, FeatureConfig, panel_features
from forecasting.lstm import LSTMForecaster
from forecasting.network import DemandNetwork, NetworkConfig
from forecasting.online import OnlineStateError, SkuStates
from tests.forecasting.conftest import synthetic_panel


def random_model(seed: int = 0, layers: int = 1) -> TrainedModel:
    torch.manual_seed(seed)
    config = NetworkConfig(
        N_INPUT, N_KNOWN, hidden_size=8, num_layers=layers, horizon=7
    )
    network = DemandNetwork(config).eval()
    return TrainedModel(network, FeatureConfig(), f"v{seed}-{weights_digest(network)}")


def replay(states: SkuStates, panel: DemandPanel, days: range) -> np.ndarray:
    """Advance every SKU through ``days``; return the last forecast values."""
    values = np.empty(0)
    for t in days:
        out = states.advance(
            panel.skus,
            panel.start + dt.timedelta(days=t),
            panel.demand[:, t],
            None if panel.unit_price is None else panel.unit_price[:, t],
        )
        values = out.values
    return values


@pytest.fixture
def panel() -> DemandPanel:
    return synthetic_panel(n_skus=10, n_days=70)


def test_advancing_day_by_day_equals_encoding_the_panel(panel: DemandPanel) -> None:
    model = random_model(layers=2)
    states = SkuStates(model, capacity=2)

    online = replay(states, panel, range(panel.n_days))
    offline = LSTMForecaster.from_model(model)
    offline.context_days = panel.n_days

    np.testing.assert_allclose(
        online,
        offline.forecast(panel, 7, tuple(model.quantile_levels)).values,
        rtol=1e-4,
        atol=1e-5,
    )
    assert len(states) == 10 and states.capacity == 16


def test_batched_advance_equals_advancing_one_by_one(panel: DemandPanel) -> None:
    model = random_model()
    batched, single = SkuStates(model), SkuStates(model)
    replay(batched, panel, range(30))
    replay(single, panel, range(30))
    day = panel.start + dt.timedelta(days=30)

    together = batched.advance(panel.skus, day, panel.demand[:, 30])
    alone = [
        single.advance(panel.skus[i : i + 1], day, panel.demand[i : i + 1, 30])
        for i in range(len(panel.skus))
    ]

    stacked = np.concatenate([out.values for out in alone])
    np.testing.assert_allclose(together.values, stacked, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched.h, single.h)


def test_rebuild_equals_a_fresh_encode_of_the_ring_buffer(panel: DemandPanel) -> None:
    old, new = random_model(0), random_model(1)
    states = SkuStates(old, ring_days=21)
    replay(states, panel, range(panel.n_days))

    states.rebuild(new)

    features = panel_features(panel, new.feature_config)
    window = np.arange(panel.n_days - 21, panel.n_days)
    inputs = features.inputs(np.arange(10)[:, None], window)
    _, (h, c) = new.network.encode(torch.as_tensor(inputs))
    torch.testing.assert_close(states.h[:, :10], h, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(states.c[:, :10], c, rtol=1e-4, atol=1e-5)
    assert states.model_version == new.model_version


def test_rebuild_of_a_short_history_encodes_only_the_days_seen(
    panel: DemandPanel,
) -> None:
    old, new = random_model(0), random_model(1)
    states = SkuStates(old, ring_days=30)
    replay(states, panel, range(5))

    states.rebuild(new)

    inputs = panel_features(panel, new.feature_config).inputs(
        np.arange(10)[:, None], np.arange(5)
    )
    _, (h, _) = new.network.encode(torch.as_tensor(inputs))
    torch.testing.assert_close(states.h[:, :10], h, rtol=1e-4, atol=1e-5)


def test_rebuild_refuses_other_feature_rules(panel: DemandPanel) -> None:
    states = SkuStates(random_model())
    other = random_model(1)
    other.feature_config = FeatureConfig(scale_window=7)

    with pytest.raises(OnlineStateError, match="feature_config"):
        states.rebuild(other)


def test_cold_start_begins_from_zero_state(panel: DemandPanel) -> None:
    model = random_model()
    states = SkuStates(model)
    replay(states, panel, range(10))
    day = panel.start + dt.timedelta(days=10)

    out = states.advance(np.array(["NEW"]), day, np.array([3.0]))

    fresh = SkuStates(model)
    expected = fresh.advance(np.array(["OTHER"]), day, np.array([3.0]))
    np.testing.assert_allclose(out.values, expected.values)
    assert states.index["NEW"] == 10 and states.days_seen[10] == 1


def test_skipped_days_are_filled_with_zero_demand(panel: DemandPanel) -> None:
    model = random_model()
    gappy, full = SkuStates(model), SkuStates(model)
    replay(gappy, panel, range(10))
    replay(full, panel, range(10))
    sku, later = panel.skus[:1], panel.start + dt.timedelta(days=13)

    for t in (10, 11, 12):
        full.advance(sku, panel.start + dt.timedelta(days=t), np.zeros(1))
    expected = full.advance(sku, later, np.array([2.0]))
    out = gappy.advance(sku, later, np.array([2.0]))

    np.testing.assert_allclose(out.values, expected.values, rtol=1e-5)


def test_a_day_already_closed_is_refused(panel: DemandPanel) -> None:
    states = SkuStates(random_model())
    replay(states, panel, range(3))

    with pytest.raises(OnlineStateError, match="SKU001"):
        states.advance(panel.skus[1:2], panel.start, np.array([1.0]))
    with pytest.raises(OnlineStateError, match="demand"):
        states.advance(panel.skus[:1], dt.date(2012, 1, 1), np.array([-1.0]))


def staggered(n_skus: int = 24, n_days: int = 150) -> DemandPanel:
    """Demand of SKUs first seen on different days (zeros before)."""
    panel = synthetic_panel(n_skus=n_skus, n_days=n_days, seed=5)
    first = np.random.default_rng(5).integers(0, n_days, n_skus)
    first[:4] = 0
    seen = np.arange(n_days)[None, :] >= first[:, None]
    return DemandPanel(panel.skus, panel.start, np.where(seen, panel.demand, 0.0))


def advance_from_first_sale(states: SkuStates, panel: DemandPanel) -> None:
    first = np.argmax(panel.demand > 0, axis=1)
    first[~(panel.demand > 0).any(axis=1)] = panel.n_days - 1
    for t in range(panel.n_days):
        rows = np.flatnonzero(first <= t)
        day = panel.start + dt.timedelta(days=t)
        states.advance(panel.skus[rows], day, panel.demand[rows, t])


def test_restore_from_demand_equals_advancing_bit_for_bit() -> None:
    panel = staggered()
    model = random_model(layers=2)
    live = SkuStates(model, ring_days=21)
    advance_from_first_sale(live, panel)
    rows = live.rows(panel.skus)
    reach = 21 + model.feature_config.scale_window - 1

    restored = SkuStates(model, ring_days=21)
    other_rows = restored.rows(panel.skus[::-1])[::-1]
    state = (live.h[:, rows], live.c[:, rows])
    restored.restore(
        other_rows, live.days_seen[rows], panel.end, panel.demand[:, -reach:], state
    )

    assert live.days_seen[rows].max() > reach > live.days_seen[rows].min() > 0
    for name in ("ring", "recent_demand", "scale", "days_seen", "last_day"):
        np.testing.assert_array_equal(
            getattr(restored, name)[other_rows], getattr(live, name)[rows], name
        )
    day = panel.end + dt.timedelta(days=1)
    demand = np.arange(len(rows), dtype=float)
    np.testing.assert_array_equal(
        restored.advance(panel.skus, day, demand).values,
        live.advance(panel.skus, day, demand).values,
    )


def test_restore_needs_the_days_the_ring_depends_on() -> None:
    states = SkuStates(random_model(), ring_days=10)
    rows = states.rows(np.array(["A", "B"]))
    need = 10 + states.model.feature_config.scale_window - 1

    with pytest.raises(OnlineStateError, match=f"= {need} days for row 1"):
        states.restore(rows, np.array([3, 500]), dt.date(2011, 5, 1), np.ones((2, 64)))
    states.restore(rows, np.array([3, 64]), dt.date(2011, 5, 1), np.ones((2, 64)))


def test_rebuilding_some_rows_equals_rebuilding_all(panel: DemandPanel) -> None:
    model = random_model()
    some, every = SkuStates(model, ring_days=21), SkuStates(model, ring_days=21)
    replay(some, panel, range(40))
    replay(every, panel, range(40))
    rows = np.array([7, 2, 5])

    some.h[:, rows] = 9.0
    some.rebuild_rows(rows)
    every.rebuild(model)

    torch.testing.assert_close(some.h[:, rows], every.h[:, rows], rtol=0, atol=0)
    torch.testing.assert_close(some.c[:, rows], every.c[:, rows], rtol=0, atol=0)
