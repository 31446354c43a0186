"""What may leave this node towards one peer: the audience decides, the operator may cap it.

Who may receive an object is the sharing policy's decision (``visibility.peer_scope``:
the organisations the peer hosts, against the object's audience; DESIGN §4's "may
leave the node to"). On top of it the node operator may set, per peer, a cap that can
only narrow what leaves, never widen it:

- ``tlp``: the TLP levels that may leave towards the peer (default: every level);
- ``groups``: the sharing groups whose objects may leave (default: every group;
  ``none``: no object naming a sharing group). An object naming several groups
  leaves only when each of them may: it is material of every group it names, and the
  operator held one of them back. An object naming no group is capped by TLP alone.

The cap is on what this node sends; it is checked on the object's own TLP (as stored:
an unmarked object's is ``untagged_tlp``) and its sharing groups. ``may_leave`` is the
decision for one object in hand; the store renders the same cap into SQL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from bayanihan.policy.tlp import Tlp
from bayanihan.store.scope import OutboundCap

__all__ = [
    "OPEN",
    "OutboundCap",
    "PolicyError",
    "cap_of",
    "describe",
    "may_leave",
    "parse_groups",
    "parse_levels",
]

OPEN = OutboundCap()
ALL = "all"
NONE = "none"


class PolicyError(ValueError):
    """A peer policy given by the operator that cannot be used; the message says why."""


def _items(value: str | Sequence[str]) -> list[str]:
    """A comma list (the CLI's form) or a list (REST's) as stripped items."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    return [part.strip() for part in parts]


def parse_levels(value: str | Sequence[str]) -> frozenset[Tlp] | None:
    """``all`` (None: every level) or TLP levels: ``clear,green``, ``amber+strict``...
    (TLP 1.0 ``white`` is CLEAR). Raises PolicyError for an unknown level or none."""
    items = _items(value)
    if [item.lower() for item in items] == [ALL]:
        return None
    if not items or any(not item for item in items):
        raise PolicyError(
            "--tlp is `all` or a comma list of clear, green, amber, amber+strict, red "
            f"(no empty item), not {value!r}"
        )
    levels: set[Tlp] = set()
    for item in items:
        if item.lower() in (ALL, NONE):
            raise PolicyError(f"--tlp {item} stands alone: `--tlp all`, or a list of levels")
        try:
            levels.add(Tlp.parse(item))
        except ValueError as exc:
            raise PolicyError(f"--tlp: {exc}") from None
    return frozenset(levels)


def parse_groups(value: str | Sequence[str]) -> tuple[str, ...] | None:
    """``all`` (None), ``none`` (an empty tuple) or sharing groups by name or id, to be
    resolved against the node's groups by the caller. Raises PolicyError."""
    items = _items(value)
    if [item.lower() for item in items] == [ALL]:
        return None
    if [item.lower() for item in items] == [NONE]:
        return ()
    if not items or any(not item for item in items):
        raise PolicyError(
            "--groups is `all`, `none` or a comma list of sharing groups (names or ids), "
            f"with no empty item, not {value!r}"
        )
    if any(item.lower() in (ALL, NONE) for item in items):
        raise PolicyError("--groups all and --groups none stand alone, not in a list")
    return tuple(dict.fromkeys(items))


def cap_of(*, tlp: Iterable[Tlp] | None, groups: Iterable[str] | None) -> OutboundCap:
    """The cap for those levels (None: all) and sharing group ids (None: all)."""
    return OutboundCap(
        tlp=None if tlp is None else frozenset(level.label for level in tlp),
        groups=None if groups is None else frozenset(groups),
    )


def may_leave(cap: OutboundCap, *, tlp: Tlp, groups: Collection[str]) -> bool:
    """Whether the cap lets an object of that TLP, naming those sharing groups, leave
    towards the peer (its audience must let it too: this only narrows)."""
    if cap.tlp is not None and tlp.label not in cap.tlp:
        return False
    if cap.groups is not None and not set(groups) <= cap.groups:
        return False
    return True


def describe(cap: OutboundCap, group_names: dict[str, str] | None = None) -> str:
    """The cap in words, for ``peer list``."""
    if cap.open:
        return "all the audience allows"
    names = group_names or {}
    levels = (
        "every TLP"
        if cap.tlp is None
        else "TLP " + ", ".join(level.label for level in Tlp if level.label in cap.tlp)
    )
    if cap.groups is None:
        groups = "every sharing group"
    elif not cap.groups:
        groups = "no sharing group"
    else:
        groups = "sharing groups " + ", ".join(
            sorted(names.get(group, group) for group in cap.groups)
        )
    return f"{levels}; {groups}"
