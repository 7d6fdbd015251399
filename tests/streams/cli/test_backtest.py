from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.cli import main
from tests.streams.cli.conftest import tidy_sales


def test_backtest_writes_metrics_and_report_for_the_models_named(
    tmp_path: Path,
) -> None:
    data = tidy_sales(tmp_path / "sales.csv", n_days=120)
    out = tmp_path / "bt"

    code = main(
        [
            "backtest",
            "--data",
            str(data),
            "--cutoff",
            "2011-03-25",
            "--models",
            "tsb,seasonal_naive",
            "--fan-skus",
            "1",
            "--out",
            str(out),
        ]
    )

    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["models"]) == ["tsb", "seasonal_naive"]
    assert metrics["origins"] == ["2011-03-25", "2011-04-01"]
    assert (out / "report.md").read_text().startswith("# Backtest report")
    assert (out / "forecasts.parquet").stat().st_size > 0


def test_a_checkpoint_without_the_lstm_among_the_models_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(SystemExit, match="--checkpoint: only the lstm model"):
        main(
            [
                "backtest",
                "--cutoff",
                "2011-07-01",
                "--models",
                "tsb",
                "--checkpoint",
                "model.pt",
                "--out",
                str(tmp_path),
            ]
        )
