"""Tests of validate_object: every core type, every rule, and agreement with
stix2-validator on generated objects."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from bayanihan.stix.validate import validate_object

Obj = dict[str, Any]

T0 = "2021-03-04T05:06:07.000Z"
T1 = "2021-03-05T05:06:07.000Z"
SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
TLP2_EXT = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


def uid(object_type: str, n: int = 1) -> str:
    return f"{object_type}--{uuid.UUID(int=n * 7919 + 12345, version=4)}"


IDENTITY = uid("identity")
MARKING = uid("marking-definition")
MALWARE = uid("malware")
IPV4 = uid("ipv4-addr")
FILE = uid("file")


def sdo(object_type: str, **props: Any) -> Obj:
    return {
        "type": object_type,
        "spec_version": "2.1",
        "id": uid(object_type),
        "created": T0,
        "modified": T0,
        **props,
    }


def sco(object_type: str, **props: Any) -> Obj:
    return {"type": object_type, "id": uid(object_type), **props}


VALID: dict[str, Obj] = {
    "attack-pattern": sdo(
        "attack-pattern",
        name="Spear phishing",
        kill_chain_phases=[{"kill_chain_name": "lockheed", "phase_name": "delivery"}],
    ),
    "campaign": sdo("campaign", name="Op X", first_seen=T0, last_seen=T1),
    "course-of-action": sdo("course-of-action", name="Block"),
    "grouping": sdo("grouping", context="suspicious-activity", object_refs=[MALWARE, IPV4]),
    "identity": sdo("identity", name="CERT-PH", identity_class="organization"),
    "incident": sdo("incident", name="Breach"),
    "indicator": sdo(
        "indicator",
        name="bad ip",
        indicator_types=["malicious-activity"],
        pattern="[ipv4-addr:value = '198.51.100.7']",
        pattern_type="stix",
        valid_from=T0,
        valid_until=T1,
        created_by_ref=IDENTITY,
        object_marking_refs=[MARKING],
        labels=["scam"],
        confidence=80,
        lang="en",
        external_references=[{"source_name": "acme", "external_id": "A-1"}],
        granular_markings=[{"selectors": ["name"], "marking_ref": MARKING}],
    ),
    "infrastructure": sdo("infrastructure", name="C2", first_seen=T0),
    "intrusion-set": sdo("intrusion-set", name="APT-X"),
    "location": sdo("location", region="south-eastern-asia", country="PH"),
    "malware": sdo("malware", name="Loader", is_family=True, sample_refs=[FILE]),
    "malware-analysis": sdo("malware-analysis", product="sandbox", result="malicious"),
    "note": sdo("note", content="seen twice", object_refs=[MALWARE]),
    "observed-data": sdo(
        "observed-data",
        first_observed=T0,
        last_observed=T1,
        number_observed=3,
        object_refs=[IPV4],
    ),
    "opinion": sdo("opinion", opinion="agree", object_refs=[MALWARE]),
    "report": sdo("report", name="Weekly", published=T1, object_refs=[MALWARE]),
    "threat-actor": sdo("threat-actor", name="Crew", threat_actor_types=["criminal"]),
    "tool": sdo("tool", name="nmap"),
    "vulnerability": sdo("vulnerability", name="CVE-2021-1"),
    "relationship": sdo(
        "relationship",
        relationship_type="indicates",
        source_ref=uid("indicator"),
        target_ref=MALWARE,
    ),
    "sighting": sdo(
        "sighting",
        sighting_of_ref=uid("indicator"),
        where_sighted_refs=[IDENTITY],
        observed_data_refs=[uid("observed-data")],
        count=2,
        first_seen=T0,
        last_seen=T1,
    ),
    "marking-definition": {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": MARKING,
        "created": T0,
        "definition_type": "statement",
        "definition": {"statement": "Copyright CERT-PH"},
    },
    "language-content": sdo(
        "language-content",
        object_ref=MALWARE,
        object_modified=T0,
        contents={"tl": {"name": "Pangkarga"}},
    ),
    "extension-definition": sdo(
        "extension-definition",
        created_by_ref=IDENTITY,
        name="acme",
        schema="https://example.com/schema.json",
        version="1.0",
        extension_types=["property-extension"],
    ),
    "artifact": sco("artifact", payload_bin="YWJj", mime_type="text/plain"),
    "autonomous-system": sco("autonomous-system", number=64500),
    "directory": sco("directory", path="C:\\Windows", contains_refs=[FILE]),
    "domain-name": sco("domain-name", value="scam.example.com", resolves_to_refs=[IPV4]),
    "email-addr": sco("email-addr", value="a@example.com"),
    "email-message": sco(
        "email-message", is_multipart=False, body="hi", to_refs=[uid("email-addr")]
    ),
    "file": sco("file", name="a.exe", hashes={"SHA-256": SHA256}, size=10),
    "ipv4-addr": sco("ipv4-addr", value="198.51.100.7"),
    "ipv6-addr": sco("ipv6-addr", value="2001:db8::1"),
    "mac-addr": sco("mac-addr", value="d2:fb:49:24:37:18"),
    "mutex": sco("mutex", name="Global\\x"),
    "network-traffic": sco("network-traffic", protocols=["tcp"], dst_ref=IPV4, dst_port=443),
    "process": sco("process", pid=1234),
    "software": sco("software", name="Word", version="16"),
    "url": sco("url", value="http://x.example/a"),
    "user-account": sco("user-account", user_id="1001"),
    "windows-registry-key": sco("windows-registry-key", key="HKEY_LOCAL_MACHINE\\System"),
    "x509-certificate": sco("x509-certificate", serial_number="01"),
    # the project's own type with rules of its own (a deletion notice)
    "x-bayanihan-deletion": sdo(
        "x-bayanihan-deletion",
        created_by_ref=IDENTITY,
        object_ref=uid("indicator"),
        object_modified=[T0, T1],
        extensions={
            "extension-definition--3aaaf54f-a740-4e15-ba4c-15de1804f573": {
                "extension_type": "new-sdo"
            }
        },
    ),
}


def test_deletion_notices_need_their_properties() -> None:
    notice = VALID["x-bayanihan-deletion"]
    missing = {k: v for k, v in notice.items() if k != "object_modified"}
    assert "x-bayanihan-deletion requires property 'object_modified'" in validate_object(missing)
    bad = {**notice, "object_modified": [T0, "yesterday"]}
    assert any("object_modified[1]" in e for e in validate_object(bad))
    assert any("object_modified" in e for e in validate_object({**notice, "object_modified": []}))
    assert any("object_ref" in e for e in validate_object({**notice, "object_ref": "nope"}))


def test_every_core_type_has_a_sample() -> None:
    from bayanihan.stix.properties import TYPE_SPECS

    assert set(VALID) == set(TYPE_SPECS)


@pytest.mark.parametrize("object_type", sorted(VALID))
def test_valid_object_of_every_core_type(object_type: str) -> None:
    assert validate_object(VALID[object_type]) == []


@pytest.mark.parametrize("object_type", sorted(VALID))
def test_samples_are_valid_for_stix2_validator_too(object_type: str) -> None:
    result = validate_instance(VALID[object_type], ValidationOptions(version="2.1"))
    assert result.is_valid, [str(error) for error in result.errors]


def test_tlp2_marking_definition() -> None:
    marking = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:GREEN",
        "extensions": {TLP2_EXT: {"extension_type": "property-extension", "tlp_2_0": "green"}},
    }
    assert validate_object(marking) == []


def test_custom_objects_and_properties() -> None:
    custom_sdo = sdo("x-acme-case", x_acme_score=3, x_acme_owner_ref=IDENTITY)
    assert validate_object(custom_sdo) == []
    custom_sco = {"type": "x-acme-token", "id": uid("x-acme-token"), "value": "abc"}
    assert validate_object(custom_sco) == []
    with_ext = dict(VALID["file"], extensions={"ntfs-ext": {"sid": "1"}, "x-acme-ext": {}})
    assert validate_object(with_ext) == []


def test_the_infamous_minimal_indicator() -> None:
    reasons = validate_object({"type": "indicator", "id": "indicator--1"})
    text = "\n".join(reasons)
    for name in ("'id'", "'spec_version'", "'created'", "'modified'", "'pattern'"):
        assert name in text
    assert "property 'id': 'indicator--1' is not of the form indicator--<UUID>" in reasons
    assert "indicator requires property 'pattern'" in reasons


DELETE = object()


def changed(object_type: str, **changes: Any) -> Obj:
    obj = copy.deepcopy(VALID[object_type])
    for key, value in changes.items():
        if value is DELETE:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj


BREAKAGES: list[tuple[str, Obj, str]] = [
    # type and id
    ("type missing", changed("tool", type=DELETE), "'type'"),
    ("type upper case", changed("tool", type="Tool"), "'type'"),
    ("type too short", {"type": "ab", "id": "ab--" + str(uuid.uuid4())}, "'type'"),
    ("type double hyphen", changed("tool", type="x--y"), "'type'"),
    ("type trailing hyphen", changed("tool", type="x-y-"), "'type'"),
    ("type not string", changed("tool", type=5), "'type'"),
    ("id missing", changed("tool", id=DELETE), "'id'"),
    ("id other type", changed("tool", id=MALWARE), "property 'id'"),
    ("id upper-case uuid", changed("tool", id=uid("tool").upper().replace("TOOL", "tool")), "'id'"),
    (
        "id bad variant",
        changed("tool", id="tool--" + "1" * 8 + "-1111-4111-7111-" + "1" * 12),
        "'id'",
    ),
    ("id not string", changed("tool", id=7), "'id'"),
    # spec_version
    ("spec_version missing", changed("tool", spec_version=DELETE), "'spec_version'"),
    ("spec_version 2.0", changed("tool", spec_version="2.0"), "accepts STIX 2.1"),
    ("sco spec_version 2.0", changed("url", spec_version="2.0"), "'spec_version'"),
    (
        "custom sdo spec_version",
        changed("tool", type="x-thing", id=uid("x-thing"), spec_version=DELETE),
        "'spec_version'",
    ),
    # created / modified / timestamps
    ("created missing", changed("tool", created=DELETE), "'created'"),
    ("modified missing", changed("tool", modified=DELETE), "'modified'"),
    ("marking created missing", changed("marking-definition", created=DELETE), "'created'"),
    (
        "language-content modified missing",
        changed("language-content", modified=DELETE),
        "'modified'",
    ),
    ("bad created", changed("tool", created="2021-02-30T00:00:00Z"), "'created'"),
    ("created not string", changed("tool", created=1614834367), "'created'"),
    (
        "modified before created",
        changed("tool", created="2021-01-01T00:00:00Z", modified="2020-01-01T00:00:00Z"),
        "property 'modified' (2020-01-01T00:00:00Z) is earlier than "
        "'created' (2021-01-01T00:00:00Z)",
    ),
    (
        "valid_until before valid_from",
        changed("indicator", valid_until="2020-01-01T00:00:00Z"),
        "'valid_until'",
    ),
    ("valid_until equals valid_from", changed("indicator", valid_until=T0), "'valid_until'"),
    (
        "last_seen before first_seen",
        changed("campaign", last_seen="2020-01-01T00:00:00Z"),
        "'last_seen'",
    ),
    (
        "last_observed before first_observed",
        changed("observed-data", last_observed="2020-01-01T00:00:00Z"),
        "'last_observed'",
    ),
    ("bad published", changed("report", published="yesterday"), "'published'"),
    ("bad sco timestamp", changed("file", mtime="2021-01-01"), "'mtime'"),
    # common properties
    ("labels not list", changed("tool", labels="x"), "'labels'"),
    ("labels with number", changed("tool", labels=["x", 1]), "'labels[1]'"),
    ("labels empty", changed("tool", labels=[]), "'labels'"),
    ("confidence too big", changed("tool", confidence=101), "'confidence'"),
    ("confidence negative", changed("tool", confidence=-1), "'confidence'"),
    ("confidence bool", changed("tool", confidence=True), "'confidence'"),
    ("confidence float", changed("tool", confidence=50.0), "'confidence'"),
    ("revoked string", changed("tool", revoked="false"), "'revoked'"),
    ("lang number", changed("tool", lang=1), "'lang'"),
    (
        "external_references not list",
        changed("tool", external_references={}),
        "'external_references'",
    ),
    (
        "external reference without source_name",
        changed("tool", external_references=[{"url": "x"}]),
        "'external_references[0]'",
    ),
    (
        "external reference with only source_name",
        changed("tool", external_references=[{"source_name": "x"}]),
        "'external_references[0]'",
    ),
    (
        "object_marking_refs to identity",
        changed("tool", object_marking_refs=[IDENTITY]),
        "'object_marking_refs[0]'",
    ),
    (
        "object_marking_refs not list",
        changed("tool", object_marking_refs=MARKING),
        "'object_marking_refs'",
    ),
    (
        "granular marking without selectors",
        changed("tool", granular_markings=[{"marking_ref": MARKING}]),
        "'granular_markings[0]'",
    ),
    (
        "granular marking empty selectors",
        changed("tool", granular_markings=[{"selectors": [], "lang": "en"}]),
        "'granular_markings[0]'",
    ),
    (
        "granular marking both ref and lang",
        changed(
            "tool",
            granular_markings=[{"selectors": ["name"], "lang": "en", "marking_ref": MARKING}],
        ),
        "'granular_markings[0]'",
    ),
    (
        "granular marking bad ref",
        changed("tool", granular_markings=[{"selectors": ["name"], "marking_ref": IDENTITY}]),
        "marking_ref",
    ),
    ("extensions not dict", changed("tool", extensions=[]), "'extensions'"),
    (
        "extension value not dict",
        changed("tool", extensions={"x-acme-ext": 1}),
        "'extensions.x-acme-ext'",
    ),
    (
        "extension definition key bad uuid",
        changed("tool", extensions={"extension-definition--1": {}}),
        "'extensions'",
    ),
    ("extension key bad name", changed("tool", extensions={"Bad Name": {}}), "'extensions'"),
    (
        "created_by_ref to malware",
        changed("tool", created_by_ref=MALWARE),
        "property 'created_by_ref' must reference an identity, not 'malware--",
    ),
    (
        "created_by_ref not identifier",
        changed("tool", created_by_ref="identity--x"),
        "'created_by_ref'",
    ),
    ("custom property bad name", changed("tool", **{"X-Prop": 1}), "'X-Prop'"),
    ("custom property too short", changed("tool", ab=1), "'ab'"),
    ("custom _ref not identifier", changed("tool", x_owner_ref="me"), "'x_owner_ref'"),
    ("custom _refs not identifiers", changed("tool", x_owner_refs=["me"]), "'x_owner_refs[0]'"),
    ("custom _refs empty", changed("tool", x_owner_refs=[]), "'x_owner_refs'"),
    # per-type required properties and rules
    ("attack-pattern name", changed("attack-pattern", name=DELETE), "'name'"),
    (
        "kill chain phase incomplete",
        changed("attack-pattern", kill_chain_phases=[{"phase_name": "x"}]),
        "'kill_chain_phases[0]'",
    ),
    ("campaign name", changed("campaign", name=DELETE), "'name'"),
    ("course-of-action name", changed("course-of-action", name=DELETE), "'name'"),
    ("grouping context", changed("grouping", context=DELETE), "'context'"),
    ("grouping object_refs", changed("grouping", object_refs=DELETE), "'object_refs'"),
    ("grouping object_refs empty", changed("grouping", object_refs=[]), "'object_refs'"),
    ("identity name", changed("identity", name=DELETE), "'name'"),
    ("incident name", changed("incident", name=DELETE), "'name'"),
    ("indicator pattern", changed("indicator", pattern=DELETE), "'pattern'"),
    ("indicator pattern_type", changed("indicator", pattern_type=DELETE), "'pattern_type'"),
    ("indicator pattern_type not string", changed("indicator", pattern_type=1), "'pattern_type'"),
    ("indicator valid_from", changed("indicator", valid_from=DELETE), "'valid_from'"),
    (
        "indicator bad pattern",
        changed("indicator", pattern="[ipv4-addr:value = 1.2.3.4]"),
        "'pattern'",
    ),
    ("indicator bad hash", changed("indicator", pattern="[file:hashes.MD5 = 'x']"), "'pattern'"),
    ("infrastructure name", changed("infrastructure", name=DELETE), "'name'"),
    ("intrusion-set name", changed("intrusion-set", name=DELETE), "'name'"),
    ("location nothing", changed("location", region=DELETE, country=DELETE), "'region'"),
    (
        "location latitude only",
        changed("location", region=DELETE, country=DELETE, latitude=1.0),
        "'longitude'",
    ),
    ("location latitude range", changed("location", latitude=91, longitude=0), "'latitude'"),
    ("malware is_family", changed("malware", is_family=DELETE), "'is_family'"),
    ("malware family without name", changed("malware", name=DELETE), "'name'"),
    ("malware sample_refs to ipv4", changed("malware", sample_refs=[IPV4]), "'sample_refs[0]'"),
    ("malware-analysis product", changed("malware-analysis", product=DELETE), "'product'"),
    ("malware-analysis result", changed("malware-analysis", result=DELETE), "'result'"),
    ("note content", changed("note", content=DELETE), "'content'"),
    ("note object_refs", changed("note", object_refs=DELETE), "'object_refs'"),
    (
        "observed-data number_observed",
        changed("observed-data", number_observed=DELETE),
        "'number_observed'",
    ),
    (
        "observed-data number_observed zero",
        changed("observed-data", number_observed=0),
        "'number_observed'",
    ),
    (
        "observed-data number_observed huge",
        changed("observed-data", number_observed=1_000_000_000),
        "'number_observed'",
    ),
    (
        "observed-data objects and refs",
        changed("observed-data", objects=DELETE, object_refs=DELETE),
        "'objects'",
    ),
    (
        "observed-data both",
        changed("observed-data", objects={"0": {"type": "ipv4-addr", "value": "1.2.3.4"}}),
        "'objects'",
    ),
    (
        "observed-data refs to sdo",
        changed("observed-data", object_refs=[MALWARE]),
        "'object_refs[0]'",
    ),
    ("opinion opinion", changed("opinion", opinion=DELETE), "'opinion'"),
    ("opinion vocabulary", changed("opinion", opinion="maybe"), "'opinion'"),
    ("opinion object_refs", changed("opinion", object_refs=DELETE), "'object_refs'"),
    ("report name", changed("report", name=DELETE), "'name'"),
    ("report published", changed("report", published=DELETE), "'published'"),
    ("report object_refs", changed("report", object_refs=DELETE), "'object_refs'"),
    ("threat-actor name", changed("threat-actor", name=DELETE), "'name'"),
    ("tool name", changed("tool", name=DELETE), "'name'"),
    ("tool name not string", changed("tool", name=["x"]), "'name'"),
    ("vulnerability name", changed("vulnerability", name=DELETE), "'name'"),
    ("relationship type", changed("relationship", relationship_type=DELETE), "'relationship_type'"),
    ("relationship source_ref", changed("relationship", source_ref=DELETE), "'source_ref'"),
    ("relationship target_ref", changed("relationship", target_ref=DELETE), "'target_ref'"),
    (
        "relationship to sro",
        changed("relationship", target_ref=uid("sighting")),
        "property 'target_ref' must reference an SDO or SCO",
    ),
    ("relationship to marking", changed("relationship", source_ref=MARKING), "'source_ref'"),
    (
        "relationship bad type value",
        changed("relationship", relationship_type="Indicates"),
        "'relationship_type'",
    ),
    ("sighting_of_ref", changed("sighting", sighting_of_ref=DELETE), "'sighting_of_ref'"),
    (
        "sighting of sco",
        changed("sighting", sighting_of_ref=IPV4),
        "property 'sighting_of_ref' must reference an SDO",
    ),
    (
        "sighting of sro",
        changed("sighting", sighting_of_ref=uid("relationship")),
        "'sighting_of_ref'",
    ),
    (
        "where_sighted_refs to malware",
        changed("sighting", where_sighted_refs=[MALWARE]),
        "'where_sighted_refs[0]'",
    ),
    (
        "observed_data_refs to malware",
        changed("sighting", observed_data_refs=[MALWARE]),
        "'observed_data_refs[0]'",
    ),
    ("sighting count", changed("sighting", count=-1), "'count'"),
    (
        "marking definition missing",
        changed("marking-definition", definition=DELETE),
        "'definition'",
    ),
    (
        "marking bad tlp",
        changed("marking-definition", definition_type="tlp", definition={"tlp": "pink"}),
        "'definition'",
    ),
    ("language-content object_ref", changed("language-content", object_ref=DELETE), "'object_ref'"),
    ("language-content contents", changed("language-content", contents=DELETE), "'contents'"),
    ("extension-definition name", changed("extension-definition", name=DELETE), "'name'"),
    ("extension-definition schema", changed("extension-definition", schema=DELETE), "'schema'"),
    ("extension-definition version", changed("extension-definition", version=DELETE), "'version'"),
    (
        "extension-definition created_by_ref",
        changed("extension-definition", created_by_ref=DELETE),
        "'created_by_ref'",
    ),
    (
        "extension-definition extension_types",
        changed("extension-definition", extension_types=DELETE),
        "'extension_types'",
    ),
    (
        "extension-definition extension_types empty",
        changed("extension-definition", extension_types=[]),
        "'extension_types'",
    ),
    (
        "extension-definition extension_types bad",
        changed("extension-definition", extension_types=["new-thing"]),
        "'extension_types[0]'",
    ),
    # SCOs
    ("ipv4-addr value", changed("ipv4-addr", value=DELETE), "'value'"),
    ("ipv4-addr value not string", changed("ipv4-addr", value=3232235777), "'value'"),
    ("ipv6-addr value", changed("ipv6-addr", value=DELETE), "'value'"),
    ("domain-name value", changed("domain-name", value=DELETE), "'value'"),
    (
        "domain-name resolves to url",
        changed("domain-name", resolves_to_refs=[uid("url")]),
        "'resolves_to_refs[0]'",
    ),
    ("url value", changed("url", value=DELETE), "'value'"),
    ("email-addr value", changed("email-addr", value=DELETE), "'value'"),
    ("mac-addr value", changed("mac-addr", value=DELETE), "'value'"),
    ("mac-addr format", changed("mac-addr", value="D2-FB-49-24-37-18"), "'value'"),
    ("autonomous-system number", changed("autonomous-system", number=DELETE), "'number'"),
    ("autonomous-system number string", changed("autonomous-system", number="64500"), "'number'"),
    ("directory path", changed("directory", path=DELETE), "'path'"),
    ("mutex name", changed("mutex", name=DELETE), "'name'"),
    ("network-traffic protocols", changed("network-traffic", protocols=DELETE), "'protocols'"),
    (
        "network-traffic protocols string",
        changed("network-traffic", protocols="tcp"),
        "'protocols'",
    ),
    ("network-traffic no src or dst", changed("network-traffic", dst_ref=DELETE), "'dst_ref'"),
    ("network-traffic port range", changed("network-traffic", dst_port=70000), "'dst_port'"),
    ("software name", changed("software", name=DELETE), "'name'"),
    ("file neither hashes nor name", changed("file", hashes=DELETE, name=DELETE), "'hashes'"),
    ("file hashes not dict", changed("file", hashes=["x"]), "'hashes'"),
    ("file hash value not string", changed("file", hashes={"MD5": 5}), "'hashes.MD5'"),
    ("file size negative", changed("file", size=-1), "'size'"),
    (
        "file parent_directory_ref to file",
        changed("file", parent_directory_ref=FILE),
        "'parent_directory_ref'",
    ),
    ("artifact neither", changed("artifact", payload_bin=DELETE), "'payload_bin'"),
    (
        "artifact both",
        changed("artifact", url="http://x.example/a", hashes={"MD5": "x" * 32}),
        "'payload_bin'",
    ),
    ("email-message is_multipart", changed("email-message", is_multipart=DELETE), "'is_multipart'"),
    (
        "email-message is_multipart string",
        changed("email-message", is_multipart="no"),
        "'is_multipart'",
    ),
    (
        "email-message to_refs to url",
        changed("email-message", to_refs=[uid("url")]),
        "'to_refs[0]'",
    ),
    ("process nothing", changed("process", pid=DELETE), "process requires at least one property"),
    (
        "user-account nothing",
        changed("user-account", user_id=DELETE),
        "user-account requires at least one",
    ),
    (
        "windows-registry-key nothing",
        changed("windows-registry-key", key=DELETE),
        "windows-registry-key requires",
    ),
    (
        "x509-certificate nothing",
        changed("x509-certificate", serial_number=DELETE),
        "x509-certificate requires",
    ),
    ("sco defanged string", changed("url", defanged="yes"), "'defanged'"),
]


@pytest.mark.parametrize(
    ("obj", "expected"), [(o, e) for _, o, e in BREAKAGES], ids=[n for n, _, _ in BREAKAGES]
)
def test_single_rule_breakage_is_rejected(obj: Obj, expected: str) -> None:
    reasons = validate_object(obj)
    assert reasons, "object was accepted"
    assert any(expected in reason for reason in reasons), reasons


@pytest.mark.parametrize("value", [None, [], "indicator", 3, [{"type": "tool"}]])
def test_non_objects_are_rejected(value: object) -> None:
    assert validate_object(value)


def test_all_problems_are_reported() -> None:
    obj = changed("indicator", created_by_ref=MALWARE, confidence=500, labels="x", pattern="[")
    text = "\n".join(validate_object(obj))
    for name in ("created_by_ref", "confidence", "labels", "pattern"):
        assert f"'{name}'" in text


def test_non_stix_pattern_types_are_not_parsed() -> None:
    assert (
        validate_object(changed("indicator", pattern="alert tcp any any", pattern_type="snort"))
        == []
    )


# ---------------------------------------------------------------- generated objects

DETERMINISTIC = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
OCTET = st.integers(0, 255)
IPV4_VALUES = st.tuples(OCTET, OCTET, OCTET, OCTET).map(lambda o: ".".join(map(str, o)))
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
DOMAINS = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
URLS = st.tuples(DOMAINS, LABEL).map(lambda parts: f"http://{parts[0]}/{parts[1]}")
HEX64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
MOMENTS = st.integers(0, 4_000_000_000 * 1_000_000)


def stamp(micros: int) -> str:
    from bayanihan.stix.timestamps import format_timestamp

    return format_timestamp(micros)[:-4] + "Z"  # millisecond precision


@st.composite
def scos(draw: st.DrawFn) -> Obj:
    kind = draw(st.sampled_from(["ipv4-addr", "domain-name", "url", "file", "email-addr"]))
    if kind == "ipv4-addr":
        props: Obj = {"value": draw(IPV4_VALUES)}
    elif kind == "domain-name":
        props = {"value": draw(DOMAINS)}
    elif kind == "url":
        props = {"value": draw(URLS)}
    elif kind == "email-addr":
        props = {"value": f"{draw(LABEL)}@{draw(DOMAINS)}"}
    else:
        props = {"hashes": {"SHA-256": draw(HEX64)}}
        if draw(st.booleans()):
            props["name"] = draw(LABEL) + ".exe"
    if draw(st.booleans()):
        props["spec_version"] = "2.1"
    identifier = f"{kind}--{uuid.uuid5(DETERMINISTIC, repr(sorted(props.items())))}"
    return {"type": kind, "id": identifier, **props}


@st.composite
def indicators(draw: st.DrawFn) -> Obj:
    created = draw(MOMENTS)
    modified = created + draw(st.integers(0, 10**12))
    comparisons = [
        f"[ipv4-addr:value = '{draw(IPV4_VALUES)}']",
        f"[domain-name:value = '{draw(DOMAINS)}'] OR [url:value = '{draw(URLS)}']",
        f"[file:hashes.'SHA-256' = '{draw(HEX64)}']",
        f"[url:value = '{draw(URLS)}'] FOLLOWEDBY [ipv4-addr:value = '{draw(IPV4_VALUES)}']",
    ]
    obj: Obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{draw(st.uuids(version=4))}",
        "created": stamp(created),
        "modified": stamp(modified),
        "name": draw(LABEL),
        "pattern": draw(st.sampled_from(comparisons)),
        "pattern_type": "stix",
        "valid_from": stamp(created),
    }
    if draw(st.booleans()):
        obj["valid_until"] = stamp(created + draw(st.integers(1_000, 10**12)))
    if draw(st.booleans()):
        obj["confidence"] = draw(st.integers(0, 100))
    if draw(st.booleans()):
        obj["labels"] = draw(st.lists(LABEL, min_size=1, max_size=3))
    if draw(st.booleans()):
        obj["created_by_ref"] = f"identity--{draw(st.uuids(version=4))}"
    if draw(st.booleans()):
        obj["indicator_types"] = ["malicious-activity"]
    return obj


OBJECTS = st.one_of(indicators(), scos())


def stix2_validator_accepts(obj: Obj) -> bool:
    return bool(validate_instance(obj, ValidationOptions(version="2.1")).is_valid)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_generated_objects_are_accepted(obj: Obj) -> None:
    assert validate_object(obj) == []
    assert stix2_validator_accepts(obj)


def _drop(name: str) -> Callable[[Obj], tuple[Obj, str]]:
    def breakage(obj: Obj) -> tuple[Obj, str]:
        broken = dict(obj)
        broken.pop(name, None)
        return broken, f"'{name}'"

    return breakage


def _set(name: str, value: object) -> Callable[[Obj], tuple[Obj, str]]:
    def breakage(obj: Obj) -> tuple[Obj, str]:
        return {**obj, name: value}, f"'{name}'"

    return breakage


COMMON_BREAKAGES = [
    _drop("id"),
    _set("id", "indicator--1"),
    _set("spec_version", "2.0"),
    _set("BadName", 1),
    _set("x_owner_ref", "nobody"),
    _set("object_marking_refs", [IDENTITY]),
]
INDICATOR_BREAKAGES = [
    _drop("created"),
    _drop("modified"),
    _drop("pattern"),
    _drop("valid_from"),
    _drop("spec_version"),
    _set("created", "2021-13-01T00:00:00Z"),
    _set("created", "9999-12-31T23:59:59.999Z"),
    _set("confidence", 101),
    _set("created_by_ref", MALWARE),
    _set("pattern", "[ipv4-addr:value = '1.2.3.4'"),
    _set("labels", []),
]
SCO_BREAKAGES = [_set("value", 5), _set("hashes", {"SHA-256": 7}), _set("defanged", "no")]


@settings(max_examples=50, deadline=None)
@given(OBJECTS, st.data())
def test_generated_single_rule_breakages_are_rejected(obj: Obj, data: st.DataObject) -> None:
    if obj["type"] == "indicator":
        choices = COMMON_BREAKAGES + INDICATOR_BREAKAGES
    elif obj["type"] == "file":
        choices = COMMON_BREAKAGES + SCO_BREAKAGES[1:]
    else:
        choices = COMMON_BREAKAGES + SCO_BREAKAGES[::2]
    breakage = data.draw(st.sampled_from(choices))
    broken, name = breakage(obj)
    if broken.get("id") == "indicator--1" and obj["type"] != "indicator":
        broken["id"] = f"{obj['type']}--1"
    reasons = validate_object(broken)
    assert reasons, broken
    # "'name" also matches list items such as 'object_marking_refs[0]'
    assert any(name[:-1] in reason or "'modified'" in reason for reason in reasons), reasons
