"""What a worker does with a ``model-updates`` record: load the weights safely.

:func:`load_update` reads the announced file once and checks, in this order,
that the location is a local file, that it exists, that its sha256 is the
announced one, that it is a checkpoint this code can load, that it is the
announced ``model_version``, and that it can replace the model being served.
The bytes checked are the bytes loaded, so a file replaced in between cannot
slip through. Every refusal raises :class:`ModelUpdateError`; the caller
keeps serving its current model. No Kafka here.
"""

from __future__ import annotations

import hashlib
import urllib.parse
import urllib.request
from pathlib import Path

from forecasting.checkpoint import CheckpointError, TrainedModel, read_checkpoint
from forecasting.features import N_INPUT, N_KNOWN
from streams.events import ModelUpdate

_FILE_SCHEME = "file"


class ModelUpdateError(ValueError):
    """An announced model that must not be loaded.

    Attributes
    ----------
    model_version
        The version announced.
    location
        Where the update said the weights are.
    reason
        Why it is refused, as a sentence fragment.
    """

    def __init__(self, update: ModelUpdate, reason: str) -> None:
        super().__init__(
            f"model update {update.model_version} at {update.location}:"
            f" refused, {reason}"
        )
        self.model_version = update.model_version
        self.location = update.location
        self.reason = reason


def weights_path(update: ModelUpdate) -> Path:
    """The local file an update points to: an absolute path or a file URI.

    Raises
    ------
    ModelUpdateError
        For another URI scheme, a file URI of another host, or a relative
        path (it would depend on the worker's working directory).
    """
    location = update.location
    parts = urllib.parse.urlsplit(location)
    if parts.scheme == _FILE_SCHEME:
        if parts.netloc not in ("", "localhost"):
            reason = f"file URI host must be empty or localhost, got {parts.netloc!r}"
            raise ModelUpdateError(update, reason)
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme:
        reason = f"location scheme must be file:// or none, got {parts.scheme!r}"
        raise ModelUpdateError(update, reason)
    path = Path(location)
    if not path.is_absolute():
        reason = "location must be an absolute path or a file:// URI"
        raise ModelUpdateError(update, reason)
    return path


def load_update(update: ModelUpdate, current: TrainedModel | None) -> TrainedModel:
    """The model announced by ``update``, checked, ready to replace ``current``.

    Parameters
    ----------
    update
        The ``model-updates`` record.
    current
        The model being served, or None when there is none yet (then only
        the fit with this code's feature layout is checked).

    Returns
    -------
    TrainedModel
        The new weights on the CPU, in evaluation mode.

    Raises
    ------
    ModelUpdateError
        If the file is missing or unreadable, its sha256 differs from the
        announced one (both digests are named), it is not a loadable
        checkpoint, its ``model_version`` is not the announced one, or it is
        not compatible with ``current`` (:func:`incompatibilities`).
    """
    path = weights_path(update)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelUpdateError(update, f"file {path} does not exist") from None
    except OSError as error:
        raise ModelUpdateError(update, f"file {path} cannot be read: {error}") from None

    digest = hashlib.sha256(data).hexdigest()
    if digest != update.sha256:
        reason = f"checksum mismatch: announced sha256 {update.sha256}, file {digest}"
        raise ModelUpdateError(update, reason)
    try:
        model = read_checkpoint(data, str(path))
    except CheckpointError as error:
        raise ModelUpdateError(update, f"not a loadable checkpoint: {error}") from None
    if model.model_version != update.model_version:
        reason = f"the file holds model_version {model.model_version!r}"
        raise ModelUpdateError(update, reason)
    problems = incompatibilities(model, current)
    if problems:
        raise ModelUpdateError(update, "incompatible: " + "; ".join(problems))
    return model


def incompatibilities(new: TrainedModel, current: TrainedModel | None) -> list[str]:
    """Why ``new`` cannot replace ``current``; empty when it can.

    The network must take this code's input layout. Per-SKU states are
    rebuilt from ring buffers filled under the current feature configuration,
    and forecasts and decisions read the current horizon and quantile levels,
    so those three must match. Width and depth of the network may change.
    """
    config = new.network_config
    problems = []
    for name, value, wanted in (
        ("input_size", config.input_size, N_INPUT),
        ("known_size", config.known_size, N_KNOWN),
    ):
        if value != wanted:
            problems.append(
                f"{name} must be {wanted} (this code's features), got {value}"
            )
    if current is None:
        return problems
    if new.feature_config != current.feature_config:
        problems.append(
            f"feature_config must equal the served one ({current.feature_config}),"
            f" got {new.feature_config}"
        )
    if new.horizon != current.horizon:
        problems.append(
            f"horizon must equal the served {current.horizon}, got {new.horizon}"
        )
    levels = tuple(config.quantile_levels)
    served = tuple(current.network_config.quantile_levels)
    if levels != served:
        problems.append(f"quantile_levels must equal the served {served}, got {levels}")
    return problems
