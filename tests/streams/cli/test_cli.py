import socket

import pytest

from streams.cli import COMMAND_MODULES, main
from streams.config import REPO_ROOT

POLICIES = REPO_ROOT / "data" / "policies" / "example.csv"


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


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


def test_an_unknown_log_level_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--log-level", "loud", "kafka", "status"])

    assert exit_.value.code == 2
    assert "--log-level" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["worker"], ["warehouse"], ["trainer", "--once"], ["demo"], ["policies", "load"]],
)
def test_a_command_that_needs_kafka_says_when_no_broker_answers(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    closed = _closed_port()
    if command[0] == "policies":
        command = [*command, str(POLICIES)]

    code = main([*command, "--bootstrap-servers", closed])

    assert code == 1
    assert f"no Kafka broker answers at {closed}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["trainer", "--threads", "-2"], "--threads"),
        (["train", "--threads", "0", "--out", "unused.pt"], "--threads"),
        (["trainer", "--interval", "inf"], "--interval"),
        (["trainer", "--interval", "0"], "--interval"),
    ],
)
def test_a_count_or_interval_below_one_is_refused_by_name(
    arguments: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(arguments)

    assert exit_.value.code == 2
    assert f"argument {option}: must be" in capsys.readouterr().err
