import dataclasses
import datetime as dt
from array import array

import numpy as np
import pytest

from forecasting.incremental import PanelStepper
from forecasting.tsb import TSBForecaster
from optimization.params import SkuPolicy
from optimization.policy import QuantilePolicy
from streams.day_close import DayClose, record_orders
from streams.events import SkuPolicyEvent
from streams.policy_book import PolicyBook
from streams.state import SkuState

DAY = dt.date(2011, 8, 5)
LEVELS = (0.5, 0.9, 0.95)


def make_close(window: int = 28) -> DayClose:
    stepper = PanelStepper(TSBForecaster(), 14, LEVELS, model_version="tsb-test")
    return DayClose(stepper, QuantilePolicy(), window_days=window)


def busy_state(sku: str, daily: float, on_hand: float = 0.0) -> SkuState:
    state = SkuState(sku, partition=0, on_hand=on_hand)
    state.history = array("f", [daily] * 20)
    state.last_closed_day = DAY - dt.timedelta(days=1)
    return state


def book(**fields: object) -> PolicyBook:
    policy = dataclasses.replace(
        SkuPolicy(sku="*", lead_time_days=3.0, service_level=0.9), **fields
    )
    return PolicyBook(policy, "7", {})


def test_close_advances_every_state_by_one_day() -> None:
    states = [busy_state("A", 4.0), busy_state("B", 0.0)]
    states[0].apply_sale("e1", DAY, 6)

    result = make_close().run(states, DAY, book())

    assert [s.last_closed_day for s in states] == [DAY, DAY]
    assert states[0].history[-1] == 6.0
    assert states[1].history[-1] == 0.0
    assert result.forecast.values.shape == (2, 14, len(LEVELS))


def test_orders_go_to_skus_below_their_order_up_to_level() -> None:
    states = [busy_state("A", 4.0), busy_state("B", 4.0, on_hand=1_000.0)]

    result = make_close().run(states, DAY, book())

    assert list(result.ordered) == [0]
    quantity = result.decision.order_quantity[0]
    assert quantity == pytest.approx(result.decision.order_up_to_level[0], abs=1.0)
    assert result.expected_arrival[0] == DAY + dt.timedelta(days=3)


def test_case_pack_and_moq_shape_the_order() -> None:
    states = [busy_state("A", 1.0)]

    result = make_close().run(states, DAY, book(case_pack=12, moq=48))

    assert result.decision.order_quantity[0] >= 48
    assert result.decision.order_quantity[0] % 12 == 0


def test_capacity_limits_what_is_ordered_however_much_is_back_ordered() -> None:
    states = [busy_state("A", 10.0, on_hand=-25.0)]

    result = make_close().run(states, DAY, book(capacity=30.0))

    assert result.decision.order_quantity[0] == 30.0


def test_review_period_skips_days_between_reviews() -> None:
    weekly = book(review_period_days=7)
    due = [DAY + dt.timedelta(days=i) for i in range(7)]

    reviewed = [
        bool(make_close().run([busy_state("A", 4.0)], d, weekly).reviewed[0])
        for d in due
    ]

    assert sum(reviewed) == 1


def test_recorded_orders_raise_the_inventory_position() -> None:
    states = [busy_state("A", 4.0)]
    result = make_close().run(states, DAY, book())

    record_orders(states, result, ["cmd-1"])

    assert states[0].inventory_position == result.decision.order_quantity[0]
    assert states[0].on_order["cmd-1"].expected_arrival == result.expected_arrival[0]


def test_ring_buffer_is_right_aligned_on_the_closed_day() -> None:
    close = make_close(window=5)
    state = SkuState("A", partition=0)
    state.history = array("f", [1.0, 2.0])

    matrix = close._demand_matrix([state])

    np.testing.assert_array_equal(matrix, [[0.0, 0.0, 0.0, 1.0, 2.0]])


def test_loaded_policies_and_their_versions_reach_the_decision() -> None:
    policies = book()
    policies.load(
        SkuPolicyEvent.from_policy(
            SkuPolicy(sku="B", lead_time_days=10.0, service_level=0.9), "v2"
        )
    )
    states = [busy_state("A", 4.0), busy_state("B", 4.0)]

    result = make_close().run(states, DAY, policies)

    assert result.policy_versions == ["7", "v2"]
    assert result.expected_arrival == [
        DAY + dt.timedelta(days=3),
        DAY + dt.timedelta(days=10),
    ]
