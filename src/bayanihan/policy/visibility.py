"""Read scopes: which stored objects a principal may see.

The decision is made here; the store renders a ``ReadScope`` into SQL, so list
queries filter in the database and paging counts stay right.
"""

from __future__ import annotations

from collections.abc import Iterable

from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.tlp import Tlp
from bayanihan.store.scope import Audience, ReadScope

__all__ = ["PUBLIC_SCOPE", "ReadScope", "may_see", "peer_scope", "read_scope"]

# Anyone, without a key, through the public collection: TLP:CLEAR only.
PUBLIC_SCOPE = ReadScope(community=True, clear_only=True)


def read_scope(principal: Principal) -> ReadScope:
    """What a principal may see: the node admin everything, others their org's share.

    A sync key sees the union of what each of its organisations may see (its own and the
    others hosted on the same peer node): an object whose audience holds any of them.
    Audiences already hold the constituents AMBER reaches and not those AMBER+STRICT
    leaves out, so that rule holds per organisation.
    """
    if principal.can(Action.READ_ALL):
        return ReadScope(everything=True)
    return ReadScope(community=True, org_rows=principal.org_rows, user_row=principal.user_row)


def peer_scope(org_rows: Iterable[int]) -> ReadScope:
    """What may be sent to a peer node hosting the organisations ``org_rows``.

    The union of what those organisations may see here, which is also DESIGN §4's
    "may leave the node to" column: CLEAR and GREEN (audience: the whole community) go
    to every peer; AMBER, AMBER+STRICT and RED only to a peer hosting an organisation
    of the object's audience (AMBER's audience already holds the constituents).
    A peer hosting none of our known organisations (a plain TAXII server) gets CLEAR
    and GREEN only. No person is in the scope: a RED object naming individual people
    (audience: its author organisation, which is ours, and those people) never leaves.
    Relationships and sightings go only with their endpoints, as for any reader.
    """
    return ReadScope(community=True, org_rows=frozenset(org_rows))


def may_see(scope: ReadScope, *, tlp: Tlp, audience: Audience | None) -> bool:
    """The same decision as the SQL rendering, for one object already in hand."""
    if scope.everything:
        return True
    if scope.clear_only and tlp is not Tlp.CLEAR:
        return False
    if audience is None:
        return scope.community
    if audience.orgs & scope.org_rows:
        return True
    return scope.user_row is not None and scope.user_row in audience.users
