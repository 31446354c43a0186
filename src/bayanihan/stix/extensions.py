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

_DEFINED = "2026-12-01T00:00:00.000Z"


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
