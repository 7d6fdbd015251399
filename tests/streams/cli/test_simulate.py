"""``replenish simulate`` end to end on a small tidy sales file (no Kafka)."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from streams.cli import main

FIRST_DAY = dt.date(2011, 1, 3)
DAYS = 126
START = FIRST_DAY + dt.timedelta(days=98)


@pytest.fixture(scope="module")
def sales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four SKUs, one sale line per day with demand, prices from 0.5 to 8."""
    rng = np.random.default_rng(3)
    rows = ["sku,timestamp,quantity,unit_price"]
    for sku, rate, price in (
        ("A", 6, 0.5),
        ("B", 3, 2.0),
        ("C", 1, 8.0),
        ("D", 2, 1.0),
    ):
        for day in range(DAYS):
            quantity = int(rng.poisson(rate))
            if quantity:
                stamp = FIRST_DAY + dt.timedelta(days=day)
                rows.append(f"{sku},{stamp}T10:00:00+00:00,{quantity},{price}")
    path = tmp_path_factory.mktemp("sales") / "sales.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def simulate(sales: Path, out: Path, *options: str) -> dict:
    code = main(
        [
            "simulate",
            "--data",
            str(sales),
            "--start",
            str(START),
            "--policies",
            "quantile,base_stock,ss,newsvendor",
            "--out",
            str(out),
            *options,
        ]
    )
    assert code == 0
    return json.loads((out / "kpis.json").read_text())


def test_a_fill_price_sweep_reports_every_policy_at_each_price(
    sales: Path, tmp_path: Path
) -> None:
    summary = simulate(
        sales, tmp_path, "--margin", "0.4", "--fill-prices", "0.01,0.1,1"
    )

    assert summary["sweep"] == {
        "parameter": "fill_price",
        "values": [0.0, 0.01, 0.1, 1.0],
    }
    assert summary["reported"] == {"value": 0.0, "what": "the critical ratio"}
    for name in ("quantile", "base_stock", "ss", "newsvendor"):
        frontier = summary["frontier"][name]
        assert frontier["parameter"] == [0.0, 0.01, 0.1, 1.0]
        assert len(frontier["fill_rate"]) == 4
        assert summary["policies"][name]["violations_over_sweep_total"] == 0
    # a higher fill price never serves less of the quantile policy's demand
    fill = summary["frontier"]["quantile"]["fill_rate"]
    assert fill[-1] >= fill[0]
    value_fill = summary["frontier"]["quantile"]["value_fill_rate"]
    assert len(value_fill) == 4
    assert all(0 <= v <= 1 for v in value_fill)
    assert "## Frontier (fill price: fill rate, total cost)" in (
        (tmp_path / "report.md").read_text()
    )


def test_without_stockout_costs_the_reported_price_meets_the_target(
    sales: Path, tmp_path: Path
) -> None:
    summary = simulate(
        sales, tmp_path, "--service-level", "0.9", "--fill-prices", "0.001,0.01"
    )

    reported = summary["reported"]
    assert "portfolio fill rate of 0.9" in reported["what"]
    assert reported["value"] > 0
    assert reported["value"] in summary["sweep"]["values"]


def test_a_level_sweep_reports_the_critical_ratio(sales: Path, tmp_path: Path) -> None:
    summary = simulate(sales, tmp_path, "--margin", "0.4", "--sweep", "0.9,0.99999999")

    ratio = 0.4 / (0.4 + 0.6 * 0.25 * 7 / 365)
    assert summary["sweep"]["parameter"] == "service_level"
    assert summary["reported"]["value"] == pytest.approx(ratio, abs=1e-6)
    assert "0.99999999:" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--fill-prices", "0.1,-1"), ("--sweep", "0.5,1"), ("--sweep", "high")],
)
def test_a_bad_sweep_names_the_option(
    sales: Path, tmp_path: Path, option: str, value: str
) -> None:
    with pytest.raises(SystemExit, match=f"^{option}: every value must be"):
        simulate(sales, tmp_path, option, value)
