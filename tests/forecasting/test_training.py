from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from forecasting import training
from forecasting.base import DemandPanel, ForecastError
from forecasting.training import (
    TrainingConfig,
    TrainingError,
    fine_tune,
    pinball_loss,
    train,
)
from tests.forecasting.conftest import synthetic_panel


def tiny_config(**changes: object) -> TrainingConfig:
    values: dict[str, object] = {
        "epochs": 2,
        "batch_size": 32,
        "windows_per_epoch": 64,
        "hidden_size": 8,
        "horizon": 7,
        "quantile_levels": (0.1, 0.5, 0.9),
        "context_days": 28,
        "min_context_days": 14,
        "validation_days": 14,
        "progress": False,
    }
    values.update(changes)
    return TrainingConfig(**values)  # type: ignore[arg-type]


def weekly_panel(n_skus: int = 8, n_days: int = 140) -> DemandPanel:
    """Every SKU sells a fixed amount on Mondays and Thursdays, nothing else."""
    weekday = np.arange(n_days) % 7
    pattern = np.isin(weekday, (0, 3)).astype(float)
    demand = (np.arange(1, n_skus + 1)[:, None] * 4.0) * pattern[None, :]
    skus = np.array([f"W{i}" for i in range(n_skus)], dtype=object)
    return DemandPanel(skus, dt.date(2011, 1, 3), demand)


def test_pinball_loss_matches_a_hand_computation() -> None:
    quantiles = torch.tensor([[[[1.0, 2.0], [2.0, 4.0]]]])
    target = torch.tensor([[[3.0, 3.0]]])
    levels = torch.tensor([0.25, 0.75])

    loss = pinball_loss(quantiles, target, levels, torch.ones(1))

    day1 = (0.25 * 2 + 0.75 * 1) / 2
    day2 = (0.25 * 1 + (1 - 0.75) * 1) / 2 / 2
    assert float(loss) == pytest.approx((day1 + day2) / 2)


def test_loss_decreases_on_a_learnable_weekly_pattern() -> None:
    config = tiny_config(
        epochs=8, windows_per_epoch=256, learning_rate=1e-2, patience=8
    )

    model = train(weekly_panel(), config)

    validation = model.metadata["validation_loss"]
    assert min(validation) < 0.5 * validation[0]
    assert model.validation_loss == min(validation)


def test_seeded_runs_are_identical_and_seeds_differ() -> None:
    panel = synthetic_panel(n_skus=12, n_days=84)

    first = train(panel, tiny_config(seed=3))
    second = train(panel, tiny_config(seed=3))
    other = train(panel, tiny_config(seed=4))

    for name, tensor in first.network.state_dict().items():
        torch.testing.assert_close(tensor, second.network.state_dict()[name])
    assert first.model_version == second.model_version
    assert first.model_version != other.model_version


def test_training_stops_at_the_cutoff() -> None:
    panel = synthetic_panel(n_skus=6, n_days=100)

    model = train(panel, tiny_config(epochs=1), until=dt.date(2011, 3, 20))

    assert model.metadata["until"] == "2011-03-20"
    assert model.model_version.startswith("lstm-2011-03-20-")


def test_a_panel_too_short_is_refused() -> None:
    panel = synthetic_panel(n_skus=4, n_days=40)

    with pytest.raises(TrainingError, match="context_days"):
        train(panel, tiny_config())


def test_config_rejects_validation_shorter_than_the_horizon() -> None:
    with pytest.raises(TrainingError, match="validation_days"):
        tiny_config(validation_days=3)


@pytest.mark.parametrize(
    ("field", "value"), [("patience", 0), ("learning_rate", 0.0), ("epochs", 0)]
)
def test_config_names_a_bad_schedule_value(field: str, value: object) -> None:
    with pytest.raises(TrainingError, match=f"{field}: must be .*got {value}"):
        tiny_config(**{field: value})


def test_config_refuses_a_nan_quantile_level_by_name() -> None:
    with pytest.raises(ForecastError, match=r"quantile_levels: .*got nan"):
        tiny_config(quantile_levels=(0.1, float("nan"), 0.9))


def test_loss_weights_follow_units_when_no_price_is_known() -> None:
    panel = weekly_panel(n_skus=3, n_days=14)
    no_price = np.full(panel.demand.shape, np.nan)
    unpriced = DemandPanel(panel.skus, panel.start, panel.demand, no_price)

    weights = training._sku_weights(unpriced, last=13, revenue_weight=1.0)

    # units 16, 32, 48 over their mean 32, as for a panel without unit_price
    np.testing.assert_allclose(weights, [0.5, 1.0, 1.5])


def test_fine_tune_returns_new_weights_in_slices_and_keeps_the_original() -> None:
    panel = synthetic_panel(n_skus=10, n_days=90)
    model = train(panel, tiny_config(epochs=1))
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    slices: list[tuple[int, float]] = []

    tuned = fine_tune(
        model,
        panel,
        steps=7,
        batch_size=16,
        slice_steps=3,
        on_slice=lambda done, loss: slices.append((done, loss)),
    )

    assert [done for done, _ in slices] == [3, 6, 7]
    assert tuned.model_version != model.model_version
    assert tuned.metadata["parent_version"] == model.model_version
    for name, tensor in model.network.state_dict().items():
        assert torch.equal(tensor, before[name])
    assert any(
        not torch.equal(tensor, before[name])
        for name, tensor in tuned.network.state_dict().items()
    )


def test_fine_tune_stops_when_the_caller_says_so() -> None:
    panel = synthetic_panel(n_skus=6, n_days=90)
    model = train(panel, tiny_config(epochs=1))

    tuned = fine_tune(
        model,
        panel,
        steps=10,
        batch_size=8,
        slice_steps=2,
        on_slice=lambda done, loss: False,
    )

    assert tuned.metadata["fine_tune_steps"] == 2
