"""``bayanihan import``: a whole file in one transaction, so bad input changes nothing.

Objects that are valid JSON but not valid STIX are rejected one by one (with
reasons) while the rest are stored; a file that is not JSON, or breaks off in
the middle, rolls the whole import back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from bayanihan.ingest.intake import IntakeOptions, Outcome, store_batch
from bayanihan.node import Node, NodeError
from bayanihan.policy.principal import Principal
from bayanihan.policy.tlp import Tlp

KEPT_REASONS = 50


@dataclass(slots=True)
class ImportSummary:
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.stored + self.duplicate + self.rejected

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "stored":
            self.stored += 1
        elif outcome.status == "duplicate":
            self.duplicate += 1
        else:
            self.rejected += 1
            if len(self.reasons) < KEPT_REASONS:
                self.reasons.append(outcome)


def import_objects(
    node: Node,
    principal: Principal,
    objects: Iterable[object],
    *,
    force_tlp: Tlp | None = None,
    batch: int = 2000,
) -> ImportSummary:
    """Store ``objects`` as ``principal``'s organisation, in one write transaction."""
    org = next((o for o in node.orgs() if o.row_id == principal.org_row), None)
    if org is None or not org.local:
        raise NodeError(
            f"{principal.org_name!r} is hosted on another node: import only for orgs hosted here"
        )
    options = IntakeOptions(
        principal=principal,
        collection_row=node.default_collection_row(),
        untagged=node.untagged_tlp,
        force_tlp=force_tlp,
    )
    names = node.org_names()
    summary = ImportSummary()
    iterator = iter(objects)
    with node.store.write() as conn:
        while True:
            chunk = list(islice(iterator, batch))
            if not chunk:
                break
            for outcome in store_batch(conn, chunk, options, now=node.clock(), owner_names=names):
                summary.add(outcome)
    return summary
