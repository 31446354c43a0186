"""Scenario data for the three-node demo: "Lotus Lure", a bank phishing and scam campaign.

An invented crew sends SMS lures ("your account is locked, verify here")
impersonating three banks, one in Viet Nam, one in Singapore and one in Japan.
The links lead to look-alike login pages that harvest passwords and one-time
codes; an Android app, *LotusOTP*, forwards the victims' SMS codes to a command
server. The money goes through mule accounts at the Vietnamese bank into a USDT
wallet on TRON.

Each of the three nodes (``NODES``) hosts its national CERT and one bank, a
constituent of the CERT (DESIGN §4: a national CERT and the operators it
serves). Every item (``items``) names its author organisation, its TLP and, for
AMBER, the organisation it is addressed to (always another node's CERT, so the
CERT's bank sees it too):

* GREEN items go to every node;
* AMBER items go only to the node hosting the organisation they name;
* RED items stay with their author, on their own node.

The items come in three waves (``WAVES``), one per sync round, so hits appear
round after round.

Everything is invented. Network values come from the ranges reserved for
documentation (RFC 5737: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; RFC 3849:
2001:db8::/32) and the ``example.*`` domains (RFC 2606), so nothing points at a
real host; the phone numbers, bank codes, accounts, the wallet (a valid checksum
over an invented payload) and the hashes are made up. Object ids are derived from
names and timestamps are fixed, so the same scenario loads the same objects.
Documentation ranges and ``example.*`` domains are on the MISP warning-lists; the
demo switches those lists off on its nodes, and says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import (
    BANK_ACCOUNT_TYPE,
    CRYPTO_WALLET_TYPE,
    PHONE_NUMBER_TYPE,
    SHARING_EXTENSION_ID,
)

_NAMESPACE = uuid.UUID("0e6f3b8a-5d2c-4a71-9b44-6c1d2e3f4a5b")


@dataclass(frozen=True, slots=True)
class OrgSpec:
    key: str  # short handle used by the scenario ("vn-cert")
    name: str
    country: str
    sector: str | None
    parent: str | None  # key of the parent organisation (a constituency)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    code: str  # also the peer name other nodes know it by
    cert: OrgSpec  # the node's own organisation
    bank: OrgSpec  # a constituent of the CERT

    @property
    def orgs(self) -> tuple[OrgSpec, OrgSpec]:
        return (self.cert, self.bank)


def _node(code: str, cert: str, bank: str) -> NodeSpec:
    low = code.lower()
    return NodeSpec(
        code=code,
        cert=OrgSpec(f"{low}-cert", cert, code, None, None),
        bank=OrgSpec(f"{low}-bank", bank, code, "financial-services", f"{low}-cert"),
    )


NODES: tuple[NodeSpec, ...] = (
    _node("VN", "VNCERT/CC (demo)", "Saigon Lotus Bank (demo)"),
    _node("SG", "SingCERT (demo)", "Lion City Bank (demo)"),
    _node("JP", "JPCERT/CC (demo)", "Sakura Trust Bank (demo)"),
)
ORGS: dict[str, OrgSpec] = {org.key: org for spec in NODES for org in spec.orgs}


def node_of(org_key: str) -> str:
    """The code of the node hosting an organisation of the scenario."""
    return ORGS[org_key].country


WAVES: tuple[str, ...] = (
    "Day 1: lures, look-alike login pages and the LotusOTP app (GREEN; RED case notes)",
    "Day 2: the money trail, mule accounts and a wallet (AMBER, addressed across borders)",
    "Day 3: late sightings, SMS senders and login sources (GREEN)",
)

# The campaign's values, in one place.
C2_IPV4 = "203.0.113.45"
C2_IPV6 = "2001:db8:4c0::45"
SMS_GATEWAY_RANGE = "198.51.100.0/24"
SMS_GATEWAY = "198.51.100.23"
LOGIN_SOURCE = "192.0.2.66"  # first in a RED case note of the Vietnamese bank
APK_SHA256 = "9c4e1f7a2b3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7"
MULE_BANK = "SLTBVNVX"  # an invented BIC of the Vietnamese bank
MULE_ACCOUNTS = ("0071 0042 7781", "0071 0042 9904")
# A TRON address: a valid checksum over an invented payload.
WALLET = "TTKtrWN1YGPNRwXLXBEks69FCn2FmGfXhZ"
SMS_SENDERS = ("+84 88 000 0147", "+84 70 000 0147")
FAKE_DOMAINS = {
    "VN": "saigonlotus-xacthuc.example.com",
    "SG": "lioncity-secure-login.example.net",
    "JP": "sakuratrust-kakunin.example.org",
}
APK_HOST = "lotusotp-update.example"


@dataclass(frozen=True, slots=True)
class Item:
    """One scenario object: who writes it, in which wave, at which TLP, for whom."""

    author: str  # an ORGS key
    wave: int  # 1-based
    tlp: Tlp
    recipients: tuple[str, ...]  # ORGS keys named in the sharing extension (AMBER)
    object: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.object["id"])

    @property
    def name(self) -> str:
        return str(self.object.get("name") or self.object["type"])


def _id(kind: str, name: str) -> str:
    return f"{kind}--{uuid.uuid5(_NAMESPACE, kind + ':' + name)}"


class _Builder:
    """Makes the objects; recipients are named by identity id, known only at run time."""

    def __init__(self, identities: Mapping[str, str]) -> None:
        self.identities = identities
        self.items: list[Item] = []

    def add(
        self,
        author: str,
        wave: int,
        tlp: Tlp,
        kind: str,
        name: str,
        *,
        to: tuple[str, ...] = (),
        **properties: Any,
    ) -> dict[str, Any]:
        stamp = f"2026-11-{wave + 2:02d}T0{wave + 6}:15:00.000Z"
        obj: dict[str, Any] = {
            "type": kind,
            "spec_version": "2.1",
            "id": _id(kind, f"{author}:{name}"),
            "created": stamp,
            "modified": stamp,
            "object_marking_refs": [tlp.marking_id],
        }
        if kind not in ("relationship", "observed-data", "note"):
            obj["name"] = name
        if kind == "indicator":
            obj.update(pattern_type="stix", valid_from=stamp)
            obj.setdefault("indicator_types", ["malicious-activity"])
        if kind == "observed-data":
            obj.update(first_observed=stamp, last_observed=stamp, number_observed=1)
        obj.update(properties)
        if to:
            obj["extensions"] = {
                SHARING_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "recipient_refs": [self.identities[key] for key in to],
                }
            }
        self.items.append(Item(author, wave, tlp, to, obj))
        return obj

    def indicator(
        self, author: str, wave: int, tlp: Tlp, name: str, pattern: str, **extra: Any
    ) -> dict[str, Any]:
        return self.add(author, wave, tlp, "indicator", name, pattern=pattern, **extra)

    def relate(
        self, author: str, wave: int, source: dict[str, Any], kind: str, target: dict[str, Any]
    ) -> None:
        tlp = max(_tlp(source), _tlp(target))
        self.add(
            author,
            wave,
            tlp,
            "relationship",
            f"{source['id']} {kind} {target['id']}",
            relationship_type=kind,
            source_ref=source["id"],
            target_ref=target["id"],
        )


def _tlp(obj: dict[str, Any]) -> Tlp:
    return next(level for level in Tlp if level.marking_id in obj["object_marking_refs"])


def _observed(*scos: dict[str, Any]) -> dict[str, Any]:
    """The ``objects`` of an observed-data: the project's own SCO types, by index."""
    return {str(i): sco for i, sco in enumerate(scos)}


def _phone(number: str) -> dict[str, Any]:
    return {"type": PHONE_NUMBER_TYPE, "value": number}


def _mule(number: str) -> dict[str, Any]:
    return {"type": BANK_ACCOUNT_TYPE, "account_number": number, "bank": MULE_BANK, "country": "VN"}


def _either(path: str, values: tuple[str, ...]) -> str:
    return " OR ".join(f"[{path} = '{value}']" for value in values)


def items(identities: Mapping[str, str]) -> list[Item]:
    """The scenario, given the identity id of every organisation (by ORGS key)."""
    b = _Builder(identities)
    green, amber, red = Tlp.GREEN, Tlp.AMBER, Tlp.RED

    # -- wave 1: the lures --------------------------------------------------------------
    malware = b.add(
        "vn-cert",
        1,
        green,
        "malware",
        "LotusOTP (demo)",
        is_family=True,
        malware_types=["spyware", "trojan"],
        description="Android app offered by SMS lures as a bank 'security update'; forwards "
        "SMS one-time codes to its command server.",
    )
    apk = b.indicator(
        "vn-cert", 1, green, "LotusOTP APK", f"[file:hashes.'SHA-256' = '{APK_SHA256}']"
    )
    c2 = b.indicator(
        "vn-cert",
        1,
        green,
        "LotusOTP command server",
        f"[ipv4-addr:value = '{C2_IPV4}'] OR [ipv6-addr:value = '{C2_IPV6}']",
        confidence=85,
    )
    b.relate("vn-cert", 1, apk, "indicates", malware)
    b.relate("vn-cert", 1, c2, "indicates", malware)
    vn_page = b.indicator(
        "vn-bank",
        1,
        green,
        "Look-alike login page of Saigon Lotus Bank",
        f"[domain-name:value = '{FAKE_DOMAINS['VN']}']",
    )
    b.indicator(
        "vn-bank",
        1,
        red,
        "Logins to drained customer accounts came from",
        f"[ipv4-addr:value = '{LOGIN_SOURCE}']",
        indicator_types=["compromised"],
        description="From the bank's own fraud case file: stays with the bank.",
    )
    b.add(
        "vn-cert",
        1,
        green,
        "report",
        "Advisory: Lotus Lure smishing against bank customers (demo)",
        published="2026-11-03T09:00:00Z",
        report_types=["campaign", "malware"],
        object_refs=[malware["id"], apk["id"], c2["id"], vn_page["id"]],
    )
    b.indicator(
        "sg-cert",
        1,
        green,
        "SMS lure link to a fake Lion City Bank login",
        f"[url:value = 'https://{FAKE_DOMAINS['SG']}/verify'] OR "
        f"[domain-name:value = '{FAKE_DOMAINS['SG']}']",
    )
    sg_logins = b.indicator(
        "sg-bank",
        1,
        green,
        "Logins to customer accounts with stolen one-time codes",
        f"[ipv4-addr:value = '{C2_IPV4}']",
    )
    b.add(
        "sg-bank",
        1,
        red,
        "note",
        "Internal loss estimate",
        abstract="Internal loss estimate",
        content="14 customers affected so far; losses about SGD 212,000. Not for sharing.",
        object_refs=[sg_logins["id"]],
    )
    b.indicator(
        "jp-cert",
        1,
        green,
        "Android APK sent by SMS to Japanese numbers",
        f"[file:hashes.'SHA-256' = '{APK_SHA256}'] OR [domain-name:value = '{APK_HOST}']",
    )
    b.indicator(
        "jp-cert",
        1,
        green,
        "Look-alike login page of Sakura Trust Bank",
        f"[domain-name:value = '{FAKE_DOMAINS['JP']}']",
    )
    b.add(
        "jp-bank",
        1,
        red,
        "observed-data",
        "Victims' phone numbers",
        objects=_observed(_phone("+81 90 1000 0258"), _phone("+81 80 1000 0369")),
    )

    # -- wave 2: the money trail (AMBER, each addressed to another node's CERT) --------
    b.add(
        "vn-bank",
        2,
        amber,
        "observed-data",
        "Mule accounts receiving victims' transfers",
        to=("sg-cert",),
        objects=_observed(*(_mule(number) for number in MULE_ACCOUNTS)),
    )
    b.add(
        "sg-bank",
        2,
        amber,
        "observed-data",
        "Outgoing transfers of defrauded customers",
        to=("vn-cert",),
        objects=_observed(_mule(MULE_ACCOUNTS[0])),
    )
    b.indicator(
        "vn-cert",
        2,
        amber,
        "USDT (TRON) wallet collecting the proceeds",
        f"[{CRYPTO_WALLET_TYPE}:address = '{WALLET}']",
        to=("jp-cert",),
    )
    b.indicator(
        "jp-bank",
        2,
        amber,
        "Wallet that converted customers' stolen funds",
        f"[{CRYPTO_WALLET_TYPE}:address = '{WALLET}']",
        to=("vn-cert",),
    )
    b.indicator(
        "jp-cert",
        2,
        amber,
        "Bulk SMS gateway range behind the lures",
        f"[ipv4-addr:value = '{SMS_GATEWAY_RANGE}']",
        to=("sg-cert",),
    )
    b.indicator(
        "sg-cert",
        2,
        amber,
        "SMS gateway sending lures to Singapore numbers",
        f"[ipv4-addr:value = '{SMS_GATEWAY}']",
        to=("jp-cert",),
    )

    # -- wave 3: late sightings ---------------------------------------------------------
    b.add(
        "sg-cert",
        3,
        green,
        "observed-data",
        "SMS sender numbers of the lures",
        objects=_observed(*(_phone(number) for number in SMS_SENDERS)),
    )
    b.indicator(
        "jp-bank",
        3,
        green,
        "Sender numbers customers reported",
        _either(f"{PHONE_NUMBER_TYPE}:value", SMS_SENDERS),
    )
    b.indicator(
        "vn-cert",
        3,
        green,
        "Sender numbers reported by the public",
        f"[{PHONE_NUMBER_TYPE}:value = '{SMS_SENDERS[0]}']",
    )
    b.indicator(
        "jp-cert",
        3,
        green,
        "Login attempts against Sakura Trust Bank customers",
        f"[ipv4-addr:value = '{LOGIN_SOURCE}']",
    )
    return b.items


def placeholder_identities() -> dict[str, str]:
    """Stand-in identity ids, for reading the scenario (ids, TLPs) without nodes."""
    return {key: _id("identity", key) for key in ORGS}
