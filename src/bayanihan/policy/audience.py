"""Audience: who may see an object, decided once when it is written.

TLP 2.0 as this platform applies it (docs/security.md):

- CLEAR, GREEN: the whole community (audience None).
- AMBER: the author organisation, the recipient organisations, the members of the
  named sharing groups, and the constituents (child organisations, at any depth)
  of all of those.
- AMBER+STRICT: the same organisations without their constituents.
- RED: like AMBER+STRICT; when the object names people as recipients, only those
  people (and the author organisation) may see it.
"""

from __future__ import annotations

from collections.abc import Iterable

from bayanihan.policy.tlp import Tlp
from bayanihan.store.scope import Audience, Directory

__all__ = ["Audience", "AudienceError", "Directory", "audience_for"]


def constituents(directory: Directory, orgs: Iterable[int]) -> set[int]:
    """The organisations and all their descendants."""
    seen: set[int] = set()
    pending = list(orgs)
    while pending:
        org = pending.pop()
        if org in seen:
            continue
        seen.add(org)
        pending.extend(directory.children.get(org, ()))
    return seen


class AudienceError(ValueError):
    """An object names recipients or groups the policy cannot accept."""


def audience_for(
    tlp: Tlp,
    *,
    author_org: int,
    recipient_refs: Iterable[str] = (),
    group_refs: Iterable[str] = (),
    directory: Directory | None = None,
) -> Audience | None:
    """The audience of an object; None means the whole community."""
    recipients = list(recipient_refs)
    groups = list(group_refs)
    if tlp <= Tlp.GREEN:
        return None
    if (recipients or groups) and directory is None:
        raise AudienceError("recipients and sharing groups need the node's directory")
    orgs = {author_org}
    users: set[int] = set()
    for ref in recipients:
        assert directory is not None
        if ref in directory.org_by_identity:
            orgs.add(directory.org_by_identity[ref])
        elif ref in directory.user_by_identity:
            users.add(directory.user_by_identity[ref][0])
        else:
            raise AudienceError(
                f"recipient {ref} is neither an organisation nor a person known to this node"
            )
    for ref in groups:
        assert directory is not None
        members = directory.group_members.get(ref)
        if members is None or author_org not in members:
            # one answer for both: a non-member may not learn that the group exists
            raise AudienceError(
                f"sharing group {ref} is not one the writing organisation belongs to"
            )
        orgs |= members
    if tlp is Tlp.RED and users:
        return Audience(orgs=frozenset({author_org}), users=frozenset(users))
    if users:
        # naming people on AMBER shares with their whole organisations
        assert directory is not None
        by_row = {user: org for user, org in directory.user_by_identity.values()}
        orgs |= {by_row[u] for u in users}
    if tlp is Tlp.AMBER and directory is not None:
        orgs = constituents(directory, orgs)
    return Audience(orgs=frozenset(orgs))
