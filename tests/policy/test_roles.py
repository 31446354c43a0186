"""The permission table, cell by cell, and the rule that no key grants wider rights."""

from __future__ import annotations

import pytest

from bayanihan.node import Node, NodeError, PermissionDenied
from bayanihan.policy.roles import Action, Role, allows, may_grant, parse_role

A = Action
EXPECTED: dict[Role, set[Action]] = {
    Role.ADMIN: set(Action),
    Role.ORG_ADMIN: {
        A.READ,
        A.WRITE,
        A.DELETE_OWN_ORG,
        A.CREATE_KEY_OWN_ORG,
        A.MANAGE_GROUPS_OWN_ORG,
        A.MANAGE_ALERTS_OWN_ORG,
    },
    Role.ANALYST: {A.READ, A.WRITE},
    Role.READER: {A.READ},
    Role.SYNC: {A.READ, A.WRITE},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_every_cell_of_the_permission_table(role: Role, action: Action) -> None:
    assert allows(role, action) is (action in EXPECTED[role])


RANK = {Role.READER: 0, Role.ANALYST: 1, Role.SYNC: 1, Role.ORG_ADMIN: 2, Role.ADMIN: 3}


@pytest.mark.parametrize("granter", list(Role))
@pytest.mark.parametrize("new_role", list(Role))
def test_no_role_grants_wider_rights_than_its_own(granter: Role, new_role: Role) -> None:
    if may_grant(granter, new_role):
        assert EXPECTED[new_role] <= EXPECTED[granter]


def test_parse_role() -> None:
    assert parse_role("Org-Admin") is Role.ORG_ADMIN
    with pytest.raises(ValueError, match="one of: admin"):
        parse_role("root")


def test_key_creation_by_keys(sqlite_node: Node) -> None:
    node = sqlite_node
    node.add_org("Other", country="TH")
    org_admin = node.authenticate(node.add_key(role=Role.ORG_ADMIN).secret)
    analyst = node.authenticate(node.add_key(role=Role.ANALYST).secret)
    admin = node.authenticate(node.add_key(role=Role.ADMIN).secret)
    assert org_admin and analyst and admin
    assert node.add_key(role=Role.READER, granted_by=org_admin).role is Role.READER
    with pytest.raises(PermissionDenied, match="may not create admin"):
        node.add_key(role=Role.ADMIN, granted_by=org_admin)
    with pytest.raises(PermissionDenied, match="own org"):
        node.add_key(role=Role.READER, org_name="Other", granted_by=org_admin)
    with pytest.raises(PermissionDenied):
        node.add_key(role=Role.READER, granted_by=analyst)
    assert node.add_key(role=Role.ANALYST, org_name="Other", granted_by=admin).org_name == "Other"


def test_admin_and_sync_keys_have_fixed_homes(sqlite_node: Node) -> None:
    node = sqlite_node
    node.add_org("Local bank", country="PH")
    node.add_org(
        "Peer police", country="VN", identity_id="identity--3f1d2a57-8c1e-4d3b-9a0f-6b5e7c2d1a01"
    )
    with pytest.raises(NodeError, match="admin keys belong"):
        node.add_key(role=Role.ADMIN, org_name="Local bank")
    with pytest.raises(NodeError, match="sync keys are for peer nodes"):
        node.add_key(role=Role.SYNC, org_name="Local bank")
    assert node.add_key(role=Role.SYNC, org_name="Peer police").role is Role.SYNC


def test_keys_are_long_random_and_stored_only_as_hashes(sqlite_node: Node) -> None:
    from sqlalchemy import select

    from bayanihan.store.schema import api_keys

    secrets = {sqlite_node.add_key(role=Role.READER).secret for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(s) >= 4 + 43 for s in secrets)  # prefix + 32 random bytes, base64url
    with sqlite_node.store.read() as conn:
        stored = {row[0] for row in conn.execute(select(api_keys.c.key_hash))}
    assert not secrets & stored
    assert all(len(h) == 64 for h in stored)


def test_a_persons_keys_are_no_wider_than_their_role(sqlite_node: Node) -> None:
    node = sqlite_node
    node.add_user("ana", org_name=None, password="a long enough secret", role=Role.ANALYST)
    assert node.add_key(role=Role.READER, username="ana").role is Role.READER
    assert node.add_key(role=Role.ANALYST, username="ana").role is Role.ANALYST
    for wider in (Role.ORG_ADMIN, Role.ADMIN):
        with pytest.raises(NodeError, match="would be wider"):
            node.add_key(role=wider, username="ana")
    with pytest.raises(NodeError, match="peer nodes"):
        node.add_key(role=Role.SYNC, username="ana")
