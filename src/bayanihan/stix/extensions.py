"""The project's own STIX 2.1 extension definitions, with ids fixed once for every node.

Each id here is permanent: nodes and other STIX tools recognise the extension by
it (see docs/extensions.md). Never change an id; add a new definition instead.
"""

from __future__ import annotations

from typing import Any

PROJECT_IDENTITY_ID = "identity--7c1b2c3e-0d4f-4e0a-9a55-5b9a0c1e2f60"

# Property extension on `identity` objects of organisations and nodes: ISO 3166-1
# alpha-2 country, home node, parent organisation.
ORGANISATION_EXTENSION_ID = "extension-definition--40bc61d0-eb1b-4d55-bd64-1a3c383957c8"

# Property extension on any object: who, beyond the author organisation, may see it.
# recipient_refs: identities of organisations or of people (identity_class individual);
# sharing_group_refs: ids of sharing groups (type SHARING_GROUP_TYPE).
SHARING_EXTENSION_ID = "extension-definition--ffc6ea54-7c4f-48dd-8273-4a9e40ca2725"

# Sharing groups: a named set of organisations across nodes, with one id everywhere.
SHARING_GROUP_TYPE = "x-bayanihan-sharing-group"
SHARING_GROUP_EXTENSION_ID = "extension-definition--b0829c59-9cf9-47d3-a802-64443db7b9bb"

# Observable types for what regional scams run on (new SCO types, correlated like any
# other observable): phone numbers, bank accounts, crypto-currency wallets and
# social-media handles.
PHONE_NUMBER_TYPE = "x-bayanihan-phone-number"
PHONE_NUMBER_EXTENSION_ID = "extension-definition--0d9dd4a5-9c3c-47f5-a454-2fc3a5e3993c"
BANK_ACCOUNT_TYPE = "x-bayanihan-bank-account"
BANK_ACCOUNT_EXTENSION_ID = "extension-definition--54fd59d3-e8d5-41d5-80dc-074300764e1c"
CRYPTO_WALLET_TYPE = "x-bayanihan-crypto-wallet"
CRYPTO_WALLET_EXTENSION_ID = "extension-definition--dd6f558a-f1c2-4bbc-843f-48cd87c45785"
SOCIAL_HANDLE_TYPE = "x-bayanihan-social-handle"
SOCIAL_HANDLE_EXTENSION_ID = "extension-definition--e5370474-b95e-4170-89eb-8e3663cd77ba"

# Deletion notices: an author's deletion of object versions, told to the nodes that may
# hold them. object_ref: the deleted object; object_modified: the versions deleted
# (their `modified`, or `created` for objects without one). Audience: the deleted
# object's own (its markings and sharing extension are copied), so the notice goes
# exactly where the object could go.
DELETION_NOTICE_TYPE = "x-bayanihan-deletion"
DELETION_NOTICE_EXTENSION_ID = "extension-definition--3aaaf54f-a740-4e15-ba4c-15de1804f573"

_DEFINED = "2026-12-01T00:00:00.000Z"

# type -> (extension id, name, description of the properties)
OBSERVABLE_TYPES: dict[str, tuple[str, str, str]] = {
    PHONE_NUMBER_TYPE: (
        PHONE_NUMBER_EXTENSION_ID,
        "Bayanihan phone number",
        "A telephone number used in a scam or attack. value (required): the number as "
        "reported, national or international form; country (optional): ISO 3166-1 alpha-2 "
        "region for national forms (default: the reporting organisation's country).",
    ),
    BANK_ACCOUNT_TYPE: (
        BANK_ACCOUNT_EXTENSION_ID,
        "Bayanihan bank account",
        "A bank account receiving fraud proceeds. iban and/or account_number (one required); "
        "bank (optional): SWIFT/BIC or national bank code; country (optional): ISO 3166-1 "
        "alpha-2; holder_name (optional).",
    ),
    CRYPTO_WALLET_TYPE: (
        CRYPTO_WALLET_EXTENSION_ID,
        "Bayanihan crypto-currency wallet",
        "A crypto-currency address. address (required); currency (optional): btc, eth, trx, "
        "ltc, doge, bch, xmr ... (detected from the address when absent).",
    ),
    SOCIAL_HANDLE_TYPE: (
        SOCIAL_HANDLE_EXTENSION_ID,
        "Bayanihan social-media handle",
        "An account on a messaging or social-media platform. platform (required): telegram, "
        "facebook, line, zalo, wechat, kakaotalk, whatsapp, ...; handle (required): the "
        "account name or profile URL.",
    ),
}


def organisation_extension_definition() -> dict[str, Any]:
    """The extension-definition object describing ORGANISATION_EXTENSION_ID."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": ORGANISATION_EXTENSION_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Bayanihan organisation profile",
        "description": "Country (ISO 3166-1 alpha-2), home node and parent organisation of "
        "an organisation or node taking part in a Bayanihan federation.",
        "schema": "https://bayanihan.invalid/extensions/organisation/v1 (documented in "
        "docs/extensions.md of the Bayanihan project)",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def sharing_extension_definition() -> dict[str, Any]:
    """The extension-definition object describing SHARING_EXTENSION_ID."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": SHARING_EXTENSION_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Bayanihan sharing",
        "description": "Recipients (organisations or individuals, by identity id) and sharing "
        "groups that may see an object marked TLP:AMBER, AMBER+STRICT or RED, beyond its author.",
        "schema": "https://bayanihan.invalid/extensions/sharing/v1 (documented in "
        "docs/extensions.md of the Bayanihan project)",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def sharing_group_extension_definition() -> dict[str, Any]:
    """The extension-definition of the sharing-group object type."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": SHARING_GROUP_EXTENSION_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Bayanihan sharing group",
        "description": f"Objects of type {SHARING_GROUP_TYPE}: a named set of organisations "
        "across nodes. Membership is told only to members.",
        "schema": "https://bayanihan.invalid/extensions/sharing-group/v1 (documented in "
        "docs/extensions.md of the Bayanihan project)",
        "version": "1.0.0",
        "extension_types": ["new-sdo"],
    }


def deletion_notice_extension_definition() -> dict[str, Any]:
    """The extension-definition of the deletion-notice object type."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": DELETION_NOTICE_EXTENSION_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Bayanihan deletion notice",
        "description": f"Objects of type {DELETION_NOTICE_TYPE}: the author organisation "
        "deleted versions of an object. object_ref (required): the object; object_modified "
        "(required): the deleted versions' modified timestamps. A node holding those versions "
        "from that author deletes them.",
        "schema": "https://bayanihan.invalid/extensions/deletion-notice/v1 (documented in "
        "docs/extensions.md of the Bayanihan project)",
        "version": "1.0.0",
        "extension_types": ["new-sdo"],
    }


def observable_extension_definitions() -> list[dict[str, Any]]:
    """The extension-definition objects of the project's observable (new-sco) types."""
    return [
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": extension_id,
            "created_by_ref": PROJECT_IDENTITY_ID,
            "created": _DEFINED,
            "modified": _DEFINED,
            "name": name,
            "description": f"Observables of type {kind}. {properties}",
            "schema": f"https://bayanihan.invalid/extensions/{kind}/v1 (documented in "
            "docs/extensions.md of the Bayanihan project)",
            "version": "1.0.0",
            "extension_types": ["new-sco"],
        }
        for kind, (extension_id, name, properties) in OBSERVABLE_TYPES.items()
    ]


def recipients_of(obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(recipient_refs, sharing_group_refs) named by an object's sharing extension.

    Raises ValueError, saying what is wrong, when the extension is malformed.
    """
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict) or SHARING_EXTENSION_ID not in extensions:
        return [], []
    sharing = extensions[SHARING_EXTENSION_ID]
    if not isinstance(sharing, dict):
        raise ValueError("the sharing extension must be an object")
    found: list[list[str]] = []
    for name in ("recipient_refs", "sharing_group_refs"):
        values = sharing.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"sharing extension property {name!r} must be a list of ids")
        found.append(values)
    return found[0], found[1]


def project_identity() -> dict[str, Any]:
    """The identity that authors the project's extension definitions."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": PROJECT_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Bayanihan project",
        "identity_class": "organization",
    }


def organisation_identity(
    *,
    identity_id: str,
    name: str,
    country: str,
    sector: str | None,
    created: str,
    home_node: str | None,
    parent: str | None = None,
    identity_class: str = "organization",
) -> dict[str, Any]:
    """A STIX identity for an organisation (or, with identity_class 'system', a node)."""
    profile: dict[str, Any] = {"extension_type": "property-extension", "country": country}
    if home_node:
        profile["home_node"] = home_node
    if parent:
        profile["parent_ref"] = parent
    identity: dict[str, Any] = {
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id,
        "created": created,
        "modified": created,
        "name": name,
        "identity_class": identity_class,
        "object_marking_refs": ["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],
        "extensions": {ORGANISATION_EXTENSION_ID: profile},
    }
    if sector:
        identity["sectors"] = [sector]
    return identity
