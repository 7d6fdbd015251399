"""Safe loading of announced model weights."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import torch

from forecasting.checkpoint import TrainedModel, file_sha256, save_checkpoint
from forecasting.features import N_INPUT, N_KNOWN, FeatureConfig
from forecasting.network import DemandNetwork, NetworkConfig
from streams.events import ModelUpdate
from streams.models import (
    ModelUpdateError,
    incompatibilities,
    load_update,
    weights_path,
)

CREATED = dt.datetime(2011, 9, 30, 23, 0, tzinfo=dt.UTC)


def tiny_model(version: str, seed: int = 0, **changes: object) -> TrainedModel:
    config = NetworkConfig(
        input_size=N_INPUT,
        known_size=N_KNOWN,
        hidden_size=4,
        horizon=7,
        quantile_levels=(0.1, 0.5, 0.9),
    )
    config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
    torch.manual_seed(seed)
    return TrainedModel(DemandNetwork(config).eval(), FeatureConfig(), version)


def announced(model: TrainedModel, path: Path) -> ModelUpdate:
    save_checkpoint(model, path)
    return ModelUpdate(model.model_version, str(path), file_sha256(path), CREATED)


@pytest.fixture
def current() -> TrainedModel:
    return tiny_model("lstm-current")


def test_a_good_update_loads_with_the_announced_weights(tmp_path, current):
    new = tiny_model("lstm-new", seed=1)
    update = announced(new, tmp_path / "lstm-new.pt")

    loaded = load_update(update, current)

    assert loaded.model_version == "lstm-new"
    for name, tensor in new.network.state_dict().items():
        torch.testing.assert_close(loaded.network.state_dict()[name], tensor)
    assert not loaded.network.training


def test_a_file_uri_and_no_current_model_are_accepted(tmp_path):
    new = tiny_model("lstm-new")
    update = announced(new, tmp_path / "new.pt")
    by_uri = dataclasses.replace(update, location=(tmp_path / "new.pt").as_uri())

    assert load_update(by_uri, None).model_version == "lstm-new"


def test_a_wider_network_may_replace_the_current_one(tmp_path, current):
    update = announced(tiny_model("lstm-wide", hidden_size=16), tmp_path / "w.pt")

    assert load_update(update, current).network_config.hidden_size == 16


def test_a_wrong_checksum_is_refused_naming_both_digests(tmp_path, current):
    update = announced(tiny_model("lstm-new"), tmp_path / "new.pt")
    wrong = dataclasses.replace(update, sha256="0" * 64)

    with pytest.raises(ModelUpdateError) as caught:
        load_update(wrong, current)

    message = str(caught.value)
    assert "checksum mismatch" in message
    assert "0" * 64 in message and update.sha256 in message
    assert "lstm-new" in message and str(tmp_path / "new.pt") in message
    assert caught.value.model_version == "lstm-new"


def test_a_missing_file_is_refused(tmp_path, current):
    update = announced(tiny_model("lstm-new"), tmp_path / "new.pt")
    (tmp_path / "new.pt").unlink()

    with pytest.raises(ModelUpdateError, match="does not exist"):
        load_update(update, current)


def test_a_corrupt_file_with_a_matching_digest_is_refused(tmp_path, current):
    path = tmp_path / "new.pt"
    announced(tiny_model("lstm-new"), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    update = ModelUpdate("lstm-new", str(path), file_sha256(path), CREATED)

    with pytest.raises(ModelUpdateError, match="not a loadable checkpoint"):
        load_update(update, current)


def test_weights_that_are_not_finite_are_refused(tmp_path, current):
    model = tiny_model("lstm-new")
    with torch.no_grad():
        model.network.to_levels.bias[1] = float("nan")
    update = announced(model, tmp_path / "new.pt")

    with pytest.raises(
        ModelUpdateError, match=r"to_levels\.bias holds 1 NaN or infinite"
    ):
        load_update(update, current)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, current):
    path = tmp_path / "new.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    update = ModelUpdate("lstm-new", str(path), file_sha256(path), CREATED)

    with pytest.raises(ModelUpdateError, match="missing field 'format'"):
        load_update(update, current)


def test_a_version_mismatch_is_refused(tmp_path, current):
    update = announced(tiny_model("lstm-new"), tmp_path / "new.pt")
    other = dataclasses.replace(update, model_version="lstm-other")

    with pytest.raises(ModelUpdateError, match="holds model_version 'lstm-new'"):
        load_update(other, current)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"horizon": 14}, "horizon must equal the served 7, got 14"),
        ({"quantile_levels": (0.5, 0.9)}, "quantile_levels must equal"),
        ({"input_size": N_INPUT + 1}, f"input_size must be {N_INPUT}"),
    ],
)
def test_an_incompatible_model_is_refused(tmp_path, current, changes, problem):
    update = announced(tiny_model("lstm-new", **changes), tmp_path / "new.pt")

    with pytest.raises(ModelUpdateError, match="incompatible") as caught:
        load_update(update, current)

    assert problem in str(caught.value)


def test_another_feature_configuration_is_incompatible(current):
    new = tiny_model("lstm-new")
    new.feature_config = FeatureConfig(scale_window=28)

    (problem,) = incompatibilities(new, current)

    assert problem.startswith("feature_config must equal the served one")


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("models/new.pt", "absolute path"),
        ("s3://bucket/new.pt", "scheme must be file:// or none, got 's3'"),
        ("file://elsewhere/tmp/new.pt", "host must be empty or localhost"),
    ],
)
def test_locations_other_than_local_files_are_refused(location, reason):
    update = ModelUpdate("lstm-new", location, "a" * 64, CREATED)

    with pytest.raises(ModelUpdateError, match=reason):
        weights_path(update)
