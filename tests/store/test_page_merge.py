"""The merge of a restricted reader's page branches (community, each organisation's
postings, the person's postings): every version once, in date_added order, none
missing, however the branches overlap and wherever the page ends."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bayanihan.store.objects import _merge


class RowStream:
    """Rows in date_added order, handed out the way a DB-API cursor hands them out;
    counts how many were read, to check that the merge does not read far past the
    page."""

    def __init__(self, keys: list[int]) -> None:
        self.rows = [(key, f"body-{key}".encode()) for key in keys]
        self.read = 0

    def fetchmany(self, size: int) -> list[Any]:
        chunk = self.rows[self.read : self.read + size]
        self.read += len(chunk)
        return chunk


branch = st.lists(st.integers(min_value=1, max_value=5_000), max_size=400, unique=True).map(sorted)


@given(st.lists(branch, min_size=1, max_size=5), st.integers(min_value=1, max_value=1_001))
def test_merge_gives_each_version_once_in_order(branches: list[list[int]], wanted: int) -> None:
    streams = [RowStream(keys) for keys in branches]
    page = _merge(streams, wanted)
    expected = sorted({key for keys in branches for key in keys})[:wanted]
    assert [row[0] for row in page] == expected
    assert all(row[1] == f"body-{row[0]}".encode() for row in page)


@given(st.lists(branch, min_size=2, max_size=4))
def test_merge_reads_no_branch_far_past_the_page(branches: list[list[int]]) -> None:
    wanted = 50
    streams = [RowStream(keys) for keys in branches]
    page = _merge(streams, wanted)
    last = page[-1][0] if page else 0
    for stream, keys in zip(streams, branches, strict=True):
        needed = sum(1 for key in keys if key <= last)
        # one chunk beyond the rows the page used, and a chunk is never bigger than
        # the page itself
        assert stream.read <= needed + wanted


def test_merge_of_a_branch_holding_everything_twice() -> None:
    keys = list(range(1, 3_001))
    page = _merge([RowStream(keys), RowStream(keys), RowStream([])], 1_001)
    assert [row[0] for row in page] == keys[:1_001]
