"""The read and audience primitives the store renders into SQL.

The policy package decides *which* scope a reader gets and *which* audience an
object has; these classes only carry that decision to the store.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutboundCap:
    """An operator's cap on what leaves towards one peer, on top of what its
    organisations may see: what is pushed to it, and what its sync key reads here.

    ``tlp``: the TLP levels (labels as stored: ``clear`` ... ``red``) that may leave;
    None, every level. ``groups``: the sharing group ids whose objects may leave; None,
    every group; empty, none. An object naming sharing groups leaves only when every
    one of them may; one naming none is not held back by ``groups``.
    """

    tlp: frozenset[str] | None = None
    groups: frozenset[str] | None = None

    @property
    def open(self) -> bool:
        """No cap: the audience alone decides."""
        return self.tlp is None and self.groups is None


OPEN_CAP = OutboundCap()


@dataclass(frozen=True, slots=True)
class ReadScope:
    """What a reader may see.

    ``everything``: no restriction (the node administrator). Otherwise objects
    whose audience is the whole community (when ``community``), or an audience
    that includes one of ``org_rows`` or the person ``user_row``; ``clear_only``
    narrows to TLP:CLEAR. ``outbound`` narrows any of it further to what the cap of
    a peer lets leave towards it (a peer's sync key reading here). A relationship or
    sighting is visible only when the objects it points at are visible in the same
    scope, cap included.
    """

    everything: bool = False
    community: bool = True
    org_rows: frozenset[int] = frozenset()
    user_row: int | None = None
    clear_only: bool = False
    outbound: OutboundCap = OPEN_CAP


@dataclass(frozen=True, slots=True)
class Audience:
    """Organisations (every member of each) and individual people that may see an object."""

    orgs: frozenset[int]
    users: frozenset[int] = frozenset()

    @property
    def key(self) -> str:
        """A canonical text form: equal audiences share one stored row."""
        orgs = ",".join(map(str, sorted(self.orgs)))
        if not self.users:
            return orgs
        return orgs + "|u:" + ",".join(map(str, sorted(self.users)))


@dataclass(frozen=True, slots=True)
class Directory:
    """Who is who, as the audience decision needs it (read once per write request)."""

    org_by_identity: dict[str, int]
    user_by_identity: dict[str, tuple[int, int]]  # identity id -> (user row, org row)
    children: dict[int, tuple[int, ...]]  # org row -> its constituent org rows
    group_members: dict[str, frozenset[int]]  # sharing group id -> member org rows
