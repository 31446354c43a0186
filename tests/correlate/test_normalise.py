"""Observable normalisation: each kind's canonical form, the tricky spellings, no exceptions.

Correlation is only as good as these rules: two organisations must get the same
value for the same indicator however they wrote it, and junk must come back
flagged (kept raw), never as an exception. Expected phone numbers were checked
against the phonenumbers library; expected A-labels against Python's own IDNA
codec; wallet and IBAN vectors are published examples.
"""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayanihan.correlate import normalise as norm
from bayanihan.correlate.normalise import (
    KINDS,
    Observable,
    asn,
    bank_account,
    base58check_decode,
    base58check_encode,
    bech32_decode,
    bech32_encode,
    cashaddr_encode,
    crypto_wallet,
    domain,
    email,
    file_hash,
    file_name,
    guess,
    iban,
    ip,
    mac,
    phone,
    segwit_encode,
    social_handle,
    url,
    user_account,
    x509_serial,
)


def ok(kind: str, value: str, related: str | None = None) -> Observable:
    return Observable(kind, value, None, related)


# ---------------------------------------------------------------------------- IP


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("192.0.2.1", "ipv4", "192.0.2.1"),
        ("  192.0.2.1\n", "ipv4", "192.0.2.1"),
        ("0.0.0.0", "ipv4", "0.0.0.0"),
        ("203.0.113.5/24", "ipv4", "203.0.113.0/24"),  # host bits set: its network
        ("203.0.113.0/24", "ipv4", "203.0.113.0/24"),
        ("203.0.113.5/32", "ipv4", "203.0.113.5"),  # a host network is an address
        ("10.1.2.3/255.0.0.0", "ipv4", "10.0.0.0/8"),  # netmask notation
        ("0.0.0.0/0", "ipv4", "0.0.0.0/0"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "ipv6", "2001:db8::1"),  # full, upper
        ("2001:db8::1", "ipv6", "2001:db8::1"),
        ("2001:DB8::0:1", "ipv6", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "ipv6", "2001:db8::1:0:0:1"),  # RFC 5952: first longest run
        ("2001:db8:0:1:1:1:1:1", "ipv6", "2001:db8:0:1:1:1:1:1"),  # one zero group stays
        ("2001:0db8:00ab:000c::0001", "ipv6", "2001:db8:ab:c::1"),  # leading zeros in groups
        ("[2001:db8::1]", "ipv6", "2001:db8::1"),  # brackets as in URLs
        (" [2001:DB8::1] ", "ipv6", "2001:db8::1"),
        ("::", "ipv6", "::"),
        ("::1", "ipv6", "::1"),
        ("64:ff9b::192.0.2.33", "ipv6", "64:ff9b::c000:221"),  # mixed IPv4 tail (NAT64)
        ("::ffff:192.0.2.128", "ipv4", "192.0.2.128"),  # IPv4-mapped is the IPv4 address
        ("::FFFF:C000:0280", "ipv4", "192.0.2.128"),
        ("[::ffff:192.0.2.128]", "ipv4", "192.0.2.128"),
        ("2001:db8::/32", "ipv6", "2001:db8::/32"),
        ("2001:DB8::1/32", "ipv6", "2001:db8::/32"),
        ("2001:db8::1/128", "ipv6", "2001:db8::1"),
        ("::ffff:192.0.2.1/128", "ipv4", "192.0.2.1"),
        ("[2001:db8::]/48", "ipv6", "2001:db8::/48"),
        ("::ffff:0:0/96", "ipv6", "::ffff:0:0/96"),  # the mapped range stays IPv6
    ],
)
def test_ip_normalises(raw: str, kind: str, value: str) -> None:
    assert ip(raw) == ok(kind, value)


@pytest.mark.parametrize(
    ("raw", "kind", "problem"),
    [
        ("010.1.1.1", "ipv4", "leading zeros"),  # octal to inet_aton, decimal to people
        ("192.0.2.01", "ipv4", "leading zeros"),
        ("10.1.1.1/008", "ipv4", None),
        ("::ffff:010.1.1.1", "ipv6", "leading zeros"),
        ("256.1.1.1", "ipv4", "not a valid IPv4 address"),
        ("1.2.3", "ipv4", "not a valid IPv4 address"),
        ("16909060", "ipv4", "not a valid IPv4 address"),
        ("0x01020304", "ipv4", "not a valid IPv4 address"),
        ("1.2.3.4/33", "ipv4", "not a valid IPv4 network"),
        ("1.2.3.4/", "ipv4", "not a valid IPv4 network"),
        ("fe80::1%eth0", "ipv6", "zone id"),
        ("[fe80::1%25eth0]", "ipv6", "zone id"),
        ("2001:db8:::1", "ipv6", "not a valid IPv6 address"),
        ("12345::1", "ipv6", "not a valid IPv6 address"),
        ("2001:db8::1::2", "ipv6", "not a valid IPv6 address"),
        ("[2001:db8::1", "ipv6", "unbalanced bracket"),
        ("[::1]:80", "ipv6", "text after the bracketed address"),
        ("", "ipv4", "empty"),
        ("   ", "ipv4", "empty"),
        ("example.com", "ipv4", "not a valid IPv4 address"),
        ("١.٢.٣.٤", "ipv4", "not a valid IPv4 address"),  # Arabic-Indic digits
    ],
)
def test_ip_flags(raw: str, kind: str, problem: str | None) -> None:
    result = ip(raw)
    if problem is None:  # "/008" is a decimal prefix length with zeros: unambiguous
        assert result == ok("ipv4", "10.0.0.0/8")
        return
    assert result.kind == kind
    assert result.value == raw.strip()
    assert result.problem is not None and problem in result.problem
    assert not result.normalised


# ------------------------------------------------------------------------ domain


@pytest.mark.parametrize(
    ("raw", "value", "related"),
    [
        ("SCAM.Example.COM.", "scam.example.com", "example.com"),
        ("  example.com  ", "example.com", "example.com"),
        ("a.b.example.co.uk", "a.b.example.co.uk", "example.co.uk"),
        ("foo.github.io", "foo.github.io", "foo.github.io"),  # private suffix
        ("www.foo.blogspot.com", "www.foo.blogspot.com", "foo.blogspot.com"),
        ("city.kobe.jp", "city.kobe.jp", "city.kobe.jp"),  # PSL exception rule
        ("co.uk", "co.uk", None),  # a public suffix registers nothing
        ("com", "com", None),
        ("github.io", "github.io", None),
        # IDN: German, Thai, Chinese, Japanese, Korean, Vietnamese, Greek
        ("BÜCHER.example", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("bücher.co.uk", "xn--bcher-kva.co.uk", "xn--bcher-kva.co.uk"),
        ("straße.de", "xn--strae-oqa.de", "xn--strae-oqa.de"),  # IDNA 2008 keeps ß
        ("ตัวอย่าง.ไทย", "xn--72c1a1bt4awk9o.xn--o3cw4h", "xn--72c1a1bt4awk9o.xn--o3cw4h"),
        ("例子.中国", "xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
        ("例子。中国", "xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),  # ideographic stop
        ("中文.com.cn", "xn--fiq228c.com.cn", "xn--fiq228c.com.cn"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah", "xn--r8jz45g.xn--zckzah"),
        ("ｅｘａｍｐｌｅ．ｊｐ", "example.jp", "example.jp"),  # full-width forms
        ("www.ＥＸＡＭＰＬＥ.com", "www.example.com", "example.com"),
        ("도메인.한국", "xn--hq1bm8jm9l.xn--3e0b707e", "xn--hq1bm8jm9l.xn--3e0b707e"),
        ("tiếngviệt.vn", "xn--tingvit-5t4cyc.vn", "xn--tingvit-5t4cyc.vn"),
        ("Ελληνικά.gr", "xn--hxargifdar.gr", "xn--hxargifdar.gr"),
        ("exa\u00admple.com", "example.com", "example.com"),  # soft hyphen is ignored
        # A-labels as given, any case, validated
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("Xn--Bcher-Kva.Example.", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("shop.XN--FIQS8S", "shop.xn--fiqs8s", "shop.xn--fiqs8s"),
        ("mail.bücher.xn--fiqs8s", "mail.xn--bcher-kva.xn--fiqs8s", "xn--bcher-kva.xn--fiqs8s"),
        # underscores: service labels and malware infrastructure
        ("_dmarc.Example.com", "_dmarc.example.com", "example.com"),
        ("_sip._tcp.example.com", "_sip._tcp.example.com", "example.com"),
        ("bad_host.example.com", "bad_host.example.com", "example.com"),
        ("_dmarc.bücher.de", "_dmarc.xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("ab--cd.example.com", "ab--cd.example.com", "example.com"),
        ("localhost", "localhost", None),
        ("a" * 63 + ".com", "a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_domain_normalises(raw: str, value: str, related: str | None) -> None:
    assert domain(raw) == ok("domain", value, related)


def test_domain_a_labels_agree_with_pythons_idna_codec() -> None:
    for name in ("bücher.example", "ตัวอย่าง.ไทย", "例子.中国", "例え.テスト", "도메인.한국"):
        assert domain(name).value == name.encode("idna").decode("ascii")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        (".", "empty"),
        ("192.0.2.1", "an IP address, not a domain"),
        ("192.0.2.1.", "an IP address, not a domain"),
        ("2001:db8::1", "an IP address, not a domain"),
        ("[::1]", "an IP address, not a domain"),
        ("192.0.2.999", "numeric"),
        ("example.123", "numeric"),
        ("a" * 64 + ".com", "longer than 63"),
        (("a" * 60 + ".") * 5 + "com", "longer than 253"),
        ("a." * 126 + "com", "longer than 253"),
        ("x" * 5000, "longer than 253"),
        ("-a.example.com", "hyphen"),
        ("a-.example.com", "hyphen"),
        ("a..example.com", "empty label"),
        (".example.com", "empty label"),
        ("example.com..", "empty label"),  # only one trailing dot is stripped
        ("*.example.com", "not allowed"),
        ("exa mple.com", "not allowed"),
        ("example.com/path", "not allowed"),
        ("user@example.com", "not allowed"),
        ("xn--abc.com", "invalid A-label"),  # not valid Punycode of a valid label
        ("xn---bbk.com", "invalid A-label"),  # a non-canonical ("fake") A-label
        ("XN--ZCA.com", None),  # ß as an A-label is fine
        ("a\u200db.com", "internationalised"),  # ZWJ outside its context
        ("bücher\u2603.de", "not a valid internationalised label"),  # a snowman is DISALLOWED
        ("e\u0301\u0000.com", "not a valid internationalised label"),
    ],
)
def test_domain_flags(raw: str, problem: str | None) -> None:
    result = domain(raw)
    if problem is None:
        assert result == ok("domain", "xn--zca.com", "xn--zca.com")
        return
    assert result.kind == "domain"
    assert result.problem is not None and problem in result.problem, result
    assert result.value == raw.strip()
    assert result.related is None


# --------------------------------------------------------------------------- URL


@pytest.mark.parametrize(
    ("raw", "value", "related"),
    [
        ("http://example.com", "http://example.com/", "example.com"),  # empty path is "/"
        ("HTTP://EXAMPLE.COM/Path", "http://example.com/Path", "example.com"),  # path case kept
        ("http://example.com:80/", "http://example.com/", "example.com"),  # default ports
        ("https://example.com:443/a", "https://example.com/a", "example.com"),
        ("ftp://example.com:21/f", "ftp://example.com/f", "example.com"),
        ("https://example.com:80/", "https://example.com:80/", "example.com"),  # not default
        ("http://example.com:8080", "http://example.com:8080/", "example.com"),
        ("http://example.com:0080/", "http://example.com/", "example.com"),
        ("http://example.com:/", "http://example.com/", "example.com"),  # empty port
        ("http://example.com/a/./b/../c", "http://example.com/a/c", "example.com"),
        ("http://example.com/a/b/../../..", "http://example.com/", "example.com"),
        ("http://example.com/a/b/.", "http://example.com/a/b/", "example.com"),
        ("http://example.com/%2e%2E/x", "http://example.com/x", "example.com"),  # %2E is "."
        ("http://example.com/a%2fb", "http://example.com/a%2Fb", "example.com"),  # kept escaped
        ("http://example.com/%7euser", "http://example.com/~user", "example.com"),
        ("http://example.com/%41%62c", "http://example.com/Abc", "example.com"),
        ("http://example.com/caf%c3%a9", "http://example.com/caf%C3%A9", "example.com"),
        ("http://example.com/café", "http://example.com/caf%C3%A9", "example.com"),
        ("http://example.com/a b", "http://example.com/a%20b", "example.com"),
        ("http://example.com/100%", "http://example.com/100%25", "example.com"),
        ("http://example.com/%zz", "http://example.com/%25zz", "example.com"),
        ("http://example.com/a|b{c}", "http://example.com/a%7Cb%7Bc%7D", "example.com"),
        ("http://example.com/?q=%7e%2f+x", "http://example.com/?q=~%2F+x", "example.com"),
        ("http://example.com/p?B=2&a=1", "http://example.com/p?B=2&a=1", "example.com"),
        ("http://example.com/p?", "http://example.com/p", "example.com"),
        ("http://example.com/p#frag", "http://example.com/p", "example.com"),  # fragment
        ("http://example.com/p?q=1#a?b", "http://example.com/p?q=1", "example.com"),
        ("http://User:Pa%73s@Example.com/", "http://User:Pass@example.com/", "example.com"),
        ("http://a@b@example.com/", "http://a@b@example.com/", "example.com"),
        ("http://bücher.de/straße", "http://xn--bcher-kva.de/stra%C3%9Fe", "xn--bcher-kva.de"),
        ("https://例子.中国/", "https://xn--fsqu00a.xn--fiqs8s/", "xn--fsqu00a.xn--fiqs8s"),
        ("http://XN--BCHER-KVA.de", "http://xn--bcher-kva.de/", "xn--bcher-kva.de"),
        ("http://%65xample.com/", "http://example.com/", "example.com"),  # escaped host
        ("http://www.example.com./", "http://www.example.com/", "example.com"),
        ("http://[2001:DB8::1]/", "http://[2001:db8::1]/", None),
        ("http://[2001:db8:0::1]:8080/x", "http://[2001:db8::1]:8080/x", None),
        ("http://[::ffff:192.0.2.1]/", "http://192.0.2.1/", None),
        ("http://192.0.2.1:80/a", "http://192.0.2.1/a", None),
        ("http://_dmarc.example.com/", "http://_dmarc.example.com/", "example.com"),
        ("example.com/path", "http://example.com/path", "example.com"),  # no scheme
        ("Example.com", "http://example.com/", "example.com"),
        ("example.com:8080/login.php", "http://example.com:8080/login.php", "example.com"),
        ("localhost:8080", "http://localhost:8080/", None),
        ("//example.com/x", "http://example.com/x", "example.com"),
        ("192.0.2.1/x", "http://192.0.2.1/x", None),
        ("hxxp://example.com/", "hxxp://example.com/", "example.com"),  # scheme kept as is
        ("file:///etc/passwd", "file:///etc/passwd", None),
        ("mailto:Someone@Example.com", "mailto:Someone@Example.com", None),  # opaque URL
        ("javascript:alert(1)", "javascript:alert(1)", None),
    ],
)
def test_url_normalises(raw: str, value: str, related: str | None) -> None:
    assert url(raw) == ok("url", value, related)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://exa mple.com/", "host:"),
        ("http://-bad-.com/", "host:"),
        ("http://example.com:99999/", "port"),
        ("http://example.com:http/", "port"),
        ("http://example.com:-1/", "port"),
        ("http://[2001:db8::1/", "not a parsable URL"),
        ("http://[example.com]/", "not a parsable URL"),
        ("http://[192.0.2.1]/", "not a parsable URL"),
        ("http://2001:db8::1/", "brackets"),
        ("http://[fe80::1%25eth0]/", "zone id"),
        ("http://010.0.0.1/", "leading zeros"),
        ("http://[2001:db8::1]x/", "after the bracketed host"),
        ("http:example.com", "port"),  # reads as the host "http" with port "example.com"
        ("mailto:", "empty"),
    ],
)
def test_url_flags(raw: str, problem: str) -> None:
    result = url(raw)
    assert result.kind == "url"
    assert result.problem is not None and problem in result.problem, result
    assert result.value == raw.strip()
    assert result.related is None


# ------------------------------------------------------------------------ e-mail


@pytest.mark.parametrize(
    ("raw", "value", "related"),
    [
        ("John.Doe@Example.COM", "john.doe@example.com", "example.com"),
        ("  admin@mail.example.co.uk. ", "admin@mail.example.co.uk", "example.co.uk"),
        ("Info@BÜCHER.de", "info@xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("user@例子.中国", "user@xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
        ("ผู้ใช้@ตัวอย่าง.ไทย", "ผู้ใช้@xn--72c1a1bt4awk9o.xn--o3cw4h", "xn--72c1a1bt4awk9o.xn--o3cw4h"),
        ("user+tag@gmail.com", "user+tag@gmail.com", "gmail.com"),
        ("<Scam@Example.com>", "scam@example.com", "example.com"),
        ("mailto:Scam@Example.com", "scam@example.com", "example.com"),
        ("x@foo.github.io", "x@foo.github.io", "foo.github.io"),
    ],
)
def test_email_normalises(raw: str, value: str, related: str | None) -> None:
    assert email(raw) == ok("email", value, related)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "exactly one '@'"),
        ("example.com", "exactly one '@'"),
        ("a@b@example.com", "exactly one '@'"),
        ('"a@b"@example.com', "exactly one '@'"),  # quoted local parts are not parsed
        ("@example.com", "empty"),
        ("user@", "empty"),
        ("us er@example.com", "not allowed"),
        ("user@exa mple.com", "domain:"),
        ("user@192.0.2.1", "domain: an IP address"),
        ("user@[192.0.2.1]", "domain: an IP address"),
        ("a" * 65 + "@example.com", "longer than 64"),
    ],
)
def test_email_flags(raw: str, problem: str) -> None:
    result = email(raw)
    assert result.kind == "email"
    assert result.problem is not None and problem in result.problem, result
    assert result.value == raw.strip()


# ------------------------------------------------------------------------ hashes

MD5 = hashlib.md5(b"").hexdigest()
SHA1 = hashlib.sha1(b"").hexdigest()
SHA256 = hashlib.sha256(b"").hexdigest()
SHA512 = hashlib.sha512(b"").hexdigest()
SHA3_256 = hashlib.sha3_256(b"").hexdigest()
SHA3_512 = hashlib.sha3_512(b"").hexdigest()


@pytest.mark.parametrize(
    ("raw", "declared", "kind", "value"),
    [
        (MD5, None, "md5", MD5),
        (MD5.upper(), None, "md5", MD5),
        (f"  {SHA1.upper()}\t", None, "sha1", SHA1),
        (SHA256, None, "sha256", SHA256),
        (SHA512.upper(), None, "sha512", SHA512),
        (MD5, "MD5", "md5", MD5),
        (SHA1, "SHA-1", "sha1", SHA1),
        (SHA1, "sha1", "sha1", SHA1),
        (SHA256, "SHA-256", "sha256", SHA256),
        (SHA256, "sha256", "sha256", SHA256),
        (SHA512, "SHA-512", "sha512", SHA512),
        (SHA3_256.upper(), "SHA3-256", "sha3-256", SHA3_256),
        (SHA3_256, "sha3_256", "sha3-256", SHA3_256),
        (SHA3_512, "SHA3-512", "sha3-512", SHA3_512),
        (
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
            "SSDEEP",
            "ssdeep",
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
        ),
        ("  T1A0A4... ", "tlsh", "tlsh", "T1A0A4..."),  # fuzzy hashes are kept as given
    ],
)
def test_file_hash_normalises(raw: str, declared: str | None, kind: str, value: str) -> None:
    assert file_hash(raw, declared) == ok(kind, value)


@pytest.mark.parametrize(
    ("raw", "declared", "kind", "problem"),
    [
        (MD5, "SHA-256", "sha256", "declared 'SHA-256' but 32 hex digits, not 64"),
        (SHA256, "MD5", "md5", "not 32"),
        (SHA256, "SHA-512", "sha512", "not 128"),
        (SHA1, "SHA3-256", "sha3-256", "not 64"),
        (MD5[:-1] + "g", None, "md5", "not hexadecimal"),
        ("0x" + MD5[2:], None, "md5", "not hexadecimal"),
        (MD5[:16] + " " + MD5[16:], None, "hash", "not hexadecimal"),
        ("abc123", None, "hash", "no known hash length"),
        (MD5 + "0", None, "hash", "no known hash length"),
        (MD5, "SHA-224", "hash", "unsupported hash algorithm"),
        ("", None, "hash", "not hexadecimal"),
        ("", "SSDEEP", "ssdeep", "empty"),
        ("٠" * 32, None, "md5", "not hexadecimal"),  # Arabic-Indic zeros are not hex
    ],
)
def test_file_hash_flags(raw: str, declared: str | None, kind: str, problem: str) -> None:
    result = file_hash(raw, declared)
    assert result.kind == kind
    assert result.problem is not None and problem in result.problem, result
    assert result.value == raw.strip()


# --------------------------------------------------------------------- MAC / ASN


@pytest.mark.parametrize(
    "raw",
    [
        "AA-BB-CC-DD-EE-FF",
        "aa:bb:cc:dd:ee:ff",
        "AA:BB:CC:DD:EE:FF",
        "aabb.ccdd.eeff",
        "AABB.CCDD.EEFF",
        "aabbccddeeff",
        " AABBCCDDEEFF ",
    ],
)
def test_mac_normalises(raw: str) -> None:
    assert mac(raw) == ok("mac", "aa:bb:cc:dd:ee:ff")


@pytest.mark.parametrize(
    "raw",
    [
        "aa:bb-cc:dd:ee:ff",
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:ff:00",
        "a:b:c:d:e:f",
        "gg:bb:cc:dd:ee:ff",
        "",
    ],
)
def test_mac_flags(raw: str) -> None:
    result = mac(raw)
    assert result.kind == "mac" and result.value == raw and result.problem is not None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("AS13335", "AS13335"),
        ("as13335", "AS13335"),
        ("13335", "AS13335"),
        (13335, "AS13335"),
        (" AS 13335 ", "AS13335"),
        ("AS013335", "AS13335"),
        ("AS0", "AS0"),
        ("AS4294967295", "AS4294967295"),
        (4294967295, "AS4294967295"),
        ("AS1.10", "AS65546"),  # asdot notation (RFC 5396)
        ("0.65535", "AS65535"),
    ],
)
def test_asn_normalises(raw: str | int, value: str) -> None:
    assert asn(raw) == ok("asn", value)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("AS4294967296", "32-bit"),
        (4294967296, "32-bit"),
        (-1, "32-bit"),
        ("AS1.65536", "32-bit"),
        ("AS65536.1", "not an AS number"),
        ("AS", "not an AS number"),
        ("ASN13335", "not an AS number"),
        ("AS-13335", "not an AS number"),
        ("AS١٣٣٣٥", "not an AS number"),  # non-ASCII digits
        ("aſ13335", "not an AS number"),  # "ſ".upper() == "S"
        ("9" * 5000, "not an AS number"),
        ("", "not an AS number"),
    ],
)
def test_asn_flags(raw: str | int, problem: str) -> None:
    result = asn(raw)
    assert result.kind == "asn" and result.value == str(raw).strip()
    assert result.problem is not None and problem in result.problem


def test_asn_rejects_booleans() -> None:
    assert asn(True).problem is not None  # bool is an int, but not an AS number


# ------------------------------------------------------------------------- phone

# Each expected E.164 number was confirmed with phonenumbers 9 while writing.
PHONES = [
    # Brunei (no trunk prefix)
    ("BN", "712 3456", "+6737123456"),  # mobile
    ("BN", "871 2345", "+6738712345"),  # mobile
    ("BN", "222 3456", "+6732223456"),  # landline
    ("BN", "+673 712 3456", "+6737123456"),
    ("BN", "00 673 712 3456", "+6737123456"),
    # Cambodia
    ("KH", "012 345 678", "+85512345678"),  # mobile
    ("KH", "092 123 456", "+85592123456"),  # mobile
    ("KH", "0967 123 456", "+855967123456"),  # mobile, 9 digits
    ("KH", "023 756 789", "+85523756789"),  # Phnom Penh landline
    ("KH", "+855 12 345 678", "+85512345678"),
    ("KH", "001 855 12 345 678", "+85512345678"),  # local IDD 001
    ("KH", "00855 12 345 678", "+85512345678"),
    # Indonesia
    ("ID", "0812-3456-7890", "+6281234567890"),  # mobile
    ("ID", "021-1234-5678", "+622112345678"),  # Jakarta landline
    ("ID", "(021) 8350123", "+62218350123"),
    ("ID", "+62 812-3456-7890", "+6281234567890"),
    ("ID", "008 62 812 3456 7890", "+6281234567890"),  # local IDD 008
    ("ID", "009 62 812 3456 7890", "+6281234567890"),
    ("ID", "0062 812 3456 7890", "+6281234567890"),  # "00" read as "+"
    # Laos
    ("LA", "020 2345 6789", "+8562023456789"),  # mobile
    ("LA", "020 23 123 456", "+8562023123456"),
    ("LA", "021 212 862", "+85621212862"),  # Vientiane landline
    ("LA", "+856 20 2345 6789", "+8562023456789"),
    ("LA", "00 856 20 2345 6789", "+8562023456789"),
    # Malaysia
    ("MY", "012-345 6789", "+60123456789"),  # mobile
    ("MY", "011-2345 6789", "+601123456789"),  # 011 mobiles have 8 subscriber digits
    ("MY", "03-2385 6789", "+60323856789"),  # Kuala Lumpur landline
    ("MY", "+60 12-345 6789", "+60123456789"),
    ("MY", "00 60 12 345 6789", "+60123456789"),
    # Myanmar
    ("MM", "09 212 3456", "+9592123456"),  # mobile
    ("MM", "09-250-123-456", "+959250123456"),  # mobile
    ("MM", "09 7812 34567", "+959781234567"),  # mobile
    ("MM", "01 234 567", "+951234567"),  # Yangon landline
    ("MM", "+95 9 212 3456", "+9592123456"),
    ("MM", "00 95 9 250 123 456", "+959250123456"),
    # Philippines
    ("PH", "0917 123 4567", "+639171234567"),  # mobile
    ("PH", "0905 123 4567", "+639051234567"),
    ("PH", "(02) 8123 4567", "+63281234567"),  # Metro Manila landline
    ("PH", "+63 917 123 4567", "+639171234567"),
    ("PH", "00 63 917 123 4567", "+639171234567"),
    # Singapore (no trunk prefix)
    ("SG", "9123 4567", "+6591234567"),  # mobile
    ("SG", "8123 4567", "+6581234567"),  # mobile
    ("SG", "6123 4567", "+6561234567"),  # landline
    ("SG", "+65 9123 4567", "+6591234567"),
    ("SG", "001 65 9123 4567", "+6591234567"),  # local IDDs 000-039
    ("SG", "000 65 9123 4567", "+6591234567"),
    ("SG", "008 65 9123 4567", "+6591234567"),
    ("SG", "00 65 9123 4567", "+6591234567"),  # not an SG IDD: read as "+"
    # Thailand
    ("TH", "081-234-5678", "+66812345678"),  # mobile
    ("TH", "02-123-4567", "+6621234567"),  # Bangkok landline
    ("TH", "+66 81 234 5678", "+66812345678"),
    ("TH", "001 66 81 234 5678", "+66812345678"),  # local IDDs 001-009
    ("TH", "007 66 81 234 5678", "+66812345678"),
    # Viet Nam
    ("VN", "091 234 56 78", "+84912345678"),  # mobile
    ("VN", "0912 345 678", "+84912345678"),
    ("VN", "024 3825 1234", "+842438251234"),  # Ha Noi landline
    ("VN", "028 3822 1234", "+842838221234"),  # Ho Chi Minh City landline
    ("VN", "+84 91 234 56 78", "+84912345678"),
    ("VN", "00 84 91 234 56 78", "+84912345678"),
    # China
    ("CN", "138 0013 8000", "+8613800138000"),  # mobile
    ("CN", "010-1234 5678", "+861012345678"),  # Beijing landline
    ("CN", "021 6234 5678", "+862162345678"),  # Shanghai landline
    ("CN", "+86 138 0013 8000", "+8613800138000"),
    ("CN", "00 86 138 0013 8000", "+8613800138000"),
    ("CN", "1795100 65 9123 4567", "+6591234567"),  # carrier IDD 17951 + 00
    # Japan
    ("JP", "090-1234-5678", "+819012345678"),  # mobile
    ("JP", "03-1234-5678", "+81312345678"),  # Tokyo landline
    ("JP", "06-6123-4567", "+81661234567"),  # Osaka landline
    ("JP", "+81 90-1234-5678", "+819012345678"),
    ("JP", "010 81 90 1234 5678", "+819012345678"),  # local IDD 010
    # Korea
    ("KR", "010-1234-5678", "+821012345678"),  # mobile
    ("KR", "02-212-3456", "+8222123456"),  # Seoul landline
    ("KR", "031-123-4567", "+82311234567"),  # Gyeonggi landline
    ("KR", "+82 10-1234-5678", "+821012345678"),
    ("KR", "001 82 10 1234 5678", "+821012345678"),  # carrier IDDs 001, 002, 00700
    ("KR", "002 82 2 212 3456", "+8222123456"),
    ("KR", "00700 82 10 1234 5678", "+821012345678"),
    # no region: international forms only
    (None, "+65 9123 4567", "+6591234567"),
    (None, "+66812345678", "+66812345678"),
    (None, "0065 9123 4567", "+6591234567"),
    (None, "tel:+6591234567", "+6591234567"),
    (None, "+66 (0)81 234 5678", "+66812345678"),
    ("sg", "9123 4567", "+6591234567"),  # region case does not matter
    ("SG", "+65 9123 4567 ext. 12", "+6591234567"),
]
COUNTRIES = {"BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN", "CN", "JP", "KR"}


def test_phone_table_covers_all_asean_plus_three_countries() -> None:
    assert {region for region, _, _ in PHONES if region} >= COUNTRIES


@pytest.mark.parametrize(("region", "raw", "value"), PHONES)
def test_phone_normalises(region: str | None, raw: str, value: str) -> None:
    assert phone(raw, region) == ok("phone", value)


@pytest.mark.parametrize(
    ("region", "raw", "value"),
    [
        ("SG", "1234", "1234"),
        ("SG", "9123 456", "9123456"),  # one digit short
        (None, "9123 4567", "91234567"),  # national without a region
        ("TH", "9123 4567", "91234567"),  # an SG mobile is not a Thai number
        ("SG", "081-234-5678", "0812345678"),  # a Thai mobile is not an SG number
        ("MM", "09 4 212 3456", "0942123456"),
        ("XX", "9123 4567", "91234567"),  # unknown region
        (None, "+65 (0) 9123 4567", "+65091234567"),
        (None, "call me", "call me"),
        ("SG", "", ""),
    ],
)
def test_phone_flags(region: str | None, raw: str, value: str) -> None:
    result = phone(raw, region)
    assert result.kind == "phone" and result.value == value
    assert result.problem is not None and "not a valid phone number" in result.problem


def test_phone_valid_only_with_the_right_region() -> None:
    assert phone("081-234-5678", "TH").normalised
    assert not phone("081-234-5678", "SG").normalised
    assert not phone("081-234-5678", None).normalised
    assert phone("9123 4567", "SG").value == "+6591234567"
    assert not phone("9123 4567", "TH").normalised


# -------------------------------------------------------------------- IBAN / bank


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("gb82-west-1234-5698-7654-32", "GB82WEST12345698765432"),
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("IBAN DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("FR1420041010050500013M02606", "FR1420041010050500013M02606"),
        ("NO9386011117947", "NO9386011117947"),  # the shortest (15)
        ("MT84MALT011000012345MTLCAST001S", "MT84MALT011000012345MTLCAST001S"),
        ("TL380080012345678910157", "TL380080012345678910157"),  # Timor-Leste
    ],
)
def test_iban_normalises(raw: str, value: str) -> None:
    assert iban(raw) == ok("iban", value)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("GB82WEST12345698765431", "IBAN check digits do not match"),
        ("GB28WEST12345698765432", "IBAN check digits do not match"),  # swapped digits
        ("DE89370400440532013001", "IBAN check digits do not match"),
        ("GB82WEST1234569876543", "has 22 characters, not 21"),
        ("DE8937040044053201300", "has 22 characters, not 21"),
        ("DE01370400440532013000", "never issued"),  # 01 passes mod 97 where 98 would
        ("GB82", "15 to 34"),
        ("GB82WEST123456987654321234567890123", "15 to 34"),
        ("8282WEST12345698765432", "country code"),
        ("GBXXWEST12345698765432", "country code"),
        ("GB82WEST1234569876543_", "only letters and digits"),
        ("GB82WEſT12345698765432", "only letters and digits"),  # "ſ".upper() == "S"
        ("", "15 to 34"),
    ],
)
def test_iban_flags(raw: str, problem: str) -> None:
    result = iban(raw)
    assert result.kind == "iban" and result.value == raw.strip()
    assert result.problem is not None and problem in result.problem, result


def test_iban_check_digits_vary_with_every_character() -> None:
    # changing any one character of a valid IBAN breaks the mod-97 check
    valid = "GB82WEST12345698765432"
    for i in range(4, len(valid)):
        replacement = "0" if valid[i] != "0" else "1"
        assert not iban(valid[:i] + replacement + valid[i + 1 :]).normalised


@pytest.mark.parametrize(
    ("raw", "country", "bank", "expected"),
    [
        ("DE89 3704 0044 0532 0130 00", "DE", None, ok("iban", "DE89370400440532013000")),
        ("GB82WEST12345698765432", "SG", "DBSSSGSG", ok("iban", "GB82WEST12345698765432")),
        ("123-456-7890", "th", "BKKB THBK", ok("bank-account", "TH:BKKBTHBK:1234567890")),
        ("123-456-7890", "TH", None, ok("bank-account", "TH:1234567890")),
        ("123-456-7890", None, None, ok("bank-account", "1234567890")),
        ("123-456-7890", None, "BKKBTHBK", ok("bank-account", "1234567890")),
        ("003 9876 5432", "PH", "bopiphmm", ok("bank-account", "PH:BOPIPHMM:00398765432")),
        ("0123.456.789", "VN", "970436", ok("bank-account", "VN:970436:0123456789")),
        ("1234/5678/90", "ID", "", ok("bank-account", "ID:1234567890")),
        ("123456", "JP", None, ok("bank-account", "JP:123456")),
        ("12345678901234567890", "CN", None, ok("bank-account", "CN:12345678901234567890")),
    ],
)
def test_bank_account_normalises(
    raw: str, country: str | None, bank: str | None, expected: Observable
) -> None:
    assert bank_account(raw, country=country, bank=bank) == expected


@pytest.mark.parametrize(
    ("raw", "country", "bank", "problem"),
    [
        ("12345", "SG", None, "6 to 20 digits"),
        ("123456789012345678901", "SG", None, "6 to 20 digits"),
        ("GB82WEST12345698765431", "GB", None, "IBAN check digits do not match"),
        ("12-34A-567", "SG", None, "only digits"),
        ("", "SG", None, "only digits"),
        ("123456789", "Singapore", None, "ISO 3166"),
        ("123456789", "S1", None, "ISO 3166"),
        ("123456789", "SG", "DBS:SG", "':'"),
    ],
)
def test_bank_account_flags(raw: str, country: str | None, bank: str | None, problem: str) -> None:
    result = bank_account(raw, country=country, bank=bank)
    assert result.kind == "bank-account" and result.value == raw.strip()
    assert result.problem is not None and problem in result.problem, result


# ---------------------------------------------------------------- crypto wallets

GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
HASH160 = bytes(range(20))


def test_base58check_round_trip_and_leading_zeros() -> None:
    for payload in (b"\x00" + HASH160, b"\x00\x00\x01", b"\x41" + HASH160, b"\xff" * 21):
        encoded = base58check_encode(payload)
        assert base58check_decode(encoded) == payload
    assert base58check_encode(b"\x00" + HASH160).startswith("1")
    decoded = base58check_decode(GENESIS)
    assert decoded is not None and decoded[0] == 0 and len(decoded) == 21
    assert base58check_encode(decoded) == GENESIS
    assert base58check_decode(GENESIS[:-1] + "b") is None  # checksum
    assert base58check_decode("0OIl") is None  # not in the alphabet
    assert base58check_decode("") is None


def test_bech32_round_trip() -> None:
    encoded = bech32_encode("bc", [0, 1, 2, 31])
    assert bech32_decode(encoded) == ("bc", [0, 1, 2, 31], False)
    encoded_m = bech32_encode("bc", [1, 2], m=True)
    assert bech32_decode(encoded_m) == ("bc", [1, 2], True)
    assert bech32_decode(encoded.upper()) == ("bc", [0, 1, 2, 31], False)
    assert bech32_decode(encoded[:-1] + ("q" if encoded[-1] != "q" else "p")) is None


@pytest.mark.parametrize(
    ("raw", "currency", "value"),
    [
        # widely published addresses
        (GENESIS, None, f"btc:{GENESIS}"),
        (GENESIS, "BTC", f"btc:{GENESIS}"),
        (GENESIS, "bitcoin", f"btc:{GENESIS}"),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", None, "btc:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
        # BIP-173 / BIP-350 test vectors (upper case is valid, stored lower)
        (
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            None,
            "btc:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ),
        (
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            "btc",
            "btc:bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            None,
            "btc:bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ),
        ("BC1SW50QGDZ25J", None, "btc:bc1sw50qgdz25j"),
        ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", None, "btc:bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"),
        # EVM: lower-cased, any EVM chain name
        (
            "0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe",
            None,
            "eth:0xde0b295669a9fd93d5f28d9ec85e40f4cb697bae",
        ),
        (
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "usdt-erc20",
            "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ),
        (
            "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
            "bsc",
            "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ),
        (
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "polygon",
            "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ),
        # Tron (the USDT TRC-20 contract address)
        ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "trx:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "USDT", "trx:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "tron", "trx:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        # Bitcoin Cash: the cashaddr spec's example and its legacy form
        (
            "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
            None,
            "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        ),
        (
            "BITCOINCASH:QPM2QSZNHKS23Z7629MMS6S4CWEF74VCWVY22GDX6A",
            "bch",
            "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        ),
        (
            "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
            None,
            "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        ),
        (
            "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu",
            "bch",
            "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        ),
        # Monero (the general-fund address): format only
        (
            "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
            None,
            "xmr:44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
        ),
    ],
)
def test_crypto_wallet_published(raw: str, currency: str | None, value: str) -> None:
    assert crypto_wallet(raw, currency) == ok("crypto-wallet", value)


@pytest.mark.parametrize(
    ("version", "currency", "first"),
    [
        (0x00, "btc", "1"),
        (0x05, "btc", "3"),
        (0x30, "ltc", "L"),
        (0x32, "ltc", "M"),
        (0x1E, "doge", "D"),
        (0x16, "doge", "9"),
        (0x41, "trx", "T"),
    ],
)
def test_crypto_wallet_constructed_base58(version: int, currency: str, first: str) -> None:
    for hash160 in (HASH160, hashlib.sha256(b"bayanihan").digest()[:20], b"\xff" * 20):
        address = base58check_encode(bytes([version]) + hash160)
        assert address.startswith(first) or (version == 0x16 and address[0] == "A")
        assert crypto_wallet(address) == ok("crypto-wallet", f"{currency}:{address}")
        assert crypto_wallet(address, currency) == ok("crypto-wallet", f"{currency}:{address}")
        corrupted = address[:-1] + ("2" if address[-1] != "2" else "3")
        assert crypto_wallet(corrupted).problem is not None
        assert crypto_wallet(corrupted, currency).problem is not None


def test_crypto_wallet_constructed_segwit() -> None:
    for hrp, currency in (("bc", "btc"), ("ltc", "ltc")):
        for version, program in ((0, HASH160), (0, bytes(32)), (1, bytes(range(32)))):
            address = segwit_encode(hrp, version, program)
            assert crypto_wallet(address) == ok("crypto-wallet", f"{currency}:{address}")
            assert crypto_wallet(address.upper(), currency).value == f"{currency}:{address}"
    # version 0 with a bech32m checksum, version 1 with bech32: both invalid (BIP-350)
    wrong_v0 = bech32_encode("bc", [0, *(norm._convert_bits(HASH160, 8, 5, True) or [])], m=True)
    wrong_v1 = bech32_encode("bc", [1, *(norm._convert_bits(bytes(32), 8, 5, True) or [])])
    assert "bech32m" in (crypto_wallet(wrong_v0).problem or "")
    assert "bech32m" in (crypto_wallet(wrong_v1).problem or "")
    short_v0 = segwit_encode("bc", 0, bytes(16))
    assert "20 or 32 bytes" in (crypto_wallet(short_v0).problem or "")


def test_crypto_wallet_cashaddr_agrees_with_legacy() -> None:
    legacy = base58check_encode(b"\x05" + HASH160)
    cash = cashaddr_encode(1, HASH160)
    assert cash.startswith("p")
    assert crypto_wallet(legacy, "bch") == ok("crypto-wallet", f"bch:{cash}")
    assert crypto_wallet(cash) == ok("crypto-wallet", f"bch:{cash}")
    assert crypto_wallet(legacy) == ok("crypto-wallet", f"btc:{legacy}")  # unknowable without bch


@pytest.mark.parametrize(
    ("raw", "currency", "problem"),
    [
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", None, "checksum"),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "btc", "checksum"),
        (GENESIS.lower(), None, "checksum"),  # base58 is case-sensitive
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", None, "checksum"),
        ("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", None, "mixed case"),
        ("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6q", None, "checksum"),
        ("bitcoincash:Qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", None, "mixed case"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", None, "40 hex"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", "eth", "40 hex"),
        (GENESIS, "eth", "40 hex"),
        (GENESIS, "ltc", "not a ltc address"),
        (GENESIS, "trx", "34 characters"),
        (GENESIS, "doge", "not a doge address"),
        ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "btc", "not a btc address"),
        (GENESIS, "sol", "unsupported currency"),
        ("4" * 94, "xmr", "95 characters"),
        ("hello world", None, "not a recognised wallet address"),
        ("", None, "empty"),
    ],
)
def test_crypto_wallet_flags(raw: str, currency: str | None, problem: str) -> None:
    result = crypto_wallet(raw, currency)
    assert result.kind == "crypto-wallet" and result.value == raw.strip()
    assert result.problem is not None and problem in result.problem, result


# ---------------------------------------------------------------- social handles


@pytest.mark.parametrize(
    ("platform", "handle", "value"),
    [
        ("telegram", "@SomeHandle", "telegram:somehandle"),
        ("TG", "somehandle", "telegram:somehandle"),
        ("tg", "https://t.me/Foo", "telegram:foo"),
        ("telegram", "t.me/Foo_Bar", "telegram:foo_bar"),
        ("telegram", "https://telegram.me/s/SomeChannel", "telegram:somechannel"),
        ("telegram", "https://t.me/+AbCdEf123", "telegram:+AbCdEf123"),  # invites keep case
        ("telegram", "https://t.me/joinchat/AbCdEf", "telegram:+AbCdEf"),
        ("fb", "https://www.facebook.com/foo", "facebook:foo"),
        ("facebook", "https://m.facebook.com/Foo.Bar/", "facebook:foo.bar"),
        (
            "facebook",
            "https://www.facebook.com/profile.php?id=100012345678",
            "facebook:100012345678",
        ),
        ("x", "@Jack", "twitter:jack"),
        ("Twitter", "https://x.com/Jack", "twitter:jack"),
        ("twitter", "https://twitter.com/jack/status/20", "twitter:jack"),
        ("instagram", "@Some.User", "instagram:some.user"),
        ("ig", "https://www.instagram.com/Some.User/", "instagram:some.user"),
        ("tiktok", "https://www.tiktok.com/@Scammer", "tiktok:scammer"),
        ("line", "ScamID", "line:ScamID"),  # LINE IDs keep their case
        ("line", "https://line.me/ti/p/~ScamID", "line:ScamID"),
        ("zalo", "0912345678", "zalo:0912345678"),
        ("zalo", "https://zalo.me/0912345678", "zalo:0912345678"),
        ("wechat", "wxid_AbC123", "wechat:wxid_AbC123"),
        ("weixin", "wxid_AbC123", "wechat:wxid_AbC123"),
        ("kakaotalk", "ScamKakao", "kakaotalk:ScamKakao"),
        ("kakao", "ScamKakao", "kakaotalk:ScamKakao"),
        ("whatsapp", "https://wa.me/6591234567", "whatsapp:6591234567"),
        ("viber", "+6591234567", "viber:+6591234567"),
        ("signal", "Scam.01", "signal:Scam.01"),
        ("Mastodon", " @Foo@Example.social ", "mastodon:@Foo@Example.social"),  # unknown
    ],
)
def test_social_handle_normalises(platform: str, handle: str, value: str) -> None:
    assert social_handle(platform, handle) == ok("social-handle", value)


@pytest.mark.parametrize(
    ("platform", "handle", "problem"),
    [
        ("telegram", "", "empty handle"),
        ("telegram", "@", "empty handle"),
        ("telegram", "https://t.me/", "empty handle"),
        ("mastodon", "  ", "empty handle"),
        ("", "foo", "empty platform"),
        ("telegram", "https://www.facebook.com/foo", "a facebook URL, not telegram"),
        ("telegram", "https://evil.example.com/foo", "not a profile URL"),
        ("telegram", "some handle", "no spaces"),
    ],
)
def test_social_handle_flags(platform: str, handle: str, problem: str) -> None:
    result = social_handle(platform, handle)
    assert result.kind == "social-handle"
    assert result.value == f"{platform.strip().lower()}:{handle.strip()}"
    assert result.problem is not None and problem in result.problem, result


# --------------------------------------------------- file names, accounts, serials


@pytest.mark.parametrize(
    ("raw", "value"),
    [("  Invoice.PDF.exe ", "Invoice.PDF.exe"), ("README", "README"), ("請求書.zip", "請求書.zip")],
)
def test_file_name_kept_as_given(raw: str, value: str) -> None:
    assert file_name(raw) == ok("file-name", value)


def test_file_name_empty_flagged() -> None:
    assert file_name("  ").problem == "empty"


@pytest.mark.parametrize(
    ("login", "account_type", "value"),
    [
        (" Root ", None, "Root"),
        ("Root", "UNIX", "unix:Root"),
        ("CORP\\jdoe", "windows-domain", "windows-domain:CORP\\jdoe"),
        ("jdoe", "", "jdoe"),
    ],
)
def test_user_account(login: str, account_type: str | None, value: str) -> None:
    assert user_account(login, account_type) == ok("user-account", value)


def test_user_account_empty_flagged() -> None:
    assert user_account(" ", "unix").problem == "empty login"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("00:A1:B2:C3", "a1b2c3"),
        ("00 a1 b2 c3", "a1b2c3"),
        ("0x00A1B2", "a1b2"),
        ("0000", "0"),
        ("0", "0"),
        ("36F7D4326A4E5E3C", "36f7d4326a4e5e3c"),
    ],
)
def test_x509_serial(raw: str, value: str) -> None:
    assert x509_serial(raw) == ok("x509-serial", value)


@pytest.mark.parametrize("raw", ["", "xyz", "12-34", "0x", "::"])
def test_x509_serial_flags(raw: str) -> None:
    result = x509_serial(raw)
    assert result.kind == "x509-serial" and result.value == raw and result.problem is not None


# ------------------------------------------------------------------------- guess


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("SCAM.Example.COM.", None, [ok("domain", "scam.example.com", "example.com")]),
        ("bücher.de", None, [ok("domain", "xn--bcher-kva.de", "xn--bcher-kva.de")]),
        ("192.0.2.1", None, [ok("ipv4", "192.0.2.1")]),
        ("203.0.113.9/24", None, [ok("ipv4", "203.0.113.0/24")]),
        ("2001:DB8::1", None, [ok("ipv6", "2001:db8::1")]),
        ("[2001:db8::1]", None, [ok("ipv6", "2001:db8::1")]),
        ("Scam@Example.com", None, [ok("email", "scam@example.com", "example.com")]),
        (
            "HTTPS://Example.com:443/login",
            None,
            [ok("url", "https://example.com/login", "example.com")],
        ),
        (MD5.upper(), None, [ok("md5", MD5)]),
        (SHA1, None, [ok("sha1", SHA1)]),
        (SHA256, None, [ok("sha256", SHA256), ok("sha3-256", SHA256)]),
        (SHA512, None, [ok("sha512", SHA512), ok("sha3-512", SHA512)]),
        ("GB82 WEST 1234 5698 7654 32", None, [ok("iban", "GB82WEST12345698765432")]),
        (GENESIS, None, [ok("crypto-wallet", f"btc:{GENESIS}")]),
        (
            "0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe",
            None,
            [ok("crypto-wallet", "eth:0xde0b295669a9fd93d5f28d9ec85e40f4cb697bae")],
        ),
        ("+65 9123 4567", None, [ok("phone", "+6591234567")]),
        ("9123 4567", "SG", [ok("phone", "+6591234567")]),
        ("081-234-5678", "TH", [ok("phone", "+66812345678")]),
        ("tg:SomeHandle", None, [ok("social-handle", "telegram:somehandle")]),
        ("telegram:https://t.me/Foo", None, [ok("social-handle", "telegram:foo")]),
        ("AA-BB-CC-DD-EE-FF", None, [ok("mac", "aa:bb:cc:dd:ee:ff")]),
        ("AS13335", None, [ok("asn", "AS13335")]),
        # nothing fits
        ("", None, []),
        ("hello world", None, []),
        ("9123 4567", None, []),  # national number, no region
        ("010.1.1.1", None, []),  # ambiguous IP, and numeric "TLD"
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", None, []),  # bad checksum
        ("GB82WEST12345698765431", None, []),
        ("example.com/path", None, []),  # no scheme: neither URL nor domain
        ("a@b@c.com", None, []),
        ("mastodon:foo", None, []),
        ("x" * 10000, None, []),
    ],
)
def test_guess(raw: str, region: str | None, expected: list[Observable]) -> None:
    assert guess(raw, region=region) == expected


def test_guess_returns_only_normalised_values() -> None:
    for raw in ("1.2.3.4", "foo.example", "+6591234567", MD5, "@", ":", "0x"):
        assert all(o.normalised and o.kind in KINDS for o in guess(raw, region="SG"))


# ----------------------------------------------------------- API-wide properties


def test_kinds_cover_every_kind_produced() -> None:
    assert {"sha3-256", "sha3-512", "ipv4", "ipv6", "bank-account", "crypto-wallet"} <= KINDS
    produced = [
        ip("1.2.3.4"),
        ip("::1"),
        domain("example.com"),
        url("example.com"),
        email("a@example.com"),
        file_hash(MD5),
        file_hash("x", "SSDEEP"),
        file_hash("x", "TLSH"),
        file_hash("x"),
        mac("aabbccddeeff"),
        asn(1),
        phone("+6591234567", None),
        iban("GB82WEST12345698765432"),
        bank_account("123456", country=None),
        crypto_wallet(GENESIS),
        social_handle("tg", "x"),
        file_name("x"),
        user_account("x"),
        x509_serial("1"),
    ]
    assert all(o.kind in KINDS for o in produced)


def test_observable_is_frozen_and_hashable() -> None:
    o = ok("domain", "example.com", "example.com")
    assert o.normalised and not Observable("domain", "x", "bad").normalised
    assert len({o, ok("domain", "example.com", "example.com")}) == 1
    with pytest.raises(AttributeError):
        o.value = "other"  # type: ignore[misc]


def test_public_suffix_list_is_built_lazily_once() -> None:
    first = norm._psl()
    domain("a.example.com")
    assert norm._psl() is first


@pytest.mark.parametrize(
    "function",
    [ip, domain, url, email, file_hash, mac, asn, iban, crypto_wallet, file_name, x509_serial],
)
@pytest.mark.parametrize("raw", [None, 42, 3.5, b"bytes"])
def test_non_string_input_does_not_raise(function: object, raw: object) -> None:
    result = function(raw)  # type: ignore[operator]
    assert isinstance(result, Observable)


def test_non_string_input_of_other_functions_does_not_raise() -> None:
    assert phone(None, "SG").problem is not None  # type: ignore[arg-type]
    assert bank_account(None, country="SG").problem is not None  # type: ignore[arg-type]
    assert social_handle(None, None).problem is not None  # type: ignore[arg-type]
    assert user_account(None).problem is not None  # type: ignore[arg-type]
    assert guess(None) == []  # type: ignore[arg-type]


HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(max_size=120)
URLISH = st.text(alphabet=st.sampled_from(list("aZ09.-_:/?#[]@!$&'()*+,;=%~ ü例")), max_size=60)


@HYPOTHESIS
@given(raw=TEXT, other=st.one_of(st.none(), TEXT))
def test_no_normaliser_raises(raw: str, other: str | None) -> None:
    results = [
        ip(raw),
        domain(raw),
        url(raw),
        email(raw),
        file_hash(raw),
        file_hash(raw, other),
        mac(raw),
        asn(raw),
        phone(raw, other),
        iban(raw),
        bank_account(raw, country=other, bank=other),
        crypto_wallet(raw),
        crypto_wallet(raw, other),
        social_handle(other or "telegram", raw),
        file_name(raw),
        user_account(raw, other),
        x509_serial(raw),
        *guess(raw, region=other),
    ]
    for result in results:
        assert result.kind in KINDS
        assert result.problem != norm._INTERNAL, result


@HYPOTHESIS
@given(raw=st.one_of(TEXT, URLISH, st.builds(lambda a, b: f"http://{a}/{b}", URLISH, URLISH)))
def test_url_never_raises_and_is_idempotent(raw: str) -> None:
    first = url(raw)
    assert first.problem != norm._INTERNAL
    if first.normalised:
        assert url(first.value) == first


@HYPOTHESIS
@given(address=st.ip_addresses(), prefix=st.integers(0, 128), form=st.sampled_from("pcbu"))
def test_ip_is_idempotent(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int, form: str
) -> None:
    text = str(address)
    if form == "c":
        text = f"{text}/{prefix % (33 if address.version == 4 else 129)}"
    elif form == "b" and address.version == 6:
        text = f"[{address.exploded}]"
    elif form == "u":
        text = address.exploded.upper()
    first = ip(text)
    assert first.normalised, first
    assert ip(first.value) == first


LABEL = st.from_regex(r"[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,20}[a-zA-Z0-9_])?", fullmatch=True)
UNICODE_LABEL = st.text(
    alphabet=st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1, max_size=12
)
NAME = st.lists(st.one_of(LABEL, UNICODE_LABEL), min_size=1, max_size=4).map(".".join)


@HYPOTHESIS
@given(name=st.one_of(NAME, TEXT))
def test_domain_and_email_are_idempotent(name: str) -> None:
    first = domain(name)
    if first.normalised:
        assert domain(first.value) == first
        name = name.strip()
        address = email(f"User.{first.value[:10]}@{name}")
        assert address.normalised, address
        assert email(address.value) == address
        link = url(f"HTTP://{name}/a/../b?x=%7e")
        assert link.normalised, link
        assert url(link.value) == link


@HYPOTHESIS
@given(
    data=st.binary(min_size=1, max_size=64),
    algorithm=st.sampled_from(["md5", "sha1", "sha256", "sha512", "sha3_256", "sha3_512"]),
    upper=st.booleans(),
)
def test_hash_is_idempotent(data: bytes, algorithm: str, upper: bool) -> None:
    digest = hashlib.new(algorithm, data).hexdigest()
    declared = algorithm.replace("_", "-").upper() if algorithm.startswith("sha3") else None
    first = file_hash(digest.upper() if upper else digest, declared)
    assert first.normalised and first.value == digest
    assert file_hash(first.value, declared) == first
