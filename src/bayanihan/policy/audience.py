"""Audience: the set of organisations that may see an object, computed at write time."""

from __future__ import annotations

from bayanihan.policy.tlp import Tlp


def audience_for(tlp: Tlp, *, author_org: int) -> frozenset[int] | None:
    """None means the whole community (CLEAR and GREEN); otherwise the org rows.

    AMBER, AMBER+STRICT and RED reach the author organisation. Recipients,
    constituents and sharing groups widen this set (see docs/security.md).
    """
    if tlp <= Tlp.GREEN:
        return None
    return frozenset({author_org})
