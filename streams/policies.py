"""Load SKU policies from a CSV file and publish them on ``sku-policies``.

The file has a header row naming its columns, then one row per SKU. The
columns are the fields of :class:`~optimization.params.SkuPolicy` plus
``policy_version``; only ``sku`` is required. A blank or absent cell takes
the :class:`~optimization.params.SkuPolicy` default, except that

* ``stockout_cost`` and ``service_level`` are alternatives: set at most one
  of them per row; with neither, ``service_level`` takes its default;
* a blank ``capacity`` means no limit;
* ``policy_version`` falls back to the version given to :func:`read_policies`
  and is required when none is given.

Lines whose first character is ``#`` are comments, and blank lines are
skipped. A file is all or nothing: every row is checked, and if any breaks a
rule, :class:`PolicyFileError` lists every error (line, field, rule and the
cell received) and nothing is published. Publishing is idempotent: the topic
is compacted and keyed by SKU, so loading a file again leaves the same
latest policy per SKU.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from optimization.params import PolicyError, SkuPolicy
from streams.events import EventError, SkuPolicyEvent, encode, rules

#: Columns holding whole numbers.
INTEGER_COLUMNS = ("review_period_days", "moq", "case_pack")
#: Every column a policy file may have, in the order of the example file.
COLUMNS = ("sku", "policy_version", *[f.name for f in fields(SkuPolicy)][1:])
_FILE = "file"


@dataclass(frozen=True)
class RowError:
    """One broken rule of a policy file.

    Attributes
    ----------
    line
        Line of the file, counted from 1 (the header is on line 1 unless
        comments precede it).
    field
        The column, or ``file`` for the file as a whole.
    rule
        The rule broken.
    value
        The cell as written in the file.
    """

    line: int
    field: str
    rule: str
    value: object

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.rule}, got {self.value!r}"


class PolicyFileError(ValueError):
    """A policy file with at least one bad row; ``errors`` holds all of them."""

    def __init__(self, path: str | os.PathLike[str], errors: Sequence[RowError]):
        listed = "\n".join(f"  {error}" for error in errors)
        super().__init__(
            f"{os.fspath(path)}: {len(errors)} error(s), nothing published:\n{listed}"
        )
        self.path = Path(path)
        self.errors = list(errors)


class PolicyPublishError(RuntimeError):
    """The broker did not acknowledge every policy; loading again is safe."""


def read_policies(
    path: str | os.PathLike[str], policy_version: str | None = None
) -> list[SkuPolicyEvent]:
    """Every policy of a CSV file, checked, in file order.

    Parameters
    ----------
    path
        The CSV file (UTF-8, a byte order mark is allowed).
    policy_version
        Version of rows with no ``policy_version`` cell (or no such column).

    Raises
    ------
    OSError
        If the file cannot be read.
    PolicyFileError
        If the header or any row breaks a rule; it lists every error.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        shown = raw[error.start : error.start + 4]
        raise PolicyFileError(
            path, [RowError(line, _FILE, "must be UTF-8 text", shown)]
        ) from None
    rows = list(_rows(iter(text.splitlines(keepends=True))))
    if not rows:
        raise PolicyFileError(path, [RowError(1, _FILE, "must have a header", "")])
    header_line, header = rows[0]
    errors = _check_header(header_line, header, policy_version)
    if errors:
        raise PolicyFileError(path, errors)

    policies: list[SkuPolicyEvent] = []
    first_line: dict[str, int] = {}
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            rule = f"must have {len(header)} cells like the header"
            errors.append(RowError(line, _FILE, rule, len(cells)))
            continue
        row = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        policy, row_errors = _policy(line, row, policy_version)
        errors.extend(row_errors)
        sku = row["sku"]
        if sku and sku in first_line:
            rule = f"must be unique in the file (first on line {first_line[sku]})"
            errors.append(RowError(line, "sku", rule, sku))
        first_line.setdefault(sku, line)
        if policy is not None:
            policies.append(policy)
    if not first_line and not errors:
        errors.append(RowError(header_line, _FILE, "must have a policy row", ""))
    if errors:
        raise PolicyFileError(path, errors)
    return policies


def publish_policies(
    policies: Sequence[SkuPolicyEvent], bootstrap_servers: str, topic: str
) -> int:
    """Send ``policies`` keyed by SKU to ``topic``; return how many were acked.

    Raises
    ------
    PolicyPublishError
        If the broker does not acknowledge a record (the topic is missing,
        say); the records acknowledged before stay published.
    """
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5
    )
    acked = 0
    try:
        futures = [
            producer.send(topic, key=p.sku.encode(), value=encode(p)) for p in policies
        ]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
            acked += 1
    except KafkaError as error:
        raise PolicyPublishError(
            f"{topic}: {acked} of {len(policies)} policies acknowledged: {error!r}"
        ) from error
    finally:
        producer.close()
    return acked


def _rows(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of each row, without blank lines and comments."""
    reader = csv.reader(line if not line.startswith("#") else "\n" for line in lines)
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _check_header(
    line: int, header: list[str], policy_version: str | None
) -> list[RowError]:
    errors = []
    seen: set[str] = set()
    for name in header:
        if name not in COLUMNS:
            rule = f"is not a policy column (one of {', '.join(COLUMNS)})"
            errors.append(RowError(line, name, rule, name))
        elif name in seen:
            errors.append(RowError(line, name, "must appear once", name))
        seen.add(name)
    if "sku" not in seen:
        errors.append(RowError(line, "sku", "column is required", None))
    if "policy_version" not in seen and policy_version is None:
        rule = "column is required unless a default version is given"
        errors.append(RowError(line, "policy_version", rule, None))
    return errors


def _policy(
    line: int, row: dict[str, str], default_version: str | None
) -> tuple[SkuPolicyEvent | None, list[RowError]]:
    """The row's policy, or None and every error of the row."""
    values: dict[str, object] = {}
    errors = []
    skipped = {"sku", "policy_version"}
    if row.get("stockout_cost") and row.get("service_level"):
        rule = "must be blank when stockout_cost is set (one of them drives orders)"
        errors.append(RowError(line, "service_level", rule, row["service_level"]))
        skipped.add("service_level")
    for name, cell in row.items():
        if name in skipped or not cell:
            continue
        try:
            values[name] = _parse(name, cell)
        except PolicyError as error:
            errors.append(RowError(line, name, error.rule, cell))
    version = row.get("policy_version") or default_version
    if not version:
        errors.append(RowError(line, "policy_version", "is required", ""))
    for name, rule in _identity_errors(row["sku"], version):
        errors.append(RowError(line, name, rule, row.get(name, "")))
    if errors:
        column = {name: i for i, name in enumerate(row)}
        return None, sorted(errors, key=lambda e: column.get(e.field, len(column)))
    if "stockout_cost" in values:
        values["service_level"] = None
    policy = SkuPolicy(sku=row["sku"], **values)  # type: ignore[arg-type]
    return SkuPolicyEvent.from_policy(policy, str(version)), []


def _parse(name: str, cell: str) -> object:
    """The cell as the field's type, checked alone against SkuPolicy's rule."""
    try:
        number = float(cell)
    except ValueError:
        raise PolicyError(name, "must be a number", cell) from None
    if not math.isfinite(number):
        raise PolicyError(name, "must be a finite number", cell)
    value: object = number
    if name in INTEGER_COLUMNS:
        if not number.is_integer():
            raise PolicyError(name, "must be a whole number", cell)
        value = int(number)
    alone = {name: value}
    if name == "stockout_cost":
        alone["service_level"] = None
    SkuPolicy(sku="-", **alone)  # type: ignore[arg-type]
    return value


def _identity_errors(sku: str, version: str | None) -> Iterator[tuple[str, str]]:
    try:
        rules.sku(sku)
    except EventError as error:
        yield "sku", error.rule
    if version:
        try:
            rules.version("policy_version", version)
        except EventError as error:
            yield "policy_version", error.rule
