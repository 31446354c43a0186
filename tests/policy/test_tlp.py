"""TLP 2.0 markings, TLP 1.0 mapping and the audience each level gives."""

from __future__ import annotations

import pytest

from bayanihan.policy.audience import AudienceError, audience_for
from bayanihan.policy.tlp import TLP1_IDS, TLP2_IDS, Tlp, marking_definition, tlp_of
from bayanihan.policy.visibility import PUBLIC_SCOPE, ReadScope, may_see
from bayanihan.stix.validate import validate_object
from bayanihan.store.scope import Audience, Directory


def test_tlp2_ids_are_the_oasis_ones() -> None:
    assert TLP2_IDS[Tlp.CLEAR] == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    assert TLP2_IDS[Tlp.AMBER_STRICT] == "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
    assert TLP2_IDS[Tlp.RED] == "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


@pytest.mark.parametrize(
    "level, expected",
    [(Tlp.CLEAR, Tlp.CLEAR), (Tlp.GREEN, Tlp.GREEN), (Tlp.AMBER, Tlp.AMBER), (Tlp.RED, Tlp.RED)],
)
def test_tlp1_ids_map_onto_tlp2(level: Tlp, expected: Tlp) -> None:
    assert tlp_of([TLP1_IDS[level]], untagged=Tlp.AMBER) is expected


def test_untagged_and_unknown_markings_use_the_default() -> None:
    assert tlp_of(None, untagged=Tlp.AMBER) is Tlp.AMBER
    assert tlp_of([], untagged=Tlp.RED) is Tlp.RED
    other = "marking-definition--00000000-0000-4000-8000-000000000000"
    assert tlp_of([other], untagged=Tlp.AMBER) is Tlp.AMBER


def test_several_tlp_markings_resolve_to_the_strictest() -> None:
    refs = [TLP2_IDS[Tlp.GREEN], TLP1_IDS[Tlp.RED], TLP2_IDS[Tlp.CLEAR]]
    assert tlp_of(refs, untagged=Tlp.CLEAR) is Tlp.RED


@pytest.mark.parametrize(
    "text, level",
    [
        ("clear", Tlp.CLEAR),
        ("TLP:WHITE", Tlp.CLEAR),
        ("Green", Tlp.GREEN),
        ("amber+strict", Tlp.AMBER_STRICT),
        ("TLP:AMBER+STRICT", Tlp.AMBER_STRICT),
        ("amber_strict", Tlp.AMBER_STRICT),
        ("red", Tlp.RED),
    ],
)
def test_parse(text: str, level: Tlp) -> None:
    assert Tlp.parse(text) is level


def test_parse_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown TLP"):
        Tlp.parse("purple")


@pytest.mark.parametrize("level", list(Tlp))
def test_marking_definitions_are_valid_stix(level: Tlp) -> None:
    assert validate_object(marking_definition(level)) == []


def test_audience_by_level() -> None:
    assert audience_for(Tlp.CLEAR, author_org=3) is None
    assert audience_for(Tlp.GREEN, author_org=3) is None
    for level in (Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED):
        assert audience_for(level, author_org=3) == Audience(orgs=frozenset({3}))


DIRECTORY = Directory(
    org_by_identity={"identity--a": 1, "identity--b": 2, "identity--c": 3},
    user_by_identity={"identity--person-b": (70, 2)},
    children={2: (4,), 4: (5,), 1: (6,)},
    group_members={"x-bayanihan-sharing-group--g": frozenset({1, 3, 8})},
)


def test_amber_reaches_recipients_groups_and_their_constituents() -> None:
    audience = audience_for(
        Tlp.AMBER,
        author_org=1,
        recipient_refs=["identity--b"],
        group_refs=["x-bayanihan-sharing-group--g"],
        directory=DIRECTORY,
    )
    assert audience == Audience(orgs=frozenset({1, 2, 3, 4, 5, 6, 8}))


def test_amber_strict_leaves_constituents_out() -> None:
    audience = audience_for(
        Tlp.AMBER_STRICT, author_org=1, recipient_refs=["identity--b"], directory=DIRECTORY
    )
    assert audience == Audience(orgs=frozenset({1, 2}))


def test_red_naming_people_is_for_those_people() -> None:
    audience = audience_for(
        Tlp.RED,
        author_org=1,
        recipient_refs=["identity--b", "identity--person-b"],
        directory=DIRECTORY,
    )
    assert audience == Audience(orgs=frozenset({1}), users=frozenset({70}))
    without_people = audience_for(
        Tlp.RED, author_org=1, recipient_refs=["identity--b"], directory=DIRECTORY
    )
    assert without_people == Audience(orgs=frozenset({1, 2}))


@pytest.mark.parametrize(
    "recipients, groups, message",
    [
        (["identity--nobody"], [], "neither an organisation nor a person"),
        ([], ["x-bayanihan-sharing-group--unknown"], "not one the writing organisation"),
    ],
)
def test_unknown_recipients_are_refused(
    recipients: list[str], groups: list[str], message: str
) -> None:
    with pytest.raises(AudienceError, match=message):
        audience_for(
            Tlp.AMBER,
            author_org=1,
            recipient_refs=recipients,
            group_refs=groups,
            directory=DIRECTORY,
        )


def test_only_members_may_share_with_a_group() -> None:
    with pytest.raises(AudienceError, match="not one the writing organisation belongs to"):
        audience_for(
            Tlp.AMBER,
            author_org=2,
            group_refs=["x-bayanihan-sharing-group--g"],
            directory=DIRECTORY,
        )


def test_may_see_matches_the_rules() -> None:
    member = ReadScope(org_rows=frozenset({3}))
    outsider = ReadScope(org_rows=frozenset({4}))
    person = ReadScope(org_rows=frozenset({4}), user_row=7)
    red = Audience(orgs=frozenset({3}))
    named = Audience(orgs=frozenset({3}), users=frozenset({7}))
    assert may_see(member, tlp=Tlp.RED, audience=red)
    assert not may_see(outsider, tlp=Tlp.RED, audience=red)
    assert may_see(person, tlp=Tlp.RED, audience=named)
    assert not may_see(outsider, tlp=Tlp.RED, audience=named)
    assert may_see(outsider, tlp=Tlp.GREEN, audience=None)
    assert not may_see(PUBLIC_SCOPE, tlp=Tlp.GREEN, audience=None)
    assert may_see(PUBLIC_SCOPE, tlp=Tlp.CLEAR, audience=None)
    assert may_see(ReadScope(everything=True), tlp=Tlp.RED, audience=named)
