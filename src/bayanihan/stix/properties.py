"""Declarative tables describing the STIX 2.1 core object types.

Each core type has a :class:`TypeSpec` saying which category it belongs to, which
properties it must carry, which of its properties are timestamps (and how they
must be ordered), what value kind each known property has, and which object types
each of its reference properties may point at. The validator in
:mod:`bayanihan.stix.validate` interprets these tables; nothing here runs checks.

Property kinds are short strings (``"string"``, ``"timestamp"``, ...) so that the
tables stay readable; the validator maps each kind to a checking function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

SDO = "sdo"
SRO = "sro"
SCO = "sco"
META = "meta"

SDO_TYPES: frozenset[str] = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
SRO_TYPES: frozenset[str] = frozenset({"relationship", "sighting"})
SCO_TYPES: frozenset[str] = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
META_TYPES: frozenset[str] = frozenset(
    {"marking-definition", "language-content", "extension-definition"}
)

# Extension names defined by STIX 2.1 itself (usable as keys of ``extensions``).
PREDEFINED_EXTENSIONS: frozenset[str] = frozenset(
    {
        "archive-ext",
        "ntfs-ext",
        "pdf-ext",
        "raster-image-ext",
        "windows-pebinary-ext",
        "http-request-ext",
        "icmp-ext",
        "socket-ext",
        "tcp-ext",
        "unix-account-ext",
        "windows-process-ext",
        "windows-service-ext",
    }
)

# The extension definition used by TLP 2.0 marking definitions.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

OPINION_VALUES: frozenset[str] = frozenset(
    {"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}
)
EXTENSION_TYPES: frozenset[str] = frozenset(
    {"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
)
TLP1_LEVELS: frozenset[str] = frozenset({"white", "green", "amber", "red"})


@dataclass(frozen=True, slots=True)
class RefTarget:
    """Which object types a reference property may point at.

    With ``only`` set, the referenced type must be one of those; otherwise it must
    not be one of ``exclude`` (so custom object types pass). ``describe`` completes
    the sentence "must reference ...".
    """

    describe: str
    only: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def allows(self, object_type: str) -> bool:
        if self.only is not None:
            return object_type in self.only
        return object_type not in self.exclude


def _only(describe: str, *types: str) -> RefTarget:
    return RefTarget(describe=describe, only=frozenset(types))


ANY_OBJECT = RefTarget(describe="any STIX object")
ANY_SDO = RefTarget(describe="an SDO", exclude=SCO_TYPES | SRO_TYPES | META_TYPES)
SDO_OR_SCO = RefTarget(describe="an SDO or SCO", exclude=SRO_TYPES | META_TYPES)
ANY_SCO = RefTarget(describe="an SCO", exclude=SDO_TYPES | SRO_TYPES | META_TYPES)
SCO_OR_SRO = RefTarget(describe="an SCO or SRO", exclude=SDO_TYPES | META_TYPES)
IDENTITY = _only("an identity", "identity")
MARKING = _only("a marking-definition", "marking-definition")
SOFTWARE = _only("a software object", "software")
FILE_OR_ARTIFACT = _only("a file or artifact", "file", "artifact")
FILE_OR_DIRECTORY = _only("a file or directory", "file", "directory")
EMAIL_ADDR = _only("an email-addr", "email-addr")
ARTIFACT = _only("an artifact", "artifact")
USER_ACCOUNT = _only("a user-account", "user-account")
NETWORK_TRAFFIC = _only("a network-traffic object", "network-traffic")
PROCESS = _only("a process", "process")
ADDRESS = _only(
    "an ipv4-addr, ipv6-addr, mac-addr or domain-name",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "domain-name",
)


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """What STIX 2.1 demands of one object type.

    ``one_of`` holds groups of alternatives: for each group at least one
    alternative (a tuple of properties that must all be present) must be met.
    ``exclusive`` holds pairs of properties that must not both be present.
    ``order`` holds ``(earlier, later, strict)`` timestamp pairs.
    ``beyond_common``: the object must carry some property besides the common ones.
    """

    name: str
    category: str
    required: tuple[str, ...]
    kinds: Mapping[str, str]
    refs: Mapping[str, RefTarget] = field(default_factory=dict)
    one_of: tuple[tuple[tuple[str, ...], ...], ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()
    order: tuple[tuple[str, str, bool], ...] = ()
    beyond_common: bool = False


# Common properties of SDOs, SROs and (most) meta objects. ``type``, ``id`` and
# ``spec_version`` are checked before the property walk and have kind "skip".
COMMON_SDO_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "type": "skip",
        "id": "skip",
        "spec_version": "skip",
        "created": "timestamp",
        "modified": "timestamp",
        "revoked": "bool",
        "labels": "string_list",
        "confidence": "confidence",
        "lang": "string",
        "external_references": "external_references",
        "granular_markings": "granular_markings",
        "extensions": "extensions",
    }
)
COMMON_SDO_REFS: Mapping[str, RefTarget] = MappingProxyType(
    {"created_by_ref": IDENTITY, "object_marking_refs": MARKING}
)
COMMON_SCO_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "type": "skip",
        "id": "skip",
        "spec_version": "skip",
        "defanged": "bool",
        "granular_markings": "granular_markings",
        "extensions": "extensions",
    }
)
COMMON_SCO_REFS: Mapping[str, RefTarget] = MappingProxyType({"object_marking_refs": MARKING})
# Properties that do not count towards "some property beyond the common ones".
SCO_COMMON_NAMES: frozenset[str] = frozenset(
    {"type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged"}
)

SDO_REQUIRED = ("spec_version", "created", "modified")
CREATED_MODIFIED = (("created", "modified", False),)
SEEN = (("first_seen", "last_seen", False),)
KILL_CHAIN = {"kill_chain_phases": "kill_chain_phases"}
NAMED = {"name": "string", "description": "string"}
ALIASES = {"aliases": "string_list"}


def _sdo(
    name: str,
    required: tuple[str, ...] = (),
    kinds: Mapping[str, str] | None = None,
    refs: Mapping[str, RefTarget] | None = None,
    one_of: tuple[tuple[tuple[str, ...], ...], ...] = (),
    exclusive: tuple[tuple[str, str], ...] = (),
    order: tuple[tuple[str, str, bool], ...] = (),
    category: str = SDO,
) -> TypeSpec:
    return TypeSpec(
        name=name,
        category=category,
        required=SDO_REQUIRED + required,
        kinds=MappingProxyType({**COMMON_SDO_KINDS, **(kinds or {})}),
        refs=MappingProxyType({**COMMON_SDO_REFS, **(refs or {})}),
        one_of=one_of,
        exclusive=exclusive,
        order=CREATED_MODIFIED + order,
    )


def _sco(
    name: str,
    required: tuple[str, ...] = (),
    kinds: Mapping[str, str] | None = None,
    refs: Mapping[str, RefTarget] | None = None,
    one_of: tuple[tuple[tuple[str, ...], ...], ...] = (),
    exclusive: tuple[tuple[str, str], ...] = (),
    beyond_common: bool = False,
) -> TypeSpec:
    return TypeSpec(
        name=name,
        category=SCO,
        required=required,
        kinds=MappingProxyType({**COMMON_SCO_KINDS, **(kinds or {})}),
        refs=MappingProxyType({**COMMON_SCO_REFS, **(refs or {})}),
        one_of=one_of,
        exclusive=exclusive,
        beyond_common=beyond_common,
    )


_SPECS: tuple[TypeSpec, ...] = (
    # --- STIX Domain Objects -------------------------------------------------
    _sdo("attack-pattern", ("name",), {**NAMED, **ALIASES, **KILL_CHAIN}),
    _sdo(
        "campaign",
        ("name",),
        {
            **NAMED,
            **ALIASES,
            "first_seen": "timestamp",
            "last_seen": "timestamp",
            "objective": "string",
        },
        order=SEEN,
    ),
    _sdo("course-of-action", ("name",), NAMED),
    _sdo(
        "grouping",
        ("context", "object_refs"),
        {**NAMED, "context": "string"},
        {"object_refs": ANY_OBJECT},
    ),
    _sdo(
        "identity",
        ("name",),
        {
            **NAMED,
            "roles": "string_list",
            "identity_class": "string",
            "sectors": "string_list",
            "contact_information": "string",
        },
    ),
    _sdo("incident", ("name",), {**NAMED, **KILL_CHAIN}),
    _sdo(
        "indicator",
        ("pattern", "pattern_type", "valid_from"),
        {
            **NAMED,
            **KILL_CHAIN,
            "indicator_types": "string_list",
            "pattern": "string",
            "pattern_type": "string",
            "pattern_version": "string",
            "valid_from": "timestamp",
            "valid_until": "timestamp",
        },
        order=(("valid_from", "valid_until", True),),
    ),
    _sdo(
        "infrastructure",
        ("name",),
        {
            **NAMED,
            **ALIASES,
            **KILL_CHAIN,
            "infrastructure_types": "string_list",
            "first_seen": "timestamp",
            "last_seen": "timestamp",
        },
        order=SEEN,
    ),
    _sdo(
        "intrusion-set",
        ("name",),
        {
            **NAMED,
            **ALIASES,
            "first_seen": "timestamp",
            "last_seen": "timestamp",
            "goals": "string_list",
            "resource_level": "string",
            "primary_motivation": "string",
            "secondary_motivations": "string_list",
        },
        order=SEEN,
    ),
    _sdo(
        "location",
        (),
        {
            **NAMED,
            "latitude": "latitude",
            "longitude": "longitude",
            "precision": "nonneg_number",
            "region": "string",
            "country": "string",
            "administrative_area": "string",
            "city": "string",
            "street_address": "string",
            "postal_code": "string",
        },
        one_of=((("region",), ("country",), ("latitude", "longitude")),),
    ),
    _sdo(
        "malware",
        ("is_family",),
        {
            **NAMED,
            **ALIASES,
            **KILL_CHAIN,
            "malware_types": "string_list",
            "is_family": "bool",
            "first_seen": "timestamp",
            "last_seen": "timestamp",
            "architecture_execution_envs": "string_list",
            "implementation_languages": "string_list",
            "capabilities": "string_list",
        },
        {"operating_system_refs": SOFTWARE, "sample_refs": FILE_OR_ARTIFACT},
        order=SEEN,
    ),
    _sdo(
        "malware-analysis",
        ("product",),
        {
            "product": "string",
            "version": "string",
            "configuration_version": "string",
            "modules": "string_list",
            "analysis_engine_version": "string",
            "analysis_definition_version": "string",
            "submitted": "timestamp",
            "analysis_started": "timestamp",
            "analysis_ended": "timestamp",
            "result_name": "string",
            "result": "string",
        },
        {
            "host_vm_ref": SOFTWARE,
            "operating_system_ref": SOFTWARE,
            "installed_software_refs": SOFTWARE,
            "analysis_sco_refs": ANY_SCO,
            "sample_ref": _only(
                "a file, artifact or network-traffic", "file", "artifact", "network-traffic"
            ),
        },
        one_of=((("result",), ("analysis_sco_refs",)),),
        order=(("analysis_started", "analysis_ended", False),),
    ),
    _sdo(
        "note",
        ("content", "object_refs"),
        {"abstract": "string", "content": "string", "authors": "string_list"},
        {"object_refs": ANY_OBJECT},
    ),
    _sdo(
        "observed-data",
        ("first_observed", "last_observed", "number_observed"),
        {
            "first_observed": "timestamp",
            "last_observed": "timestamp",
            "number_observed": "number_observed",
            "objects": "dict",
        },
        {"object_refs": SCO_OR_SRO},
        one_of=((("objects",), ("object_refs",)),),
        exclusive=(("objects", "object_refs"),),
        order=(("first_observed", "last_observed", False),),
    ),
    _sdo(
        "opinion",
        ("opinion", "object_refs"),
        {"explanation": "string", "authors": "string_list", "opinion": "opinion"},
        {"object_refs": ANY_OBJECT},
    ),
    _sdo(
        "report",
        ("name", "published", "object_refs"),
        {**NAMED, "report_types": "string_list", "published": "timestamp"},
        {"object_refs": ANY_OBJECT},
    ),
    _sdo(
        "threat-actor",
        ("name",),
        {
            **NAMED,
            **ALIASES,
            "threat_actor_types": "string_list",
            "first_seen": "timestamp",
            "last_seen": "timestamp",
            "roles": "string_list",
            "goals": "string_list",
            "sophistication": "string",
            "resource_level": "string",
            "primary_motivation": "string",
            "secondary_motivations": "string_list",
            "personal_motivations": "string_list",
        },
        order=SEEN,
    ),
    _sdo(
        "tool",
        ("name",),
        {**NAMED, **ALIASES, **KILL_CHAIN, "tool_types": "string_list", "tool_version": "string"},
    ),
    _sdo("vulnerability", ("name",), NAMED),
    # --- STIX Relationship Objects --------------------------------------------
    _sdo(
        "relationship",
        ("relationship_type", "source_ref", "target_ref"),
        {
            "relationship_type": "relationship_type",
            "description": "string",
            "start_time": "timestamp",
            "stop_time": "timestamp",
        },
        {"source_ref": SDO_OR_SCO, "target_ref": SDO_OR_SCO},
        order=(("start_time", "stop_time", True),),
        category=SRO,
    ),
    _sdo(
        "sighting",
        ("sighting_of_ref",),
        {
            "description": "string",
            "first_seen": "timestamp",
            "last_seen": "timestamp",
            "count": "count",
            "summary": "bool",
        },
        {
            "sighting_of_ref": ANY_SDO,
            "observed_data_refs": _only("an observed-data", "observed-data"),
            "where_sighted_refs": _only("an identity or location", "identity", "location"),
        },
        order=SEEN,
        category=SRO,
    ),
    # --- Meta objects ---------------------------------------------------------
    TypeSpec(
        name="marking-definition",
        category=META,
        required=("spec_version", "created"),
        kinds=MappingProxyType(
            {
                **COMMON_SDO_KINDS,
                "name": "string",
                "definition_type": "string",
                "definition": "dict",
            }
        ),
        refs=COMMON_SDO_REFS,
        one_of=((("definition_type", "definition"), ("extensions",)),),
        order=CREATED_MODIFIED,
    ),
    _sdo(
        "language-content",
        ("object_ref", "contents"),
        {"object_modified": "timestamp", "contents": "dict"},
        {"object_ref": ANY_OBJECT},
        category=META,
    ),
    _sdo(
        "extension-definition",
        ("created_by_ref", "name", "schema", "version", "extension_types"),
        {
            **NAMED,
            "schema": "string",
            "version": "string",
            "extension_types": "extension_types",
            "extension_properties": "string_list",
        },
        category=META,
    ),
    # --- STIX Cyber-observable Objects ----------------------------------------
    _sco(
        "artifact",
        (),
        {
            "mime_type": "string",
            "payload_bin": "string",
            "url": "string",
            "hashes": "hashes",
            "encryption_algorithm": "string",
            "decryption_key": "string",
        },
        one_of=((("payload_bin",), ("url",)),),
        exclusive=(("payload_bin", "url"),),
    ),
    _sco(
        "autonomous-system",
        ("number",),
        {"number": "nonneg_int", "name": "string", "rir": "string"},
    ),
    _sco(
        "directory",
        ("path",),
        {
            "path": "string",
            "path_enc": "string",
            "ctime": "timestamp",
            "mtime": "timestamp",
            "atime": "timestamp",
        },
        {"contains_refs": FILE_OR_DIRECTORY},
    ),
    _sco(
        "domain-name",
        ("value",),
        {"value": "string"},
        {
            "resolves_to_refs": _only(
                "an ipv4-addr, ipv6-addr or domain-name", "ipv4-addr", "ipv6-addr", "domain-name"
            )
        },
    ),
    _sco(
        "email-addr",
        ("value",),
        {"value": "string", "display_name": "string"},
        {"belongs_to_ref": USER_ACCOUNT},
    ),
    _sco(
        "email-message",
        ("is_multipart",),
        {
            "is_multipart": "bool",
            "date": "timestamp",
            "content_type": "string",
            "message_id": "string",
            "subject": "string",
            "received_lines": "string_list",
            "additional_header_fields": "dict",
            "body": "string",
            "body_multipart": "dict_list",
        },
        {
            "from_ref": EMAIL_ADDR,
            "sender_ref": EMAIL_ADDR,
            "to_refs": EMAIL_ADDR,
            "cc_refs": EMAIL_ADDR,
            "bcc_refs": EMAIL_ADDR,
            "raw_email_ref": ARTIFACT,
        },
    ),
    _sco(
        "file",
        (),
        {
            "hashes": "hashes",
            "size": "nonneg_int",
            "name": "string",
            "name_enc": "string",
            "magic_number_hex": "string",
            "mime_type": "string",
            "ctime": "timestamp",
            "mtime": "timestamp",
            "atime": "timestamp",
        },
        {
            "parent_directory_ref": _only("a directory", "directory"),
            "contains_refs": ANY_SCO,
            "content_ref": ARTIFACT,
        },
        one_of=((("hashes",), ("name",)),),
    ),
    _sco(
        "ipv4-addr",
        ("value",),
        {"value": "string"},
        {
            "resolves_to_refs": _only("a mac-addr", "mac-addr"),
            "belongs_to_refs": _only("an autonomous-system", "autonomous-system"),
        },
    ),
    _sco(
        "ipv6-addr",
        ("value",),
        {"value": "string"},
        {
            "resolves_to_refs": _only("a mac-addr", "mac-addr"),
            "belongs_to_refs": _only("an autonomous-system", "autonomous-system"),
        },
    ),
    _sco("mac-addr", ("value",), {"value": "mac_address"}),
    _sco("mutex", ("name",), {"name": "string"}),
    _sco(
        "network-traffic",
        ("protocols",),
        {
            "start": "timestamp",
            "end": "timestamp",
            "is_active": "bool",
            "src_port": "port",
            "dst_port": "port",
            "protocols": "string_list",
            "src_byte_count": "nonneg_int",
            "dst_byte_count": "nonneg_int",
            "src_packets": "nonneg_int",
            "dst_packets": "nonneg_int",
            "ipfix": "dict",
        },
        {
            "src_ref": ADDRESS,
            "dst_ref": ADDRESS,
            "src_payload_ref": ARTIFACT,
            "dst_payload_ref": ARTIFACT,
            "encapsulates_refs": NETWORK_TRAFFIC,
            "encapsulated_by_ref": NETWORK_TRAFFIC,
        },
        one_of=((("src_ref",), ("dst_ref",)),),
    ),
    _sco(
        "process",
        (),
        {
            "is_hidden": "bool",
            "pid": "int",
            "created_time": "timestamp",
            "cwd": "string",
            "command_line": "string",
            "environment_variables": "dict",
        },
        {
            "opened_connection_refs": NETWORK_TRAFFIC,
            "creator_user_ref": USER_ACCOUNT,
            "image_ref": _only("a file", "file"),
            "parent_ref": PROCESS,
            "child_refs": PROCESS,
        },
        beyond_common=True,
    ),
    _sco(
        "software",
        ("name",),
        {
            "name": "string",
            "cpe": "string",
            "swid": "string",
            "languages": "string_list",
            "vendor": "string",
            "version": "string",
        },
    ),
    _sco("url", ("value",), {"value": "string"}),
    _sco(
        "user-account",
        (),
        {
            "user_id": "string",
            "credential": "string",
            "account_login": "string",
            "account_type": "string",
            "display_name": "string",
            "is_service_account": "bool",
            "is_privileged": "bool",
            "can_escalate_privs": "bool",
            "is_disabled": "bool",
            "account_created": "timestamp",
            "account_expires": "timestamp",
            "credential_last_changed": "timestamp",
            "account_first_login": "timestamp",
            "account_last_login": "timestamp",
        },
        beyond_common=True,
    ),
    _sco(
        "windows-registry-key",
        (),
        {
            "key": "string",
            "values": "dict_list",
            "modified_time": "timestamp",
            "number_of_subkeys": "nonneg_int",
        },
        {"creator_user_ref": USER_ACCOUNT},
        beyond_common=True,
    ),
    _sco(
        "x509-certificate",
        (),
        {
            "is_self_signed": "bool",
            "hashes": "hashes",
            "version": "string",
            "serial_number": "string",
            "signature_algorithm": "string",
            "issuer": "string",
            "validity_not_before": "timestamp",
            "validity_not_after": "timestamp",
            "subject": "string",
            "subject_public_key_algorithm": "string",
            "subject_public_key_modulus": "string",
            "subject_public_key_exponent": "nonneg_int",
            "x509_v3_extensions": "dict",
        },
        beyond_common=True,
    ),
)

# The project's own object types with rules of their own (stix/extensions.py).
_OWN_SPECS: tuple[TypeSpec, ...] = (
    _sdo(
        "x-bayanihan-deletion",
        ("created_by_ref", "object_ref", "object_modified"),
        {"object_modified": "timestamp_list"},
        {"object_ref": ANY_OBJECT},
    ),
)

TYPE_SPECS: Mapping[str, TypeSpec] = MappingProxyType(
    {spec.name: spec for spec in (*_SPECS, *_OWN_SPECS)}
)

# Custom (non-core) object types: SDO-like when they carry ``created``, else SCO-like.
CUSTOM_SDO = TypeSpec(
    name="custom object",
    category=SDO,
    required=SDO_REQUIRED,
    kinds=COMMON_SDO_KINDS,
    refs=COMMON_SDO_REFS,
    order=CREATED_MODIFIED,
)
CUSTOM_SCO = TypeSpec(
    name="custom object",
    category=SCO,
    required=(),
    kinds=COMMON_SCO_KINDS,
    refs=COMMON_SCO_REFS,
)
