"""MISP warning-lists: known-benign values that must not raise correlation hits.

Two organisations that both saw ``8.8.8.8``, ``10.0.0.1`` or ``www.google.com``
have not found a common adversary; such values are noise, and a hit on them
would bury the real ones. The MISP project maintains lists of such values (RFC
ranges, cloud and CDN ranges, public resolvers, top-million domains, hashes of
empty files...), shipped offline by the ``pymispwarninglists`` package. This
module answers "is this value on an enabled list, and which one?" so a hit can
be suppressed *with its reason* shown.

Why not the package's own ``WarningLists.search()``: its fast search is plain
set membership (``192.0.2.1`` is not found in a list holding ``192.0.2.0/24``,
``www.example.com`` not in one holding ``example.com``) and its slow search
scans every entry of every list per value. Here the data is read once into
shared indexes that make the common case, a value on no list, a handful of
dictionary probes:

* ``string`` lists: one dict from entry to a bit mask of the lists holding it;
* ``hostname`` lists: one dict probed with each label-boundary suffix of the
  value's host, so ``a.b.example.com`` costs four probes whatever the list sizes;
* ``cidr`` lists: per address family and prefix length a dict from network
  number to mask, probed with the value's supernets for the present lengths only;
* ``substring`` lists: one trie-shaped regular expression per list (a plain
  alternation of the 5,000 disposable-mail domains is 100x slower);
* ``regex`` lists: each pattern compiled once.

Each list is one bit; which lists apply to a kind and which are enabled are
masks too, so switching lists off (``with_disabled``) is mask arithmetic and
never re-reads the 65 MB of data. The data is loaded at the first
``WarningIndex.load()`` (never at import) and shared by all indexes.

The 2.3 million strings of the ``string`` and ``hostname`` lists are kept as one
sorted array of 64-bit codes (the string's hash with the list's number in the low
byte, ``_Keys``): about 20 MB instead of 250 MB as a dict of strings, at the cost of
a binary search (about a microsecond) per probe. Hashes are this process's own;
two strings sharing the top 56 bits of a hash (about one chance in 10^10 per probe
here) would make a value look listed.

Pragmatic choices, where the lists' intent and MISP's literal behaviour differ:

* an entry of a ``string`` list that starts with ``.`` (``.skype.net`` in the
  Microsoft list) is meant as "this domain and below" and is matched like a
  ``hostname`` entry; entries of ``hostname`` lists have leading ``.``/``*.``
  and trailing dots removed, so ``.bmw.de`` matches ``bmw.de`` and its subdomains;
* for a URL, ``string`` lists are compared with the URL itself, the URL without
  its scheme, and both without a trailing ``/``: a list of bare hosts flags
  ``http://apple.com/`` but not ``http://apple.com/malware.exe`` (which only a
  ``hostname`` list, matching the URL's host, flags);
* a ``domain|ip`` attribute type means the domain kind for a non-CIDR list and
  the IP kinds for a CIDR list; other types map as in ``_ATTRIBUTE_KINDS``.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import socket
import threading
import time
import warnings
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import and_, or_
from pathlib import Path
from typing import Any

from bayanihan.correlate.normalise import KINDS

__all__ = ["KINDS", "ListInfo", "WarningIndex", "documentation_lists"]


_IP_KINDS = frozenset({"ipv4", "ipv6"})
_HOST_KINDS = frozenset({"domain", "url", "email"})

# MISP attribute type -> our kinds. Composite "filename|<hash>" types are checked by
# MISP on their hash part, "<x>|port" on their address part. ``domain|ip`` is not
# here: it depends on the list type (see _kinds_for). Types with no kind of ours
# (sha224, azure-application-id, ...) are absent and so never match.
_ATTRIBUTE_KINDS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "ip"), _IP_KINDS),
    **dict.fromkeys(("domain", "hostname", "hostname|port"), frozenset({"domain"})),
    **dict.fromkeys(("url", "uri", "link"), frozenset({"url"})),
    **dict.fromkeys(
        (
            "email",
            "email-src",
            "email-dst",
            "email-reply-to",
            "target-email",
            "whois-registrant-email",
            "dns-soa-email",
        ),
        frozenset({"email"}),
    ),
    **dict.fromkeys(("md5", "filename|md5", "x509-fingerprint-md5"), frozenset({"md5"})),
    **dict.fromkeys(("sha1", "filename|sha1", "x509-fingerprint-sha1"), frozenset({"sha1"})),
    **dict.fromkeys(
        ("sha256", "filename|sha256", "x509-fingerprint-sha256"), frozenset({"sha256"})
    ),
    **dict.fromkeys(("sha512", "filename|sha512"), frozenset({"sha512"})),
    **dict.fromkeys(("sha3-256", "filename|sha3-256"), frozenset({"sha3-256"})),
    **dict.fromkeys(("sha3-512", "filename|sha3-512"), frozenset({"sha3-512"})),
    **dict.fromkeys(("ssdeep", "filename|ssdeep"), frozenset({"ssdeep"})),
    **dict.fromkeys(("tlsh", "filename|tlsh"), frozenset({"tlsh"})),
    **dict.fromkeys(("phone-number", "whois-registrant-phone", "prtn"), frozenset({"phone"})),
    "iban": frozenset({"iban"}),
    "bank-account-nr": frozenset({"bank-account"}),
    **dict.fromkeys(("btc", "xmr", "dash"), frozenset({"crypto-wallet"})),
    **dict.fromkeys(("twitter-id", "github-username", "jabber-id"), frozenset({"social-handle"})),
    "filename": frozenset({"file-name"}),
    "AS": frozenset({"asn"}),
    **dict.fromkeys(("mac-address", "mac-eui-64"), frozenset({"mac"})),
    "target-user": frozenset({"user-account"}),
}

# Which kinds a list type can hold at all: a CIDR list cannot contain a domain, and
# hostname matching needs a host (a domain, a URL's host, an e-mail's domain part).
_TYPE_KINDS: dict[str, frozenset[str]] = {
    "cidr": _IP_KINDS,
    "hostname": _HOST_KINDS,
    "string": KINDS,
    "substring": KINDS,
    "regex": KINDS,
}

# Documentation values demo data is built from (RFC 5737, RFC 3849, RFC 2606/6761).
_DOC_NETWORKS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
_DOC_DOMAINS = ("example.com", "example.org", "example.net", "example")
_DOC_ENDS = tuple("." + domain for domain in _DOC_DOMAINS)
_DOC_PROBES: tuple[tuple[str, str], ...] = (
    ("ipv4", "192.0.2.1"),
    ("ipv4", "198.51.100.7"),
    ("ipv4", "203.0.113.9"),
    ("ipv6", "2001:db8::5"),
    *(("domain", d) for d in _DOC_DOMAINS),
    *(("domain", "www." + d) for d in _DOC_DOMAINS),
    *(("url", f"http://{d}/") for d in _DOC_DOMAINS),
    *(("url", f"https://www.{d}/login") for d in _DOC_DOMAINS),
    *(("email", "user@" + d) for d in _DOC_DOMAINS),
)

_HOST_OK = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_URL_HOST = re.compile(r"[a-z][a-z0-9+.\-]*://(?:[^@/?#]*@)?(\[[^\]/?#]*\]|[^:/?#]*)")
# bytes.translate(None, delete=...) leaves only the characters not deleted: this
# finds, at C speed over a whole list, whether any entry needs per-entry care.
_DELETE_HOST_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789.-_\n"
_DELETE_ALL_BUT_SPACE = bytes(b for b in range(256) if b not in b" \t\r\x0b\x0c")
_REGEX_DELIMITERS = "/#~"
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
_REGEX_IGNORED_FLAGS = frozenset("gu")  # PCRE "global" and "UTF-8": meaningless for re


@dataclass(frozen=True, slots=True)
class ListInfo:
    """One warning-list as the package ships it, for display and configuration."""

    name: str  # the package's name: the id operators use to switch the list off
    type: str
    description: str
    version: str
    entries: int  # entries in the package data, malformed ones included
    kinds: frozenset[str]  # our kinds it applies to (from its matching_attributes)


def _kinds_for(list_type: str, attributes: Sequence[str] | None) -> frozenset[str]:
    """Our kinds a list applies to. MISP applies a list with no attributes to all."""
    possible = _TYPE_KINDS.get(list_type, frozenset())
    if not attributes:
        return possible
    kinds: set[str] = set()
    for attribute in attributes:
        if attribute == "domain|ip":
            kinds |= _IP_KINDS if list_type == "cidr" else {"domain"}
        else:
            kinds |= _ATTRIBUTE_KINDS.get(attribute, frozenset())
    return frozenset(kinds & possible)


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _clean_host(entry: str) -> str | None:
    """A hostname-list entry as a bare lower-case A-label host, or None if malformed."""
    host = entry.strip().lower()
    if host.startswith("*."):
        host = host[2:]
    host = host.strip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST_OK.fullmatch(host) else None


def _plain_string(entry: str) -> bool:
    return bool(entry) and entry == entry.strip() and entry[0] != "." and entry[-1] != "."


def _lowered(entries: list[str], hostnames: bool) -> tuple[list[str], list[str]]:
    """Lower-case a list's entries in bulk; split off the few that need per-entry care.

    Lower-casing one joined string and testing it with C-level string operations
    is several times faster than a Python loop over a million entries, and most
    lists are entirely clean.
    """
    if not entries:
        return [], []
    original = "\n".join(entries)
    joined = original.lower()
    # Already lower-case (most lists): keep the entry objects rather than copies.
    parts = entries if joined == original else joined.split("\n")
    if len(parts) != len(entries):  # an entry holds a newline: go entry by entry
        parts = [entry.lower() for entry in entries]
    else:
        suspect = (
            joined[0] in ".\n"
            or joined[-1] in ".\n"
            or "\n." in joined
            or ".\n" in joined
            or "\n\n" in joined
        )
        if hostnames:
            suspect = (
                suspect
                or ".." in joined
                or not joined.isascii()
                or bool(joined.encode("ascii").translate(None, _DELETE_HOST_CHARS))
            )
        else:
            suspect = suspect or bool(
                joined.encode("utf-8", "surrogatepass").translate(None, _DELETE_ALL_BUT_SPACE)
            )
        if not suspect:
            return parts, []
    ok = _HOST_OK.fullmatch if hostnames else _plain_string
    clean = [part for part in parts if ok(part)]
    return clean, [part for part in parts if not ok(part)]


def _compile_regex(pattern: str) -> re.Pattern[str] | None:
    """A MISP (PCRE-style ``/body/flags``) pattern for ``re``, or None if unusable."""
    body, flags = pattern, 0
    if len(pattern) > 2 and pattern[0] in _REGEX_DELIMITERS:
        end = pattern.rfind(pattern[0])
        if end > 0:
            body = pattern[1:end]
            for flag in pattern[end + 1 :]:
                if flag in _REGEX_FLAGS:
                    flags |= _REGEX_FLAGS[flag]
                elif flag not in _REGEX_IGNORED_FLAGS:
                    return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(body, flags)
    except (re.error, RecursionError, OverflowError):
        return None


class _Substrings:
    """Finds whether a value contains any of a list's words, without a scan per word.

    The words become one regular expression shaped like their trie: ``re`` tries
    the alternatives of a group in turn, so sharing prefixes means only the
    branch of the current character is explored. For the 5,000 disposable-mail
    domains a search takes 1-5 us, against 150 us for a plain alternation or a
    test of each word; building it takes about 0.4 s of the load. A word that
    extends another is dropped, as the shorter one already matches.
    """

    __slots__ = ("_pattern",)

    def __init__(self, words: Iterable[str]) -> None:
        unique = sorted(set(words) - {""})
        trie: dict[str, Any] = {}
        for word in unique:
            node = trie
            for char in word:
                node = node.setdefault(char, {})
            node[""] = {}

        def render(node: dict[str, Any]) -> str:
            if "" in node:
                return ""
            branches = [re.escape(char) + render(child) for char, child in sorted(node.items())]
            return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

        if not unique:
            self._pattern = re.compile("(?!)")  # matches nothing
            return
        try:
            self._pattern = re.compile(render(trie))
        except (RecursionError, re.error):  # words nested too deep: slow but correct
            self._pattern = re.compile("|".join(map(re.escape, unique)))

    def search(self, value: str) -> bool:
        return self._pattern.search(value) is not None


def _parse_ip(value: str) -> tuple[int, int, int] | None:
    """(family bits, address as int, prefix length) of an address or network, else None.

    Host bits of a network are kept (and ignored by the shifts of the lookups),
    as MISP treats ``10.1.2.3/8`` as ``10.0.0.0/8``.
    """
    address, slash, prefix = value.partition("/")
    try:
        if ":" in address:
            packed, bits = socket.inet_pton(socket.AF_INET6, address), 128
        else:
            packed, bits = socket.inet_pton(socket.AF_INET, address), 32
    except (OSError, ValueError):
        return None
    length = bits
    if slash:
        if not (prefix.isdigit() and prefix.isascii() and len(prefix) <= 3):
            return None
        length = int(prefix)
        if length > bits:
            return None
    return bits, int.from_bytes(packed, "big"), length


def _data_files() -> list[Path]:
    """The package's list files, located without importing it (which imports requests)."""
    spec = importlib.util.find_spec("pymispwarninglists")
    if spec is None or spec.origin is None:
        raise RuntimeError("the pymispwarninglists package is not installed")
    root = Path(spec.origin).parent / "data" / "misp-warninglists" / "lists"
    return sorted(root.glob("*/list.json"))


def _raw_lists() -> Iterator[dict[str, Any]]:
    """The package's lists as dicts, one at a time, from its shipped JSON files.

    Reading the files directly takes a fraction of the time of
    ``WarningLists()``, which also keeps a list and a set of every list; one file
    at a time keeps the peak memory of a load near that of the index alone. The
    files are where the package itself reads them (``lists/*/list.json``); if a
    future version moves them, its API is used instead.
    """
    files = _data_files()
    if not files:
        yield from _raw_lists_from_api()
        return
    for file in files:
        yield json.loads(file.read_bytes())


def _raw_lists_from_api() -> list[dict[str, Any]]:
    from pymispwarninglists.api import WarningLists

    loaded = WarningLists(slow_search=False).warninglists
    return [dict(loaded[name].warninglist) for name in sorted(loaded)]


class _Keys:
    """String -> mask of the lists holding it, in 8 bytes a (string, list) pair.

    Codes are ``hash(string)`` with the low byte replaced by the list's number,
    sorted; a string's lists are the run of codes sharing its hash's high bits.
    """

    __slots__ = ("_codes", "_distinct", "_starts")

    def __init__(self) -> None:
        self._codes = array("q")
        self._distinct = 0
        self._starts = array("q")  # where each value of a code's top 16 bits begins

    def add(self, keys: Iterable[str], bit: int) -> None:
        if not 0 <= bit <= _LIST_BITS:
            raise ValueError(f"list number {bit} does not fit the key table ({_LIST_BITS} at most)")
        # C-level maps only (no Python step per key); a key twice in a list costs a code
        self._codes.extend(map(or_, map(and_, map(hash, keys), repeat(_HIGH)), repeat(bit)))

    def freeze(self) -> None:
        """Sort the codes (once every list is in); lookups need it."""
        codes = self._codes = array("q", sorted(self._codes))
        self._starts = array("q", (bisect_left(codes, top << 48) for top in range(-32768, 32769)))
        self._distinct = -1

    def __len__(self) -> int:
        """Distinct strings (counted when first asked: statistics only)."""
        if self._distinct < 0:
            self._distinct = len({code & _HIGH for code in self._codes})
        return self._distinct

    def get(self, key: str, default: int = 0) -> int:
        return self.any_of((key,)) or default

    def any_of(self, keys: Iterable[str]) -> int:
        """The lists holding any of ``keys`` (one call for a host and its parents)."""
        codes, starts, found = self._codes, self._starts, 0
        for key in keys:
            high = hash(key) & _HIGH
            top = (high >> 48) + 32768
            end = starts[top + 1]
            at = bisect_left(codes, high, starts[top], end)
            while at < end:
                code = codes[at]
                if code & _HIGH != high:
                    break
                found |= 1 << (code & _LIST_BITS)
                at += 1
        return found


_LIST_BITS = 0xFF  # the low byte of a code: up to 256 lists
_HIGH = ~_LIST_BITS


class _Base:
    """Every list of the package, indexed; immutable once built, shared by all indexes."""

    def __init__(self, raw_lists: Iterable[dict[str, Any]]) -> None:
        started = time.perf_counter()
        self.names: list[str] = []
        self.infos: list[ListInfo] = []
        self.skipped: list[int] = []
        self.kind_masks: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.exact = _Keys()
        self.suffix = _Keys()
        self._doc_listed = 0  # lists with an entry at or under an example domain
        self.exact_lists = self.suffix_lists = self.cidr_lists = 0
        self.substrings: list[tuple[int, _Substrings]] = []
        self.regexes: list[tuple[int, tuple[re.Pattern[str], ...]]] = []
        self._cidr: dict[int, dict[int, dict[int, int]]] = {32: {}, 128: {}}
        self._masks: dict[int, int] = {}  # interned multi-list masks: few distinct values
        self._doc_mask: int | None = None
        by_name: dict[str, int] = {}
        for raw in raw_lists:
            bit = len(self.names)
            name = str(raw["name"])
            if name in by_name:  # as in the package's dict, the later list wins
                self._retire(by_name[name])
            by_name[name] = bit
            self._add(bit, name, raw)
            del raw  # before the next file is read: one list's raw data at a time
        self.bit_of: dict[str, int] = by_name
        self.folded: dict[str, list[str]] = {}
        for name in sorted(by_name):
            self.folded.setdefault(name.casefold(), []).append(name)
        self.v4 = self._tables(32)
        self.v6 = self._tables(128)
        self.exact.freeze()
        self.suffix.freeze()
        del self._cidr, self._masks
        self.load_ms = round((time.perf_counter() - started) * 1000)

    def _retire(self, bit: int) -> None:
        for kind in self.kind_masks:
            self.kind_masks[kind] &= ~(1 << bit)

    def _add(self, bit: int, name: str, raw: dict[str, Any]) -> None:
        entries = [str(entry) for entry in raw.get("list") or ()]
        list_type = str(raw.get("type", ""))
        kinds = _kinds_for(list_type, raw.get("matching_attributes"))
        mask = 1 << bit
        if list_type == "cidr":
            skipped = self._add_cidr(mask, entries)
            self.cidr_lists |= mask
        elif list_type == "string":
            skipped = self._add_strings(mask, entries)
        elif list_type == "hostname":
            skipped = self._add_hostnames(mask, entries)
        elif list_type == "substring":
            words = [entry.strip().lower() for entry in entries]
            skipped = words.count("")
            if len(words) > skipped:
                self.substrings.append((mask, _Substrings(words)))
        elif list_type == "regex":
            patterns = [p for p in map(_compile_regex, entries) if p is not None]
            skipped = len(entries) - len(patterns)
            if patterns:
                self.regexes.append((mask, tuple(patterns)))
        else:  # a type this module does not know matches nothing
            skipped, kinds = len(entries), frozenset()
        for kind in kinds:
            self.kind_masks[kind] |= mask
        self.names.append(name)
        self.skipped.append(skipped)
        self.infos.append(
            ListInfo(
                name=name,
                type=list_type,
                description=str(raw.get("description", "")),
                version=str(raw.get("version", "")),
                entries=len(entries),
                kinds=kinds,
            )
        )

    def _insert(self, table: _Keys, keys: list[str], mask: int) -> None:
        table.add(keys, mask.bit_length() - 1)
        if (
            not self._doc_listed & mask
            and "example" in "\n".join(keys)  # one pass in C; most lists have none
            and any(key.endswith(_DOC_ENDS) or key in _DOC_DOMAINS for key in keys)
        ):
            self._doc_listed |= mask

    def _add_strings(self, mask: int, entries: list[str]) -> int:
        exact, odd = _lowered(entries, hostnames=False)
        hosts: list[str] = []
        skipped = 0
        for entry in odd:
            entry = entry.strip()
            if entry.startswith("."):  # ".skype.net": the domain and below
                host = _clean_host(entry)
                if host is None:
                    skipped += 1
                else:
                    hosts.append(host)
            elif entry:
                if entry.endswith(".") and _HOST_OK.fullmatch(entry.rstrip(".")):
                    entry = entry.rstrip(".")
                exact.append(entry)
            else:
                skipped += 1
        self._insert(self.exact, exact, mask)
        self.exact_lists |= mask
        if hosts:
            self._insert(self.suffix, hosts, mask)
            self.suffix_lists |= mask
        return skipped

    def _add_hostnames(self, mask: int, entries: list[str]) -> int:
        hosts, odd = _lowered(entries, hostnames=True)
        skipped = 0
        for entry in odd:
            host = _clean_host(entry)
            if host is None:
                skipped += 1
            else:
                hosts.append(host)
        self._insert(self.suffix, hosts, mask)
        self.suffix_lists |= mask
        return skipped

    def _add_cidr(self, mask: int, entries: list[str]) -> int:
        skipped = 0
        for entry in entries:
            parsed = _parse_ip(entry.strip())
            if parsed is None:
                skipped += 1
                continue
            bits, address, length = parsed
            table = self._cidr[bits].setdefault(length, {})
            key = address >> (bits - length)
            old = table.get(key)
            if old is None:
                table[key] = mask
            else:
                merged = old | mask
                table[key] = self._masks.setdefault(merged, merged)
        return skipped

    def _tables(self, bits: int) -> tuple[tuple[int, int, dict[int, int]], ...]:
        lengths = self._cidr[bits]
        return tuple((length, bits - length, lengths[length]) for length in sorted(lengths))

    # --- lookups (masks of all lists, before kind and enabled filtering) -----------

    def cidr_mask(self, value: str) -> int:
        """Lists with a network containing the address (or the whole network)."""
        parsed = _parse_ip(value)
        if parsed is None:
            return 0
        bits, address, length = parsed
        found = 0
        for table_length, shift, table in self.v4 if bits == 32 else self.v6:
            if table_length > length:
                break
            hit = table.get(address >> shift)
            if hit is not None:
                found |= hit
        return found

    def cidr_overlap_mask(self, value: str) -> int:
        """Lists with a network containing, or lying inside, the given network."""
        parsed = _parse_ip(value)
        if parsed is None:
            return 0
        bits, address, length = parsed
        found = self.cidr_mask(value)
        network = address >> (bits - length)
        for table_length, _shift, table in self.v4 if bits == 32 else self.v6:
            if table_length > length:
                step = table_length - length
                for key, hit in table.items():
                    if key >> step == network:
                        found |= hit
        return found

    def suffix_mask(self, host: str) -> int:
        """Lists holding the host or one of its parent domains."""
        names = [host]
        dot = host.find(".")
        while dot >= 0:
            names.append(host[dot + 1 :])
            dot = host.find(".", dot + 1)
        return self.suffix.any_of(names)

    def documentation_mask(self) -> int:
        """Lists that would flag documentation addresses or example.* domains.

        Computed from the data, not from list names: every network overlapping a
        documentation range, every entry equal to or under an example domain in a
        list applying to hosts, and sample values of each kind (which also catches
        substring and regex lists).
        """
        if self._doc_mask is None:
            everything = WarningIndex(self, frozenset())
            found = 0
            for network in _DOC_NETWORKS:
                overlapping = self.cidr_overlap_mask(network)
                found |= overlapping & (self.kind_masks["ipv4"] | self.kind_masks["ipv6"])
            for kind, value in _DOC_PROBES:
                found |= everything._mask(kind, value)
            listed = self._doc_listed
            for kind in _HOST_KINDS:
                found |= listed & self.kind_masks[kind]
            self._doc_mask = found
        return self._doc_mask


_BASE: _Base | None = None
_BASE_LOCK = threading.Lock()


def _shared_base() -> _Base:
    """The package data, loaded on first use and then shared (about 2.5 s, 60 MB)."""
    global _BASE
    if _BASE is None:
        with _BASE_LOCK:
            if _BASE is None:
                _BASE = _Base(_raw_lists())
                _release_free_memory()
    return _BASE


def _release_free_memory() -> None:
    """Hand the heap freed by JSON parsing back to the OS (glibc only; ~90 MB of RSS).

    The raw lists are freed as the index is built, but glibc keeps the freed heap
    mapped; without this the process keeps a third more memory than it uses.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class _Plan:
    """What to look at for one kind, given the enabled lists: most kinds skip most work."""

    __slots__ = ("mask", "exact", "suffix", "cidr", "substrings", "regexes")

    def __init__(self, base: _Base, mask: int) -> None:
        self.mask = mask
        self.exact = bool(mask & base.exact_lists)
        self.suffix = bool(mask & base.suffix_lists)
        self.cidr = bool(mask & base.cidr_lists)
        self.substrings = tuple((bit, rx) for bit, rx in base.substrings if bit & mask)
        self.regexes = tuple((bit, rxs) for bit, rxs in base.regexes if bit & mask)


def _url_host(url: str) -> str:
    match = _URL_HOST.match(url)
    if match is None:  # no scheme: "host/path"
        host = url.partition("/")[0].partition("?")[0].partition("#")[0]
        host = host.rpartition("@")[2]
        if not host.startswith("["):
            host = host.partition(":")[0]
    else:
        host = match.group(1)
    return host.strip("[]").rstrip(".")


def _url_variants(url: str) -> set[str]:
    variants = {url, url.rstrip("/")}
    scheme_end = url.find("://")
    if scheme_end >= 0:
        bare = url[scheme_end + 3 :]
        variants.update((bare, bare.rstrip("/")))
    return variants


class WarningIndex:
    """The warning-lists with some switched off: answers which list holds a value.

    Build with ``WarningIndex.load(disabled=...)``; ``with_disabled`` derives
    another index from the same loaded data. Instances are immutable and safe to
    share between threads.
    """

    __slots__ = ("_base", "_disabled", "_plans")

    def __init__(self, base: _Base, disabled: frozenset[str]) -> None:
        """Internal: use ``load`` or ``with_disabled``, which validate the names."""
        self._base = base
        self._disabled = disabled
        enabled = ~0
        for name in disabled:
            enabled &= ~(1 << base.bit_of[name])
        self._plans = {kind: _Plan(base, mask & enabled) for kind, mask in base.kind_masks.items()}

    @classmethod
    def load(cls, disabled: Iterable[str] = ()) -> WarningIndex:
        """All lists except ``disabled`` (exact names, case-insensitive).

        An unknown name raises ValueError: a typo in the operator's configuration
        must not silently leave a list on. The data is read at the first call only.
        """
        base = _shared_base()
        return cls(base, _resolve(base, disabled))

    def with_disabled(self, disabled: Iterable[str]) -> WarningIndex:
        """An index over the same data with exactly ``disabled`` switched off (no reload)."""
        return WarningIndex(self._base, _resolve(self._base, disabled))

    @property
    def disabled(self) -> frozenset[str]:
        """The switched-off lists, by the package's names."""
        return self._disabled

    def match(self, kind: str, value: str) -> str | None:
        """The name of an enabled list holding ``value`` (the first by name), else None.

        ``kind`` is one of ``KINDS``; a kind no list applies to (or an unknown one)
        matches nothing.
        """
        found = self._mask(kind, value)
        if not found:
            return None
        names = self._base.names
        return min(names[bit] for bit in _bits(found))

    def matches(self, kind: str, value: str) -> list[str]:
        """The names of all enabled lists holding ``value``, sorted."""
        names = self._base.names
        return sorted(names[bit] for bit in _bits(self._mask(kind, value)))

    def lists(self) -> list[ListInfo]:
        """Every list in the package, enabled or not, sorted by name."""
        base = self._base
        return sorted((base.infos[bit] for bit in base.bit_of.values()), key=lambda i: i.name)

    def stats(self) -> dict[str, int]:
        """Load statistics: entries shipped, indexed and skipped as malformed, and sizes."""
        base = self._base
        entries = sum(info.entries for info in base.infos)
        skipped = sum(base.skipped)
        return {
            "lists": len(base.bit_of),
            "lists_enabled": len(base.bit_of) - len(self._disabled),
            "entries": entries,
            "entries_loaded": entries - skipped,
            "entries_skipped": skipped,
            "exact_keys": len(base.exact),
            "hostname_keys": len(base.suffix),
            "networks_v4": sum(len(table) for _, _, table in base.v4),
            "networks_v6": sum(len(table) for _, _, table in base.v6),
            "substring_lists": len(base.substrings),
            "regex_patterns": sum(len(patterns) for _, patterns in base.regexes),
            "load_ms": base.load_ms,
        }

    def skipped(self) -> dict[str, int]:
        """Per list, the entries skipped as malformed (lists with none are left out)."""
        base = self._base
        return {
            base.names[bit]: base.skipped[bit] for bit in base.bit_of.values() if base.skipped[bit]
        }

    def _mask(self, kind: str, value: str) -> int:
        """Bit mask of the enabled lists applying to ``kind`` that hold ``value``."""
        plan = self._plans.get(kind)
        if plan is None or not plan.mask or not value:
            return 0
        base = self._base
        found = 0
        if plan.cidr:
            found = base.cidr_mask(value)
        lowered = value.lower()
        host = ""
        if kind == "domain":
            lowered = host = lowered.rstrip(".")
        elif kind == "url":
            host = _url_host(lowered)
        elif kind == "email":
            host = lowered.rpartition("@")[2]
        if plan.exact:
            if kind == "url":
                found |= base.exact.any_of(_url_variants(lowered))
            else:
                found |= base.exact.get(lowered, 0)
        if plan.suffix and host:
            found |= base.suffix_mask(host)
        for bit, substrings in plan.substrings:
            if not found & bit and substrings.search(lowered):
                found |= bit
        for bit, patterns in plan.regexes:
            if not found & bit and any(p.search(value) is not None for p in patterns):
                found |= bit
        return found & plan.mask


def _resolve(base: _Base, disabled: Iterable[str]) -> frozenset[str]:
    """Operator-given list names -> the package's names; unknown names raise ValueError.

    A bare string is taken as one name, not as its characters.
    """
    if isinstance(disabled, str):
        disabled = (disabled,)
    names: set[str] = set()
    unknown: list[str] = []
    for given in disabled:
        matched = base.folded.get(str(given).strip().casefold())
        if matched is None:
            unknown.append(str(given))
        else:
            names.update(matched)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, base.bit_of, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError("unknown warning-list name(s): " + ", ".join(hints))
    return frozenset(names)


def documentation_lists() -> list[str]:
    """Lists that would flag documentation values demo and training data is made of.

    RFC 5737 / RFC 3849 documentation ranges (192.0.2.0/24, 198.51.100.0/24,
    203.0.113.0/24, 2001:db8::/32) and RFC 2606 / 6761 example domains
    (example.com/.org/.net, ``*.example``). Found by probing the loaded data, so
    the answer follows the package's data rather than names hard-coded here.
    Switching these off lets demo data correlate; on real data, keep them on.
    """
    base = _shared_base()
    return sorted(base.names[bit] for bit in _bits(base.documentation_mask()))
