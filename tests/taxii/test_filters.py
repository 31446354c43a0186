"""TAXII query parameters and paging tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayanihan.taxii.errors import TaxiiError
from bayanihan.taxii.filters import decode_token, encode_token, parse_filters


@given(st.integers(min_value=0, max_value=2**62))
def test_tokens_round_trip(value: int) -> None:
    assert decode_token(encode_token(value)) == value


@given(st.text(max_size=40))
def test_arbitrary_tokens_are_rejected_or_decoded_never_crash(token: str) -> None:
    try:
        decode_token(token)
    except TaxiiError as error:
        assert error.http_status == 400


def parse(**params: str):  # type: ignore[no-untyped-def]
    return parse_filters({k: [v] for k, v in params.items()}, default_limit=100, max_limit=500)


def test_defaults() -> None:
    filters = parse()
    assert filters.limit == 100 and filters.after is None
    assert filters.versions.last and not filters.versions.all


def test_limit_is_capped() -> None:
    assert parse(limit="100000").limit == 500


def test_next_and_added_after_combine_to_the_later() -> None:
    token = encode_token(5_000_000)
    assert parse(next=token, added_after="1970-01-01T00:00:01Z").after == 5_000_000
    assert parse(next=token, added_after="1970-01-01T00:00:09Z").after == 9_000_000


def test_repeated_parameters_are_merged_for_match_and_refused_for_singles() -> None:
    filters = parse_filters(
        {"match[type]": ["indicator", "malware,tool"]}, default_limit=10, max_limit=10
    )
    assert filters.types == {"indicator", "malware", "tool"}
    with pytest.raises(TaxiiError):
        parse_filters({"limit": ["1", "2"]}, default_limit=10, max_limit=10)
