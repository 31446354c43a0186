"""Tests of the STIX timestamp parser the validator relies on."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayanihan.stix.timestamps import TimestampError, format_timestamp, parse_timestamp

SECOND = 1_000_000
DAY = 86_400 * SECOND


def test_epoch() -> None:
    assert parse_timestamp("1970-01-01T00:00:00Z") == 0


def test_known_instant() -> None:
    assert parse_timestamp("2021-01-01T00:00:00Z") == 1_609_459_200 * SECOND


@pytest.mark.parametrize(
    "value", ["2020-02-29T00:00:00Z", "2000-02-29T12:00:00Z", "1600-02-29T00:00:00Z"]
)
def test_leap_day_in_leap_year(value: str) -> None:
    leap_day = parse_timestamp(value)
    assert leap_day - parse_timestamp(value.replace("02-29", "02-28")) == DAY
    assert parse_timestamp(value.replace("02-29", "03-01")) - leap_day == DAY


@pytest.mark.parametrize(
    "value", ["2021-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z"]
)
def test_leap_day_in_common_year(value: str) -> None:
    with pytest.raises(TimestampError, match="leap year"):
        parse_timestamp(value)


def test_leap_year_length() -> None:
    assert (
        parse_timestamp("2021-01-01T00:00:00Z") - parse_timestamp("2020-01-01T00:00:00Z")
        == 366 * DAY
    )
    assert (
        parse_timestamp("2022-01-01T00:00:00Z") - parse_timestamp("2021-01-01T00:00:00Z")
        == 365 * DAY
    )


@pytest.mark.parametrize(
    ("fraction", "micros"),
    [
        ("", 0),
        (".5", 500_000),
        (".123", 123_000),
        (".123456", 123_456),
        (".123456789", 123_456),
        (".000001", 1),
    ],
)
def test_fractional_digits(fraction: str, micros: int) -> None:
    assert parse_timestamp(f"1970-01-01T00:00:01{fraction}Z") == SECOND + micros


def test_negative_epoch() -> None:
    assert parse_timestamp("1969-12-31T23:59:59Z") == -SECOND
    assert parse_timestamp("1969-12-31T23:59:59.5Z") == -SECOND + 500_000
    assert parse_timestamp("1960-01-01T00:00:00Z") == -315_619_200 * SECOND
    assert parse_timestamp("0001-01-01T00:00:00Z") == -62_135_596_800 * SECOND


def test_leap_second_sorts_in_its_minute() -> None:
    leap = parse_timestamp("2016-12-31T23:59:60Z")
    assert leap == parse_timestamp("2016-12-31T23:59:59Z")
    assert leap < parse_timestamp("2017-01-01T00:00:00Z")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2021-01-01",
        "2021-01-01T00:00:00",
        "2021-01-01T00:00:00z",
        "2021-01-01t00:00:00Z",
        "2021-01-01 00:00:00Z",
        "2021-01-01T00:00:00+00:00",
        "2021-01-01T00:00:00.Z",
        "2021-1-01T00:00:00Z",
        "21-01-01T00:00:00Z",
        "2021-01-01T00:00Z",
        "2021-01-01T00:00:00Z\n",
        " 2021-01-01T00:00:00Z",
        "\u0662\u0660\u0662\u0661-01-01T00:00:00Z",
        "2021-13-01T00:00:00Z",
        "2021-00-01T00:00:00Z",
        "2021-04-31T00:00:00Z",
        "2021-01-00T00:00:00Z",
        "2021-01-01T24:00:00Z",
        "2021-01-01T00:60:00Z",
        "2021-01-01T00:00:61Z",
    ],
)
def test_bad_forms(value: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(value)


@pytest.mark.parametrize(
    "value", [None, 1609459200, 1.5, ["2021-01-01T00:00:00Z"], b"2021-01-01T00:00:00Z"]
)
def test_non_strings(value: object) -> None:
    with pytest.raises(TimestampError, match="expected a timestamp string"):
        parse_timestamp(value)


@settings(max_examples=200)
@given(st.integers(min_value=-62_135_596_800 * SECOND, max_value=253_402_300_799 * SECOND))
def test_format_round_trip(micros: int) -> None:
    assert parse_timestamp(format_timestamp(micros)) == micros


@settings(max_examples=200)
@given(
    st.datetimes(
        min_value=datetime.datetime(1, 1, 1),
        max_value=datetime.datetime(9999, 12, 31, 23, 59, 59),
    )
)
def test_agrees_with_datetime(moment: datetime.datetime) -> None:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if moment.year < 1000:
        stamp = f"{moment.year:04d}" + stamp[stamp.index("-") :]
    epoch = datetime.datetime(1970, 1, 1)
    delta = moment - epoch
    expected = (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds
    assert parse_timestamp(stamp) == expected
