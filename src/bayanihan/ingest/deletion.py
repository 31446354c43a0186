"""Deletion notices: how a deletion at the origin reaches every node holding the object.

A TAXII DELETE removes versions here. When they were written by one of this node's
own organisations, a notice (type ``x-bayanihan-deletion``, docs/extensions.md) is
stored in the same transaction, authored by that organisation and carrying the
deleted object's own markings and sharing extension, so its audience is the object's:
the notice is pushed and pulled like any other object, to exactly the nodes that
could have received the object, and to no other.

A node storing a notice deletes the versions it names, and only those written by
the notice's author: a peer writes only as the organisations it hosts (the intake
checks ``created_by_ref``), so no node can delete another organisation's objects by
sending a notice. A notice relayed by a peer (its author is not hosted there) is
attributed, like every relayed object, to the relaying node's organisation, so it
deletes only what that peer relayed here: a deletion travels a ring hop by hop,
and a relaying node can take back only its own relays. Notices are acted on when
they come from a peer or from a key allowed to delete; an analyst's own notice is
refused (analysts revoke instead).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select

from bayanihan.policy.roles import Action, Role
from bayanihan.policy.tlp import Tlp
from bayanihan.stix.extensions import (
    DELETION_NOTICE_EXTENSION_ID,
    DELETION_NOTICE_TYPE,
    SHARING_EXTENSION_ID,
)
from bayanihan.stix.timestamps import format_timestamp, parse_timestamp
from bayanihan.store.objects import NewVersion, StoredVersion, delete_versions
from bayanihan.store.schema import objects, orgs

if TYPE_CHECKING:
    from bayanihan.correlate.index import Correlator
    from bayanihan.ingest.intake import IntakeOptions

_TLP_ORDER = {level.label: level for level in Tlp}


@dataclass(frozen=True, slots=True)
class Notice:
    """A deletion notice to store: written as ``author_org``, into ``collection_row`` (the
    collection the deleted object was in)."""

    author_org: int
    collection_row: int
    body: dict[str, Any]


def may_write_notice(options: IntakeOptions) -> str | None:
    """None when the writer's notices are acted on; else why a notice is refused."""
    principal = options.principal
    if options.origin.startswith(("peer:", "relay:")) or principal.role is Role.SYNC:
        return None
    if principal.can(Action.DELETE_OWN_ORG) or principal.can(Action.DELETE_ANY):
        return None
    return (
        f"a {principal.role} key may not write deletion notices: delete with TAXII DELETE "
        "(org-admin) or revoke the object (a new version with revoked: true)"
    )


def apply_notices(
    conn: Connection,
    notices: Sequence[NewVersion],
    *,
    now: int,
    correlator: Correlator | None,
) -> int:
    """Delete what stored notices name, written by their authors; returns versions deleted."""
    deleted = 0
    for notice in notices:
        body = orjson.loads(notice.body)
        target = body["object_ref"]
        wanted = {parse_timestamp(stamp) for stamp in body["object_modified"]}
        rows = conn.execute(
            select(objects.c.date_added, objects.c.author_org, objects.c.version).where(
                objects.c.id == target, objects.c.author_org == notice.author_org
            )
        ).all()
        doomed = [StoredVersion(*row) for row in rows if row[2] in wanted]
        if not doomed:
            continue  # not held here (never received, or already deleted)
        revived = delete_versions(
            conn, object_id=target, doomed=doomed, by_org=notice.author_org, now=now
        )
        if correlator is not None and revived:
            correlator.take_up(conn, revived, now=now)
        deleted += len(doomed)
    return deleted


def notices_for_deletion(
    conn: Connection,
    *,
    object_id: str,
    doomed: Sequence[StoredVersion],
    now: int,
    new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[Notice]:
    """The notices for the versions about to be deleted that this node's own
    organisations wrote; read before the versions go. Versions of other organisations
    (received from peers) are deleted here only: their origin decides for the others."""
    rows = conn.execute(
        select(
            objects.c.date_added,
            objects.c.body,
            objects.c.tlp,
            orgs.c.identity_id,
            objects.c.collection_row,
        )
        .select_from(objects.join(orgs, orgs.c.row_id == objects.c.author_org))
        .where(
            objects.c.date_added.in_([v.date_added for v in doomed]),
            orgs.c.local.is_(True),
        )
    ).all()
    by_author: dict[int, list[StoredVersion]] = {}
    authors: dict[int, str] = {}
    widest: dict[int, tuple[Tlp, dict[str, Any], int]] = {}
    found = {row[0]: row for row in rows}
    for version in doomed:
        row = found.get(version.date_added)
        if row is None:
            continue
        by_author.setdefault(version.author_org, []).append(version)
        authors[version.author_org] = row[3]
        level = _TLP_ORDER.get(row[2], Tlp.RED)
        held = widest.get(version.author_org)
        if held is None or level < held[0]:
            widest[version.author_org] = (level, orjson.loads(row[1]), row[4])
    stamp = format_timestamp(now)
    notices = []
    for author, versions in by_author.items():
        # the most widely shared deleted version decides the audience: every node that
        # may hold any of the versions hears of it
        _, template, collection_row = widest[author]
        notice: dict[str, Any] = {
            "type": DELETION_NOTICE_TYPE,
            "spec_version": "2.1",
            "id": f"{DELETION_NOTICE_TYPE}--{new_uuid()}",
            "created": stamp,
            "modified": stamp,
            "created_by_ref": authors[author],
            "object_ref": object_id,
            "object_modified": sorted({format_timestamp(v.version) for v in versions}),
            "extensions": {DELETION_NOTICE_EXTENSION_ID: {"extension_type": "new-sdo"}},
        }
        if template.get("object_marking_refs"):
            notice["object_marking_refs"] = list(template["object_marking_refs"])
        sharing = (template.get("extensions") or {}).get(SHARING_EXTENSION_ID)
        if sharing is not None:
            notice["extensions"][SHARING_EXTENSION_ID] = sharing
        notices.append(Notice(author_org=author, collection_row=collection_row, body=notice))
    return notices
