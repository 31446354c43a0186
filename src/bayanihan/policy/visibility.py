"""Read scopes: which stored objects a principal may see.

The decision is made here; the store renders a ``ReadScope`` into SQL, so list
queries filter in the database and paging counts stay right.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from bayanihan.policy.outbound import may_leave
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.tlp import Tlp
from bayanihan.store.scope import Audience, ReadScope

__all__ = ["PUBLIC_SCOPE", "ReadScope", "may_see", "peer_scope", "public_scope", "read_scope"]

# Anyone, without a key, through the public collection: TLP:CLEAR only.
PUBLIC_SCOPE = ReadScope(community=True, clear_only=True)


def read_scope(principal: Principal) -> ReadScope:
    """What a principal may see: the node admin everything, others their org's share.

    A sync key sees the union of what each of its organisations may see (its own and the
    others hosted on the same peer node): an object whose audience holds any of them.
    Audiences already hold the constituents AMBER reaches and not those AMBER+STRICT
    leaves out, so that rule holds per organisation. A sync key reads within the
    outbound cap of its peer (``principal.outbound``): what the operator lets leave
    towards that peer leaves by its pulls no more than by push.
    """
    if principal.can(Action.READ_ALL):
        return ReadScope(everything=True)
    return ReadScope(
        community=True,
        org_rows=principal.org_rows,
        user_row=principal.user_row,
        outbound=principal.outbound,
    )


def public_scope(principal: Principal | None) -> ReadScope:
    """The public collection: TLP:CLEAR, to anyone. A peer's sync key reads it within its
    outbound cap all the same, so that no read of that key goes beyond the cap."""
    if principal is None:
        return PUBLIC_SCOPE
    return replace(PUBLIC_SCOPE, outbound=principal.outbound)


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


def may_see(
    scope: ReadScope, *, tlp: Tlp, audience: Audience | None, groups: Collection[str] = ()
) -> bool:
    """The same decision as the SQL rendering, for one object already in hand (naming
    the sharing groups ``groups``); a relationship's endpoints are the caller's to ask."""
    if not may_leave(scope.outbound, tlp=tlp, groups=groups):
        return False
    if scope.everything:
        return True
    if scope.clear_only and tlp is not Tlp.CLEAR:
        return False
    if audience is None:
        return scope.community
    if audience.orgs & scope.org_rows:
        return True
    return scope.user_row is not None and scope.user_row in audience.users
