from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.datasets import (
    DatasetError,
    SalesData,
    bundled_dataset_path,
    daily_panel,
    load_online_retail,
    load_sales,
    load_tidy,
    training_panel,
)

RETAIL_ROWS = [
    # Invoice, StockCode, Quantity, InvoiceDate, Price
    ("500001", "85123A", 6, "2010-06-01 09:00:00", 2.55),
    ("500001", "POST", 1, "2010-06-01 09:00:00", 18.0),
    ("500001", "84797b", 12, "2010-06-01 09:00:00", 1.25),
    ("500002", "85123A", 4, "2010-01-04 10:30:00", 2.95),
    ("500002", "22041", -5, "2010-01-04 10:30:00", 0.0),
    ("C500003", "85123A", 2, "2010-06-01 15:00:00", 2.55),
    ("500004", "gift_0001_20", 1, "2010-06-02 11:00:00", 17.02),
    ("500004", "C2", 1, "2010-06-02 11:00:00", 50.0),
    ("500004", "TEST001", 3, "2010-06-02 11:00:00", 4.5),
    ("500004", "DCGS0058", 2, "2010-06-02 11:00:00", 0.83),
    ("500004", "84797B", 0, "2010-06-02 11:00:00", 1.25),
    ("500004", "BANK CHARGES", 1, "2010-06-02 11:00:00", 15.0),
]


def retail_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        RETAIL_ROWS,
        columns=["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price"],
    )
    frame["Quantity"] = frame["Quantity"].astype("int32")
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame["Description"] = "A THING"
    frame["Customer ID"] = pd.array([13085] * len(frame), dtype="Int64")
    frame["Country"] = "United Kingdom"
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def sales_of(rows: list[tuple[str, str, int, float, str]]) -> SalesData:
    """Events from (event_id, sku, quantity, unit_price, ISO time with offset)."""
    frame = pd.DataFrame(
        rows, columns=["event_id", "sku", "quantity", "unit_price", "occurred_at"]
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return SalesData(frame)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_online_retail_events(tmp_path: Path, suffix: str) -> None:
    path = write(retail_frame(), tmp_path / f"retail{suffix}")

    sales = load_online_retail(path)

    events = sales.events
    assert list(events.columns) == [
        "event_id",
        "sku",
        "quantity",
        "unit_price",
        "occurred_at",
    ]
    assert events["event_id"].tolist() == [
        "500002:1",
        "500001:1",
        "500001:3",
        "C500003:1",
        "500004:4",
    ]
    assert events["sku"].tolist() == [
        "85123A",
        "85123A",
        "84797B",
        "85123A",
        "DCGS0058",
    ]
    assert events["quantity"].tolist() == [4, 6, 12, -2, 2]
    assert events["unit_price"].tolist() == [2.95, 2.55, 1.25, 2.55, 0.83]
    assert events["occurred_at"].iloc[0].isoformat() == "2010-01-04T10:30:00+00:00"
    assert events["occurred_at"].iloc[1].isoformat() == "2010-06-01T09:00:00+01:00"


def test_online_retail_counts_what_it_excludes(tmp_path: Path) -> None:
    sales = load_online_retail(write(retail_frame(), tmp_path / "retail.parquet"))

    assert sales.excluded == {
        "non_product_code": 5,  # POST, gift voucher, C2, TEST001, BANK CHARGES
        "non_positive_price": 1,
        "zero_quantity": 1,
    }
    assert len(sales.events) + sum(sales.excluded.values()) == len(RETAIL_ROWS)


def test_online_retail_exposes_no_customer_data(tmp_path: Path) -> None:
    sales = load_sales(write(retail_frame(), tmp_path / "retail.parquet"))

    assert not {"Customer ID", "Country", "Description"} & set(sales.events.columns)
    assert not sales.events.isin([13085]).any().any()


def test_online_retail_bad_value_names_column_row_and_value(tmp_path: Path) -> None:
    frame = retail_frame().astype({"Quantity": object})
    frame.loc[3, "Quantity"] = "four"

    with pytest.raises(
        DatasetError, match="Quantity: must be an integer, got 'four' at row 4"
    ):
        load_online_retail(write(frame, tmp_path / "retail.csv"))


def test_tidy_derives_event_ids_and_reads_naive_times_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "tidy.csv"
    path.write_text(
        "sku,timestamp,quantity\n"
        "A,2011-05-01 10:00:00,3\n"
        "A,2011-05-01 10:00:00,1\n"
        "B,2011-05-01T12:00:00+02:00,-2\n"
        "B,2011-05-01 11:00:00,0\n"
    )

    sales = load_tidy(path)

    assert sales.events["event_id"].tolist() == [
        "A@2011-05-01T10:00:00Z#0",
        "A@2011-05-01T10:00:00Z#1",
        "B@2011-05-01T10:00:00Z#0",
    ]
    assert sales.events["quantity"].tolist() == [3, 1, -2]
    assert sales.events["unit_price"].isna().all()
    assert str(sales.events["occurred_at"].dt.tz) == "UTC"
    assert sales.excluded == {"non_positive_price": 0, "zero_quantity": 1}
    assert load_tidy(path).events.equals(sales.events)


def test_tidy_keeps_given_event_ids_and_prices(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "event_id": ["e2", "e1", "e3"],
            "sku": ["A", "A", "B"],
            "timestamp": pd.to_datetime(
                ["2011-05-02 08:00", "2011-05-01 08:00", "2011-05-02 08:00"], utc=True
            ),
            "quantity": [1, 2, 5],
            "unit_price": [1.5, 1.5, -1.0],
        }
    )

    sales = load_sales(write(frame, tmp_path / "tidy.parquet"))

    assert sales.events["event_id"].tolist() == ["e1", "e2"]
    assert sales.events["unit_price"].tolist() == [1.5, 1.5]
    assert sales.excluded["non_positive_price"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sku,quantity\nA,1\n", "timestamp: required column missing"),
        (
            "sku,timestamp,quantity\nA,2011-05-01,1\nA,2011-05-02,1.5\n",
            "quantity: must be an integer, got '1.5' at row 2",
        ),
        (
            "sku,timestamp,quantity\nA,yesterday,1\n",
            "timestamp: must be an ISO 8601 timestamp, got 'yesterday' at row 1",
        ),
        (
            "sku,timestamp,quantity,unit_price\nA,2011-05-01,1,cheap\n",
            "unit_price: must be a number, got 'cheap' at row 1",
        ),
        ("sku,timestamp,quantity\n,2011-05-01,1\n", "sku: must not be empty"),
        (
            "event_id,sku,timestamp,quantity\nx,A,2011-05-01,1\nx,B,2011-05-01,1\n",
            "event_id: must be unique, got 'x' again at row 2",
        ),
    ],
)
def test_tidy_errors_name_column_and_value(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "tidy.csv"
    path.write_text(body)

    with pytest.raises(DatasetError, match=message):
        load_tidy(path)


def test_load_sales_rejects_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("product,day,units\nA,2011-05-01,1\n")

    with pytest.raises(DatasetError, match="match neither the tidy format"):
        load_sales(path)


def test_daily_panel_nets_within_the_local_day() -> None:
    sales = sales_of(
        [
            ("1", "A", 5, 2.0, "2011-06-01T09:00:00+01:00"),
            ("2", "A", 3, 4.0, "2011-06-01T15:00:00+01:00"),
            ("3", "A", -2, 2.0, "2011-06-01T16:00:00+01:00"),
            # 23:30 UTC on the 2nd is 00:30 on the 3rd in London
            ("4", "B", 4, 1.0, "2011-06-02T23:30:00+00:00"),
            ("5", "B", -6, 1.0, "2011-06-04T10:00:00+01:00"),
            ("6", "B", 1, 1.0, "2011-06-04T11:00:00+01:00"),
        ]
    )

    panel = daily_panel(sales)

    assert panel.skus.tolist() == ["A", "B"]
    assert panel.start == dt.date(2011, 6, 1) and panel.end == dt.date(2011, 6, 4)
    np.testing.assert_array_equal(panel.demand, [[6, 0, 0, 0], [0, 0, 4, 0]])
    assert panel.unit_price is not None
    expected_price = [[(5 * 2.0 + 3 * 4.0) / 8, np.nan, np.nan, np.nan],
                      [np.nan, np.nan, 1.0, 1.0]]  # fmt: skip
    np.testing.assert_allclose(panel.unit_price, expected_price)


def test_daily_panel_of_a_file_without_prices_has_no_prices(tmp_path: Path) -> None:
    path = tmp_path / "tidy.csv"
    path.write_text(
        "sku,timestamp,quantity\nA,2011-05-01 10:00,3\nB,2011-05-02 09:00,1\n"
    )
    priced = sales_of([("1", "A", 3, 2.0, "2011-05-01T10:00:00+00:00")])

    panel = daily_panel(load_tidy(path))

    assert not panel.has_prices
    assert daily_panel(priced).has_prices


def test_daily_panel_honours_start_end_and_keeps_every_sku() -> None:
    sales = sales_of(
        [
            ("1", "A", 5, 2.0, "2011-06-01T09:00:00+01:00"),
            ("2", "B", 3, 4.0, "2011-06-05T09:00:00+01:00"),
        ]
    )

    panel = daily_panel(sales, start=dt.date(2011, 6, 3), end=dt.date(2011, 6, 6))

    assert panel.skus.tolist() == ["A", "B"]
    assert panel.start == dt.date(2011, 6, 3) and panel.n_days == 4
    np.testing.assert_array_equal(panel.demand, [[0, 0, 0, 0], [0, 0, 3, 0]])


def test_daily_panel_counts_days_in_the_given_zone() -> None:
    sales = sales_of([("1", "A", 5, 2.0, "2011-06-01T23:30:00+00:00")])

    assert daily_panel(sales, tz="UTC").start == dt.date(2011, 6, 1)
    assert daily_panel(sales).start == dt.date(2011, 6, 2)


def test_daily_panel_rejects_end_before_start() -> None:
    sales = sales_of([("1", "A", 5, 2.0, "2011-06-01T09:00:00+01:00")])

    with pytest.raises(DatasetError, match="end: must not precede start"):
        daily_panel(sales, start=dt.date(2011, 6, 2), end=dt.date(2011, 6, 1))


@pytest.fixture(scope="module")
def bundled() -> SalesData:
    return load_sales(bundled_dataset_path())


def test_bundled_dataset_facts(bundled: SalesData) -> None:
    events = bundled.events

    assert len(events) + sum(bundled.excluded.values()) == 873_869
    assert bundled.excluded == {
        "non_product_code": 5_132,
        "non_positive_price": 5_415,
        "zero_quantity": 0,
    }
    assert events["event_id"].is_unique
    assert events["occurred_at"].is_monotonic_increasing
    assert (events["unit_price"] > 0).all()
    assert events["sku"].nunique() == 4_592


def test_bundled_dataset_panel(bundled: SalesData) -> None:
    panel = daily_panel(bundled)

    assert panel.start == dt.date(2009, 12, 1) and panel.end == dt.date(2011, 9, 30)
    assert panel.demand.shape == (4_592, 669)
    assert int((panel.demand.sum(axis=0) > 0).sum()) == 544  # trading days
    assert (panel.demand >= 0).all()


def test_training_panel_refuses_days_after_the_last_sale(tmp_path: Path) -> None:
    path = write(retail_frame(), tmp_path / "retail.parquet")

    panel = training_panel(path, until=dt.date(2010, 6, 2))

    assert panel.end == dt.date(2010, 6, 2)
    with pytest.raises(DatasetError, match=r"until: .*\(2010-06-02\), got 2010-06-03"):
        training_panel(path, until=dt.date(2010, 6, 3))
