"""The global demand network: an LSTM encoder and a cumulative-quantile decoder.

The encoder's ``(h, c)`` is all a SKU needs to carry between days. From it and
the known-future features of days ``1..H`` the decoder emits quantiles of
cumulative demand, in units of the SKU's scale, that are monotone by
construction:

1. for every horizon day it produces a non-negative base increment (softplus)
   for the lowest level and non-negative steps (softplus) between consecutive
   levels, so the day's increments never decrease with the level;
2. cumulative sums over the horizon of non-negative increments never decrease
   with the horizon, and sums of level-monotone increments stay level-monotone.

No sorting is involved, so gradients flow through every output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from forecasting.base import DEFAULT_HORIZON, DEFAULT_QUANTILE_LEVELS

State = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of :class:`DemandNetwork`."""

    input_size: int
    known_size: int
    hidden_size: int = 32
    num_layers: int = 1
    horizon: int = DEFAULT_HORIZON
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetworkConfig:
        levels = tuple(float(q) for q in values["quantile_levels"])
        return cls(**{**values, "quantile_levels": levels})


class DemandNetwork(nn.Module):
    """LSTM encoder plus monotone cumulative-quantile decoder.

    Shapes: ``B`` SKUs (or windows), ``L`` encoded days, ``O`` forecast
    origins, ``H`` horizon days, ``Q`` quantile levels, ``F = input_size``,
    ``K = known_size``, ``D = hidden_size``, ``N = num_layers``.
    """

    positions: torch.Tensor

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.lstm = nn.LSTM(
            config.input_size,
            d,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.from_state = nn.Linear(d, d)
        self.from_known = nn.Linear(config.known_size + 1, d, bias=False)
        self.to_levels = nn.Linear(d, len(config.quantile_levels))
        positions = torch.arange(1, config.horizon + 1, dtype=torch.float32)
        self.register_buffer("positions", positions / config.horizon, persistent=False)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """Zero ``(h, c)``, each ``(N, B, D)``: the state of an unseen SKU."""
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def encode(
        self,
        inputs: torch.Tensor,
        state: State | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Run the encoder over days.

        Parameters
        ----------
        inputs
            ``(B, L, F)``.
        state
            ``(h, c)``, each ``(N, B, D)``; zeros when omitted.
        lengths
            ``(B,)`` valid days per row, left-aligned (padding after). When
            given, the returned state is the state after each row's last valid
            day; rows of length 0 keep ``state``.

        Returns
        -------
        outputs, state
            Top-layer hidden states ``(B, L, D)`` and the final ``(h, c)``.
        """
        if state is None:
            state = self.initial_state(inputs.shape[0], inputs.device)
        if lengths is None:
            outputs, new_state = self.lstm(inputs, state)
            return outputs, (new_state[0], new_state[1])
        return self._encode_packed(inputs, state, lengths)

    def step(self, inputs: torch.Tensor, state: State) -> State:
        """Advance by one day: ``inputs`` ``(B, F)``, ``state`` ``(N, B, D)`` each."""
        _, new_state = self.lstm(inputs.unsqueeze(1), state)
        return new_state[0], new_state[1]

    def decode(self, hidden: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Quantiles of cumulative scaled demand.

        Parameters
        ----------
        hidden
            ``(B, D)`` or ``(B, O, D)``: top-layer hidden state at each origin.
        known
            ``(B, H, K)`` or ``(B, O, H, K)``: known features of days
            ``origin + 1 .. origin + H`` (``H`` at most the configured horizon).
            A leading ``B`` of 1 broadcasts: rows that share their future
            (same days, no planned discount) cost the decoder one row.

        Returns
        -------
        torch.Tensor
            ``(B, H, Q)`` or ``(B, O, H, Q)``, non-decreasing along ``H`` and
            ``Q``, non-negative.
        """
        horizon = known.shape[-2]
        position = self.positions[:horizon].to(known.dtype)
        position = position.view(*([1] * (known.dim() - 2)), horizon, 1)
        position = position.expand(*known.shape[:-1], 1)
        from_known = self.from_known(torch.cat([known, position], dim=-1))
        from_state = self.from_state(self.dropout(hidden)).unsqueeze(-2)
        raw = self.to_levels(self.dropout(torch.relu_(from_state + from_known)))
        increments = torch.cumsum(functional.softplus(raw), dim=-1)
        return torch.cumsum(increments, dim=-2)

    @torch.no_grad()
    def predict(
        self, hidden: torch.Tensor, known: torch.Tensor, chunk_rows: int = 1024
    ) -> torch.Tensor:
        """:meth:`decode` without gradients, at most ``chunk_rows`` rows at a time.

        Takes ``hidden`` ``(B, D)`` and ``known`` ``(B, H, K)`` or ``(1, H, K)``
        and returns ``(B, H, Q)``, the values :meth:`decode` returns in eval
        mode. Each chunk's ``(chunk_rows, H, D)`` intermediate fits in a CPU
        cache, which makes decoding tens of thousands of SKUs several times
        faster than one call over all of them.
        """
        rows = hidden.shape[0]
        if rows <= chunk_rows:
            return self.decode(hidden, known)
        # chunks of equal size: never a chunk of one row, which torch computes
        # by another kernel whose last bits differ
        size = -(-rows // -(-rows // chunk_rows))
        shared = known.shape[0] == 1
        out = hidden.new_empty(rows, known.shape[-2], len(self.config.quantile_levels))
        for start in range(0, rows, size):
            part = slice(start, start + size)
            out[part] = self.decode(hidden[part], known if shared else known[part])
        return out

    def forward(self, inputs: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, L, F)`` from zero state and decode ``(B, H, K)``."""
        _, (h, _) = self.encode(inputs)
        return self.decode(h[-1], known)

    def _encode_packed(
        self, inputs: torch.Tensor, state: State, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        lengths = lengths.to("cpu", torch.int64)
        valid = lengths > 0
        h, c = state[0].clone(), state[1].clone()
        outputs = inputs.new_zeros(*inputs.shape[:2], self.config.hidden_size)
        if not bool(valid.any()):
            return outputs, (h, c)
        rows = torch.nonzero(valid).squeeze(1).to(inputs.device)
        packed = nn.utils.rnn.pack_padded_sequence(
            inputs[rows], lengths[valid], batch_first=True, enforce_sorted=False
        )
        out, (h_rows, c_rows) = self.lstm(packed, (h[:, rows], c[:, rows]))
        out, _ = nn.utils.rnn.pad_packed_sequence(
            out, batch_first=True, total_length=inputs.shape[1]
        )
        h[:, rows], c[:, rows] = h_rows, c_rows
        outputs[rows] = out
        return outputs, (h, c)
