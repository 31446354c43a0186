"""Roles and the one permission table every endpoint and CLI command consults.

A role is a set of actions. ``admin`` is the node administrator; ``org-admin``
administers one organisation; ``analyst`` reads and writes for its org;
``reader`` only reads; ``sync`` is a peer node, reading what its organisations (the
key's own and the others this node knows to be hosted on that peer) may see and
writing only as them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ORG_ADMIN = "org-admin"
    ANALYST = "analyst"
    READER = "reader"
    SYNC = "sync"


class Action(StrEnum):
    READ = "read"  # list and get objects, manifests, versions, collections
    WRITE = "write"  # submit objects (new versions and revocations included)
    DELETE_OWN_ORG = "delete-own-org"  # delete objects authored by the key's org
    DELETE_ANY = "delete-any"  # delete any object on the node
    READ_ALL = "read-all"  # see every object regardless of audience
    CREATE_KEY_OWN_ORG = "create-key-own-org"  # keys and users of its own org
    CREATE_KEY_ANY_ORG = "create-key-any-org"
    MANAGE_ORGS = "manage-orgs"
    MANAGE_GROUPS_OWN_ORG = "manage-groups-own-org"  # groups its org owns
    MANAGE_GROUPS_ANY = "manage-groups-any"
    READ_AUDIT = "read-audit"
    MANAGE_NODE = "manage-node"  # node switches such as the public collection, warning-lists
    MANAGE_ALERTS_OWN_ORG = "manage-alerts-own-org"  # where its org's hit alerts go


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.ORG_ADMIN: frozenset(
        {
            Action.READ,
            Action.WRITE,
            Action.DELETE_OWN_ORG,
            Action.CREATE_KEY_OWN_ORG,
            Action.MANAGE_GROUPS_OWN_ORG,
            Action.MANAGE_ALERTS_OWN_ORG,
        }
    ),
    Role.ANALYST: frozenset({Action.READ, Action.WRITE}),
    Role.READER: frozenset({Action.READ}),
    Role.SYNC: frozenset({Action.READ, Action.WRITE}),
}

# Roles a key of each role may hand out: never wider than its own.
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset(Role),
    Role.ORG_ADMIN: frozenset({Role.ORG_ADMIN, Role.ANALYST, Role.READER}),
    Role.ANALYST: frozenset(),
    Role.READER: frozenset(),
    Role.SYNC: frozenset(),
}


def allows(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]


def may_grant(granter: Role, new_role: Role) -> bool:
    return new_role in GRANTABLE[granter]


def no_wider(role: Role, than: Role) -> bool:
    """True when ``role`` allows nothing that ``than`` does not."""
    return PERMISSIONS[role] <= PERMISSIONS[than]


def parse_role(name: str) -> Role:
    try:
        return Role(name.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {name!r} (one of: {names})") from None
