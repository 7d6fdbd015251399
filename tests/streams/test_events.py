"""Event contracts: round-trips, one case per field rule, raw-bytes edge cases."""

from __future__ import annotations

import datetime as dt
import math
import pickle
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimization.params import SkuPolicy
from streams.events import (
    COMMAND_NAMESPACE,
    DECODERS,
    MAX_RECORD_BYTES,
    TOPICS,
    DeadLetter,
    EventError,
    ForecastEvent,
    ModelUpdate,
    PromotionEvent,
    Reason,
    ReorderCommand,
    SaleEvent,
    SkuPolicyEvent,
    StockEvent,
    StockKind,
    command_id,
    command_ids,
    decode,
    decode_dead_letter,
    decode_sale,
    decode_sku_policy,
    encode,
)

fast = settings(max_examples=60, deadline=None)

# ---------------------------------------------------------------- strategies

skus = st.text(min_size=1, max_size=64).filter(lambda s: s == s.strip())
ids = st.text(min_size=1, max_size=128)
labels = st.none() | st.text(min_size=1, max_size=64)
versions = st.integers(0, 2**63 - 1) | ids
dates = st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1))
offsets = st.integers(-86_399, 86_399).map(
    lambda s: dt.timezone(dt.timedelta(seconds=s))
)
aware = st.datetimes(
    dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 30), timezones=offsets
)
finite = st.floats(allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
fractions = st.floats(0.0, 1.0)

sales = st.builds(
    SaleEvent,
    event_id=ids,
    sku=skus,
    quantity=st.integers(-1_000_000, 1_000_000).filter(bool),
    unit_price=non_negative,
    occurred_at=aware,
    channel=labels,
    location=labels,
)


@st.composite
def promotions(draw: st.DrawFn) -> PromotionEvent:
    starts_on = draw(dates)
    return PromotionEvent(
        event_id=draw(ids),
        sku=draw(skus),
        starts_on=starts_on,
        ends_on=starts_on + dt.timedelta(days=draw(st.integers(0, 400))),
        discount=draw(st.floats(0.0, 1.0, exclude_max=True)),
        kind=draw(labels),
    )


@st.composite
def stock_events(draw: st.DrawFn) -> StockEvent:
    kind = draw(st.sampled_from(StockKind))
    low = {"receipt": 1, "adjustment": -1_000_000, "count": 0}[kind]
    quantity = draw(
        st.integers(low, 1_000_000).filter(lambda q: q or kind != "adjustment")
    )
    receipt = kind is StockKind.RECEIPT
    return StockEvent(
        event_id=draw(ids),
        sku=draw(skus),
        kind=kind,
        quantity=quantity,
        occurred_at=draw(aware),
        command_id=draw(st.none() | ids) if receipt else None,
    )


@st.composite
def policies(draw: st.DrawFn) -> SkuPolicyEvent:
    by_cost = draw(st.booleans())
    return SkuPolicyEvent(
        sku=draw(skus),
        policy_version=draw(versions),
        lead_time_days=draw(st.floats(0.0, 365.0)),
        review_period_days=draw(st.integers(1, 365)),
        unit_cost=draw(st.floats(1e-6, 1e6)),
        holding_cost_rate=draw(st.floats(0.0, 10.0)),
        stockout_cost=draw(st.floats(1e-6, 1e6)) if by_cost else None,
        service_level=None if by_cost else draw(st.floats(1e-6, 1 - 1e-6)),
        lead_time_spread_days=draw(st.floats(0.0, 365.0)),
        ordering_cost=draw(st.floats(0.0, 1e6)),
        moq=draw(st.integers(0, 10_000)),
        case_pack=draw(st.integers(1, 1_000)),
        capacity=draw(st.none() | st.floats(1e-3, 1e9)),
    )


@st.composite
def forecasts(draw: st.DrawFn) -> ForecastEvent:
    horizon = draw(st.integers(1, 8))
    levels = sorted(
        draw(
            st.sets(
                st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
                min_size=1,
                max_size=6,
            )
        )
    )
    steps = st.lists(st.floats(0.0, 1e4), min_size=len(levels), max_size=len(levels))
    row = [0.0] * len(levels)
    values = []
    for _ in range(horizon):
        level_steps = draw(steps)
        spread = [sum(level_steps[: j + 1]) for j in range(len(levels))]
        row = [a + b for a, b in zip(row, spread, strict=True)]
        values.append(tuple(row))
    return ForecastEvent(
        sku=draw(skus),
        as_of=draw(dates),
        model_version=draw(ids),
        horizons=tuple(range(1, horizon + 1)),
        quantile_levels=tuple(levels),
        values=tuple(values),
    )


@st.composite
def commands(draw: st.DrawFn) -> ReorderCommand:
    as_of = draw(dates)
    return ReorderCommand.issue(
        sku=draw(skus),
        as_of=as_of,
        quantity=draw(st.integers(1, 1_000_000_000)),
        expected_arrival=as_of + dt.timedelta(days=draw(st.integers(0, 365))),
        inventory_position=draw(finite),
        order_up_to_level=draw(finite),
        quantile_used=draw(st.none() | fractions),
        service_level=draw(fractions),
        expected_cost=draw(st.none() | non_negative),
        policy_version=draw(versions),
        model_version=draw(ids),
    )


dead_letters = st.builds(
    DeadLetter,
    topic=st.from_regex(r"[A-Za-z0-9._-]{1,249}", fullmatch=True),
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    reason=st.sampled_from(Reason)
    | st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True),
    message=st.text(min_size=1, max_size=200),
    raw=st.binary(max_size=2_000),
)

model_updates = st.builds(
    ModelUpdate,
    model_version=ids,
    location=st.text(min_size=1, max_size=1024),
    sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    created_at=aware,
)

EVENTS = {
    "sales-events": sales,
    "promotion-events": promotions(),
    "stock-events": stock_events(),
    "sku-policies": policies(),
    "forecasts": forecasts(),
    "reorder-commands": commands(),
    "dead-letters": dead_letters,
    "model-updates": model_updates,
}


# ---------------------------------------------------------------- round-trips


def test_every_topic_has_a_decoder_a_strategy_and_a_fixture() -> None:
    assert set(DECODERS) == set(TOPICS) == set(EVENTS) == set(_VALID)


@pytest.mark.parametrize("topic", sorted(EVENTS))
@fast
@given(data=st.data())
def test_encode_then_decode_gives_an_equal_event(
    topic: str, data: st.DataObject
) -> None:
    event = data.draw(EVENTS[topic])
    raw = encode(event)

    decoded = decode(topic, raw)

    assert decoded == event
    assert type(decoded) is type(event)
    assert encode(decoded) == raw


@fast
@given(event=sales)
def test_encoding_is_compact_sorted_utf8_json(event: SaleEvent) -> None:
    raw = encode(event)

    obj = orjson.loads(raw)

    assert list(obj) == sorted(obj)
    assert raw == orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    assert obj["schema_version"] == 1
    assert obj["sku"] == event.sku


def test_sale_decodes_offset_to_an_aware_datetime() -> None:
    raw = _raw("sales-events", occurred_at="2009-12-01T07:45:00Z")

    event = decode_sale(raw)

    assert event.occurred_at == dt.datetime(2009, 12, 1, 7, 45, tzinfo=dt.UTC)
    assert isinstance(event.unit_price, float)


def test_sku_policy_converts_to_and_from_the_optimizer_policy() -> None:
    policy = SkuPolicy(sku="A", stockout_cost=4.0, capacity=math.inf, moq=6)

    event = SkuPolicyEvent.from_policy(policy, policy_version="2024-03")

    assert event.service_level is None
    assert event.capacity is None
    assert orjson.loads(encode(event))["capacity"] is None
    back = event.to_policy()
    assert back.capacity == math.inf
    assert back.stockout_cost == 4.0
    assert back.moq == 6


def test_sku_policy_absent_optional_fields_take_the_policy_defaults() -> None:
    raw = _raw("sku-policies", drop=("moq", "case_pack", "capacity", "ordering_cost"))

    policy = decode_sku_policy(raw).to_policy()

    assert (policy.moq, policy.case_pack, policy.capacity) == (0, 1, math.inf)
    assert policy.ordering_cost == 0.0


def test_dead_letter_from_error_keeps_reason_message_and_raw_bytes() -> None:
    raw = b'{"sku": "A", "schema_version": 1, "customer_id": "C-17"}'
    with pytest.raises(EventError) as caught:
        decode_sale(raw)

    letter = DeadLetter.from_error(
        caught.value, topic="sales-events", partition=3, offset=41, raw=raw
    )

    assert letter.reason == "unknown_field"
    assert "customer_id" in letter.message
    assert decode_dead_letter(encode(letter)).raw == raw
    assert (letter.topic, letter.partition, letter.offset) == ("sales-events", 3, 41)


def test_event_error_survives_pickling() -> None:
    error = EventError("quantity", "must be non-zero", 0, Reason.OUT_OF_RANGE)

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.field, copy.rule, copy.value, copy.reason) == (
        "quantity",
        "must be non-zero",
        0,
        "out_of_range",
    )
    assert str(copy) == str(error)


def test_unknown_topic_is_named() -> None:
    with pytest.raises(KeyError, match="no-such-topic"):
        decode("no-such-topic", b"{}")


def test_events_are_frozen() -> None:
    event = decode_sale(_raw("sales-events"))

    with pytest.raises(AttributeError):
        event.quantity = 5  # type: ignore[misc]


# ---------------------------------------------------------------- field rules

_AT = "2024-03-01T10:00:00+01:00"
_SHA = "ab" * 32
_COMMAND_ID = "0a0bc12e-2b71-5293-8b42-281e9f129384"
_VALID: dict[str, dict[str, Any]] = {
    "sales-events": {
        "event_id": "e-1",
        "sku": "85048",
        "quantity": 2,
        "unit_price": 6.95,
        "occurred_at": _AT,
        "channel": "web",
        "location": "UK",
    },
    "promotion-events": {
        "event_id": "p-1",
        "sku": "85048",
        "starts_on": "2024-03-01",
        "ends_on": "2024-03-07",
        "discount": 0.2,
        "kind": "flyer",
    },
    "stock-events": {
        "event_id": "s-1",
        "sku": "85048",
        "kind": "receipt",
        "quantity": 24,
        "occurred_at": _AT,
        "command_id": "c-1",
    },
    "sku-policies": {
        "sku": "85048",
        "policy_version": 3,
        "lead_time_days": 7,
        "review_period_days": 1,
        "unit_cost": 2.5,
        "holding_cost_rate": 0.25,
        "service_level": 0.95,
        "lead_time_spread_days": 1.5,
        "ordering_cost": 10,
        "moq": 12,
        "case_pack": 6,
        "capacity": 500,
    },
    "forecasts": {
        "sku": "85048",
        "as_of": "2024-03-01",
        "model_version": "m-7",
        "horizons": [1, 2],
        "quantile_levels": [0.1, 0.5, 0.9],
        "values": [[0, 1, 3], [1, 2.5, 6]],
    },
    "reorder-commands": {
        "command_id": _COMMAND_ID,
        "sku": "85048",
        "as_of": "2024-03-01",
        "quantity": 48,
        "expected_arrival": "2024-03-08",
        "inventory_position": -3.0,
        "order_up_to_level": 45.5,
        "quantile_used": 0.95,
        "service_level": 0.95,
        "expected_cost": 12.25,
        "policy_version": 3,
        "model_version": "m-7",
    },
    "dead-letters": {
        "topic": "sales-events",
        "partition": 0,
        "offset": 17,
        "reason": "bad_json",
        "message": "record: must be valid JSON",
        "raw": "e30=",
    },
    "model-updates": {
        "model_version": "m-7",
        "location": "s3://models/m-7.pt",
        "sha256": _SHA,
        "created_at": _AT,
    },
}


def _raw(topic: str, /, drop: tuple[str, ...] = (), **changes: Any) -> bytes:
    obj = {"schema_version": 1, **_VALID[topic], **changes}
    for name in drop:
        del obj[name]
    return orjson.dumps(obj)


@pytest.mark.parametrize("topic", TOPICS)
def test_valid_fixture_decodes(topic: str) -> None:
    event = decode(topic, _raw(topic))

    assert topic == type(event).TOPIC


SALE, PROMO, STOCK, POLICY = (
    "sales-events",
    "promotion-events",
    "stock-events",
    "sku-policies",
)
FCST, CMD, DEAD, MODEL = (
    "forecasts",
    "reorder-commands",
    "dead-letters",
    "model-updates",
)
DROP = object()
MISSING = Reason.MISSING_FIELD
UNKNOWN = Reason.UNKNOWN_FIELD
TYPE = Reason.WRONG_TYPE
RANGE = Reason.OUT_OF_RANGE
FORMAT = Reason.BAD_FORMAT
CROSS = Reason.INCONSISTENT
VERSION = Reason.UNSUPPORTED_VERSION


def _case(
    topic: str,
    field: str,
    reason: Reason,
    shown: str | None = None,
    /,
    **changes: Any,
) -> Any:
    """A rule case; ``shown`` defaults to the repr of the changed value."""
    if shown is None:
        shown = "<absent>" if changes[field] is DROP else repr(changes[field])[:20]
    return pytest.param(
        topic, changes, field, reason, shown, id=f"{topic}-{field}-{reason}"
    )


_CASES = [
    # every topic
    _case(SALE, "schema_version", VERSION, schema_version=2),
    _case(FCST, "schema_version", TYPE, schema_version="1"),
    _case(STOCK, "schema_version", MISSING, schema_version=DROP),
    _case(SALE, "customer_id", UNKNOWN, "'customer_id'", customer_id="C-17"),
    _case(MODEL, "extra", UNKNOWN, extra=1),
    # sales-events
    _case(SALE, "event_id", MISSING, event_id=DROP),
    _case(SALE, "event_id", RANGE, event_id=""),
    _case(SALE, "event_id", RANGE, event_id="x" * 129),
    _case(SALE, "event_id", TYPE, event_id=17),
    _case(SALE, "sku", RANGE, sku=""),
    _case(SALE, "sku", RANGE, sku="A" * 65),
    _case(SALE, "sku", FORMAT, sku=" 85048"),
    _case(SALE, "sku", FORMAT, sku="85048\t"),
    _case(SALE, "quantity", RANGE, quantity=0),
    _case(SALE, "quantity", RANGE, quantity=1_000_001),
    _case(SALE, "quantity", RANGE, quantity=-1_000_001),
    _case(SALE, "quantity", TYPE, quantity=2.0),
    _case(SALE, "quantity", TYPE, quantity=True),
    _case(SALE, "quantity", TYPE, quantity="2"),
    _case(SALE, "unit_price", RANGE, unit_price=-0.5),
    _case(SALE, "unit_price", TYPE, unit_price=False),
    _case(SALE, "unit_price", TYPE, unit_price=None),
    _case(SALE, "occurred_at", FORMAT, occurred_at="2024-03-01T10:00:00"),
    _case(SALE, "occurred_at", FORMAT, occurred_at="2024-03-01"),
    _case(SALE, "occurred_at", FORMAT, occurred_at="yesterday"),
    _case(SALE, "occurred_at", TYPE, occurred_at=1709283600),
    _case(SALE, "occurred_at", RANGE, occurred_at="0001-01-01T00:30:00+05:00"),
    _case(STOCK, "occurred_at", RANGE, occurred_at="2999-12-31T23:30:00-05:00"),
    _case(SALE, "channel", RANGE, channel=""),
    _case(SALE, "channel", TYPE, channel=3),
    _case(SALE, "location", RANGE, location="L" * 65),
    # promotion-events
    _case(PROMO, "sku", MISSING, sku=DROP),
    _case(PROMO, "ends_on", CROSS, ends_on="2024-02-28"),
    _case(PROMO, "starts_on", FORMAT, starts_on="03/01/2024"),
    _case(PROMO, "starts_on", TYPE, starts_on=20240301),
    _case(PROMO, "discount", RANGE, discount=1.0),
    _case(PROMO, "discount", RANGE, discount=-0.1),
    _case(PROMO, "discount", TYPE, discount="20%"),
    _case(PROMO, "kind", RANGE, kind=""),
    # stock-events
    _case(STOCK, "kind", RANGE, kind="theft"),
    _case(STOCK, "kind", TYPE, kind=1),
    _case(STOCK, "quantity", RANGE, quantity=0),
    _case(STOCK, "quantity", RANGE, "-1", kind="count", quantity=-1, command_id=None),
    _case(
        STOCK, "quantity", RANGE, "0", kind="adjustment", quantity=0, command_id=None
    ),
    _case(STOCK, "command_id", CROSS, "'c-1'", kind="adjustment", quantity=2),
    _case(STOCK, "quantity", TYPE, quantity=1.5),
    _case(STOCK, "occurred_at", FORMAT, occurred_at="2024-03-01T10:00"),
    _case(STOCK, "command_id", RANGE, command_id=""),
    # sku-policies
    _case(POLICY, "unit_cost", MISSING, unit_cost=DROP),
    _case(POLICY, "unit_cost", RANGE, unit_cost=0),
    _case(POLICY, "lead_time_days", RANGE, lead_time_days=400),
    _case(POLICY, "lead_time_spread_days", RANGE, lead_time_spread_days=-1),
    _case(POLICY, "review_period_days", RANGE, review_period_days=366),
    _case(POLICY, "review_period_days", TYPE, review_period_days=1.5),
    _case(POLICY, "holding_cost_rate", RANGE, holding_cost_rate=-0.1),
    _case(POLICY, "ordering_cost", RANGE, ordering_cost=-5),
    _case(POLICY, "service_level", RANGE, service_level=1.0),
    _case(POLICY, "service_level", CROSS, "0.95", stockout_cost=3.0),
    _case(POLICY, "service_level", CROSS, "None", service_level=DROP),
    _case(
        POLICY, "stockout_cost", RANGE, "-2.0", stockout_cost=-2.0, service_level=None
    ),
    _case(POLICY, "moq", RANGE, moq=-1),
    _case(POLICY, "moq", TYPE, moq=None),
    _case(POLICY, "moq", RANGE, moq=2_000_000_000),
    _case(POLICY, "case_pack", RANGE, case_pack=0),
    _case(POLICY, "case_pack", RANGE, case_pack=1_000_000_001),
    _case(POLICY, "case_pack", TYPE, case_pack=True),
    _case(POLICY, "capacity", RANGE, capacity=0),
    _case(POLICY, "policy_version", RANGE, policy_version=-1),
    _case(POLICY, "policy_version", TYPE, policy_version=2.5),
    # forecasts
    _case(FCST, "as_of", FORMAT, as_of="2024-3-1"),
    _case(FCST, "model_version", RANGE, model_version=""),
    _case(FCST, "horizons", TYPE, horizons="1..2"),
    _case(FCST, "horizons", RANGE, "0", horizons=[], values=[]),
    _case(FCST, "horizons[1]", CROSS, "3", horizons=[1, 3]),
    _case(FCST, "horizons[1]", TYPE, "True", horizons=[1, True]),
    _case(FCST, "quantile_levels", RANGE, quantile_levels=[]),
    _case(FCST, "quantile_levels[0]", RANGE, "0.0", quantile_levels=[0.0, 0.5, 0.9]),
    _case(FCST, "quantile_levels[2]", RANGE, "1.0", quantile_levels=[0.1, 0.5, 1.0]),
    _case(FCST, "quantile_levels[2]", CROSS, "0.5", quantile_levels=[0.1, 0.5, 0.5]),
    _case(FCST, "values", CROSS, "1", values=[[0, 1, 3]]),
    _case(FCST, "values[1]", CROSS, "2", values=[[0, 1, 3], [1, 2.5]]),
    _case(FCST, "values[1][1]", CROSS, "0.5", values=[[0, 1, 3], [1, 0.5, 6]]),
    _case(FCST, "values[1][2]", CROSS, "2.75", values=[[0, 1, 3], [1, 2.5, 2.75]]),
    _case(FCST, "values[0][0]", RANGE, "-1", values=[[-1, 1, 3], [1, 2.5, 6]]),
    _case(FCST, "values[1][1]", TYPE, "'2'", values=[[0, 1, 3], [1, "2", 6]]),
    # reorder-commands
    _case(CMD, "command_id", CROSS, command_id="c-1"),
    _case(CMD, "command_id", CROSS, _COMMAND_ID, policy_version=4),
    _case(CMD, "quantity", RANGE, quantity=0),
    _case(CMD, "quantity", TYPE, quantity=48.0),
    _case(CMD, "expected_arrival", CROSS, expected_arrival="2024-02-29"),
    _case(CMD, "inventory_position", TYPE, inventory_position="3"),
    _case(CMD, "quantile_used", RANGE, quantile_used=1.5),
    _case(CMD, "service_level", RANGE, service_level=-0.5),
    _case(CMD, "expected_cost", RANGE, expected_cost=-1.0),
    _case(CMD, "service_level", TYPE, service_level=None),
    _case(CMD, "model_version", TYPE, model_version=None),
    # dead-letters
    _case(DEAD, "topic", FORMAT, topic="sales events"),
    _case(DEAD, "partition", RANGE, partition=-1),
    _case(DEAD, "offset", RANGE, offset=-2),
    _case(DEAD, "reason", FORMAT, reason="Bad JSON"),
    _case(DEAD, "message", RANGE, message=""),
    _case(DEAD, "raw", FORMAT, raw="not base64!"),
    _case(DEAD, "raw", TYPE, raw=None),
    # model-updates
    _case(MODEL, "sha256", FORMAT, sha256=_SHA.upper()),
    _case(MODEL, "sha256", FORMAT, sha256="ab" * 31),
    _case(MODEL, "location", RANGE, location=""),
    _case(MODEL, "created_at", FORMAT, created_at="2024-03-01T10:00:00"),
]


@pytest.mark.parametrize(("topic", "changes", "field", "reason", "shown"), _CASES)
def test_rule_violation_names_field_reason_and_value(
    topic: str, changes: dict[str, Any], field: str, reason: Reason, shown: str
) -> None:
    drop = tuple(name for name, value in changes.items() if value is DROP)
    kept = {name: value for name, value in changes.items() if value is not DROP}
    raw = _raw(topic, drop=drop, **kept)

    with pytest.raises(EventError) as caught:
        decode(topic, raw)

    error = caught.value
    assert (error.field, error.reason) == (field, reason)
    assert str(error).startswith(f"{field}: ")
    assert shown in str(error)
    assert isinstance(error, ValueError)


def test_unknown_field_message_does_not_echo_its_value() -> None:
    with pytest.raises(EventError) as caught:
        decode_sale(_raw("sales-events", customer_id="C-17"))

    assert "C-17" not in str(caught.value)
    assert caught.value.value == "customer_id"


def test_constructing_an_invalid_event_raises_the_same_error() -> None:
    at = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)

    with pytest.raises(EventError) as caught:
        SaleEvent("e-1", "85048", 0, 1.0, at)

    assert (caught.value.field, caught.value.reason) == ("quantity", "out_of_range")
    with pytest.raises(EventError, match="occurred_at"):
        SaleEvent("e-1", "85048", 1, 1.0, dt.datetime(2024, 3, 1))
    with pytest.raises(EventError, match="schema_version"):
        SaleEvent("e-1", "85048", 1, 1.0, at, schema_version=2)


def test_policy_rule_keeps_the_optimizer_field_name() -> None:
    with pytest.raises(EventError) as caught:
        decode_sku_policy(_raw("sku-policies", review_period_days=366))

    assert caught.value.field == "review_period_days"
    assert caught.value.reason == Reason.OUT_OF_RANGE
    assert "366" in str(caught.value)


# ---------------------------------------------------------------- raw bytes


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", Reason.BAD_ENCODING),
        (b'{"sku": "\xed\xa0\x80"}', Reason.BAD_ENCODING),
        (b'{"event_id": "e-1", "sku": ', Reason.BAD_JSON),
        (b"", Reason.BAD_JSON),
        (b"{'sku': 'A'}", Reason.BAD_JSON),
        (b'{"quantity": NaN}', Reason.BAD_JSON),
        (b'{"unit_price": Infinity}', Reason.BAD_JSON),
        (b'{"unit_price": -Infinity}', Reason.BAD_JSON),
        (b'{"unit_price": 1e400}', Reason.BAD_JSON),
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b'"a string"', Reason.NOT_OBJECT),
        (b"null", Reason.NOT_OBJECT),
        (b"42", Reason.NOT_OBJECT),
        (None, Reason.NOT_OBJECT),
    ],
)
def test_undecodable_records_are_rejected_as_a_whole(
    raw: bytes | None, reason: Reason
) -> None:
    with pytest.raises(EventError) as caught:
        decode_sale(raw)

    assert caught.value.field == "record"
    assert caught.value.reason == reason


def test_oversized_record_is_rejected_before_parsing() -> None:
    padding = "x" * MAX_RECORD_BYTES
    raw = b'{"channel": "' + padding.encode() + b'"'  # not even valid JSON

    with pytest.raises(EventError) as caught:
        decode_sale(raw)

    assert caught.value.reason == Reason.TOO_LARGE
    assert str(len(raw)) in str(caught.value)
    assert decode_sale(_raw("sales-events"), max_bytes=200).sku == "85048"
    with pytest.raises(EventError, match="at most 100 bytes"):
        decode_sale(_raw("sales-events"), max_bytes=100)


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        (b"123456789012345678901234567890", Reason.WRONG_TYPE),  # read as a float
        (b"18446744073709551615", Reason.OUT_OF_RANGE),
        (b"-9223372036854775808", Reason.OUT_OF_RANGE),
        (b"true", Reason.WRONG_TYPE),
        (b"1e3", Reason.WRONG_TYPE),
    ],
)
def test_quantity_must_be_a_bounded_json_integer(
    literal: bytes, reason: Reason
) -> None:
    raw = _raw("sales-events").replace(b'"quantity":2', b'"quantity":' + literal)

    with pytest.raises(EventError) as caught:
        decode_sale(raw)

    assert (caught.value.field, caught.value.reason) == ("quantity", reason)


def test_huge_price_is_a_finite_float_and_accepted() -> None:
    raw = _raw("sales-events").replace(b'"unit_price":6.95', b'"unit_price":1e300')

    assert decode_sale(raw).unit_price == 1e300


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(EventError) as caught:
        decode_sale(_raw("sales-events", sku="A" * 5_000))

    assert len(str(caught.value)) < 200
    assert str(caught.value).endswith("...")


# ---------------------------------------------------------------- command ids


def test_command_id_is_a_fixed_uuid5_of_sku_day_and_policy_version() -> None:
    day = dt.date(2024, 3, 1)

    first = command_id("85048", day, 3)

    assert first == _COMMAND_ID
    assert command_id("85048", day, 3) == first
    assert command_id("85048", day, "3") == first


@fast
@given(
    a=st.tuples(skus, dates, versions),
    b=st.tuples(skus, dates, versions),
)
def test_distinct_decisions_get_distinct_command_ids(
    a: tuple[str, dt.date, str | int], b: tuple[str, dt.date, str | int]
) -> None:
    same = (a[0], a[1], str(a[2])) == (b[0], b[1], str(b[2]))

    assert (command_id(*a) == command_id(*b)) == same


@fast
@given(st.lists(st.tuples(skus, versions), min_size=1, max_size=5), dates)
def test_command_ids_are_the_uuid5_of_their_names(
    decisions: list[tuple[str, str | int]], day: dt.date
) -> None:
    ids = command_ids([s for s, _ in decisions], day, [v for _, v in decisions])

    assert ids == [
        str(uuid.uuid5(COMMAND_NAMESPACE, f"{len(s)}:{s}/{day.isoformat()}/{v}"))
        for s, v in decisions
    ]


def test_command_id_is_unambiguous_when_parts_contain_separators() -> None:
    day = dt.date(2024, 3, 1)

    assert command_id("A/2024-03-01", day, "v") != command_id("A", day, "2024-03-01/v")
    assert command_id("1:A", day, 1) != command_id("1", day, "1:A")


def test_command_id_rejects_a_datetime_as_of() -> None:
    with pytest.raises(EventError) as caught:
        command_id("A", dt.datetime(2024, 3, 1, tzinfo=dt.UTC), 1)

    assert (caught.value.field, caught.value.reason) == ("as_of", "wrong_type")
