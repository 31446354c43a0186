"""The per-peer outbound cap (policy/outbound.py): parsing what the operator gives, the
decision for one object, and the store's SQL rendering of the same decision (alone, as
push uses it, and inside a ReadScope, as reads by the peer's sync key do)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from bayanihan.node import Node
from bayanihan.policy.outbound import (
    OPEN,
    OutboundCap,
    PolicyError,
    cap_of,
    describe,
    may_leave,
    parse_groups,
    parse_levels,
)
from bayanihan.policy.roles import Role
from bayanihan.policy.tlp import Tlp
from bayanihan.policy.visibility import ReadScope, may_see
from bayanihan.stix.extensions import SHARING_EXTENSION_ID, SHARING_GROUP_TYPE
from bayanihan.store.objects import visible, within
from bayanihan.store.schema import object_groups, objects
from tests.federation.test_pull import submit
from tests.stixgen import indicator

G1, G2, G3 = (f"{SHARING_GROUP_TYPE}--0000000{n}-0000-4000-8000-000000000000" for n in (1, 2, 3))


def test_levels() -> None:
    assert parse_levels("all") is None
    assert parse_levels(" ALL ") is None
    assert parse_levels("clear,green") == {Tlp.CLEAR, Tlp.GREEN}
    assert parse_levels("TLP:AMBER+STRICT, red") == {Tlp.AMBER_STRICT, Tlp.RED}
    assert parse_levels("white") == {Tlp.CLEAR}  # TLP 1.0
    assert parse_levels(["amber", "amber"]) == {Tlp.AMBER}
    for bad, says in (
        ("", "no empty item"),
        ("green,", "no empty item"),
        ([], "comma list"),
        ("purple", "unknown TLP level 'purple'"),
        ("none", "stands alone"),
        ("all,red", "stands alone"),
    ):
        with pytest.raises(PolicyError) as refused:
            parse_levels(bad)
        assert says in str(refused.value), bad


def test_groups() -> None:
    assert parse_groups("all") is None
    assert parse_groups("None") == ()
    assert parse_groups("Mekong, Lotus,Mekong") == ("Mekong", "Lotus")
    assert parse_groups([G1, "Lotus, the second"]) == (G1, "Lotus, the second")  # REST list
    for bad, says in (
        ("", "no empty item"),
        ("Mekong,,Lotus", "no empty item"),
        ([], "comma list"),
        ("Mekong,none", "stand alone"),
        ("all,Mekong", "stand alone"),
    ):
        with pytest.raises(PolicyError) as refused:
            parse_groups(bad)
        assert says in str(refused.value), bad


def test_may_leave() -> None:
    assert OPEN.open and may_leave(OPEN, tlp=Tlp.RED, groups={G1, G2})
    levels = cap_of(tlp={Tlp.CLEAR, Tlp.GREEN}, groups=None)
    assert may_leave(levels, tlp=Tlp.GREEN, groups={G1})
    assert not may_leave(levels, tlp=Tlp.AMBER, groups=())
    only_g1 = cap_of(tlp=None, groups={G1})
    assert may_leave(only_g1, tlp=Tlp.AMBER, groups={G1})
    assert may_leave(only_g1, tlp=Tlp.RED, groups=())  # naming no group: TLP alone
    assert not may_leave(only_g1, tlp=Tlp.AMBER, groups={G2})
    assert not may_leave(only_g1, tlp=Tlp.AMBER, groups={G1, G2})  # every group must be
    no_groups = cap_of(tlp=None, groups=())
    assert may_leave(no_groups, tlp=Tlp.AMBER, groups=())
    assert not may_leave(no_groups, tlp=Tlp.GREEN, groups={G1})
    both = cap_of(tlp={Tlp.AMBER}, groups={G1, G2})
    assert may_leave(both, tlp=Tlp.AMBER, groups={G1, G2})
    assert not may_leave(both, tlp=Tlp.GREEN, groups={G1})


def test_describe() -> None:
    assert describe(OPEN) == "all the audience allows"
    cap = cap_of(tlp={Tlp.RED, Tlp.CLEAR}, groups={G1})
    assert describe(cap, {G1: "Mekong"}) == "TLP clear, red; sharing groups Mekong"
    assert describe(cap_of(tlp=None, groups=())) == "every TLP; no sharing group"


def _caps() -> list[OutboundCap]:
    """Every cap over the five levels and three groups."""
    level_sets: list[set[Tlp] | None] = [None]
    level_sets += [set(c) for n in range(1, 6) for c in itertools.combinations(Tlp, n)]
    group_sets: list[set[str] | None] = [None]
    group_sets += [set(c) for n in range(4) for c in itertools.combinations((G1, G2, G3), n)]
    return [cap_of(tlp=t, groups=g) for t in level_sets for g in group_sets]


def test_the_sql_rendering_decides_as_may_leave(node: Node) -> None:
    """Every TLP with every set of groups, against every cap: the store's SQL and the
    Python decision agree, object by object."""
    owner = node.operator(role=Role.ORG_ADMIN)
    for name, group_id in (("G1", G1), ("G2", G2), ("G3", G3)):
        node.add_group(name, owner=owner, group_id=group_id)
    stored: list[dict[str, Any]] = []
    for n, (level, count) in enumerate(itertools.product(Tlp, range(4))):
        named = [G1, G2, G3][:count] if count < 3 else [G2, G3]
        extensions = {
            SHARING_EXTENSION_ID: {
                "extension_type": "property-extension",
                "sharing_group_refs": named,
            }
        }
        stored.append(indicator(f"198.51.100.{n}", tlp=level, extensions=extensions))
    stored.append(indicator("198.51.100.200", tlp=None))  # unmarked: untagged_tlp (AMBER)
    submit(node, None, *stored)
    with node.store.read() as conn:
        rows = conn.execute(select(objects.c.date_added, objects.c.tlp)).all()
        named_rows = conn.execute(select(object_groups.c.date_added, object_groups.c.group_id))
        groups: dict[int, set[str]] = {}
        for date_added, group_id in named_rows:
            groups.setdefault(date_added, set()).add(group_id)
        for cap in _caps():
            by_sql = set(conn.execute(select(objects.c.date_added).where(within(cap))).scalars())
            by_python = {
                date_added
                for date_added, tlp in rows
                if may_leave(cap, tlp=Tlp.parse(tlp), groups=groups.get(date_added, set()))
            }
            assert by_sql == by_python, cap
            # the same cap carried by a read scope (everything else open: the cap alone)
            scope = ReadScope(everything=True, outbound=cap)
            by_scope = set(conn.execute(select(objects.c.date_added).where(visible(scope))))
            assert {row[0] for row in by_scope} == by_python, cap
            assert {
                date_added
                for date_added, tlp in rows
                if may_see(
                    scope, tlp=Tlp.parse(tlp), audience=None, groups=groups.get(date_added, ())
                )
            } == by_python, cap
