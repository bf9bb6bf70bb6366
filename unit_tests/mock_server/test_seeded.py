"""The primitives both generators share: timestamps written in the spec's form and read back
exactly, in every quirk form at the same instant."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.seeded import ALNUM3, ALNUM4, parse_ms, quirk_timestamp, spec_timestamp

MS = st.integers(0, 4_102_444_800_000)  # 1970 to 2100


@given(MS)
def test_spec_timestamps_read_back_to_the_same_millisecond(ms: int) -> None:
    text = spec_timestamp(ms)
    assert len(text) == len("2024-06-30T17:32:53.518+00:00") and text.endswith("+00:00")
    assert parse_ms(text) == ms


@given(MS, st.integers(0, 999), st.integers(0, 6), st.integers(0, 255))
def test_quirk_forms_name_the_same_instant_up_to_the_digits_shown(
    ms: int, micro: int, digits: int, offset_pick: int
) -> None:
    shown = parse_ms(quirk_timestamp(ms, micro, digits, offset_pick))
    assert ms - 1000 < shown <= ms


def test_parse_ms_is_exact_where_floats_are_not() -> None:
    assert parse_ms("2024-06-30T17:32:53.518+00:00") == 1_719_768_773_518
    assert parse_ms("2024-06-30T19:32:53.518999+02:00") == 1_719_768_773_518
    assert parse_ms("2024-06-30T17:32:53Z") == 1_719_768_773_000


def test_a_timestamp_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="no offset"):
        parse_ms("2024-06-30T17:32:53.518")


def test_id_tables_hold_distinct_lowercase_alphanumerics() -> None:
    for table, width, distinct in ((ALNUM4, 4, 65536), (ALNUM3, 3, 36**3)):
        assert len(table) == 65536 and len(set(table)) == distinct
        assert all(len(s) == width and s.isalnum() and s == s.lower() for s in table)
