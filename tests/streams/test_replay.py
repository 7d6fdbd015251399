import datetime as dt
import socket

import pandas as pd
import pytest

from streams import replay as replay_module
from streams.cli import main
from streams.events import decode_sale
from streams.readback import read_all
from streams.replay import replay, sale_records, select_days
from streams.topics import SALES_EVENTS, TOPICS, ensure_topics


def sales(*minutes: int) -> pd.DataFrame:
    start = pd.Timestamp("2011-08-01 09:00", tz="Europe/London")
    return pd.DataFrame(
        {
            "event_id": [f"s{i}" for i in range(len(minutes))],
            "sku": ["85123A"] * len(minutes),
            "quantity": [2] * len(minutes),
            "unit_price": [2.55] * len(minutes),
            "occurred_at": [start + pd.Timedelta(minutes=m) for m in minutes],
        }
    )


class FakeClock:
    """Stands in for the ``time`` module of ``streams.replay``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_every_record_is_a_valid_sale_event_keyed_by_its_sku():
    records = list(sale_records(sales(0, 30)))

    assert [key for key, _, _ in records] == [b"85123A", b"85123A"]
    decoded = [decode_sale(value) for _, value, _ in records]
    assert [s.event_id for s in decoded] == ["s0", "s1"]
    assert decoded[1].occurred_at == dt.datetime(2011, 8, 1, 8, 30, tzinfo=dt.UTC)
    assert decoded[0].quantity == 2


def test_selected_days_include_both_ends():
    events = sales(0, 24 * 60, 2 * 24 * 60, 3 * 24 * 60)

    chosen = select_days(events, dt.date(2011, 8, 2), dt.date(2011, 8, 3))

    assert chosen["event_id"].tolist() == ["s1", "s2"]


def test_days_are_the_shops_calendar_days_whatever_zone_the_data_carries():
    events = sales(0)
    events["occurred_at"] = [pd.Timestamp("2011-08-01 23:30", tz="UTC")]

    in_london = select_days(events, dt.date(2011, 8, 2), dt.date(2011, 8, 2))
    in_utc = select_days(events, dt.date(2011, 8, 1), dt.date(2011, 8, 1), "UTC")

    assert len(in_london) == 1  # 00:30 BST on the 2nd
    assert len(in_utc) == 1


@pytest.mark.parametrize("speed", [0.0, -60.0, float("nan"), float("inf")])
def test_a_speed_that_is_not_positive_is_refused(speed):
    with pytest.raises(ValueError, match=r"speed: must be a positive number"):
        replay(sales(0), "127.0.0.1:9", speed=speed)


def test_replay_refuses_to_start_when_no_broker_answers(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"

    code = main(["replay", "--end", "2010-12-01", "--bootstrap-servers", closed])

    assert code == 1
    assert f"no Kafka broker answers at {closed}" in capsys.readouterr().err


@pytest.mark.integration
def test_the_command_creates_the_topic_and_sends_the_chosen_days(
    kafka_bootstrap: str, topic_prefix: str
):
    day = dt.date(2010, 12, 1)
    args = ["--bootstrap-servers", kafka_bootstrap, "--topic-prefix", topic_prefix]

    code = main(["replay", "--start", day.isoformat(), "--end", day.isoformat(), *args])

    assert code == 0
    sent = read_all(kafka_bootstrap, topic_prefix + SALES_EVENTS)
    assert sent
    assert {s["occurred_at"][:10] for s in sent} == {day.isoformat()}


@pytest.mark.integration
def test_sales_arrive_in_order_paced_by_event_time(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch
):
    clock = FakeClock()
    monkeypatch.setattr(replay_module, "time", clock)
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, topics=[TOPICS[SALES_EVENTS]])
    topic = topic_prefix + SALES_EVENTS

    sent = replay(sales(0, 30, 90), kafka_bootstrap, topic=topic, speed=60.0)

    assert sent == 3
    assert clock.sleeps == pytest.approx([30.0, 60.0])
    replayed = [r["event_id"] for r in read_all(kafka_bootstrap, topic)]
    assert replayed == ["s0", "s1", "s2"]
