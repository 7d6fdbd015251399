"""Closing one day for a batch of SKUs: forecast them together, then decide.

This is the worker's hot path and it holds no Kafka code: it turns the SKU
states of one partition into one :class:`~forecasting.base.DemandPanel`,
runs one batched forecast over all of them, and one vectorized policy call.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.base import QuantileForecast
from forecasting.incremental import IncrementalForecaster
from optimization.base import Decision, Policy, ReviewInputs
from streams.policy_book import PolicyBook
from streams.state import OpenOrder, SkuState


@dataclass(frozen=True)
class CloseResult:
    """What closing ``day`` decided for ``skus`` (all arrays aligned with them)."""

    day: dt.date
    skus: np.ndarray
    forecast: QuantileForecast
    decision: Decision
    reviewed: np.ndarray
    expected_arrival: list[dt.date]
    policy_versions: list[str]
    history: np.ndarray
    forecast_seconds: float

    @property
    def ordered(self) -> np.ndarray:
        """Indices of the SKUs that get a reorder command."""
        return np.flatnonzero(self.reviewed & (self.decision.order_quantity > 0))


class DayClose:
    """Advance a batch of SKUs by one closed day and choose their orders.

    Parameters
    ----------
    stepper
        Forecasts each SKU from its ring buffer and its durable model state
        (the LSTM's recurrent state, or nothing for stateless baselines).
    policy
        Turns those quantiles and the inventory positions into orders.
    window_days
        Length of the ring buffer.
    """

    def __init__(
        self, stepper: IncrementalForecaster, policy: Policy, *, window_days: int
    ) -> None:
        self.stepper = stepper
        self.policy = policy
        self.window_days = window_days

    @property
    def model_version(self) -> str:
        return self.stepper.model_version

    def run(
        self, states: Sequence[SkuState], day: dt.date, book: PolicyBook
    ) -> CloseResult:
        """Close ``day`` for ``states`` (mutating them) and return the decisions."""
        for state in states:
            state.close(day, self.window_days)
        skus = np.array([s.sku for s in states], dtype=object)
        history = self._demand_matrix(states)
        started = time.perf_counter()
        forecast, snapshots = self.stepper.step(
            skus, day, history, [s.model_state for s in states]
        )
        forecast_seconds = time.perf_counter() - started
        for state, snapshot in zip(states, snapshots, strict=True):
            state.model_state = snapshot

        params, versions = book.table(list(skus))
        stock = np.array(
            [(s.inventory_position, s.on_hand) for s in states], dtype=float
        ).reshape(-1, 2)
        positions, on_hand = stock[:, 0], stock[:, 1]
        decision = self.policy.decide(
            ReviewInputs(
                as_of=day,
                inventory_position=positions,
                # capacity limits units on hand and on order, not the position
                backorders=np.maximum(-on_hand, 0.0),
                params=params,
                quantile_levels=forecast.quantile_levels,
                cumulative_quantiles=forecast.values,
                demand_history=history,
            )
        )
        reviewed = day.toordinal() % params.review_period_days == 0
        arrival = [
            day + dt.timedelta(days=math.ceil(lt)) for lt in params.lead_time_days
        ]
        return CloseResult(
            day,
            skus,
            forecast,
            decision,
            reviewed,
            arrival,
            versions,
            history,
            forecast_seconds,
        )

    def _demand_matrix(self, states: Sequence[SkuState]) -> np.ndarray:
        """Ring buffers right-aligned on the closed day; missing days are zeros."""
        width = self.window_days
        padding = bytes(4 * width)
        rows = b"".join(
            padding[: 4 * (width - len(s.history))] + s.history.tobytes()
            for s in states
        )
        matrix = np.frombuffer(rows, dtype=np.float32).reshape(len(states), width)
        return matrix.astype(np.float64)


def record_orders(
    states: Sequence[SkuState], result: CloseResult, command_ids: Sequence[str]
) -> None:
    """Add the orders of ``result.ordered`` (with their ids) to the states."""
    ordered = result.ordered.tolist()
    quantities = result.decision.order_quantity[ordered].astype(np.int64).tolist()
    for index, command_id, quantity in zip(
        ordered, command_ids, quantities, strict=True
    ):
        states[index].on_order[command_id] = OpenOrder(
            quantity, result.expected_arrival[index]
        )
