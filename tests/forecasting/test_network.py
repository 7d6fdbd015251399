from __future__ import annotations

import pytest
import torch

from forecasting.network import DemandNetwork, NetworkConfig

LEVELS = (0.1, 0.5, 0.9)


def network(seed: int = 0, hidden: int = 8, layers: int = 1) -> DemandNetwork:
    torch.manual_seed(seed)
    config = NetworkConfig(
        input_size=5,
        known_size=3,
        hidden_size=hidden,
        num_layers=layers,
        horizon=6,
        quantile_levels=LEVELS,
    )
    return DemandNetwork(config).eval()


def test_decode_shapes_for_one_origin_and_many() -> None:
    net = network()
    hidden = torch.randn(4, 8)

    one = net.decode(hidden, torch.randn(4, 6, 3))
    many = net.decode(torch.randn(4, 2, 8), torch.randn(4, 2, 6, 3))
    short = net.decode(hidden, torch.randn(4, 3, 3))

    assert one.shape == (4, 6, 3)
    assert many.shape == (4, 2, 6, 3)
    assert short.shape == (4, 3, 3)


@pytest.mark.parametrize("shared_future", [True, False])
def test_predict_in_chunks_equals_one_decode(shared_future: bool) -> None:
    net = network()
    hidden = torch.randn(23, 8)
    known = torch.randn(1 if shared_future else 23, 6, 3)

    chunked = net.predict(hidden, known, chunk_rows=5)

    torch.testing.assert_close(chunked, net.decode(hidden, known))
    assert not chunked.requires_grad


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_are_monotone_by_construction_with_random_weights(seed: int) -> None:
    net = network(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 3.0)

    out = net.decode(torch.randn(64, 8) * 5, torch.randn(64, 6, 3) * 5)

    assert torch.all(out >= 0)
    assert torch.all(out.diff(dim=1) >= 0)
    assert torch.all(out.diff(dim=2) >= 0)


def test_step_by_step_equals_encoding_the_sequence() -> None:
    net = network(layers=2)
    inputs = torch.randn(3, 10, 5)

    _, (h, c) = net.encode(inputs)
    state = net.initial_state(3)
    for t in range(10):
        state = net.step(inputs[:, t], state)

    torch.testing.assert_close(state[0], h)
    torch.testing.assert_close(state[1], c)


def test_encode_with_lengths_stops_at_each_rows_last_valid_day() -> None:
    net = network()
    inputs = torch.randn(3, 7, 5)
    lengths = torch.tensor([7, 3, 0])

    _, (h, c) = net.encode(inputs, lengths=lengths)
    _, (h_short, _) = net.encode(inputs[1:2, :3])

    torch.testing.assert_close(h[:, 1], h_short[:, 0])
    assert torch.all(h[:, 2] == 0) and torch.all(c[:, 2] == 0)
    torch.testing.assert_close(h[:, 0], net.encode(inputs[:1])[1][0][:, 0])


def test_gradients_reach_every_parameter() -> None:
    net = network().train()

    net(torch.randn(4, 10, 5), torch.randn(4, 6, 3)).sum().backward()

    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
