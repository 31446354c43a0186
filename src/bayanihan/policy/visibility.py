"""Read scopes: which stored objects a principal may see.

The decision is made here; the store renders a ``ReadScope`` into SQL, so list
queries filter in the database and paging counts stay right.
"""

from __future__ import annotations

from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.tlp import Tlp
from bayanihan.store.scope import Audience, ReadScope

__all__ = ["PUBLIC_SCOPE", "ReadScope", "may_see", "read_scope"]

# Anyone, without a key, through the public collection: TLP:CLEAR only.
PUBLIC_SCOPE = ReadScope(community=True, clear_only=True)


def read_scope(principal: Principal) -> ReadScope:
    """What a principal may see: the node admin everything, others their org's share."""
    if principal.can(Action.READ_ALL):
        return ReadScope(everything=True)
    return ReadScope(
        community=True, org_rows=frozenset({principal.org_row}), user_row=principal.user_row
    )


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
