"""Normalise observable values so that one thing written two ways is indexed once.

Correlation matches objects of different organisations on equal observables. Each
organisation writes the same indicator its own way ("SCAM.Example.COM." and
"scam.example.com", "081-234-5678" with region TH and "+66812345678",
"2001:DB8:0:0::1" and "2001:db8::1"), so every value is brought to one canonical
form before it is stored or looked up.

Every function here takes untrusted input and never raises: a value that does not
normalise comes back as an :class:`Observable` with ``problem`` set and the raw
input (stripped) as its value, so it is still indexed and matched literally.

The functions run on every stored object, so they avoid per-call regex compilation,
build the public-suffix list once (lazily, on first use) and cache the expensive
IDNA conversions per label.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import idna
import phonenumbers
from publicsuffixlist import PublicSuffixList

__all__ = [
    "KINDS",
    "Observable",
    "asn",
    "bank_account",
    "base58check_decode",
    "base58check_encode",
    "bech32_decode",
    "bech32_encode",
    "cashaddr_encode",
    "crypto_wallet",
    "domain",
    "email",
    "file_hash",
    "file_name",
    "guess",
    "iban",
    "ip",
    "mac",
    "phone",
    "registered_domain",
    "segwit_encode",
    "social_handle",
    "url",
    "user_account",
    "x509_serial",
]

KINDS: frozenset[str] = frozenset(
    {
        "ipv4",
        "ipv6",
        "domain",
        "url",
        "email",
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "sha3-256",
        "sha3-512",
        "ssdeep",
        "tlsh",
        "hash",  # a hash whose algorithm could not be told (always flagged)
        "mac",
        "asn",
        "phone",
        "iban",
        "bank-account",
        "crypto-wallet",
        "social-handle",
        "file-name",
        "user-account",
        "x509-serial",
    }
)

_INTERNAL = "could not be normalised (unexpected input)"


@dataclass(frozen=True, slots=True)
class Observable:
    """One observable value in canonical form, or kept raw with the reason why."""

    kind: str
    value: str
    problem: str | None = None
    related: str | None = None

    @property
    def normalised(self) -> bool:
        """True when ``value`` is the canonical form (no problem was found)."""
        return self.problem is None


def _text(raw: object) -> str:
    """The stripped text of an untrusted value (callers may pass None or numbers)."""
    if isinstance(raw, str):
        return raw.strip()
    return "" if raw is None else str(raw).strip()


def _fail(kind: str, raw: object, problem: str) -> Observable:
    return Observable(kind, _text(raw), problem)


# --------------------------------------------------------------------------- IP


def ip(raw: str) -> Observable:
    """An IPv4/IPv6 address or CIDR network in compressed canonical form.

    IPv4-mapped IPv6 addresses become the IPv4 address they carry, host networks
    (/32, /128) become plain addresses and networks with host bits set become their
    network. Octets with leading zeros are flagged: "010.1.1.1" is 8.1.1.1 to
    inet_aton but 10.1.1.1 to most people. Zone ids ("fe80::1%eth0") are flagged:
    they only mean something on one host.
    """
    try:
        return _ip(raw)
    except Exception:  # untrusted input: never raise
        return _fail("ipv4", raw, _INTERNAL)


def _ip(raw: str) -> Observable:
    s = raw.strip()
    kind = "ipv6" if ":" in s else "ipv4"
    if not s:
        return Observable(kind, s, "empty")
    body = s
    if body[0] == "[":
        close = body.find("]")
        if close == -1:
            return Observable(kind, s, "unbalanced bracket")
        after = body[close + 1 :]
        if after and after[0] != "/":
            return Observable(kind, s, "text after the bracketed address")
        body = body[1:close] + after
    if "%" in body:
        return Observable(kind, s, "IPv6 zone ids (%...) only mean something on one host")
    try:
        if "/" in body:
            return _ip_network(body)
        if kind == "ipv4":
            return Observable("ipv4", str(ipaddress.IPv4Address(body)))
        return _ipv6_address(ipaddress.IPv6Address(body))
    except ValueError:
        return Observable(kind, s, _ip_problem(kind, body))


def _ipv6_address(address: ipaddress.IPv6Address) -> Observable:
    mapped = address.ipv4_mapped
    if mapped is not None:
        return Observable("ipv4", str(mapped))
    return Observable("ipv6", str(address))


def _ip_network(body: str) -> Observable:
    network = ipaddress.ip_network(body, strict=False)
    if network.num_addresses == 1:
        address = network.network_address
        if isinstance(address, ipaddress.IPv6Address):
            return _ipv6_address(address)
        return Observable("ipv4", str(address))
    return Observable(f"ipv{network.version}", str(network))


def _ip_problem(kind: str, body: str) -> str:
    dotted = body.partition("/")[0].rpartition(":")[2]  # an IPv4 address or IPv6 tail
    if "." in dotted and any(len(o) > 1 and o[0] == "0" for o in dotted.split(".")):
        return "leading zeros in an IPv4 octet are ambiguous (octal or decimal)"
    if "/" in body:
        return f"not a valid {'IPv6' if kind == 'ipv6' else 'IPv4'} network"
    return f"not a valid {'IPv6' if kind == 'ipv6' else 'IPv4'} address"


# ----------------------------------------------------------------------- domain

_ASCII_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_MAX_DOMAIN_INPUT = 2048  # generous: UTS-46 may drop ignorable characters


@functools.cache
def _psl() -> PublicSuffixList:
    """The public-suffix list shipped with publicsuffixlist, parsed once on first use."""
    return PublicSuffixList()


def registered_domain(name: str) -> str | None:
    """The registrable domain of an A-label name ("a.b.example.co.uk" -> "example.co.uk").

    Private suffixes count ("foo.github.io" is its own registered domain), because
    abuse on shared hosting must not correlate every customer of the host. None
    when the name is itself a public suffix.
    """
    return _psl().privatesuffix(name)


def domain(raw: str) -> Observable:
    """A domain name: lower-case A-labels (IDNA 2008 with UTS-46 mapping), no trailing dot.

    Underscore labels ("_dmarc", "_sip._tcp") are accepted although IDNA forbids
    them: they are legal DNS names and common in malware infrastructure. An IP
    address is flagged: it belongs in :func:`ip`.
    """
    try:
        return _domain(raw)
    except Exception:  # untrusted input: never raise
        return _fail("domain", raw, _INTERNAL)


def _domain(raw: str) -> Observable:
    s = raw.strip()
    name, problem = _host_name(s)
    if problem is not None:
        return Observable("domain", s, problem)
    return Observable("domain", name, None, registered_domain(name))


def _host_name(s: str) -> tuple[str, str | None]:
    """The A-label form of a host name, or a problem."""
    if not s:
        return s, "empty"
    if len(s) > _MAX_DOMAIN_INPUT:
        return s, "longer than 253 characters"
    if s.isascii():
        name = s.lower()
    else:
        try:
            name = idna.uts46_remap(s, std3_rules=False)
        except (idna.IDNAError, UnicodeError, ValueError):
            return s, "contains characters not allowed in a domain name"
    if name.endswith("."):
        name = name[:-1]
    if not name:
        return s, "empty"
    last = name.rpartition(".")[2]
    if ":" in name or last.isdigit() or name[0] == "[":
        if ip(name).normalised:
            return s, "an IP address, not a domain"
        if last.isdigit():
            return s, "the last label is numeric: not a host name"
    if name.isascii():
        if not _ASCII_NAME.fullmatch(name):
            if ".." in name or name[0] == "." or name[-1] == ".":
                return s, "empty label"
            return s, "contains characters not allowed in a domain name"
        for label in name.split("."):
            problem = _ascii_label_problem(label)
            if problem is not None:
                return s, problem
    else:
        converted = []
        for label in name.split("."):
            alabel, problem = _label(label)
            if problem is not None:
                return s, problem
            converted.append(alabel)
        name = ".".join(converted)
    if len(name) > 253:
        return s, "longer than 253 characters"
    return name, None


def _ascii_label_problem(label: str) -> str | None:
    if len(label) > 63:
        return "a label is longer than 63 characters"
    if label[0] == "-" or label[-1] == "-":
        return "a label starts or ends with a hyphen"
    if label.startswith("xn--"):
        return _alabel_problem(label)
    return None


@functools.lru_cache(maxsize=8192)
def _alabel_problem(label: str) -> str | None:
    """None when an "xn--" label is the canonical A-label of a valid U-label."""
    try:
        idna.ulabel(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        return f"invalid A-label {label!r}"
    return None


@functools.lru_cache(maxsize=8192)
def _label(label: str) -> tuple[str, str | None]:
    """One UTS-46-mapped label as an A-label, or a problem."""
    if not label:
        return label, "empty label"
    if label.isascii():
        if not _ASCII_NAME.fullmatch(label):
            return label, "contains characters not allowed in a domain name"
        return label, _ascii_label_problem(label)
    try:
        return idna.alabel(label).decode("ascii"), None
    except (idna.IDNAError, UnicodeError, ValueError):
        return label, f"not a valid internationalised label {label!r}"


# -------------------------------------------------------------------------- URL

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SCHEME_SLASHES = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_OPAQUE_SCHEMES = frozenset(
    {"mailto", "tel", "sms", "data", "javascript", "urn", "about", "blob", "magnet", "news"}
)
_EMPTY_HOST_SCHEMES = frozenset({"file"})
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})?")
# Everything that is neither unreserved, reserved (RFC 3986 §2.2) nor "%".
_MUST_ENCODE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]%]+")


def url(raw: str) -> Observable:
    """A URL in RFC 3986 §6 normal form, for matching (not for fetching).

    Scheme and host lower-case, the host in A-labels (or a canonical IP, IPv6 in
    brackets), default ports dropped, an empty path as "/", dot segments removed,
    percent-encoding normalised (unreserved characters decoded, other escapes in
    upper-case hex, characters that must be escaped escaped), the fragment dropped
    (it never reaches the server). Userinfo and query are kept. Without a scheme
    ("example.com/path") "http://" is assumed.
    """
    try:
        return _url(raw)
    except Exception:  # untrusted input: never raise
        return _fail("url", raw, _INTERNAL)


def _url(raw: str) -> Observable:
    s = raw.strip()
    if not s:
        return Observable("url", s, "empty")
    match = _SCHEME.match(s)
    if match and s.startswith("//", match.end()):
        scheme, rest = match.group(1).lower(), s[match.end() :]
    elif match and match.group(1).lower() in _OPAQUE_SCHEMES:
        return _opaque_url(match.group(1).lower(), s[match.end() :])
    elif s.startswith("//"):
        scheme, rest = "http", s
    else:
        scheme, rest = "http", "//" + s
    try:
        parts = urlsplit(scheme + ":" + rest)
    except ValueError:
        return Observable("url", s, "not a parsable URL")
    authority, related, problem = _authority(scheme, parts.netloc)
    if problem is not None:
        return Observable("url", s, problem)
    path = _remove_dot_segments(_percent(parts.path)) or "/"
    query = "?" + _percent(parts.query) if parts.query else ""
    return Observable("url", f"{scheme}://{authority}{path}{query}", None, related)


def _opaque_url(scheme: str, rest: str) -> Observable:
    body = _percent(rest.partition("#")[0])
    if not body:
        return Observable("url", f"{scheme}:{rest}", "empty URL body")
    return Observable("url", f"{scheme}:{body}")


def _authority(scheme: str, netloc: str) -> tuple[str, str | None, str | None]:
    """Canonical "userinfo@host:port", the host's registered domain, or a problem."""
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1:
            return "", None, "unbalanced bracket in the host"
        host_text, after = hostport[1:close], hostport[close + 1 :]
        if after and after[0] != ":":
            return "", None, "text after the bracketed host"
        port = after[1:]
        host, related, problem = _bracketed_host(host_text)
    else:
        host_text, colon, port = hostport.rpartition(":")
        if not colon:
            host_text, port = hostport, ""
        if ":" in host_text:
            return "", None, "an IPv6 host must be in brackets"
        host, related, problem = _plain_host(scheme, host_text)
    if problem is not None:
        return "", None, problem
    if port:
        if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
            return "", None, "the port is not a number from 0 to 65535"
        port = "" if int(port) == _DEFAULT_PORTS.get(scheme) else f":{int(port)}"
    prefix = _percent(userinfo) + "@" if at else ""
    return f"{prefix}{host}{port}", related, None


def _bracketed_host(text: str) -> tuple[str, str | None, str | None]:
    address = ip(text)
    if address.problem is not None or "/" in address.value or ":" not in text:
        return "", None, f"host: {address.problem or 'not an IPv6 address'}"
    if address.kind == "ipv6":
        return f"[{address.value}]", None, None
    return address.value, None, None


def _plain_host(scheme: str, text: str) -> tuple[str, str | None, str | None]:
    if "%" in text:
        text = unquote(text)
    if not text:
        if scheme in _EMPTY_HOST_SCHEMES:
            return "", None, None
        return "", None, "no host"
    if text.rpartition(".")[2].isdigit():
        address = ip(text)
        if address.problem is not None or "/" in address.value:
            return "", None, f"host: {address.problem or 'a network, not a host'}"
        return address.value, None, None
    name, problem = _host_name(text)
    if problem is not None:
        return "", None, f"host: {problem}"
    return name, registered_domain(name), None


def _percent(text: str) -> str:
    """RFC 3986 §6.2.2.2: decode unreserved escapes, upper-case the rest, escape the illegal."""
    if "%" in text:
        text = _PERCENT.sub(_fix_escape, text)
    if _MUST_ENCODE.search(text):
        text = _MUST_ENCODE.sub(_escape, text)
    return text


def _fix_escape(match: re.Match[str]) -> str:
    hex_digits = match.group(1)
    if hex_digits is None:
        return "%25"
    char = chr(int(hex_digits, 16))
    return char if char in _UNRESERVED else "%" + hex_digits.upper()


def _escape(match: re.Match[str]) -> str:
    data = match.group().encode("utf-8", "surrogatepass")
    return "".join(f"%{byte:02X}" for byte in data)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path (or an empty one)."""
    if "." not in path:
        return path
    segments = path.split("/")
    output: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(output) > 1:
                output.pop()
            continue
        output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")
    result = "/".join(output)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


# ------------------------------------------------------------------------ email

_LOCAL_FORBIDDEN = re.compile(r'[\s()<>\[\]:;@\\,"\x00-\x1f\x7f]')


def email(raw: str) -> Observable:
    """An e-mail address, lower-cased whole, with the domain in A-labels.

    RFC 5321 lets the local part be case-sensitive, but practically every provider
    treats it case-insensitively, and a correlation that misses "John.Doe@" against
    "john.doe@" costs more than the rare false match. Quoted local parts (which may
    contain "@") are flagged rather than parsed.
    """
    try:
        return _email(raw)
    except Exception:  # untrusted input: never raise
        return _fail("email", raw, _INTERNAL)


def _email(raw: str) -> Observable:
    s = raw.strip()
    address = s
    if address[:1] == "<" and address[-1:] == ">":
        address = address[1:-1].strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    if address.count("@") != 1:
        return Observable("email", s, "an e-mail address needs exactly one '@'")
    local, _, domain_part = address.partition("@")
    if not local or not domain_part:
        return Observable("email", s, "empty local part or domain")
    if len(local) > 64:
        return Observable("email", s, "local part longer than 64 characters")
    if _LOCAL_FORBIDDEN.search(local):
        return Observable("email", s, "local part contains characters not allowed unquoted")
    name, problem = _host_name(domain_part)
    if problem is not None:
        return Observable("email", s, f"domain: {problem}")
    return Observable("email", f"{local.lower()}@{name}", None, registered_domain(name))


# ----------------------------------------------------------------------- hashes

_HEX_DIGITS = "0123456789abcdef"
_HASH_KIND_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_HASH_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128, "sha3-256": 64, "sha3-512": 128}
_DECLARED_HASH = {
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA2256": "sha256",
    "SHA512": "sha512",
    "SHA2512": "sha512",
    "SHA3256": "sha3-256",
    "SHA3512": "sha3-512",
    "SSDEEP": "ssdeep",
    "TLSH": "tlsh",
}
_KEPT_AS_GIVEN = frozenset({"ssdeep", "tlsh"})


def file_hash(raw: str, declared: str | None = None) -> Observable:
    """A file hash as lower-case hex, its kind told by length or by ``declared``.

    ``declared`` is a STIX hash name ("SHA-256", "sha256", "SHA3-256", ...). A
    declared algorithm whose length disagrees with the value is flagged: one of
    the two is wrong and guessing would correlate the wrong thing. Fuzzy hashes
    (SSDEEP, TLSH) are kept as given.
    """
    try:
        return _file_hash(raw, declared)
    except Exception:  # untrusted input: never raise
        return _fail("hash", raw, _INTERNAL)


def _file_hash(raw: str, declared: str | None) -> Observable:
    s = raw.strip()
    kind: str | None = None
    if declared is not None and declared.strip():
        key = declared.strip().upper().replace("-", "").replace("_", "").replace(" ", "")
        kind = _DECLARED_HASH.get(key)
        if kind is None:
            return Observable("hash", s, f"unsupported hash algorithm {declared.strip()!r}")
        if kind in _KEPT_AS_GIVEN:
            return Observable(kind, s, None if s else "empty")
    value = s.lower()
    if not value or value.strip(_HEX_DIGITS):
        return Observable(kind or _HASH_KIND_BY_LENGTH.get(len(s), "hash"), s, "not hexadecimal")
    if kind is None:
        found = _HASH_KIND_BY_LENGTH.get(len(value))
        if found is None:
            return Observable("hash", s, f"{len(value)} hex digits is no known hash length")
        return Observable(found, value)
    if len(value) != _HASH_LENGTH[kind]:
        return Observable(
            kind, s, f"declared {declared!r} but {len(value)} hex digits, not {_HASH_LENGTH[kind]}"
        )
    return Observable(kind, value)


# -------------------------------------------------------------------------- MAC

_MAC_PAIRS = re.compile(
    r"([0-9a-f]{2})([:-]?)([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})"
)
_MAC_DOTTED = re.compile(r"([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})")


def mac(raw: str) -> Observable:
    """A MAC address as "aa:bb:cc:dd:ee:ff" from colon, hyphen, Cisco-dotted or bare hex."""
    try:
        return _mac(raw)
    except Exception:  # untrusted input: never raise
        return _fail("mac", raw, _INTERNAL)


def _mac(raw: str) -> Observable:
    s = raw.strip()
    value = s.lower()
    match = _MAC_PAIRS.fullmatch(value)
    if match:
        pairs = match.group(1, 3, 4, 5, 6, 7)
        return Observable("mac", ":".join(pairs))
    match = _MAC_DOTTED.fullmatch(value)
    if match:
        digits = "".join(match.groups())
        return Observable("mac", ":".join(digits[i : i + 2] for i in range(0, 12, 2)))
    return Observable("mac", s, "not a MAC address (six hex pairs)")


# -------------------------------------------------------------------------- ASN


def asn(raw: str | int) -> Observable:
    """An autonomous system number as "AS13335" (also from asdot "AS1.10" = AS65546)."""
    try:
        return _asn(raw)
    except Exception:  # untrusted input: never raise
        return _fail("asn", raw, _INTERNAL)


def _asn(raw: str | int) -> Observable:
    if isinstance(raw, bool):
        return _fail("asn", raw, "not an AS number")
    if isinstance(raw, int):
        if 0 <= raw <= 0xFFFFFFFF:
            return Observable("asn", f"AS{raw}")
        return _fail("asn", raw, "outside the 32-bit AS number range")
    s = raw.strip()
    if not s.isascii():
        return Observable("asn", s, "not an AS number")
    text = s.upper()
    if text.startswith("AS"):
        text = text[2:].lstrip()
    high, dot, low = text.partition(".")
    if dot:
        if not (_is_digits(high, 5) and _is_digits(low, 5)) or int(high) > 0xFFFF:
            return Observable("asn", s, "not an AS number")
        if int(low) > 0xFFFF:
            return Observable("asn", s, "outside the 32-bit AS number range")
        return Observable("asn", f"AS{int(high) * 65536 + int(low)}")
    if not _is_digits(text, 20):
        return Observable("asn", s, "not an AS number")
    number = int(text)
    if number > 0xFFFFFFFF:
        return Observable("asn", s, "outside the 32-bit AS number range")
    return Observable("asn", f"AS{number}")


def _is_digits(text: str, most: int) -> bool:
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


# ------------------------------------------------------------------------ phone


def phone(raw: str, region: str | None) -> Observable:
    """A phone number in E.164 ("+6591234567").

    ``region`` is the ISO country code of the reporting organisation, which tells
    how a national number ("9123 4567", "081-234-5678") is meant. Without it only
    international numbers parse: "+65 ...", and "00 65 ..." (the ITU prefix most
    countries use, tried as "+" when the region's own prefixes give no valid number).
    """
    try:
        return _phone(raw, region)
    except Exception:  # untrusted input: never raise
        return _fail("phone", raw, _INTERNAL)


def _phone(raw: str, region: str | None) -> Observable:
    s = raw.strip()
    default = region.strip().upper() if region and region.strip() else None
    number = _parse_phone(s, default)
    if number is None and s.startswith("00"):
        number = _parse_phone("+" + s[2:], default)
    if number is None:
        kept = "".join(c for c in s if c in "+0123456789") or s
        why = "not a valid phone number" + (f" for region {default}" if default else "")
        if default is None and not s.startswith(("+", "00")):
            why += " (a national number needs the region)"
        return Observable("phone", kept, why)
    return Observable(
        "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def _parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number):
        return number
    return None


# ------------------------------------------------------------------ IBAN / bank

# IBAN length per country (SWIFT IBAN registry); other countries get only the
# 15..34 bound and the check digits, so a newly added country is not rejected.
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip
_IBAN_DIGITS = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})
_SEPARATORS = str.maketrans("", "", " \t\n\r\u00a0-.")
_ALNUM_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def iban(raw: str) -> Observable:
    """An IBAN in compact upper-case form, with its length and mod-97 check digits verified."""
    try:
        value, problem = _iban(raw)
        return Observable("iban", value if problem is None else raw.strip(), problem)
    except Exception:  # untrusted input: never raise
        return _fail("iban", raw, _INTERNAL)


def _iban(raw: str) -> tuple[str, str | None]:
    compact = raw.strip().translate(_SEPARATORS)
    if not compact.isascii():  # before upper(): "ſ".upper() is "S"
        return compact, "an IBAN has only letters and digits"
    compact = compact.upper()
    if compact.startswith("IBAN") and len(compact) > 19:
        compact = compact[4:]
    if not 15 <= len(compact) <= 34:
        return compact, "an IBAN has 15 to 34 characters"
    country, check = compact[:2], compact[2:4]
    if not (country.isascii() and country.isalpha() and check.isascii() and check.isdigit()):
        return compact, "an IBAN starts with a country code and two check digits"
    if not set(compact) <= _ALNUM_UPPER:
        return compact, "an IBAN has only letters and digits"
    expected = _IBAN_LENGTH.get(country)
    if expected is not None and len(compact) != expected:
        return compact, f"an IBAN from {country} has {expected} characters, not {len(compact)}"
    if check in ("00", "01", "99"):
        return compact, "IBAN check digits 00, 01 and 99 are never issued"
    if int((compact[4:] + compact[:4]).translate(_IBAN_DIGITS)) % 97 != 1:
        return compact, "IBAN check digits do not match"
    return compact, None


def bank_account(raw: str, *, country: str | None, bank: str | None = None) -> Observable:
    """A bank account: an IBAN when ``raw`` is one, else the national account number.

    Of the ASEAN+3 countries none uses IBAN, so the national form is the norm: the
    account digits (spaces, dashes, dots and slashes removed), qualified as
    "CC:BANK:DIGITS" when the country and the bank (a SWIFT/BIC or national bank
    code) are known, "CC:DIGITS" with only the country, else "DIGITS". The same
    digits at two banks are two accounts, so give the bank whenever it is known.
    """
    try:
        return _bank_account(raw, country, bank)
    except Exception:  # untrusted input: never raise
        return _fail("bank-account", raw, _INTERNAL)


def _bank_account(raw: str, country: str | None, bank: str | None) -> Observable:
    s = raw.strip()
    value, iban_problem = _iban(s)
    if iban_problem is None:
        return Observable("iban", value)
    digits = s.translate(_SEPARATORS).replace("/", "")
    if not (digits.isascii() and digits.isdigit()):
        if digits[:2].isascii() and digits[:2].isalpha():
            return Observable("bank-account", s, iban_problem)
        return Observable("bank-account", s, "a national account number has only digits")
    if not 6 <= len(digits) <= 20:
        return Observable("bank-account", s, "a national account number has 6 to 20 digits")
    cc = country.strip().upper() if country else ""
    if cc and not (len(cc) == 2 and cc.isascii() and cc.isalpha()):
        return Observable("bank-account", s, "country must be an ISO 3166 alpha-2 code")
    code = "".join(bank.split()).upper() if bank else ""
    if ":" in code:
        return Observable("bank-account", s, "bank code contains ':'")
    if cc and code:
        return Observable("bank-account", f"{cc}:{code}:{digits}")
    if cc:
        return Observable("bank-account", f"{cc}:{digits}")
    return Observable("bank-account", digits)


# --------------------------------------------------------------- crypto wallets

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
_BECH32_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32_ALPHABET)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CASHADDR_GENERATOR = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
_CASHADDR_PREFIX = "bitcoincash"

_CURRENCY_ALIASES = {
    "btc": "btc", "bitcoin": "btc", "xbt": "btc",
    "eth": "eth", "ethereum": "eth", "evm": "eth", "erc20": "eth", "usdt-erc20": "eth",
    "usdc-erc20": "eth", "bsc": "eth", "bnb": "eth", "bep20": "eth", "usdt-bep20": "eth",
    "polygon": "eth", "matic": "eth", "arbitrum": "eth", "optimism": "eth", "base": "eth",
    "avax": "eth", "avalanche": "eth",
    "trx": "trx", "tron": "trx", "trc20": "trx", "usdt-trc20": "trx",
    "ltc": "ltc", "litecoin": "ltc",
    "doge": "doge", "dogecoin": "doge",
    "bch": "bch", "bitcoincash": "bch", "bitcoin-cash": "bch", "bitcoin cash": "bch",
    "xmr": "xmr", "monero": "xmr",
}  # fmt: skip
# Tokens that exist on several chains: the address format tells which.
_ANY_CHAIN = frozenset({"usdt", "usdc", "tether"})
# Base58check version bytes of mainnet addresses per currency.
_B58_VERSIONS = {
    "btc": frozenset({0x00, 0x05}),
    "ltc": frozenset({0x30, 0x32, 0x05}),
    "doge": frozenset({0x1E, 0x16}),
    "trx": frozenset({0x41}),
    "bch": frozenset({0x00, 0x05}),
}
_CURRENCY_BY_VERSION = {0x00: "btc", 0x05: "btc", 0x30: "ltc", 0x32: "ltc", 0x1E: "doge"}
_CURRENCY_BY_VERSION |= {0x16: "doge", 0x41: "trx"}
_SEGWIT_HRP = {"btc": "bc", "ltc": "ltc"}


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def base58check_encode(payload: bytes) -> str:
    """Base58 with a 4-byte double-SHA-256 checksum (Bitcoin-style addresses)."""
    data = payload + _sha256d(payload)[:4]
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_B58_ALPHABET[rest])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(digits))


def base58check_decode(text: str) -> bytes | None:
    """The payload (version byte first) of a base58check string, None if the checksum fails."""
    if not text or len(text) > 128:
        return None
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    data = b"\x00" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(data) < 5:
        return None
    payload, checksum = data[:-4], data[-4:]
    if _sha256d(payload)[:4] != checksum:
        return None
    return payload


def _polymod(values: Iterable[int], generator: Sequence[int], shift: int, mask: int) -> int:
    check = 1
    for value in values:
        top = check >> shift
        check = ((check & mask) << 5) ^ value
        for i, g in enumerate(generator):
            if (top >> i) & 1:
                check ^= g
    return check


def _bech32_polymod(values: Iterable[int]) -> int:
    return _polymod(values, _BECH32_GENERATOR, 25, 0x1FFFFFF)


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Iterable[int], source: int, target: int, pad: bool) -> list[int] | None:
    """Regroup a bit string from ``source``-bit to ``target``-bit words (BIP-173)."""
    acc = bits = 0
    out: list[int] = []
    top = (1 << target) - 1
    for value in data:
        if value < 0 or value >> source:
            return None
        acc = (acc << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((acc >> bits) & top)
    if pad:
        if bits:
            out.append((acc << (target - bits)) & top)
    elif bits >= source or (acc << (target - bits)) & top:
        return None
    return out


def bech32_encode(hrp: str, data: Sequence[int], *, m: bool = False) -> str:
    """A bech32 (BIP-173) or, with ``m``, bech32m (BIP-350) string of 5-bit ``data``."""
    const = _BECH32M_CONST if m else _BECH32_CONST
    polymod = _bech32_polymod(_hrp_expand(hrp) + list(data) + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_ALPHABET[d] for d in list(data) + checksum)


def bech32_decode(text: str) -> tuple[str, list[int], bool] | None:
    """(hrp, 5-bit data, is_bech32m) of a valid bech32/bech32m string, else None.

    Mixed case is invalid (BIP-173); the result is for the lower-case form.
    """
    if len(text) > 90 or any(not 33 <= ord(c) <= 126 for c in text):
        return None
    if text != text.lower() and text != text.upper():
        return None
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        return None
    hrp = text[:separator]
    data = [_BECH32_INDEX.get(c, -1) for c in text[separator + 1 :]]
    if -1 in data:
        return None
    const = _bech32_polymod(_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        return None
    return hrp, data[:-6], const == _BECH32M_CONST


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    """A segwit address: bech32 for version 0, bech32m for versions 1..16 (BIP-350)."""
    words = _convert_bits(program, 8, 5, True) or []
    return bech32_encode(hrp, [version, *words], m=version != 0)


def _segwit_problem(text: str, hrp: str) -> str | None:
    decoded = bech32_decode(text)
    if decoded is None:
        return "bech32 checksum does not match (or mixed case)"
    found, data, is_m = decoded
    if found != hrp or not data:
        return f"not a {hrp}1... address"
    version, program = data[0], _convert_bits(data[1:], 5, 8, False)
    if version > 16 or program is None or not 2 <= len(program) <= 40:
        return "not a valid segwit program"
    if version == 0 and len(program) not in (20, 32):
        return "a version 0 segwit program has 20 or 32 bytes"
    if is_m != (version != 0):
        return "segwit version 0 uses bech32, later versions bech32m"
    return None


def _cashaddr_polymod(values: Iterable[int]) -> int:
    return _polymod(values, _CASHADDR_GENERATOR, 35, 0x07FFFFFFFF) ^ 1


def _cashaddr_prefix(prefix: str) -> list[int]:
    return [ord(c) & 31 for c in prefix] + [0]


def cashaddr_encode(kind: int, hash160: bytes, prefix: str = _CASHADDR_PREFIX) -> str:
    """A Bitcoin Cash cashaddr without prefix ("q..."): ``kind`` 0 is P2PKH, 1 is P2SH."""
    words = _convert_bits(bytes([kind << 3]) + hash160, 8, 5, True) or []
    polymod = _cashaddr_polymod(_cashaddr_prefix(prefix) + words + [0] * 8)
    checksum = [(polymod >> 5 * (7 - i)) & 31 for i in range(8)]
    return "".join(_BECH32_ALPHABET[d] for d in words + checksum)


def _cashaddr(text: str) -> tuple[str | None, str | None]:
    if text != text.lower() and text != text.upper():
        return None, "mixed case"
    text = text.lower()
    prefix, colon, body = text.rpartition(":")
    if not colon:
        prefix = _CASHADDR_PREFIX
    if prefix != _CASHADDR_PREFIX:
        return None, "not a bitcoincash: address"
    data = [_BECH32_INDEX.get(c, -1) for c in body]
    if len(data) != 42 or -1 in data:
        return None, "not a cashaddr"
    if _cashaddr_polymod(_cashaddr_prefix(prefix) + data) != 0:
        return None, "cashaddr checksum does not match"
    payload = _convert_bits(data[:-8], 5, 8, False)
    if payload is None or len(payload) != 21 or payload[0] not in (0x00, 0x08):
        return None, "not a P2PKH or P2SH cashaddr"
    return body, None


def crypto_wallet(raw: str, currency: str | None = None) -> Observable:
    """A cryptocurrency address as "currency:ADDRESS", checksum verified where it has one.

    Supported: btc (base58check 1.../3..., bech32/bech32m bc1...), eth and EVM chains
    (0x + 40 hex, lower-cased; the EIP-55 mixed-case checksum needs Keccak and is
    not verified), trx (base58check T...), ltc (L.../M.../3..., ltc1...), doge
    (D.../9.../A...), bch (cashaddr, stored without the "bitcoincash:" prefix;
    legacy addresses given with currency "bch" are converted to cashaddr) and xmr
    (95/106 characters, format only: Monero's checksum needs Keccak). Base58
    addresses keep their case, bech32 and cashaddr are lower-cased. With
    ``currency`` None it is told from the format (a legacy bch address then reads
    as btc).
    """
    try:
        return _crypto_wallet(raw, currency)
    except Exception:  # untrusted input: never raise
        return _fail("crypto-wallet", raw, _INTERNAL)


def _crypto_wallet(raw: str, currency: str | None) -> Observable:
    s = raw.strip()
    if not s:
        return Observable("crypto-wallet", s, "empty")
    name = currency.strip().lower() if currency else ""
    if name and name not in _ANY_CHAIN:
        chain = _CURRENCY_ALIASES.get(name)
        if chain is None:
            return Observable("crypto-wallet", s, f"unsupported currency {currency!r}")
        address, problem = _WALLET_PARSERS[chain](s)
    else:
        chain, address, problem = _detect_wallet(s)
    if address is None:
        return Observable("crypto-wallet", s, problem or "not a wallet address")
    return Observable("crypto-wallet", f"{chain}:{address}")


def _base58_address(text: str, chain: str) -> tuple[str | None, str | None]:
    payload = base58check_decode(text)
    if payload is None:
        return None, "base58check checksum does not match (or not base58)"
    if len(payload) != 21 or payload[0] not in _B58_VERSIONS[chain]:
        return None, f"not a {chain} address"
    return text, None


def _btc(text: str) -> tuple[str | None, str | None]:
    return _bitcoin_like(text, "btc")


def _ltc(text: str) -> tuple[str | None, str | None]:
    return _bitcoin_like(text, "ltc")


def _bitcoin_like(text: str, chain: str) -> tuple[str | None, str | None]:
    hrp = _SEGWIT_HRP[chain]
    if text.lower().startswith(hrp + "1"):
        problem = _segwit_problem(text, hrp)
        return (text.lower(), None) if problem is None else (None, problem)
    return _base58_address(text, chain)


def _doge(text: str) -> tuple[str | None, str | None]:
    return _base58_address(text, "doge")


def _trx(text: str) -> tuple[str | None, str | None]:
    if len(text) != 34 or text[0] != "T":
        return None, "a trx address has 34 characters starting with T"
    return _base58_address(text, "trx")


def _eth(text: str) -> tuple[str | None, str | None]:
    hex_part = text[2:] if text[:2] in ("0x", "0X") else text
    lowered = hex_part.lower()
    if len(lowered) != 40 or lowered.strip(_HEX_DIGITS):
        return None, "an EVM address is 0x and 40 hex digits"
    return "0x" + lowered, None


def _bch(text: str) -> tuple[str | None, str | None]:
    if ":" in text or text[:1].lower() in ("q", "p"):
        return _cashaddr(text)
    payload = base58check_decode(text)
    if payload is None or len(payload) != 21 or payload[0] not in (0x00, 0x05):
        return None, "not a bch cashaddr or legacy address"
    return cashaddr_encode(0 if payload[0] == 0x00 else 1, payload[1:]), None


def _xmr(text: str) -> tuple[str | None, str | None]:
    if (len(text) == 95 and text[0] in "48") or (len(text) == 106 and text[0] == "4"):
        if all(c in _B58_INDEX for c in text):
            return text, None
    return None, "an xmr address has 95 characters starting with 4 or 8 (106 if integrated)"


_WALLET_PARSERS = {
    "btc": _btc,
    "eth": _eth,
    "trx": _trx,
    "ltc": _ltc,
    "doge": _doge,
    "bch": _bch,
    "xmr": _xmr,
}


def _detect_wallet(text: str) -> tuple[str, str | None, str | None]:
    """(currency, address, problem) for an address of unknown currency."""
    lowered = text.lower()
    if lowered.startswith("0x"):
        return ("eth", *_eth(text))
    if lowered.startswith("bc1"):
        return ("btc", *_btc(text))
    if lowered.startswith("ltc1"):
        return ("ltc", *_ltc(text))
    if lowered.startswith(_CASHADDR_PREFIX + ":") or (len(text) == 42 and lowered[0] in "qp"):
        return ("bch", *_cashaddr(text))
    if len(text) in (95, 106) and text[0] in "48":
        return ("xmr", *_xmr(text))
    payload = base58check_decode(text)
    if payload is None:
        return "btc", None, "not a recognised wallet address (or its checksum does not match)"
    chain = _CURRENCY_BY_VERSION.get(payload[0]) if len(payload) == 21 else None
    if chain is None:
        return "btc", None, "base58check version byte of no supported currency"
    return chain, text, None


# ------------------------------------------------------------- social handles

_PLATFORM_ALIASES = {
    "telegram": "telegram", "tg": "telegram", "t.me": "telegram",
    "facebook": "facebook", "fb": "facebook", "messenger": "facebook",
    "twitter": "twitter", "x": "twitter",
    "instagram": "instagram", "ig": "instagram",
    "tiktok": "tiktok", "douyin": "douyin",
    "line": "line",
    "zalo": "zalo",
    "wechat": "wechat", "weixin": "wechat",
    "kakaotalk": "kakaotalk", "kakao": "kakaotalk",
    "whatsapp": "whatsapp", "wa": "whatsapp",
    "viber": "viber",
    "signal": "signal",
}  # fmt: skip
_CASE_INSENSITIVE = frozenset({"telegram", "twitter", "instagram", "tiktok", "facebook"})
_PROFILE_HOSTS = {
    "t.me": "telegram", "telegram.me": "telegram", "telegram.dog": "telegram",
    "facebook.com": "facebook", "fb.com": "facebook", "fb.me": "facebook",
    "twitter.com": "twitter", "x.com": "twitter",
    "instagram.com": "instagram", "instagr.am": "instagram",
    "tiktok.com": "tiktok",
    "line.me": "line",
    "zalo.me": "zalo",
    "wa.me": "whatsapp",
}  # fmt: skip
_HOST_PREFIXES = ("www.", "m.", "mobile.", "web.", "mbasic.")
_MAX_HANDLE = 512  # profile URLs included; real handles are far shorter
_URL_LIKE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^/\s@]+\.[A-Za-z]{2,}/")


def social_handle(platform: str, handle: str) -> Observable:
    """A social-media account as "platform:handle".

    The platform is mapped from common aliases ("tg", "fb", "x"); the handle loses
    a leading "@" and is taken out of a profile URL ("https://t.me/Foo"), and is
    lower-cased where the platform treats handles case-insensitively. Unknown
    platforms keep the handle as given. A flagged value is "platform:handle" as
    given (stripped).
    """
    try:
        return _social_handle(platform, handle)
    except Exception:  # untrusted input: never raise
        return _fail("social-handle", f"{_text(platform)}:{_text(handle)}", _INTERNAL)


def _social_handle(platform: str, handle: str) -> Observable:
    name = platform.strip().lower()
    text = handle.strip()
    raw_value = f"{name}:{text}"
    if not name:
        return Observable("social-handle", raw_value, "empty platform")
    if len(text) > _MAX_HANDLE:
        return Observable("social-handle", raw_value, f"longer than {_MAX_HANDLE} characters")
    canonical = _PLATFORM_ALIASES.get(name)
    if canonical is None:
        if not text:
            return Observable("social-handle", raw_value, "empty handle")
        return Observable("social-handle", raw_value)
    if _URL_LIKE.match(text):
        from_url, text, problem = _profile_url(text)
        if problem is not None:
            return Observable("social-handle", raw_value, problem)
        if from_url != canonical:
            return Observable("social-handle", raw_value, f"a {from_url} URL, not {canonical}")
    if text.startswith("@"):
        text = text[1:]
    if not text:
        return Observable("social-handle", raw_value, "empty handle")
    if any(c.isspace() for c in text):
        return Observable("social-handle", raw_value, "a handle has no spaces")
    if canonical in _CASE_INSENSITIVE and not (canonical == "telegram" and text[0] == "+"):
        text = text.lower()  # Telegram invite links ("+AbC...") are case-sensitive
    return Observable("social-handle", f"{canonical}:{text}")


def _profile_url(text: str) -> tuple[str, str, str | None]:
    """(platform, handle, problem) of a profile URL."""
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return "", "", "not a parsable profile URL"
    host = parts.hostname or ""
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix):
            host = host[len(prefix) :]
            break
    platform = _PROFILE_HOSTS.get(host)
    if platform is None:
        return "", "", f"not a profile URL of a known platform ({host})"
    segments = [unquote(p) for p in parts.path.split("/") if p]
    if platform == "facebook" and segments[:1] == ["profile.php"]:
        ids = [v for k, _, v in (q.partition("=") for q in parts.query.split("&")) if k == "id"]
        return platform, ids[0] if ids else "", None
    if platform == "telegram" and segments[:1] in (["s"], ["joinchat"]) and len(segments) > 1:
        prefix = "+" if segments[0] == "joinchat" else ""
        return platform, prefix + segments[1], None
    if platform == "line":
        return platform, segments[-1].lstrip("~") if segments else "", None
    return platform, segments[0] if segments else "", None


# ---------------------------------------------------------- names and accounts


def file_name(raw: str) -> Observable:
    """A file name as given (stripped), never case-folded: case matters on most systems."""
    try:
        s = raw.strip()
        return Observable("file-name", s, None if s else "empty")
    except Exception:  # untrusted input: never raise
        return _fail("file-name", raw, _INTERNAL)


def user_account(login: str, account_type: str | None = None) -> Observable:
    """A user account as "type:login" (STIX account_type lower-cased) or just "login".

    The login keeps its case: Unix logins are case-sensitive.
    """
    try:
        s = login.strip()
        kind = account_type.strip().lower() if account_type else ""
        value = f"{kind}:{s}" if kind else s
        return Observable("user-account", value, None if s else "empty login")
    except Exception:  # untrusted input: never raise
        return _fail("user-account", login, _INTERNAL)


def x509_serial(raw: str) -> Observable:
    """A certificate serial number as lower-case hex without separators or leading zeros."""
    try:
        s = raw.strip()
        value = s.lower().replace(":", "").replace(" ", "")
        if value.startswith("0x"):
            value = value[2:]
        if not value or value.strip(_HEX_DIGITS):
            return Observable("x509-serial", s, "not hexadecimal")
        return Observable("x509-serial", value.lstrip("0") or "0")
    except Exception:  # untrusted input: never raise
        return _fail("x509-serial", raw, _INTERNAL)


# ------------------------------------------------------------------------ guess

_IP_CHARS = frozenset("0123456789abcdefABCDEF:./[]")
_PHONE_CHARS = frozenset("0123456789 +-().")


def guess(raw: str, *, region: str | None = None) -> list[Observable]:
    """Every normalised observable a search-box value could be, best first.

    Tried in order: IP or CIDR, e-mail, URL (with a scheme), hash (32/40/64/128 hex
    digits; 64 and 128 also as SHA-3), MAC, IBAN, crypto wallet, phone (starting
    with "+", or valid for ``region``), "platform:handle" for known platforms, an
    "AS..." number, and a domain (with a dot). Only normalised results are listed.
    """
    try:
        return _guess(raw.strip(), region)
    except Exception:  # untrusted input: never raise
        return []


def _guess(s: str, region: str | None) -> list[Observable]:
    found: list[Observable] = []
    if not s or len(s) > 4096:
        return found

    def add(candidate: Observable) -> None:
        if candidate.problem is None and candidate not in found:
            found.append(candidate)

    if set(s) <= _IP_CHARS and ("." in s or ":" in s):
        add(ip(s))
    if "@" in s and "://" not in s:
        add(email(s))
    if _SCHEME_SLASHES.match(s):
        add(url(s))
    if len(s) in _HASH_KIND_BY_LENGTH and not s.lower().strip(_HEX_DIGITS):
        add(file_hash(s))
        if len(s) in (64, 128):
            add(file_hash(s, f"SHA3-{len(s) * 4}"))
    if 12 <= len(s) <= 17:
        add(mac(s))
    if s[:2].isalpha():
        add(iban(s))
    if 25 <= len(s) <= 120 and not any(c.isspace() for c in s):
        add(crypto_wallet(s))
    if s.startswith("+") or (region and set(s) <= _PHONE_CHARS and sum(map(str.isdigit, s)) >= 5):
        add(phone(s, region))
    platform, colon, handle = s.partition(":")
    if colon and platform.strip().lower() in _PLATFORM_ALIASES:
        add(social_handle(platform, handle))
    if s[:2].upper() == "AS" and s[2:].strip().isdigit():
        add(asn(s))
    if "." in s:
        add(domain(s))
    return found
