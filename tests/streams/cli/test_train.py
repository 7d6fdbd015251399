from __future__ import annotations

from pathlib import Path

import pytest

from forecasting.checkpoint import load_checkpoint
from streams.cli import main
from tests.streams.cli.conftest import tidy_sales

pytestmark = pytest.mark.slow


def test_train_writes_a_checkpoint_with_the_schedule_it_was_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tidy_sales(tmp_path / "sales.csv")
    out = tmp_path / "model.pt"

    code = main(
        [
            "train",
            "--data",
            str(data),
            "--until",
            "2011-07-20",
            "--epochs",
            "2",
            "--patience",
            "1",
            "--learning-rate",
            "0.001",
            "--hidden-size",
            "8",
            "--out",
            str(out),
        ]
    )

    assert code == 0
    model = load_checkpoint(out)
    assert model.metadata["until"] == "2011-07-20"
    assert model.network_config.hidden_size == 8
    assert 1 <= model.metadata["epochs_run"] <= 2
    printed = capsys.readouterr().out
    assert f"model version: {model.model_version}" in printed


def test_train_names_a_bad_learning_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tidy_sales(tmp_path / "sales.csv", n_days=20)

    code = main(
        [
            "train",
            "--data",
            str(data),
            "--until",
            "2011-01-20",
            "--learning-rate",
            "-0.1",
            "--out",
            str(tmp_path / "model.pt"),
        ]
    )

    assert code == 2
    error = capsys.readouterr().err
    assert "replenish train: error: learning_rate: must be > 0, got -0.1" in error
    assert not (tmp_path / "model.pt").exists()
