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
