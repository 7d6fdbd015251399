import pytest

from streams.cli import COMMAND_MODULES, main


@pytest.mark.parametrize("command", [m.rsplit(".", 1)[1] for m in COMMAND_MODULES])
def test_every_subcommand_has_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])

    assert exit_.value.code == 0
    assert "usage: replenish" in capsys.readouterr().out


def test_a_bad_date_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "--start", "2011-13-01"])

    assert exit_.value.code == 2
    assert "--start" in capsys.readouterr().err


def test_an_input_error_is_one_line_naming_field_and_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["backtest", "--cutoff", "1999-01-01", "--out", "unused"])

    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("replenish backtest: error: cutoff: must follow")
    assert "1999-01-01" in error
    assert "Traceback" not in error
