"""Who is asking: the key (or CLI operator) behind a request, and its organisation(s)."""

from __future__ import annotations

from dataclasses import dataclass

from bayanihan.policy.roles import Action, Role, allows
from bayanihan.store.scope import OPEN_CAP, OutboundCap


@dataclass(frozen=True, slots=True)
class PeerOrg:
    """An organisation a sync key also acts for, as reads and writes need it."""

    row: int
    identity: str
    country: str


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``key_row`` is None for the local CLI operator.

    A ``sync`` key stands for a peer node, so it acts for every organisation this node
    knows that node to host: its own org and ``peer_orgs``, the others hosted on the
    same peer (DESIGN §4: "sees what its orgs may see, writes only as them"). Every
    other principal acts for its one organisation. ``outbound`` is the cap the
    operator set for that peer (``peer add|set --tlp --groups``), read when the key
    was authenticated: what may leave towards the peer, by push or by its own reads.
    """

    org_row: int
    org_identity: str
    org_name: str
    role: Role
    key_row: int | None = None
    user_row: int | None = None
    remote: str | None = None  # the caller's address, for the audit log
    peer_orgs: tuple[PeerOrg, ...] = ()
    outbound: OutboundCap = OPEN_CAP

    def __post_init__(self) -> None:
        if self.peer_orgs and self.role is not Role.SYNC:
            raise ValueError(f"a {self.role} key acts for its own organisation only")
        if not self.outbound.open and self.role is not Role.SYNC:
            raise ValueError(f"a {self.role} key is not a peer's: no outbound cap applies")

    def can(self, action: Action) -> bool:
        return allows(self.role, action)

    @property
    def org_rows(self) -> frozenset[int]:
        """Every organisation this principal reads as."""
        return frozenset({self.org_row, *(org.row for org in self.peer_orgs)})

    def peer_org(self, identity: object) -> PeerOrg | None:
        """The other organisation of a sync key with this identity id, if it is one."""
        return next((org for org in self.peer_orgs if org.identity == identity), None)
