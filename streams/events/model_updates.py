"""The ``model-updates`` topic: new forecaster weights are ready to load.

Training runs outside the stream worker; when it writes new weights it
announces them here, and every worker loads them (after checking the digest)
and rebuilds its SKUs' recurrent states from their ring buffers.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import ClassVar

from streams.events import rules
from streams.events.codec import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Fields,
    check_fields,
    check_version,
    load_object,
    parse_datetime,
)
from streams.events.errors import EventError, Reason

#: Longest weights location, in characters.
MAX_LOCATION_CHARS = 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ModelUpdate:
    """Where a new version of the model weights lies, and its digest.

    Attributes
    ----------
    model_version
        Version of the weights; forecasts made with them carry it.
    location
        Path or URI of the weights file, 1 to 1024 characters.
    sha256
        SHA-256 of the weights file: 64 lowercase hex digits.
    created_at
        When the weights were written, with its UTC offset.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "model-updates"

    model_version: str
    location: str
    sha256: str
    created_at: dt.datetime
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.identifier("model_version", self.model_version)
        rules.identifier("location", self.location, MAX_LOCATION_CHARS)
        if type(self.sha256) is not str:
            raise EventError(
                "sha256", "must be a string", self.sha256, Reason.WRONG_TYPE
            )
        if _SHA256_HEX.fullmatch(self.sha256) is None:
            raise EventError(
                "sha256",
                "must be 64 lowercase hex digits",
                self.sha256,
                Reason.BAD_FORMAT,
            )
        rules.aware_datetime("created_at", self.created_at)


_MODEL_UPDATE = Fields(
    ModelUpdate.TOPIC,
    required=frozenset({"model_version", "location", "sha256", "created_at"}),
)


def decode_model_update(
    raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES
) -> ModelUpdate:
    """Decode one ``model-updates`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _MODEL_UPDATE)
    return ModelUpdate(
        obj["model_version"],
        obj["location"],
        obj["sha256"],
        parse_datetime("created_at", obj["created_at"]),
        obj["schema_version"],
    )
