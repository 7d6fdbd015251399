"""The newsvendor against a published worked example.

Source: G. Cachon and C. Terwiesch, *Matching Supply with Demand: An
Introduction to Operations Management*, McGraw-Hill, chapter "Betting on
Uncertain Demand: The Newsvendor Model", O'Neill's Hammer 3/2 wetsuit. Demand
is normal with mean 3,192 and standard deviation 1,181; cost $110, salvage
$90. With a price of $180 the book prints a critical ratio of 0.7778,
``z = 0.77`` from the distribution table (round-up rule) and an order of
4,101. For an order of 3,000 it prints expected lost sales of 572, expected
sales of 2,620 and expected leftover inventory of 380; with the later
edition's price of $190 the expected profit is printed as $202,000.
"""

import pytest

from optimization.newsvendor import (
    critical_ratio,
    newsvendor_quantity,
    normal_loss,
    outcome,
    table_loss,
    table_z,
)
from optimization.params import PolicyError

MEAN, SD, COST, SALVAGE = 3192, 1181, 110, 90


def test_hammer_critical_ratio_z_and_quantity_as_printed():
    ratio = critical_ratio(price=180, cost=COST, salvage=SALVAGE)

    assert round(ratio, 4) == 0.7778
    assert table_z(ratio) == 0.77
    assert round(newsvendor_quantity(MEAN, SD, ratio)) == 4101


def test_hammer_order_of_3000_measures_as_printed():
    result = outcome(3000, MEAN, SD, price=190, cost=COST, salvage=SALVAGE)

    assert table_loss(-0.16) == 0.4840
    assert result.expected_lost_sales == 572
    assert result.expected_sales == 2620
    assert result.expected_leftover == 380
    assert result.expected_profit == 202_000


def test_table_z_is_the_round_up_rule():
    # Phi(0.76) = 0.7764 falls short of 0.7778; Phi(0.77) = 0.7794 reaches it.
    assert table_z(0.7764) == 0.76
    assert table_z(0.7765) == 0.77
    assert table_z(0.5) == 0.0


def test_normal_loss_matches_its_definition_at_zero():
    assert normal_loss(0.0) == pytest.approx(0.398942, abs=1e-6)


def test_bad_prices_name_the_rule():
    with pytest.raises(PolicyError, match="salvage < cost < price"):
        critical_ratio(price=100, cost=110, salvage=90)


@pytest.mark.parametrize(
    ("quantity", "lost", "sales", "leftover"),
    [(3000, 192, 3000, 0), (3192, 0, 3192, 0), (4000, 0, 3192, 808)],
)
def test_certain_demand_loses_only_what_the_order_falls_short(
    quantity, lost, sales, leftover
):
    result = outcome(quantity, MEAN, 0.0, price=190, cost=COST, salvage=SALVAGE)

    assert newsvendor_quantity(MEAN, 0.0, 0.7778) == MEAN
    assert result.expected_lost_sales == lost
    assert result.expected_sales == sales
    assert result.expected_leftover == leftover
    assert result.expected_profit == 80 * sales - 20 * leftover


@pytest.mark.parametrize("sd", [-1.0, float("nan")])
def test_a_negative_or_missing_sd_names_the_field_and_value(sd):
    with pytest.raises(PolicyError, match=rf"^sd: must be a number >= 0, got {sd!r}"):
        outcome(3000, MEAN, sd, price=190, cost=COST, salvage=SALVAGE)
    with pytest.raises(PolicyError, match=rf"^sd: must be a number >= 0, got {sd!r}"):
        newsvendor_quantity(MEAN, sd, 0.7778)
