"""Read scopes: which stored objects a principal may see.

The decision is made here; the store renders a ``ReadScope`` into SQL, so list
queries filter in the database and paging counts stay right.
"""

from __future__ import annotations

from dataclasses import dataclass

from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action
from bayanihan.policy.tlp import Tlp


@dataclass(frozen=True, slots=True)
class ReadScope:
    """What a reader may see.

    ``everything``: no restriction (the node administrator). Otherwise objects
    whose audience is the whole community (when ``community``) or an audience
    that includes one of ``org_rows``; ``clear_only`` narrows to TLP:CLEAR.
    """

    everything: bool = False
    community: bool = True
    org_rows: frozenset[int] = frozenset()
    clear_only: bool = False


PUBLIC_SCOPE = ReadScope(community=True, clear_only=True)


def read_scope(principal: Principal) -> ReadScope:
    if principal.can(Action.READ_ALL):
        return ReadScope(everything=True)
    return ReadScope(community=True, org_rows=frozenset({principal.org_row}))


def may_see(scope: ReadScope, *, tlp: Tlp, audience_orgs: frozenset[int] | None) -> bool:
    """The same decision as the SQL rendering, for one object already in hand."""
    if scope.everything:
        return True
    if scope.clear_only and tlp is not Tlp.CLEAR:
        return False
    if audience_orgs is None:
        return scope.community
    return bool(audience_orgs & scope.org_rows)
