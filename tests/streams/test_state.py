import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.state import (
    STOCK_EVENTS_KEPT,
    OpenOrder,
    Outcome,
    PartitionClock,
    SkuState,
)

MONDAY = dt.date(2011, 8, 1)
LONDON = dt.timezone(dt.timedelta(hours=1))


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON)


def test_sale_is_applied_once_per_event_id() -> None:
    state = SkuState("A", partition=0)

    assert state.apply_sale("e1", MONDAY, 3) is Outcome.APPLIED
    assert state.apply_sale("e1", MONDAY, 3) is Outcome.DUPLICATE

    assert state.pending == {MONDAY: 3}
    assert state.on_hand == -3


def test_sale_for_a_closed_day_is_late_and_changes_nothing() -> None:
    state = SkuState("A", partition=0)
    state.apply_sale("e1", MONDAY, 2)
    state.close(MONDAY, window=7)

    assert state.apply_sale("e2", MONDAY, 5) is Outcome.LATE
    assert state.history.tolist() == [2.0]
    assert state.on_hand == -2


def test_return_nets_within_the_day_and_a_negative_day_closes_at_zero() -> None:
    state = SkuState("A", partition=0)
    state.apply_sale("e1", MONDAY, 2)
    state.apply_sale("e2", MONDAY, -5)

    assert state.close(MONDAY, window=7) == 0.0
    assert state.on_hand == 3


def test_history_keeps_only_the_window() -> None:
    state = SkuState("A", partition=0)
    for i in range(10):
        day = MONDAY + dt.timedelta(days=i)
        state.apply_sale(f"e{i}", day, i + 1)
        state.close(day, window=4)

    assert state.history.tolist() == [7.0, 8.0, 9.0, 10.0]
    assert state.last_closed_day == MONDAY + dt.timedelta(days=9)
    assert state.pending == {} and state.applied == {}


def test_receipt_closes_its_open_order_once() -> None:
    state = SkuState("A", partition=0)
    state.on_order["c1"] = OpenOrder(12, MONDAY)
    state.apply_sale("e1", MONDAY, 4)
    assert state.inventory_position == 8

    assert state.apply_stock("r1", "receipt", 12, "c1") is Outcome.APPLIED
    assert state.apply_stock("r1", "receipt", 12, "c1") is Outcome.DUPLICATE

    assert state.on_order == {}
    assert state.on_hand == 8
    assert state.inventory_position == 8


def test_count_replaces_on_hand_and_adjustment_adds_to_it() -> None:
    state = SkuState("A", partition=0, on_hand=5)
    state.on_order["c1"] = OpenOrder(6, MONDAY)

    state.apply_stock("k1", "count", 2)
    state.apply_stock("a1", "adjustment", -1)

    assert state.on_hand == 1
    assert state.inventory_position == 7


def test_only_the_latest_stock_event_ids_are_kept() -> None:
    state = SkuState("A", partition=0)
    for i in range(STOCK_EVENTS_KEPT + 5):
        state.apply_stock(f"a{i}", "adjustment", 1)

    assert len(state.stock_events) == STOCK_EVENTS_KEPT
    assert state.stock_events[-1] == f"a{STOCK_EVENTS_KEPT + 4}"


def test_promotions_apply_once_and_expire_after_their_last_day() -> None:
    state = SkuState("A", partition=0)
    end = MONDAY + dt.timedelta(days=2)

    assert state.plan_promotion("p1", MONDAY, end, 0.2) is Outcome.APPLIED
    assert state.plan_promotion("p1", MONDAY, end, 0.2) is Outcome.DUPLICATE
    assert state.discount_on(MONDAY + dt.timedelta(days=1)) == 0.2
    assert state.discount_on(end + dt.timedelta(days=1)) == 0.0

    state.close(end, window=7)
    assert state.promotions == {}


def test_clock_closes_days_once_the_watermark_passes_them() -> None:
    clock = PartitionClock(0)
    clock.observe(at(MONDAY, 9))
    assert clock.closable_days(dt.timedelta(0)) == []

    clock.observe(at(MONDAY + dt.timedelta(days=3), 1))

    assert clock.closable_days(dt.timedelta(0)) == [
        MONDAY,
        MONDAY + dt.timedelta(days=1),
        MONDAY + dt.timedelta(days=2),
    ]
    assert clock.closable_days(dt.timedelta(hours=2)) == [
        MONDAY,
        MONDAY + dt.timedelta(days=1),
    ]


@pytest.mark.parametrize("lateness_hours", [0, 2, 30])
def test_due_is_the_first_watermark_that_makes_the_open_day_closable(
    lateness_hours: int,
) -> None:
    london = ZoneInfo("Europe/London")
    lateness = dt.timedelta(hours=lateness_hours)
    clock = PartitionClock(0)
    clock.observe(dt.datetime.combine(MONDAY, dt.time(9), london))
    due = clock.due(lateness, london)
    assert due is not None

    for minutes in range(-90, 91, 15):
        moment = due + dt.timedelta(minutes=minutes)
        probe = PartitionClock(0, open_day=MONDAY, watermark=moment)
        assert probe.closable(lateness) == (moment >= due), moment


def test_clock_watermark_never_moves_back() -> None:
    clock = PartitionClock(0)
    clock.observe(at(MONDAY, 12))
    clock.observe(at(MONDAY, 8))

    assert clock.watermark == at(MONDAY, 12)


def test_clock_round_trips_through_json() -> None:
    clock = PartitionClock(3, open_day=MONDAY, watermark=at(MONDAY, 10))

    assert PartitionClock.from_json(clock.to_json()) == clock


SNAPSHOT = {
    "model_version": "lstm-1",
    "days_seen": 40,
    "last_day": "2024-01-07",
    "h": np.arange(4, dtype="<f4").tobytes(),
    "c": np.linspace(-1, 1, 4, dtype="<f4").tobytes(),
}


@given(
    sales=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.integers(0, 5),
            st.integers(-50, 50).filter(bool),
        ),
        max_size=30,
    ),
    on_hand=st.floats(-1e6, 1e6, allow_nan=False),
)
def test_state_round_trips_through_json_and_its_record(
    sales: list[tuple[str, int, int]], on_hand: float
) -> None:
    state = SkuState("SKU-1", partition=2, on_hand=on_hand)
    state.on_order["c9"] = OpenOrder(24, MONDAY)
    state.apply_stock("s1", "adjustment", 3)
    state.plan_promotion("p1", MONDAY, MONDAY + dt.timedelta(days=9), 0.25)
    for event_id, offset, quantity in sales:
        state.apply_sale(event_id, MONDAY + dt.timedelta(days=offset), quantity)
    state.close(MONDAY, window=5)

    assert SkuState.from_json(state.to_json()) == state
    assert SkuState.from_record(state.record()) == state
    state.model_state = SNAPSHOT
    assert SkuState.from_json(state.to_json()) == state
    assert SkuState.from_record(state.record()) == state
    assert SkuState.partition_of(state.record()) == 2


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.integers(0, 3), st.integers(1, 9)),
        max_size=40,
    )
)
def test_replaying_any_events_again_changes_nothing(
    sales: list[tuple[str, int, int]],
) -> None:
    state = SkuState("A", partition=0)
    for event_id, offset, quantity in sales:
        state.apply_sale(event_id, MONDAY + dt.timedelta(days=offset), quantity)
    before = state.to_json()

    outcomes = {
        state.apply_sale(e, MONDAY + dt.timedelta(days=o), q) for e, o, q in sales
    }

    assert outcomes <= {Outcome.DUPLICATE}
    assert state.to_json() == before
