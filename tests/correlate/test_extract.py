"""Extraction: every comparison of a pattern, every SCO kind, and the containment probes."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayanihan.correlate.extract import comparisons, extract, ip_bounds, spec, supernets


def values(obj: dict[str, Any], region: str | None = None) -> list[tuple[str, str]]:
    return [(o.kind, o.value) for o in extract(obj, region=region).observables]


def ind(pattern: str) -> dict[str, Any]:
    return {"type": "indicator", "pattern": pattern, "pattern_type": "stix"}


def test_every_comparison_of_every_observation() -> None:
    pattern = (
        "([ipv4-addr:value = '198.51.100.1' OR ipv6-addr:value = '2001:DB8::1'] AND "
        "[domain-name:value = 'a.qzx.com']) FOLLOWEDBY "
        "[url:value = 'http://qzx.com/x' AND email-addr:value = 'A@QZX.com'] "
        "START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'"
    )
    assert values(ind(pattern)) == [
        ("ipv4", "198.51.100.1"),
        ("ipv6", "2001:db8::1"),
        ("domain", "a.qzx.com"),
        ("url", "http://qzx.com/x"),
        ("email", "a@qzx.com"),
    ]


def test_in_lists_give_each_member_and_issubset_a_network() -> None:
    got = values(
        ind(
            "[domain-name:value IN ('a.qzx.com', 'B.QZX.com') AND "
            "ipv4-addr:value ISSUBSET '203.0.113.0/24']"
        )
    )
    assert got == [("domain", "a.qzx.com"), ("domain", "b.qzx.com"), ("ipv4", "203.0.113.0/24")]


def test_set_descriptions_are_pattern_only() -> None:
    extraction = extract(
        ind(
            "[url:value MATCHES '^https?://qzx' OR domain-name:value LIKE '%.qzx.com' OR "
            "domain-name:value != 'x.qzx.com' OR domain-name:value NOT = 'y.qzx.com' OR "
            "ipv4-addr:value ISSUPERSET '10.0.0.1']"
        )
    )
    assert extraction.observables == []
    assert len(extraction.pattern_only) == 5
    assert any("NOT =" in p for p in extraction.pattern_only)


def test_strings_that_look_like_patterns_are_values_not_comparisons() -> None:
    tricky = r"[file:name = 'x [ipv4-addr:value = \'9.9.9.9\'] y.exe']"
    assert values(ind(tricky)) == [("file-name", "x [ipv4-addr:value = '9.9.9.9'] y.exe")]


def test_hash_paths_quoted_and_bare_and_reference_paths() -> None:
    got = values(
        ind(
            f"[file:hashes.'SHA-256' = '{'A' * 64}' AND file:hashes.MD5 = '{'b' * 32}'] OR "
            "[email-message:from_ref.value = 'boss@qzx.com' AND "
            "email-message:to_refs[*].value = 'cfo@qzx.com'] OR "
            "[network-traffic:dst_ref.value = '198.51.100.9' AND "
            "network-traffic:src_ref.value = 'c2.qzx.com']"
        )
    )
    assert got == [
        ("sha256", "a" * 64),
        ("md5", "b" * 32),
        ("email", "boss@qzx.com"),
        ("email", "cfo@qzx.com"),
        ("ipv4", "198.51.100.9"),
        ("domain", "c2.qzx.com"),
    ]


def test_a_hash_named_wrongly_is_kept_raw_and_flagged() -> None:
    [observable] = extract(ind(f"[file:hashes.MD5 = '{'a' * 64}']")).observables
    assert observable.problem is not None


def test_other_pattern_types_are_not_read() -> None:
    obj = {"type": "indicator", "pattern": "alert tcp any any", "pattern_type": "snort"}
    assert values(obj) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "ipv4-addr", "value": "198.51.100.0/24"}, [("ipv4", "198.51.100.0/24")]),
        ({"type": "ipv6-addr", "value": "2001:0db8::0001"}, [("ipv6", "2001:db8::1")]),
        ({"type": "domain-name", "value": "Qzx.COM."}, [("domain", "qzx.com")]),
        ({"type": "url", "value": "HTTP://qzx.com:80"}, [("url", "http://qzx.com/")]),
        ({"type": "email-addr", "value": "X@Qzx.com"}, [("email", "x@qzx.com")]),
        ({"type": "mac-addr", "value": "AA-BB-CC-DD-EE-FF"}, [("mac", "aa:bb:cc:dd:ee:ff")]),
        ({"type": "autonomous-system", "number": 64500}, [("asn", "AS64500")]),
        (
            {"type": "file", "name": "Invoice.PDF.exe", "hashes": {"SHA-1": "A" * 40}},
            [("sha1", "a" * 40), ("file-name", "Invoice.PDF.exe")],
        ),
        (
            {"type": "x509-certificate", "serial_number": "00:1A:2b", "hashes": {"MD5": "c" * 32}},
            [("md5", "c" * 32), ("x509-serial", "1a2b")],
        ),
        (
            {"type": "user-account", "account_login": "scammer01", "account_type": "Facebook"},
            [("user-account", "facebook:scammer01")],
        ),
        (
            {"type": "x-bayanihan-bank-account", "iban": "GB82 WEST 1234 5698 7654 32"},
            [("iban", "GB82WEST12345698765432")],
        ),
        (
            {"type": "x-bayanihan-social-handle", "platform": "TG", "handle": "@ScamBot"},
            [("social-handle", "telegram:scambot")],
        ),
    ],
)
def test_sco_kinds(obj: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert values(obj) == expected


def test_phones_are_read_in_the_reporting_orgs_country() -> None:
    thai = {"type": "x-bayanihan-phone-number", "value": "081-234-5678"}
    assert values(thai, region="TH") == [("phone", "+66812345678")]
    assert values({**thai, "country": "TH"}, region="PH") == [("phone", "+66812345678")]
    pattern = ind("[x-bayanihan-phone-number:value = '090-1234-5678']")
    assert values(pattern, region="JP") == [("phone", "+819012345678")]


def test_observed_data_with_embedded_objects() -> None:
    obj = {
        "type": "observed-data",
        "objects": {"0": {"type": "domain-name", "value": "qzx.net"}, "1": "junk"},
    }
    assert values(obj) == [("domain", "qzx.net")]


def test_comparisons_keep_observation_numbers() -> None:
    found = list(comparisons("[a:b = 'x'] AND [c:d IN ('y', 'z')]"))
    assert [(c.path, c.operator, c.values, c.observation) for c in found] == [
        ("a:b", "=", ("x",), 1),
        ("c:d", "IN", ("y", "z"), 2),
    ]


def test_stored_form_carries_range_bounds() -> None:
    [observable] = extract({"type": "ipv4-addr", "value": "198.51.100.0/24"}).observables
    stored = spec(observable)
    assert (stored.ip_start, stored.ip_end) == ("c6336400", "c63364ff")
    assert ip_bounds("2001:db8::1") == ("20010db8000000000000000000000001",) * 2


@given(
    address=st.integers(0, 2**32 - 1),
    own=st.integers(8, 32),
    lengths=st.sets(st.integers(0, 32), max_size=8),
)
def test_supernets_are_exactly_the_containing_networks(
    address: int, own: int, lengths: set[int]
) -> None:
    network = ipaddress.ip_network((address, own), strict=False)
    value = str(network.network_address) if own == 32 else str(network)
    got = set(supernets(value, lengths))
    want = {str(network.supernet(new_prefix=p)) for p in lengths if p < own and p < 32}
    assert got == want


_QUOTABLE = st.text(alphabet=st.sampled_from("ab'\\ .:-9é"), max_size=30)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@given(value=_QUOTABLE, key=_QUOTABLE)
def test_the_single_comparison_fast_path_reads_what_the_tokenizer_reads(
    value: str, key: str
) -> None:
    """One equality in one observation is read by its own expression; wrapped in a
    second observation the same comparison goes through the tokenizer: both must give
    the same path and value, escapes included."""
    pattern = f"[file:hashes.{_quoted(key)} = {_quoted(value)}]"
    [fast] = comparisons(pattern)
    first, _ = comparisons(f"{pattern} AND [x:y = 'z']")
    assert fast == first
    assert fast.values == (value,)
    assert fast.path == f"file:hashes.{key}"


@given(address=st.integers(0, 2**128 - 1), v4=st.booleans())
def test_address_bounds_read_in_c_agree_with_ipaddress(address: int, v4: bool) -> None:
    parsed = ipaddress.ip_address(address % 2**32 if v4 else address)
    width = 8 if parsed.version == 4 else 32
    assert ip_bounds(str(parsed)) == (format(int(parsed), f"0{width}x"),) * 2
