from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from forecasting.checkpoint import (
    CheckpointError,
    TrainedModel,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
    to_payload,
    weights_digest,
)
from forecasting.features import N_INPUT, N_KNOWN, FeatureConfig
from forecasting.lstm import LSTMForecaster
from forecasting.network import DemandNetwork, NetworkConfig
from tests.forecasting.conftest import synthetic_panel


def random_model(seed: int = 0, hidden: int = 8) -> TrainedModel:
    torch.manual_seed(seed)
    config = NetworkConfig(N_INPUT, N_KNOWN, hidden_size=hidden, horizon=7)
    network = DemandNetwork(config).eval()
    return TrainedModel(
        network=network,
        feature_config=FeatureConfig(closed_weekdays=(5,)),
        model_version=f"lstm-test-{weights_digest(network)[:12]}",
        validation_loss=0.25,
        metadata={"context_days": 28},
    )


def test_round_trip_keeps_weights_configuration_and_forecasts(tmp_path: Path) -> None:
    model = random_model()
    panel = synthetic_panel(n_skus=6, n_days=60)

    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))

    for name, tensor in model.network.state_dict().items():
        assert torch.equal(tensor, loaded.network.state_dict()[name])
    assert loaded.feature_config == model.feature_config
    assert loaded.network_config == model.network_config
    assert loaded.model_version == model.model_version
    assert loaded.validation_loss == 0.25
    before = LSTMForecaster.from_model(model).forecast(panel, 7)
    after = LSTMForecaster.from_model(loaded).forecast(panel, 7)
    np.testing.assert_array_equal(before.values, after.values)


def test_corrupt_and_truncated_files_are_refused(tmp_path: Path) -> None:
    path = save_checkpoint(random_model(), tmp_path / "m.pt")
    data = path.read_bytes()
    truncated, garbage = tmp_path / "t.pt", tmp_path / "g.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage.write_bytes(b"not a checkpoint at all")

    for bad in (truncated, garbage):
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format_version", 99, "format_version must be 1, got 99"),
        ("format", "other", "format must be 'replenish-lstm'"),
        ("network_config", {"input_size": 3}, "does not fit"),
    ],
)
def test_incompatible_checkpoints_are_refused(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    payload = to_payload(random_model())
    payload[field] = value
    torch.save(payload, tmp_path / "m.pt")

    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "m.pt")


def test_weights_of_another_size_are_refused(tmp_path: Path) -> None:
    payload = to_payload(random_model(hidden=8))
    payload["state_dict"] = to_payload(random_model(hidden=4))["state_dict"]
    torch.save(payload, tmp_path / "m.pt")

    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(tmp_path / "m.pt")


def test_missing_fields_are_named(tmp_path: Path) -> None:
    payload = to_payload(random_model())
    del payload["feature_config"]
    torch.save(payload, tmp_path / "m.pt")

    with pytest.raises(CheckpointError, match="'feature_config'"):
        load_checkpoint(tmp_path / "m.pt")


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = save_checkpoint(random_model(), tmp_path / "m.pt")

    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
