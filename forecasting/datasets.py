"""Sales-event datasets: the bundled Online Retail II file, tidy files, daily panels.

Every loader returns :class:`SalesData`: one row per sale event in the shape of
the ``sales-events`` topic (``event_id``, ``sku``, ``quantity``, ``unit_price``,
``occurred_at``) plus a count of the rows it left out and why. No customer
identifier survives loading. :func:`daily_panel` turns events into the
:class:`~forecasting.base.DemandPanel` every forecaster reads.

Examples
--------
>>> sales = load_sales(bundled_dataset_path())  # doctest: +SKIP
>>> panel = daily_panel(sales)  # doctest: +SKIP
>>> panel.demand.shape  # doctest: +SKIP
(4592, 669)
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from forecasting.base import DemandPanel

EVENT_COLUMNS = ("event_id", "sku", "quantity", "unit_price", "occurred_at")
ONLINE_RETAIL_COLUMNS = ("Invoice", "StockCode", "Quantity", "InvoiceDate", "Price")
TIDY_COLUMNS = ("sku", "timestamp", "quantity")
ONLINE_RETAIL_TZ = "Europe/London"

NON_PRODUCT_PATTERN = r"(?i)[^0-9]*|C\d+|ADJUST\d*|TEST\d+|GIFT_.*"
"""Stock codes that are not products.

Codes without a digit are fees, postage and bookkeeping lines (``POST``,
``DOT``, ``M``, ``D``, ``S``, ``B``, ``BANK CHARGES``, ``AMAZONFEE``, ``CRUK``,
``PADS``, ``ADJUST``, ``DCGSSGIRL``, ...). Among codes with a digit, carriage
(``C2``, ``C3``), numbered adjustments (``ADJUST2``), test products
(``TEST001``) and gift vouchers (``gift_0001_30``) are not products either.
"""

OFFSET_PATTERN = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"
"""A time of day followed by a UTC offset, at the end of a timestamp string."""

_DATASET_DIR = Path(__file__).resolve().parent.parent / "data"
_BUNDLED = _DATASET_DIR / "online-retail-ii" / "transactions.parquet"


class DatasetError(ValueError):
    """A sales file that cannot be read; the message names column, row and value."""


@dataclass(frozen=True)
class SalesData:
    """Sale events and the rows left out while loading them.

    Attributes
    ----------
    events
        One row per event, columns ``event_id`` (str, unique), ``sku`` (str),
        ``quantity`` (int64, negative for a cancellation or return),
        ``unit_price`` (float64, NaN where unknown) and ``occurred_at``
        (tz-aware timestamps), sorted by ``occurred_at`` then ``event_id``.
    excluded
        Number of source rows dropped, by reason.
    """

    events: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in EVENT_COLUMNS if c not in self.events.columns]
        if missing:
            raise DatasetError(f"events: missing columns {missing}")


def bundled_dataset_path() -> Path:
    """The Online Retail II transactions shipped in ``data/online-retail-ii/``."""
    if not _BUNDLED.is_file():
        raise FileNotFoundError(
            f"bundled dataset: expected {_BUNDLED}; it ships with the source tree,"
            " not with an installed wheel, so pass the path of a copy instead"
        )
    return _BUNDLED


def load_sales(path: str | os.PathLike[str]) -> SalesData:
    """Load a CSV or Parquet file of sales, choosing the format by its columns.

    Files with the Online Retail II columns go to :func:`load_online_retail`,
    files with ``sku``, ``timestamp`` and ``quantity`` to :func:`load_tidy`.
    """
    columns = set(_column_names(path))
    if set(ONLINE_RETAIL_COLUMNS) <= columns:
        return load_online_retail(path)
    if set(TIDY_COLUMNS) <= columns:
        return load_tidy(path)
    raise DatasetError(
        f"{os.fspath(path)}: columns {sorted(columns)} match neither the tidy"
        f" format {list(TIDY_COLUMNS)} nor Online Retail II"
        f" {list(ONLINE_RETAIL_COLUMNS)}"
    )


def load_online_retail(path: str | os.PathLike[str]) -> SalesData:
    """Load the Online Retail II format (``Invoice``, ``StockCode``, ...).

    ``event_id`` is ``"<invoice>:<line>"`` where ``line`` counts the invoice's
    rows from 1 in file order, before anything is excluded, so ids do not move
    when the exclusion rules change. Invoices starting with ``C`` are
    cancellations and get negative quantities. ``InvoiceDate`` is UK local time
    and gets the Europe/London offset (a repeated autumn hour is read as
    summer time, a skipped spring one is moved forward). Rows are excluded, in
    this order and counted once under the first reason that applies:
    ``non_product_code`` (see :data:`NON_PRODUCT_PATTERN`),
    ``non_positive_price`` and ``zero_quantity``. ``Customer ID``,
    ``Description`` and ``Country`` are not read.
    """
    return _online_retail(_read_table(path, list(ONLINE_RETAIL_COLUMNS)))


def load_tidy(path: str | os.PathLike[str]) -> SalesData:
    """Load a CSV or Parquet file with ``sku, timestamp, quantity`` columns.

    Optional columns are ``unit_price`` (NaN where absent) and ``event_id``.
    Missing event ids become ``"<sku>@<UTC timestamp>#<k>"`` with ``k``
    numbering the rows of one SKU and second in file order. Timestamps without
    an offset are taken as UTC; all are returned in UTC. Rows with zero
    quantity (``zero_quantity``) or a price at or below zero
    (``non_positive_price``) are excluded and counted.

    Raises
    ------
    DatasetError
        A required column is missing, a value does not parse (the message
        names column, row counted from 1 after the header, and value) or an
        event id repeats.
    """
    present = set(_column_names(path))
    _require_columns(present, TIDY_COLUMNS)
    optional = [c for c in ("unit_price", "event_id") if c in present]
    return _tidy(_read_table(path, [*TIDY_COLUMNS, *optional]))


def daily_panel(
    sales: SalesData,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tz: str = ONLINE_RETAIL_TZ,
) -> DemandPanel:
    """Net units per SKU per local calendar day, over every day from start to end.

    Parameters
    ----------
    sales
        The events to aggregate.
    start, end
        First and last day, inclusive; default the first and last local day
        with an event. Events outside are ignored.
    tz
        The time zone whose calendar days are counted.

    Returns
    -------
    DemandPanel
        Rows are every SKU of ``sales`` in sorted order (SKUs without an
        event in the range get zeros); ``demand`` ``(n_skus, n_days)`` is the
        day's sales net of returns and cancellations, clipped at zero;
        ``unit_price`` ``(n_skus, n_days)`` is the unit-weighted mean price of
        the day's priced positive sales, NaN where there were none (all NaN
        for a file without prices: the panel then ``has_prices`` false).
    """
    events = sales.events
    if events.empty:
        raise DatasetError("events: no sale events to aggregate")
    local = events["occurred_at"].dt.tz_convert(tz).dt.tz_localize(None)
    day = local.to_numpy().astype("datetime64[D]").astype(np.int64)
    first = int(day.min()) if start is None else _day_number(start)
    last = int(day.max()) if end is None else _day_number(end)
    if last < first:
        raise DatasetError(f"end: must not precede start {start}, got {end}")

    codes, skus = pd.factorize(events["sku"], sort=True)
    n_skus, n_days = len(skus), last - first + 1
    keep = (day >= first) & (day <= last)
    cell = codes[keep] * n_days + (day[keep] - first)
    quantity = events["quantity"].to_numpy(dtype=np.float64)[keep]
    price = events["unit_price"].to_numpy(dtype=np.float64)[keep]

    size = n_skus * n_days
    net = np.bincount(cell, weights=quantity, minlength=size)
    sold = (quantity > 0) & ~np.isnan(price)
    units = np.bincount(cell[sold], weights=quantity[sold], minlength=size)
    revenue = np.bincount(
        cell[sold], weights=quantity[sold] * price[sold], minlength=size
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_price = np.where(units > 0, revenue / units, np.nan)

    return DemandPanel(
        skus=np.asarray(skus, dtype=object),
        start=_date_of(first),
        demand=np.clip(net, 0.0, None).reshape(n_skus, n_days),
        unit_price=mean_price.reshape(n_skus, n_days),
    )


def _column_names(path: str | os.PathLike[str]) -> list[str]:
    """The columns of a Parquet or CSV file, read without loading its rows."""
    if _is_parquet(path):
        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0).columns)


def _read_table(path: str | os.PathLike[str], columns: list[str]) -> pd.DataFrame:
    """Read ``columns`` of a Parquet file, or of a CSV as text."""
    _require_columns(set(_column_names(path)), columns)
    if _is_parquet(path):
        table = pd.read_parquet(path, columns=columns)
    else:
        table = pd.read_csv(
            path, usecols=columns, dtype=str, keep_default_na=False, na_values=[""]
        )
    return table[columns].reset_index(drop=True)


def _is_parquet(path: str | os.PathLike[str]) -> bool:
    suffix = Path(path).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return True
    if suffix in {".csv", ".gz", ".txt"}:
        return False
    raise DatasetError(f"path: must end in .parquet or .csv, got {os.fspath(path)!r}")


def _online_retail(table: pd.DataFrame) -> SalesData:
    invoice = _text(table["Invoice"], "Invoice")
    code = _text(table["StockCode"], "StockCode", upper=True)
    quantity = _integers(table["Quantity"], "Quantity")
    price = _floats(table["Price"], "Price", required=True)
    occurred = _timestamps(table["InvoiceDate"], "InvoiceDate", ONLINE_RETAIL_TZ)
    occurred = occurred.dt.tz_convert(ONLINE_RETAIL_TZ)

    line = invoice.groupby(invoice, sort=False).cumcount() + 1
    cancelled = _per_value(invoice, lambda u: u.str.upper().str.startswith("C"))
    quantity = np.where(cancelled, -np.abs(quantity), quantity)
    events = pd.DataFrame(
        {
            "event_id": invoice + ":" + line.astype(str),
            "sku": code,
            "quantity": quantity,
            "unit_price": price,
            "occurred_at": occurred,
        }
    )
    reasons = {
        "non_product_code": _per_value(
            code, lambda u: u.str.fullmatch(NON_PRODUCT_PATTERN)
        ),
        "non_positive_price": price <= 0,
        "zero_quantity": quantity == 0,
    }
    return _finish(events, reasons)


def _tidy(table: pd.DataFrame) -> SalesData:
    sku = _text(table["sku"], "sku")
    quantity = _integers(table["quantity"], "quantity")
    occurred = _timestamps(table["timestamp"], "timestamp", "UTC")
    occurred = occurred.dt.tz_convert("UTC")
    if "unit_price" in table.columns:
        price = _floats(table["unit_price"], "unit_price", required=False)
    else:
        price = np.full(len(table), np.nan)

    if "event_id" in table.columns:
        event_id = _text(table["event_id"], "event_id")
    else:
        stamp = occurred.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        key = sku + "@" + stamp
        event_id = key + "#" + key.groupby(key, sort=False).cumcount().astype(str)
    repeated = event_id[event_id.duplicated()]
    if not repeated.empty:
        raise DatasetError(
            f"event_id: must be unique, got {repeated.iloc[0]!r} again at row"
            f" {repeated.index[0] + 1}"
        )
    events = pd.DataFrame(
        {
            "event_id": event_id,
            "sku": sku,
            "quantity": quantity,
            "unit_price": price,
            "occurred_at": occurred,
        }
    )
    reasons = {"non_positive_price": price <= 0, "zero_quantity": quantity == 0}
    return _finish(events, reasons)


def _finish(events: pd.DataFrame, reasons: dict[str, np.ndarray]) -> SalesData:
    """Drop rows under the first reason that applies, count them, sort the rest."""
    dropped = np.zeros(len(events), dtype=bool)
    excluded: dict[str, int] = {}
    for reason, hit in reasons.items():
        fresh = hit & ~dropped
        excluded[reason] = int(fresh.sum())
        dropped |= fresh
    kept = events.loc[~dropped].sort_values(
        ["occurred_at", "event_id"], kind="stable", ignore_index=True
    )
    return SalesData(kept, excluded)


def _require_columns(present: set[str], columns: Iterable[str]) -> None:
    for column in columns:
        if column not in present:
            raise DatasetError(
                f"{column}: required column missing; columns present: {sorted(present)}"
            )


def _text(values: pd.Series, column: str, upper: bool = False) -> pd.Series:
    """Stripped, non-empty strings; string work runs once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    stripped = pd.Index(uniques).astype(str).str.strip()
    if upper:
        stripped = stripped.str.upper()
    text = np.append(stripped.to_numpy(dtype=object), "")[codes]  # NA -> ""
    _reject(column, values, text == "", "must not be empty")
    return pd.Series(text, index=values.index)


def _per_value(values: pd.Series, test: Callable[[pd.Index], np.ndarray]) -> np.ndarray:
    """``test`` applied to each distinct value of ``values``, spread back per row."""
    codes, uniques = pd.factorize(values)
    return np.asarray(test(pd.Index(uniques)), dtype=bool)[codes]


def _integers(values: pd.Series, column: str) -> np.ndarray:
    number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(number) | (number != np.round(number))
    _reject(column, values, bad, "must be an integer")
    return number.astype(np.int64)


def _floats(values: pd.Series, column: str, required: bool) -> np.ndarray:
    number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isinf(number) | (np.isnan(number) & values.notna().to_numpy())
    if required:
        bad |= np.isnan(number)
    _reject(column, values, bad, "must be a number")
    return number


def _timestamps(values: pd.Series, column: str, naive_tz: str) -> pd.Series:
    """Parse to tz-aware timestamps; values without an offset are in ``naive_tz``."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        _reject(column, values, values.isna().to_numpy(), "must be a timestamp")
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values
        return _localize(values, naive_tz)

    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    _reject(column, values, parsed.isna().to_numpy(), "must be an ISO 8601 timestamp")
    if naive_tz == "UTC":
        return parsed
    text = values.astype("string").str.strip()
    has_offset = text.str.contains(OFFSET_PATTERN, regex=True)
    wall = _localize(parsed.dt.tz_localize(None), naive_tz).dt.tz_convert("UTC")
    return parsed.where(has_offset.to_numpy(dtype=bool), wall)


def _localize(wall: pd.Series, tz: str) -> pd.Series:
    """Attach ``tz`` to wall-clock times: a repeated hour is read as summer time."""
    summer = np.ones(len(wall), dtype=bool)
    return wall.dt.tz_localize(tz, ambiguous=summer, nonexistent="shift_forward")


def _reject(column: str, values: pd.Series, bad: np.ndarray, rule: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{column}: {rule}, got {values.iloc[row]!r} at row {row + 1}"
        )


def training_panel(
    path: str | os.PathLike[str], until: dt.date | None = None
) -> DemandPanel:
    """Daily demand of the sales file at ``path`` up to ``until`` (default its
    last day), to train on.

    Raises
    ------
    DatasetError
        If ``until`` passes the last day with a sale: the days after it would
        read as days without demand.
    """
    sales = load_sales(path)
    if until is not None and not sales.events.empty:
        latest = sales.events["occurred_at"].max().tz_convert(ONLINE_RETAIL_TZ)
        if until > latest.date():
            raise DatasetError(
                f"until: must not pass the last day with a sale ({latest.date()}),"
                f" got {until}"
            )
    return daily_panel(sales, end=until)


def _day_number(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def _date_of(day_number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day_number)
