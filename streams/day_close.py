"""Closing one day for a batch of SKUs: forecast them together, then decide.

This is the worker's hot path and it holds no Kafka code: it turns the SKU
states of one partition into one :class:`~forecasting.base.DemandPanel`,
runs one batched forecast over all of them, and one vectorized policy call.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.base import DemandPanel, Forecaster, QuantileForecast
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

    @property
    def ordered(self) -> np.ndarray:
        """Indices of the SKUs that get a reorder command."""
        return np.flatnonzero(self.reviewed & (self.decision.order_quantity > 0))


class DayClose:
    """Advance a batch of SKUs by one closed day and choose their orders.

    Parameters
    ----------
    forecaster
        Gives quantiles of cumulative demand from each SKU's ring buffer.
    policy
        Turns those quantiles and the inventory positions into orders.
    horizon, quantile_levels
        What the forecasts cover.
    window_days
        Length of the ring buffer.
    model_version
        Names the forecaster's weights in every command and forecast.
    """

    def __init__(
        self,
        forecaster: Forecaster,
        policy: Policy,
        *,
        horizon: int,
        quantile_levels: tuple[float, ...],
        window_days: int,
        model_version: str,
    ) -> None:
        self.forecaster = forecaster
        self.policy = policy
        self.horizon = horizon
        self.quantile_levels = quantile_levels
        self.window_days = window_days
        self.model_version = model_version

    def run(
        self, states: Sequence[SkuState], day: dt.date, book: PolicyBook
    ) -> CloseResult:
        """Close ``day`` for ``states`` (mutating them) and return the decisions."""
        for state in states:
            state.close(day, self.window_days)
        skus = np.array([s.sku for s in states], dtype=object)
        panel = DemandPanel(
            skus=skus,
            start=day - dt.timedelta(days=self.window_days - 1),
            demand=self._demand_matrix(states),
        )
        forecast = self.forecaster.forecast(panel, self.horizon, self.quantile_levels)

        params, versions = book.table(list(skus))
        positions = np.array([s.inventory_position for s in states], dtype=float)
        decision = self.policy.decide(
            ReviewInputs(
                as_of=day,
                inventory_position=positions,
                params=params,
                quantile_levels=np.asarray(self.quantile_levels),
                cumulative_quantiles=forecast.values,
                demand_history=panel.demand,
            )
        )
        reviewed = day.toordinal() % params.review_period_days == 0
        arrival = [
            day + dt.timedelta(days=math.ceil(lt)) for lt in params.lead_time_days
        ]
        return CloseResult(day, skus, forecast, decision, reviewed, arrival, versions)

    def _demand_matrix(self, states: Sequence[SkuState]) -> np.ndarray:
        """Ring buffers right-aligned on the closed day; missing days are zeros."""
        matrix = np.zeros((len(states), self.window_days))
        for row, state in enumerate(states):
            if state.history:
                matrix[row, -len(state.history) :] = state.history
        return matrix


def record_orders(
    states: Sequence[SkuState], result: CloseResult, command_ids: Sequence[str]
) -> None:
    """Add the orders of ``result.ordered`` (with their ids) to the states."""
    for index, command_id in zip(result.ordered, command_ids, strict=True):
        states[index].on_order[command_id] = OpenOrder(
            int(result.decision.order_quantity[index]), result.expected_arrival[index]
        )
