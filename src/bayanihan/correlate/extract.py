"""Observables carried by a STIX object: its own SCO values and every comparison of a pattern.

Indicator patterns are read comparison by comparison, not only the first: ``=``
and ``IN`` give values to correlate on (each member of an ``IN`` list), and
``ISSUBSET`` on an address gives a network. ``MATCHES``, ``LIKE``, ``!=``,
ordering comparisons and negated comparisons describe sets of values, not
values: they are kept as *pattern-only* comparisons, reported but not indexed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bayanihan.correlate import normalise as n
from bayanihan.stix.extensions import (
    BANK_ACCOUNT_TYPE,
    CRYPTO_WALLET_TYPE,
    PHONE_NUMBER_TYPE,
    SOCIAL_HANDLE_TYPE,
)
from bayanihan.store.observables import ObservableSpec

PHONE_TYPE = PHONE_NUMBER_TYPE
WALLET_TYPE = CRYPTO_WALLET_TYPE
HANDLE_TYPE = SOCIAL_HANDLE_TYPE


@dataclass(slots=True)
class Extraction:
    """What one object carries: indexed observables and the comparisons left as patterns."""

    observables: list[n.Observable] = field(default_factory=list)
    pattern_only: list[str] = field(default_factory=list)  # "url:value MATCHES '...'"

    def add(self, observable: n.Observable) -> None:
        if observable.value and observable not in self.observables:
            self.observables.append(observable)


def _ip_or_domain(value: str) -> n.Observable:
    found = n.ip(value)
    return found if found.normalised else n.domain(value)


def _hash_normaliser(name: str) -> Callable[[str], n.Observable]:
    return lambda value: n.file_hash(value, declared=name)


# Object path (type:property.path, with [*]/[n] steps removed) -> normaliser.
_PATHS: dict[str, Callable[[str], n.Observable]] = {
    "ipv4-addr:value": n.ip,
    "ipv6-addr:value": n.ip,
    "domain-name:value": n.domain,
    "url:value": n.url,
    "email-addr:value": n.email,
    "email-message:from_ref.value": n.email,
    "email-message:sender_ref.value": n.email,
    "email-message:to_refs.value": n.email,
    "email-message:cc_refs.value": n.email,
    "email-message:bcc_refs.value": n.email,
    "mac-addr:value": n.mac,
    "file:name": n.file_name,
    "x509-certificate:serial_number": n.x509_serial,
    "network-traffic:src_ref.value": _ip_or_domain,
    "network-traffic:dst_ref.value": _ip_or_domain,
    "domain-name:resolves_to_refs.value": n.ip,
    "user-account:account_login": n.user_account,
    "user-account:user_id": n.user_account,
    f"{WALLET_TYPE}:address": n.crypto_wallet,
    f"{BANK_ACCOUNT_TYPE}:iban": n.iban,
}
_HASHED = ("file:hashes.", "artifact:hashes.", "x509-certificate:hashes.", "file:parent_directory")

_TOKEN = re.compile(
    r"""
    (?P<path>[A-Za-z_][A-Za-z0-9_-]*\s*:\s*(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]*(?:\\.[^'\\]*)*')
        (?:\s*\.\s*(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]*(?:\\.[^'\\]*)*')|\s*\[\s*(?:\*|[0-9]+)\s*\])*)
    |(?P<str>'[^'\\]*(?:\\.[^'\\]*)*')
    |(?P<lit>[thb]'[^'\\]*(?:\\.[^'\\]*)*')
    |(?P<op>==|!=|<>|<=|>=|=|<|>)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<num>[+-]?[0-9]*\.?[0-9]+)
    |(?P<punct>[\[\](),])
    """,
    re.VERBOSE,
)
# The shape of most feed indicators, one equality in one observation: read without
# the tokenizer.
# Quoted strings are matched as runs of plain characters between escapes (an
# alternation per character took 10 us for a SHA-256 value).
_SINGLE = re.compile(
    r"""\s*\[\s*
    ([A-Za-z_][A-Za-z0-9_-]*\s*:\s*(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]*(?:\\.[^'\\]*)*')
        (?:\s*\.\s*(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]*(?:\\.[^'\\]*)*'))*)
    \s*=\s*'([^'\\]*(?:\\.[^'\\]*)*)'\s*\]\s*""",
    re.VERBOSE,
)
_STEP = re.compile(r"\s*\[\s*(?:\*|[0-9]+)\s*\]")
_QUOTED_KEY = re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*)'")


_ESCAPE = re.compile(r"\\(.)")
_SPACE = re.compile(r"\s+")


def _unquote(text: str) -> str:
    inner = text[1:-1]
    return _ESCAPE.sub(r"\1", inner) if "\\" in inner else inner


def _bare(part: str) -> str:
    """A stretch of a path outside quotes: list steps and white space dropped."""
    part = _STEP.sub("", part) if "[" in part else part
    return _SPACE.sub("", part) if any(c in part for c in " \t\n\r\f\v") else part


def _clean_path(raw: str) -> str:
    if "'" not in raw:
        return _bare(raw)
    parts: list[str] = []
    end = 0
    for quoted in _QUOTED_KEY.finditer(raw):  # a quoted key is taken as written, unescaped
        parts.append(_bare(raw[end : quoted.start()]))
        key = quoted.group(1)
        parts.append(_ESCAPE.sub(r"\1", key) if "\\" in key else key)
        end = quoted.end()
    parts.append(_bare(raw[end:]))
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Comparison:
    path: str
    operator: str  # "=", "IN", "MATCHES", ... ; "NOT =" when negated
    values: tuple[str, ...]  # string operands (other literal kinds are left out)
    observation: int  # which bracketed observation it belongs to


def comparisons(pattern: str) -> Iterator[Comparison]:
    """Every comparison of a (valid) STIX pattern, in order."""
    single = _SINGLE.fullmatch(pattern)
    if single is not None:
        path, value = single.groups()
        yield Comparison(_clean_path(path), "=", (_unquote(f"'{value}'"),), 1)
        return
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(pattern)]
    observation = 0
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        if kind == "punct" and text == "[":
            observation += 1
        if kind != "path":
            index += 1
            continue
        path = _clean_path(text)
        index += 1
        negated = False
        if index < len(tokens) and tokens[index] == ("word", "NOT"):
            negated = True
            index += 1
        if index >= len(tokens):
            break
        kind, text = tokens[index]
        operator = text if kind == "op" else text.upper() if kind == "word" else ""
        index += 1
        values: list[str] = []
        if operator == "IN" and index < len(tokens) and tokens[index][1] == "(":
            index += 1
            while index < len(tokens) and tokens[index][1] != ")":
                if tokens[index][0] == "str":
                    values.append(_unquote(tokens[index][1]))
                index += 1
            index += 1
        elif index < len(tokens):
            if tokens[index][0] == "str":
                values.append(_unquote(tokens[index][1]))
            index += 1
        if operator == "==":
            operator = "="
        yield Comparison(
            path, f"NOT {operator}" if negated else operator, tuple(values), observation
        )


def _normaliser(path: str) -> Callable[[str], n.Observable] | None:
    found = _PATHS.get(path)
    if found is not None:
        return found
    for prefix in _HASHED[:3]:
        if path.startswith(prefix):
            return _hash_normaliser(path[len(prefix) :])
    return None


def _from_pattern(pattern: str, region: str | None, out: Extraction) -> None:
    handles: dict[int, dict[str, str]] = {}
    for comparison in comparisons(pattern):
        if comparison.path.startswith(f"{HANDLE_TYPE}:"):
            prop = comparison.path.split(":", 1)[1]
            if comparison.operator == "=" and comparison.values:
                handles.setdefault(comparison.observation, {})[prop] = comparison.values[0]
                continue
        if comparison.path == f"{PHONE_TYPE}:value" and comparison.operator in ("=", "IN"):
            for value in comparison.values:
                out.add(n.phone(value, region))
            continue
        if comparison.path == f"{BANK_ACCOUNT_TYPE}:account_number" and comparison.operator in (
            "=",
            "IN",
        ):
            for value in comparison.values:
                out.add(n.bank_account(value, country=region))
            continue
        normaliser = _normaliser(comparison.path)
        if normaliser is None:
            continue
        if comparison.operator in ("=", "IN"):
            for value in comparison.values:
                out.add(normaliser(value))
        elif comparison.operator == "ISSUBSET" and comparison.path.endswith("-addr:value"):
            for value in comparison.values:
                out.add(n.ip(value))
        else:
            shown = ", ".join(repr(v) for v in comparison.values)
            out.pattern_only.append(f"{comparison.path} {comparison.operator} {shown}".strip())
    for found in handles.values():
        if "handle" in found:
            out.add(n.social_handle(found.get("platform", ""), found["handle"]))


def _hashes(hashes: Any, out: Extraction) -> None:
    if isinstance(hashes, dict):
        for name, value in hashes.items():
            if isinstance(value, str):
                out.add(n.file_hash(value, declared=str(name)))


def _from_sco(obj: dict[str, Any], region: str | None, out: Extraction) -> None:
    kind = obj.get("type")
    value = obj.get("value")
    text = value if isinstance(value, str) else None
    if kind in ("ipv4-addr", "ipv6-addr") and text:
        out.add(n.ip(text))
    elif kind == "domain-name" and text:
        out.add(n.domain(text))
    elif kind == "url" and text:
        out.add(n.url(text))
    elif kind == "email-addr" and text:
        out.add(n.email(text))
    elif kind == "mac-addr" and text:
        out.add(n.mac(text))
    elif kind == "autonomous-system" and isinstance(obj.get("number"), int):
        out.add(n.asn(obj["number"]))
    elif kind in ("file", "artifact"):
        _hashes(obj.get("hashes"), out)
        if kind == "file" and isinstance(obj.get("name"), str):
            out.add(n.file_name(obj["name"]))
    elif kind == "x509-certificate":
        _hashes(obj.get("hashes"), out)
        if isinstance(obj.get("serial_number"), str):
            out.add(n.x509_serial(obj["serial_number"]))
    elif kind == "user-account":
        login = obj.get("account_login") or obj.get("user_id")
        if isinstance(login, str):
            account_type = obj.get("account_type")
            out.add(n.user_account(login, account_type if isinstance(account_type, str) else None))
    elif kind == PHONE_TYPE and text:
        country = obj.get("country")
        out.add(n.phone(text, country if isinstance(country, str) else region))
    elif kind == BANK_ACCOUNT_TYPE:
        _bank_account(obj, region, out)
    elif kind == WALLET_TYPE and isinstance(obj.get("address"), str):
        currency = obj.get("currency")
        out.add(n.crypto_wallet(obj["address"], currency if isinstance(currency, str) else None))
    elif kind == HANDLE_TYPE and isinstance(obj.get("handle"), str):
        platform = obj.get("platform")
        out.add(n.social_handle(platform if isinstance(platform, str) else "", obj["handle"]))


def _bank_account(obj: dict[str, Any], region: str | None, out: Extraction) -> None:
    if isinstance(obj.get("iban"), str):
        out.add(n.iban(obj["iban"]))
    number = obj.get("account_number")
    if isinstance(number, str):
        country = obj.get("country")
        bank = obj.get("bank")
        out.add(
            n.bank_account(
                number,
                country=country if isinstance(country, str) else region,
                bank=bank if isinstance(bank, str) else None,
            )
        )


def extract(obj: dict[str, Any], *, region: str | None = None) -> Extraction:
    """The observables of one object; ``region`` is the reporting org's country (phones)."""
    out = Extraction()
    kind = obj.get("type")
    if kind == "indicator":
        pattern = obj.get("pattern")
        if isinstance(pattern, str) and obj.get("pattern_type", "stix") == "stix":
            _from_pattern(pattern, region, out)
    elif kind == "observed-data" and isinstance(obj.get("objects"), dict):
        for inner in obj["objects"].values():
            if isinstance(inner, dict):
                _from_sco(inner, region, out)
    else:
        _from_sco(obj, region, out)
    return out


def _ip_bounds(value: str) -> tuple[str, str] | None:
    if "/" not in value:  # an address (most values): its own first and last, read in C
        try:
            packed = socket.inet_pton(socket.AF_INET6 if ":" in value else socket.AF_INET, value)
        except (OSError, ValueError):
            packed = b""  # a form only ipaddress reads (a scoped IPv6 address)
        if packed:
            bound = packed.hex()
            return bound, bound
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    width = 8 if network.version == 4 else 32
    first = int(network.network_address)
    last = int(network.broadcast_address)
    return format(first, f"0{width}x"), format(last, f"0{width}x")


def spec(observable: n.Observable) -> ObservableSpec:
    """The stored form of an observable (with range bounds for addresses and networks)."""
    start = end = None
    if observable.kind in ("ipv4", "ipv6") and observable.normalised:
        bounds = _ip_bounds(observable.value)
        if bounds is not None:
            start, end = bounds
    return ObservableSpec(
        kind=observable.kind,
        value=observable.value,
        problem=observable.problem,
        related=observable.related,
        ip_start=start,
        ip_end=end,
    )


def specs(obj: dict[str, Any], *, region: str | None = None) -> tuple[ObservableSpec, ...]:
    return tuple(spec(o) for o in extract(obj, region=region).observables)


def supernets(value: str, prefixes: Iterable[int]) -> list[str]:
    """The networks of the given prefix lengths (as stored) that strictly contain
    ``value``, a normalised address or network; the containment lookup probes these."""
    slash = value.find("/")
    try:
        address = ipaddress.ip_address(value if slash < 0 else value[:slash])
    except ValueError:
        return []
    width = address.max_prefixlen
    own = width if slash < 0 else int(value[slash + 1 :])
    number = int(address)
    make = ipaddress.IPv4Address if width == 32 else ipaddress.IPv6Address
    found: list[str] = []
    for prefix in sorted(set(prefixes), reverse=True):
        if prefix >= own or prefix < 0:
            continue
        mask = ((1 << prefix) - 1) << (width - prefix)
        found.append(f"{make(number & mask)}/{prefix}")
    return found


def ip_bounds(value: str) -> tuple[str, str] | None:
    """Fixed-width hex (first, last) of an address or network; None for other values."""
    return _ip_bounds(value)
