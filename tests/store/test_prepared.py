"""Statements compiled once and run by the driver give what SQLAlchemy gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Integer, bindparam, select

from bayanihan.node import Node
from bayanihan.store.prepared import Prepared, padded
from bayanihan.store.schema import orgs


@given(values=st.lists(st.integers(), min_size=1, max_size=300))
def test_padding_keeps_the_values_and_rounds_the_length_up_to_a_power_of_two(
    values: list[int],
) -> None:
    out = padded(values)
    assert out[: len(values)] == values and set(out) == set(values)
    assert len(out) & (len(out) - 1) == 0 and len(out) < 2 * len(values) + 1


def test_a_prepared_statement_answers_as_the_statement_does(node: Node) -> None:
    for name in ("Alpha CERT", "Beta CERT", "Gamma CERT"):
        node.add_org(name, country="SG")
    with node.store.read() as conn:
        every = sorted(conn.execute(select(orgs.c.row_id)).scalars())
    # a constant list (rendered from an expanding IN) and named values given per call
    wanted = [bindparam(f"row_{i}", 0, Integer) for i in range(2)]
    statement = (
        select(orgs.c.row_id, orgs.c.name)
        .where(orgs.c.row_id.in_(every[1:]), orgs.c.row_id.in_(wanted))
        .order_by(orgs.c.row_id.desc())
        .limit(5)
    )
    with node.store.read() as conn:
        prepared = Prepared.compile(statement, conn.dialect)
        for picked in ([every[0], every[1]], [every[2], every[3]], [every[1], every[1]]):
            values = {"row_0": picked[0], "row_1": picked[1]}
            expected = [tuple(r) for r in conn.execute(statement, values)]
            assert [tuple(r) for r in prepared.run(conn, values)] == expected
            assert {r[0] for r in expected} == set(picked) - {every[0]}


def test_a_key_found_by_its_hash_is_the_key_found_by_its_row(node: Node) -> None:
    from bayanihan.node import hash_key
    from bayanihan.policy.roles import Role
    from bayanihan.store import keys as key_store

    node.add_org("Delta CERT", country="TH")
    made = [
        node.add_key(role=Role.ANALYST, org_name="Delta CERT", label="feed"),
        node.add_key(role=Role.READER, org_name="Delta CERT"),
    ]
    node.revoke_key(made[1].row_id)
    with node.store.read() as conn:
        for key in made:
            found = key_store.key_by_hash(conn, hash_key(key.secret))
            assert found is not None and found == key_store.key_by_row(conn, key.row_id)
        assert found.revoked is not None and found.org_name == "Delta CERT"
        assert key_store.key_by_hash(conn, hash_key("not-a-key")) is None
