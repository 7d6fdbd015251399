"""A trained model and its versioned file format.

A checkpoint holds everything needed to forecast without the training data:
the weights, the network sizes, the feature configuration (which fixes the
scaling rules), the quantile levels, the horizon, a format version and a model
version string. The stream, the CLI and :class:`~forecasting.lstm.LSTMForecaster`
all persist models this way.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from forecasting.features import FeatureConfig
from forecasting.network import DemandNetwork, NetworkConfig

#: The model trained on the bundled data up to 2011-06-30, shipped in the
#: source tree (``data/models/``).
BUNDLED_CHECKPOINT = (
    Path(__file__).resolve().parent.parent
    / "data"
    / "models"
    / "lstm-until-2011-06-30.pt"
)

FORMAT_NAME = "replenish-lstm"
FORMAT_VERSION = 1
_REQUIRED = (
    "format",
    "format_version",
    "model_version",
    "network_config",
    "feature_config",
    "state_dict",
)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not fit this code."""


@dataclass
class TrainedModel:
    """A network with the configuration it was trained under.

    Attributes
    ----------
    network
        The weights, in evaluation mode after training.
    feature_config
        The feature and scaling rules the inputs must follow.
    model_version
        A string that changes whenever the weights change.
    validation_loss
        Weighted pinball loss on the validation windows (NaN if none).
    metadata
        Free-form training facts (cutoff day, seed, epochs, losses).
    """

    network: DemandNetwork
    feature_config: FeatureConfig
    model_version: str
    validation_loss: float = float("nan")
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def network_config(self) -> NetworkConfig:
        return self.network.config

    @property
    def quantile_levels(self) -> np.ndarray:
        return np.asarray(self.network.config.quantile_levels, dtype=float)

    @property
    def horizon(self) -> int:
        return self.network.config.horizon


def weights_digest(network: DemandNetwork) -> str:
    """sha256 over the network's parameters, in a stable order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, hex encoded."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_payload(model: TrainedModel) -> dict[str, Any]:
    """The checkpoint content as plain values and CPU tensors."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_version": model.model_version,
        "network_config": model.network_config.to_dict(),
        "feature_config": model.feature_config.to_dict(),
        "quantile_levels": list(model.network_config.quantile_levels),
        "horizon": model.horizon,
        "validation_loss": float(model.validation_loss),
        "metadata": dict(model.metadata),
        "state_dict": {
            k: v.detach().to("cpu").clone()
            for k, v in model.network.state_dict().items()
        },
    }


def from_payload(payload: Any, source: str = "checkpoint") -> TrainedModel:
    """Rebuild a model from :func:`to_payload` output, or raise CheckpointError."""
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{source}: must hold a dict, got {type(payload).__name__}"
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{source}: missing field {missing[0]!r}")
    if payload["format"] != FORMAT_NAME:
        raise CheckpointError(
            f"{source}: format must be {FORMAT_NAME!r}, got {payload['format']!r}"
        )
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: format_version must be {FORMAT_VERSION},"
            f" got {payload['format_version']!r}"
        )
    try:
        network_config = NetworkConfig.from_dict(payload["network_config"])
        feature_config = FeatureConfig.from_dict(payload["feature_config"])
        network = DemandNetwork(network_config)
        network.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{source}: network or feature configuration does not fit this code: {exc}"
        ) from exc
    for name, weights in network.state_dict().items():
        if not torch.isfinite(weights).all():
            bad = int((~torch.isfinite(weights)).sum())
            raise CheckpointError(
                f"{source}: {name} holds {bad} NaN or infinite values"
            )
    try:
        validation_loss = float(payload.get("validation_loss", float("nan")))
        metadata = dict(payload.get("metadata", {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: validation_loss or metadata: {exc}") from exc
    network.eval()
    return TrainedModel(
        network=network,
        feature_config=feature_config,
        model_version=str(payload["model_version"]),
        validation_loss=validation_loss,
        metadata=metadata,
    )


def save_checkpoint(model: TrainedModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` atomically (via a temporary file); return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(to_payload(model), partial)
    partial.replace(path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> TrainedModel:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, not a checkpoint, of another format
        version, or its weights do not fit its network configuration.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path}: cannot be read: {exc}") from exc
    return read_checkpoint(data, str(path))


def read_checkpoint(data: bytes, source: str) -> TrainedModel:
    """:func:`load_checkpoint` of a file's bytes already read from ``source``."""
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        RuntimeError,
        EOFError,
        ValueError,
    ) as exc:
        raise CheckpointError(
            f"checkpoint {source}: not a readable checkpoint file (corrupt or"
            f" truncated): {exc}"
        ) from exc
    return from_payload(payload, source=f"checkpoint {source}")
