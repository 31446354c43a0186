"""Tests of STIX pattern validation: the fast path must never accept what the
reference validator (stix2patterns) rejects, and the overall verdict must be the
reference verdict."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2patterns.validator import validate as reference_validate

from bayanihan.stix.pattern import _fast_accepts, pattern_error

SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def reference_accepts(pattern: str) -> bool:
    try:
        passed, _ = reference_validate(pattern, ret_errs=True, stix_version="2.1")
    except Exception:  # the reference crashes on a few inputs; we reject those
        return False
    return bool(passed)


COMMON_VALID = [
    "[ipv4-addr:value = '198.51.100.7']",
    "[domain-name:value = 'scam.example.com'] OR [url:value = 'http://x.example/a']",
    "[ipv4-addr:value = '10.0.0.0/8' OR ipv6-addr:value = '::1']",
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    f"[file:hashes.MD5 = '{MD5}' OR file:hashes.'SHA-256' = '{SHA256}']",
    "[email-addr:value LIKE '%@example.com'] FOLLOWEDBY [url:value MATCHES '^http']",
    "[network-traffic:dst_port = 443 AND network-traffic:protocols[*] = 'tcp']",
    "[x-custom:a.b[0].'c-d' NOT IN ('x', 1, 2.5, true)] WITHIN 300 SECONDS",
    "[process:name = 'a.exe'] REPEATS 5 TIMES",
    "[a:b = 1] START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00.123Z'",
    "([a:b = 1] AND [c:d = h'00ff']) WITHIN 5 SECONDS REPEATS 2 TIMES",
    "[a:b = b'YWJj' AND (c:d = 'x' OR EXISTS c:e)]",
    "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
    "[a:b = 'it\\'s \\\\ fine']",
]

INVALID = [
    "",
    "   ",
    "ipv4-addr:value = '1.2.3.4'",
    "[ipv4-addr:value = '1.2.3.4'",
    "[ipv4-addr:value = 1.2.3.4]",
    '[ipv4-addr:value = "1.2.3.4"]',
    "[a:b = 007]",
    "[a:b LIKE 5]",
    "[a:b > true]",
    "[NOT a:b = 1]",
    "[a:b-c = 1]",
    "[a:IN = 1]",
    "[a:b = 1] WITHIN 1 SECONDS WITHIN 2 SECONDS",
    "[a:b = 1] WITHIN -1 SECONDS",
    "[a:b = t'2020-13-01T00:00:00Z']",
    "[a:b = h'abc']",
    "[a:b = b'']",
    "[file:hashes.MD5 = 'not-a-hash']",
    f"[file:hashes.'SHA-256' = '{MD5}']",
    "[a:b = 1] [c:d = 2]",
    "[a:b = 1] AND",
    "[a:b[-1] = 1]",
    "[file:hashes[0] = 'x']",
]


@pytest.mark.parametrize("pattern", COMMON_VALID)
def test_common_patterns_take_the_fast_path(pattern: str) -> None:
    assert reference_accepts(pattern)
    assert _fast_accepts(pattern)
    assert pattern_error(pattern) is None


@pytest.mark.parametrize("pattern", INVALID)
def test_invalid_patterns(pattern: str) -> None:
    assert not _fast_accepts(pattern)
    reason = pattern_error(pattern)
    assert isinstance(reason, str) and reason


def test_reference_message_is_passed_on() -> None:
    reason = pattern_error("[file:hashes.MD5 = 'xyz']")
    assert reason == "'xyz' is not a valid MD5 hash"
    reason = pattern_error("[a:b = 007]")
    assert reason is not None and "mismatched input" in reason


def test_comments_and_unusual_spacing_fall_back_but_pass() -> None:
    for pattern in ("[a:b = 1] /* note */", "[a:b=1]AND[c:d=2]", "[a:b = 1]\u00a0"):
        assert pattern_error(pattern) is None


# ------------------------------------------------------------ grammar-based generation

SPACE = st.sampled_from([" ", " ", " ", "", "  ", "\t", "\n"])
OBJECT_TYPES = st.sampled_from(
    ["ipv4-addr", "domain-name", "url", "file", "x-custom", "network-traffic", "x_y", "a"]
)
KEYS = st.sampled_from(
    ["value", "name", "hashes", "src_ref", "size", "_x", "'quoted-key'", "'a b'", "'hashes'"]
)
STEPS = st.sampled_from(
    [".value", "[*]", "[0]", "[+1]", ".'SHA-256'", ".MD5", ".'a b'", ".sha1", ".SSDEEP", ".x"]
)
STRING_CHARS = st.text(alphabet="ab.-/%^_0' \\é", max_size=8).map(
    lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
)
NUMBERS = st.sampled_from(["0", "1", "42", "-7", "+3", "0.5", ".25", "-1.5", "+2.0"])
TIMESTAMPS = st.sampled_from(
    ["t'2020-01-01T00:00:00Z'", "t'1999-12-31T23:59:60.5Z'", "t'2021-02-28T12:30:00.123456Z'"]
)
BINARY = st.sampled_from(["h''", "h'00ff'", "h'ABcd'", "b'YWJj'", "b'YWI='", "b'YQ=='"])
HASH_VALUES = st.sampled_from([f"'{MD5}'", f"'{SHA256}'", "'3:abc:def'", f"'{SHA256[:40]}'"])
ORDERABLE = st.one_of(STRING_CHARS, NUMBERS, TIMESTAMPS, BINARY, HASH_VALUES)
PRIMITIVE = st.one_of(ORDERABLE, st.sampled_from(["true", "false"]))


@st.composite
def object_paths(draw: st.DrawFn) -> str:
    steps = "".join(draw(st.lists(STEPS, max_size=2)))
    return f"{draw(OBJECT_TYPES)}:{draw(KEYS)}{steps}"


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    path = draw(object_paths())
    s = draw(SPACE)
    negation = draw(st.sampled_from(["", "", " NOT"]))
    form = draw(st.integers(0, 5))
    if form == 0:
        op = draw(st.sampled_from(["=", "!=", "==", "<>"]))
        return f"{path}{negation}{s}{op}{s}{draw(PRIMITIVE)}"
    if form == 1:
        op = draw(st.sampled_from(["<", ">", "<=", ">="]))
        return f"{path}{negation}{s}{op}{s}{draw(ORDERABLE)}"
    if form == 2:
        items = draw(st.lists(PRIMITIVE, max_size=3))
        return f"{path}{negation} IN{s}({s}{', '.join(items)}{s})"
    if form == 3:
        op = draw(st.sampled_from(["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"]))
        return f"{path}{negation} {op}{s}{draw(STRING_CHARS)}"
    if form == 4:
        return f"EXISTS {path}"
    return f"{path} = {draw(HASH_VALUES)}"


@st.composite
def comparison_expressions(draw: st.DrawFn, depth: int = 0) -> str:
    parts = [draw(comparisons())]
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["AND", "OR"]))
        if depth < 1 and draw(st.booleans()):
            part = f"({draw(comparison_expressions(depth + 1))})"
        else:
            part = draw(comparisons())
        parts.append(f" {op} {part}")
    return "".join(parts)


QUALIFIERS = st.sampled_from(
    [
        " WITHIN 5 SECONDS",
        " WITHIN 0.5 SECONDS",
        " REPEATS 3 TIMES",
        " START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
    ]
)


@st.composite
def observation_expressions(draw: st.DrawFn, depth: int = 0) -> str:
    parts: list[str] = []
    for index in range(draw(st.integers(1, 3))):
        s = draw(SPACE)
        if depth < 1 and draw(st.integers(0, 4)) == 0:
            atom = f"({s}{draw(observation_expressions(depth + 1))}{s})"
        else:
            atom = f"[{s}{draw(comparison_expressions())}{s}]"
        atom += "".join(draw(st.lists(QUALIFIERS, max_size=2)))
        if index:
            atom = f" {draw(st.sampled_from(['AND', 'OR', 'FOLLOWEDBY']))} {atom}"
        parts.append(atom)
    return "".join(parts)


BAD_FRAGMENTS = [
    "007",
    "h'abc'",
    "b''",
    "t'2020-13-01T00:00:00Z'",
    "'",
    "]",
    "(",
    "NOT",
    "-",
    "x-y",
]


@st.composite
def mutated_patterns(draw: st.DrawFn) -> str:
    pattern = draw(observation_expressions())
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.integers(0, 4))
        if kind == 3:
            words = pattern.split(" ")
            if len(words) > 1:
                i = draw(st.integers(0, len(words) - 2))
                words[i], words[i + 1] = words[i + 1], words[i]
            pattern = " ".join(words)
            continue
        if not pattern:
            break
        i = draw(st.integers(0, len(pattern) - 1))
        if kind == 0:
            pattern = pattern[:i] + pattern[i + 1 :]
        elif kind == 1:
            pattern = pattern[:i] + pattern[i] + pattern[i:]
        elif kind == 2:
            pattern = pattern[:i] + draw(st.sampled_from(BAD_FRAGMENTS)) + pattern[i:]
        else:
            pattern = pattern[:i] + draw(st.sampled_from("[]()'.:= \\,*+")) + pattern[i:]
    return pattern


def check_against_reference(pattern: str) -> bool:
    accepted = reference_accepts(pattern)
    if _fast_accepts(pattern):
        assert accepted, f"fast path accepted a pattern the reference rejects: {pattern!r}"
    assert (pattern_error(pattern) is None) == accepted, pattern
    return accepted


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(observation_expressions())
def test_generated_patterns_agree_with_reference(pattern: str) -> None:
    check_against_reference(pattern)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_patterns())
def test_mutated_patterns_agree_with_reference(pattern: str) -> None:
    check_against_reference(pattern)


def test_generator_mostly_hits_the_fast_path() -> None:
    """Guard against the fast path silently becoming useless."""
    samples = [
        "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
        "[a:b = 1 AND (c:d = 2 OR c:e != 'x')] FOLLOWEDBY ([f:g > 2.5]) REPEATS 3 TIMES",
        f"[file:hashes.'SHA-256' = '{SHA256}' AND file:size >= 10]",
    ]
    for pattern in samples:
        assert _fast_accepts(pattern), pattern
