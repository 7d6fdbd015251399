from streams.batch_consumer import acknowledged_offsets


def test_a_batch_acknowledges_its_records_and_the_gaps_before_them() -> None:
    # read up to 9 so far; 10 and 11 were compacted away
    assert acknowledged_offsets(12, 15, read=9, committed=5) == range(9, 16)


def test_the_first_batch_after_a_seek_starts_at_the_seek_position() -> None:
    assert acknowledged_offsets(40, 42, read=40, committed=40) == range(40, 43)


def test_records_compacted_away_at_the_head_leave_no_gap() -> None:
    assert acknowledged_offsets(7, 8, read=None, committed=0) == range(0, 9)


def test_nothing_below_the_committed_offset_is_acknowledged_again() -> None:
    assert acknowledged_offsets(3, 6, read=2, committed=5) == range(5, 7)


def test_a_partition_never_committed_starts_at_its_first_record() -> None:
    assert acknowledged_offsets(0, 3, read=None, committed=None) == range(0, 4)
