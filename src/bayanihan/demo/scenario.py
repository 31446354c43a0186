"""Demo data for one node: a parcel-delivery smishing and fake-bank-login campaign.

Everything here is invented for the demo. Network values come from the ranges
reserved for documentation (RFC 5737: 192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24; RFC 3849: 2001:db8::/32) and the ``example.*`` domains
(RFC 2606), so nothing points at a real host; phone numbers, the bank account,
the wallet (a valid checksum over an invented payload) and the handle are made up.
Ids are derived from names and timestamps are fixed, so loading the demo twice
stores nothing new.

Documentation ranges and ``example.*`` domains are on the MISP warning-lists,
which keep known-benign values out of correlation; the demo switches the lists
naming them off on this node, and says so, so that its hits show.
"""

from __future__ import annotations

import uuid
from typing import Any

from bayanihan.correlate.service import Correlation
from bayanihan.correlate.warninglists import documentation_lists
from bayanihan.ingest.importer import import_objects
from bayanihan.ingest.intake import store_objects
from bayanihan.node import Node
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp

_NAMESPACE = uuid.UUID("5b0c6f0e-2a43-4c53-9d0e-8f3f0a6a1b27")

ORGS = [
    # name, country, sector, parent
    ("PNP Anti-Cybercrime Group (demo)", "PH", "government-public-services", None),
    ("Metro Harbour Bank (demo)", "PH", "financial-services", None),
    ("Luzon Telecom (demo)", "PH", "telecommunications", None),
]
# Orgs of neighbouring nodes, registered under their own ids (as federation needs).
REMOTE_ORGS = [
    ("VNCERT/CC (demo)", "VN", "identity--3f1d2a57-8c1e-4d3b-9a0f-6b5e7c2d1a01"),
    ("SingCERT (demo)", "SG", "identity--8a4c6e21-5b7d-4f90-8e13-2c9d0b6a7f02"),
]


def _id(kind: str, name: str) -> str:
    return f"{kind}--{uuid.uuid5(_NAMESPACE, kind + ':' + name)}"


def _base(kind: str, name: str, day: int, tlp: Tlp) -> dict[str, Any]:
    stamp = f"2026-11-{day:02d}T08:30:00.000Z"
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": _id(kind, name),
        "created": stamp,
        "modified": stamp,
        "object_marking_refs": [tlp.marking_id],
    }


def _indicator(name: str, pattern: str, day: int, tlp: Tlp, **extra: Any) -> dict[str, Any]:
    obj = _base("indicator", name, day, tlp)
    obj.update(
        name=name,
        pattern=pattern,
        pattern_type="stix",
        valid_from=obj["created"],
        indicator_types=["malicious-activity"],
        **extra,
    )
    return obj


def _observable(kind: str, tlp: Tlp, **properties: Any) -> dict[str, Any]:
    """One of the project's observable types (an SCO: no timestamps)."""
    name = kind + ":" + ",".join(f"{k}={v}" for k, v in sorted(properties.items()))
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": _id(kind, name),
        "object_marking_refs": [tlp.marking_id],
        **properties,
    }


# A TRON address with a valid checksum over an invented payload.
MULE_WALLET = "TJwPzUpsPEEiawWrcxqc7FaeKKgistKU7E"


def _relationship(
    source: dict[str, Any], kind: str, target: dict[str, Any], day: int, tlp: Tlp
) -> dict[str, Any]:
    obj = _base("relationship", f"{source['id']} {kind} {target['id']}", day, tlp)
    obj.update(relationship_type=kind, source_ref=source["id"], target_ref=target["id"])
    return obj


def cert_objects() -> list[dict[str, Any]]:
    """What the national CERT (the node's own org) shares."""
    malware = _base("malware", "PaketSMS Android stealer", 3, Tlp.GREEN)
    malware.update(
        name="PaketSMS (demo)",
        is_family=True,
        malware_types=["spyware", "remote-access-trojan"],
        description="Android app pushed by 'parcel on hold' SMS; steals SMS one-time passwords.",
    )
    campaign = _base("campaign", "Parcel on hold smishing wave", 3, Tlp.GREEN)
    campaign.update(
        name="Parcel-on-hold smishing wave (demo)",
        description="SMS lures about held parcels lead to fake courier and bank sites "
        "across the Philippines, Viet Nam and Singapore.",
        first_seen="2026-10-28T00:00:00Z",
    )
    indicators = [
        _indicator(
            "Fake courier tracking domain",
            "[domain-name:value = 'parcel-hold.example.com']",
            4,
            Tlp.CLEAR,
        ),
        _indicator(
            "Fake bank login page",
            "[url:value = 'https://metroharbour-verify.example.net/login']",
            4,
            Tlp.GREEN,
        ),
        _indicator(
            "PaketSMS command server",
            "[ipv4-addr:value = '203.0.113.45'] OR [ipv4-addr:value = '203.0.113.46']",
            5,
            Tlp.GREEN,
            confidence=80,
        ),
        _indicator(
            "PaketSMS APK hash",
            "[file:hashes.'SHA-256' = "
            "'4f2a7c9d1e0b3a5c6d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e']",
            5,
            Tlp.AMBER,
        ),
        _indicator(
            "Bulk SMS sender infrastructure",
            "[ipv4-addr:value = '198.51.100.0/24']",
            6,
            Tlp.AMBER,
        ),
    ]
    objects: list[dict[str, Any]] = [malware, campaign, *indicators]
    objects += [_relationship(i, "indicates", malware, 6, Tlp.GREEN) for i in indicators[:3]]
    objects.append(_relationship(campaign, "uses", malware, 6, Tlp.GREEN))
    report = _base("report", "Smishing advisory 2026-11", 7, Tlp.GREEN)
    report.update(
        name="Advisory: parcel-on-hold smishing (demo)",
        published="2026-11-07T09:00:00Z",
        report_types=["campaign", "threat-actor"],
        object_refs=[o["id"] for o in objects],
    )
    objects.append(report)
    return objects


def police_objects() -> list[dict[str, Any]]:
    actor = _base("threat-actor", "Harbour smishing crew", 8, Tlp.RED)
    actor.update(
        name="'Harbour crew' (demo)",
        threat_actor_types=["crime-syndicate"],
        description="Group renting SIM banks in Metro Manila; subject of an open case.",
    )
    wallet = _indicator(
        "Mule crypto wallet",
        f"[x-bayanihan-crypto-wallet:address = '{MULE_WALLET}']",
        8,
        Tlp.AMBER,
    )
    handle = _indicator(
        "Fake courier help desk on Telegram",
        "[x-bayanihan-social-handle:platform = 'telegram' AND "
        "x-bayanihan-social-handle:handle = 'https://t.me/ParcelHoldHelp']",
        8,
        Tlp.GREEN,
    )
    return [actor, wallet, handle, _relationship(wallet, "indicates", actor, 8, Tlp.RED)]


def bank_objects() -> list[dict[str, Any]]:
    phishing = _indicator(
        "Look-alike login domain seen by the bank",
        "[domain-name:value = 'metroharbour-verify.example.net']",
        9,
        Tlp.AMBER,
    )
    ip_seen = _indicator(
        "Login attempts from",
        "[ipv4-addr:value = '192.0.2.77']",
        9,
        Tlp.GREEN,
    )
    sender = _observable(
        "x-bayanihan-phone-number", Tlp.GREEN, value="0917 000 0123"
    )  # national form: read as a Philippine number
    mule = _observable(
        "x-bayanihan-bank-account",
        Tlp.AMBER,
        account_number="0071 000 123456",
        bank="VCB",
        country="VN",
        holder_name="(demo) money mule",
    )
    return [phishing, ip_seen, sender, mule]


def vietnam_objects() -> list[dict[str, Any]]:
    """What VNCERT/CC shared with the community, as its node would send it."""
    lure = _indicator(
        "Parcel lure domain reported in Viet Nam",
        "[domain-name:value = 'PARCEL-HOLD.example.com.']",
        10,
        Tlp.GREEN,
    )
    sender = _observable("x-bayanihan-phone-number", Tlp.GREEN, value="+63 917 000 0123")
    mule = _observable(
        "x-bayanihan-bank-account",
        Tlp.GREEN,
        account_number="0071-000-123456",
        bank="VCB",
        country="VN",
    )
    handle = _observable(
        "x-bayanihan-social-handle", Tlp.GREEN, platform="tg", handle="@parcelholdhelp"
    )
    return [lure, sender, mule, handle]


def singapore_objects() -> list[dict[str, Any]]:
    """What SingCERT shared, as its node would send it."""
    sms_gateway = _indicator(
        "SMS gateway sending parcel lures to Singapore numbers",
        "[ipv4-addr:value = '198.51.100.23']",
        11,
        Tlp.GREEN,
    )
    wallet = _observable(
        "x-bayanihan-crypto-wallet", Tlp.GREEN, address=MULE_WALLET, currency="trx"
    )
    return [sms_gateway, wallet]


def _received(node: Node, org_name: str, objects: list[dict[str, Any]]) -> int:
    """Store objects of an org hosted on a neighbouring node, as that node would send them."""
    who = node.operator(org_name)
    options = node.intake_options(who)
    with node.store.write() as conn:
        outcomes = store_objects(
            conn, objects, options, clock=node.clock, correlator=node.correlator
        )
        node.audit(conn, None, "demo.received", [o.id for o in outcomes if o.ok])
    return sum(o.status == "stored" for o in outcomes)


def load_demo(node: Node, *, base_url: str) -> str:
    """Add the demo orgs and data (idempotent) and fresh demo keys; return instructions."""
    known = {o.name for o in node.orgs()}
    for name, country, sector, parent in ORGS:
        if name not in known:
            node.add_org(name, country=country, sector=sector, parent=parent)
    for name, country, identity_id in REMOTE_ORGS:
        if name not in known:
            node.add_org(name, country=country, identity_id=identity_id)
    record = node.node_record()
    own = next(o for o in node.orgs() if o.row_id == record.org_row)
    switched: list[str] = []
    if node.correlator is not None:
        switched = documentation_lists()
        Correlation(node).set_warninglists(None, switched, enabled=False)
    batches = [
        (own.name, cert_objects()),
        (ORGS[0][0], police_objects()),
        (ORGS[1][0], bank_objects()),
    ]
    stored = 0
    for org_name, objects in batches:
        summary = import_objects(node, node.operator(org_name), objects)
        stored += summary.stored
    stored += _received(node, REMOTE_ORGS[0][0], vietnam_objects())
    stored += _received(node, REMOTE_ORGS[1][0], singapore_objects())
    keys = [
        ("node administrator", node.add_key(role=Role.ADMIN, label="demo")),
        (f"analyst of {own.name}", node.add_key(role=Role.ANALYST, label="demo")),
        (
            f"analyst of {ORGS[1][0]}",
            node.add_key(role=Role.ANALYST, org_name=ORGS[1][0], label="demo"),
        ),
        (
            f"reader of {ORGS[2][0]}",
            node.add_key(role=Role.READER, org_name=ORGS[2][0], label="demo"),
        ),
    ]
    lines = [
        f"Demo data loaded into node {record.name!r}: {stored} new objects "
        "(documentation IP ranges and example.* domains only).",
        "",
    ]
    if node.correlator is not None:
        correlation = Correlation(node)
        admin = node.operator(role=Role.ADMIN)
        hits = correlation.hits(admin, everything=True, limit=100).hits
        border = sum(h["cross_border"] for h in hits)
        lines += [
            "For the demo, these warning-lists are switched OFF on this node, because they",
            "name the documentation ranges and example.* domains the demo data uses",
            "(`bayanihan warninglist on --documentation` switches them back on):",
            *(f"  - {name}" for name in switched),
            "",
            f"Correlation: {len(hits)} hits, {border} of them cross-border, e.g.:",
            *(
                f"  {h['observable']['kind']:14} {h['observable']['value']:40} "
                f"{h['object']['org']['country']} <-> {h['counterpart']['org']['country']}"
                for h in hits[:6]
            ),
            "  (GET /api/v1/hits, `bayanihan hits --org NAME`, `bayanihan search VALUE`)",
            "",
        ]
    lines += [
        "Keys (shown once; `bayanihan key list` shows their numbers):",
        *(f"  {who:44} {key.secret}" for who, key in keys),
        "",
        f"Open {base_url}/ in a browser, or try:",
        f"  curl -H 'Authorization: Bearer {keys[1][1].secret}' \\",
        "       -H 'Accept: application/taxii+json;version=2.1' "
        f"{base_url}/taxii2/api/collections/",
        "With taxii2-client: Server('" + base_url + "/taxii2/', user='any', password=KEY)",
    ]
    return "\n".join(lines)
