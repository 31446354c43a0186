"""TAXII 2.1 query parameters: parsing and checking, with a 400 for every malformed value."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bayanihan.stix.timestamps import TimestampError, parse_timestamp
from bayanihan.store.objects import VersionSpec
from bayanihan.taxii.errors import TaxiiError

_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]--[0-9a-fA-F-]{36}$")
_SPEC_VERSION = re.compile(r"^\d\.\d$")
_TOKEN_PREFIX = b"d1:"

KNOWN = frozenset(
    {
        "added_after",
        "limit",
        "next",
        "match[id]",
        "match[type]",
        "match[version]",
        "match[spec_version]",
    }
)


@dataclass(frozen=True, slots=True)
class Filters:
    after: int | None
    limit: int
    ids: frozenset[str]
    types: frozenset[str]
    versions: VersionSpec
    spec_versions: frozenset[str]


def bad(parameter: str, value: str, why: str) -> TaxiiError:
    return TaxiiError(400, f"Bad value for {parameter}", f"{value!r}: {why}")


def encode_token(date_added: int) -> str:
    """An opaque, stateless paging token: it never expires and works on any process."""
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + str(date_added).encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise bad("next", token, "not a paging token issued by this server") from None
    if not raw.startswith(_TOKEN_PREFIX) or not raw[len(_TOKEN_PREFIX) :].isdigit():
        raise bad("next", token, "not a paging token issued by this server")
    return int(raw[len(_TOKEN_PREFIX) :])


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """Every comma-separated value given for ``name`` (repeated parameters are merged)."""
    found: list[str] = []
    for raw in params.get(name, ()):
        found.extend(part.strip() for part in raw.split(","))
    if any(not v for v in found):
        raise bad(name, ",".join(params.get(name, ())), "empty value")
    return found


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name, ())
    if not values:
        return None
    if len(values) > 1:
        raise bad(name, ",".join(values), "given more than once")
    return values[0]


def parse_timestamp_param(name: str, value: str) -> int:
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise bad(name, value, str(exc)) from None


def parse_filters(
    params: Mapping[str, Sequence[str]],
    *,
    default_limit: int,
    max_limit: int,
    allowed: frozenset[str] = KNOWN,
    default_version: str = "last",
) -> Filters:
    for name in params:
        if name.startswith("match[") and name not in allowed:
            raise TaxiiError(
                400,
                f"Unsupported filter {name}",
                "supported here: " + ", ".join(sorted(n for n in allowed if n.startswith("match"))),
            )
    after = None
    added_after = _single(params, "added_after")
    if added_after is not None:
        after = parse_timestamp_param("added_after", added_after)
    token = _single(params, "next")
    if token is not None:
        cursor = decode_token(token)
        after = cursor if after is None else max(after, cursor)
    limit = default_limit
    limit_text = _single(params, "limit")
    if limit_text is not None:
        if not limit_text.isdigit() or int(limit_text) < 1:
            raise bad("limit", limit_text, "must be a positive integer")
        limit = min(int(limit_text), max_limit)
    ids = _values(params, "match[id]")
    for value in ids:
        if not _ID.match(value):
            raise bad("match[id]", value, "not a STIX identifier (type--UUID)")
    types = _values(params, "match[type]")
    for value in types:
        if not _TYPE.match(value) or "--" in value:
            raise bad("match[type]", value, "not a STIX object type")
    spec_versions = _values(params, "match[spec_version]")
    for value in spec_versions:
        if not _SPEC_VERSION.match(value):
            raise bad("match[spec_version]", value, "not a STIX spec version such as 2.1")
    versions = parse_versions(_values(params, "match[version]") or [default_version])
    return Filters(
        after=after,
        limit=limit,
        ids=frozenset(v.lower() for v in ids),
        types=frozenset(types),
        versions=versions,
        spec_versions=frozenset(spec_versions),
    )


def parse_versions(values: Sequence[str]) -> VersionSpec:
    last = first = every = False
    exact: set[int] = set()
    for value in values:
        if value == "last":
            last = True
        elif value == "first":
            first = True
        elif value == "all":
            every = True
        else:
            exact.add(parse_timestamp_param("match[version]", value))
    return VersionSpec(last=last, first=first, all=every, exact=frozenset(exact))
