"""STIX 2.1 intake: validate, attribute, mark and store submitted objects.

Every write path (TAXII POST, ``bayanihan import``, later federation pulls)
goes through ``prepare`` and ``store_prepared`` so that the same rules hold
everywhere: STIX 2.1 validity, attribution to the writer's organisation (for a sync
key, the organisation of its peer node that ``created_by_ref`` names), the TLP level
and the audience decided by the policy module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from bayanihan.correlate.extract import specs
from bayanihan.correlate.index import Correlator, mark_unindexed
from bayanihan.ingest.deletion import apply_notices, may_write_notice
from bayanihan.policy.audience import audience_for
from bayanihan.policy.principal import Principal
from bayanihan.policy.tlp import MARKING_LEVELS, Tlp, tlp_of
from bayanihan.stix.extensions import DELETION_NOTICE_TYPE, recipients_of
from bayanihan.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from bayanihan.stix.validate import validate_object
from bayanihan.store.objects import (
    DUPLICATE,
    STORED,
    LatestChanges,
    NewVersion,
    insert_versions,
)
from bayanihan.store.scope import Directory

# Objects the node already publishes under fixed ids: accepted, never re-attributed.
_KNOWN_FIXED = frozenset(MARKING_LEVELS)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one submitted object."""

    id: str
    version_text: str | None
    status: str  # "stored" | "duplicate" | "rejected"
    message: str
    version_micros: int = 0  # formatted only when asked: most outcomes are only counted
    date_added: int = 0

    @property
    def version(self) -> str | None:
        if self.version_micros:
            return format_timestamp(self.version_micros)
        return self.version_text

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


@dataclass(frozen=True, slots=True)
class IntakeOptions:
    principal: Principal
    collection_row: int
    untagged: Tlp
    directory: Directory | None = None  # recipients and groups resolve against it
    force_tlp: Tlp | None = None  # add this marking to objects that carry no TLP
    origin: str = "local"
    region: str | None = None  # the writer's country: national phone numbers parse there
    correlate: bool = True  # extract observables for the correlation index


def _refs(obj: dict[str, Any]) -> tuple[str, ...]:
    """What a relationship or sighting points at: it is visible only when they are."""
    kind = obj.get("type")
    if kind == "relationship":
        return (str(obj["source_ref"]), str(obj["target_ref"]))
    if kind == "sighting":
        observed = obj.get("observed_data_refs") or []
        return (str(obj["sighting_of_ref"]), *(str(r) for r in observed))
    return ()


def _text(value: object, limit: int = 4000) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def version_of(obj: dict[str, Any]) -> tuple[int | None, int]:
    """(created, version) in microseconds: version is modified, else created, else 0."""
    created_text = obj.get("created")
    created = parse_timestamp(created_text) if created_text is not None else None
    modified_text = obj.get("modified")
    if modified_text is not None:
        return created, parse_timestamp(modified_text)
    return created, created if created is not None else 0


def _describe(obj: object) -> tuple[str, str | None]:
    if isinstance(obj, dict):
        object_id = obj.get("id")
        version = obj.get("modified") or obj.get("created")
        return (
            object_id if isinstance(object_id, str) else "(no id)",
            version if isinstance(version, str) else None,
        )
    return "(not an object)", None


def prepare(obj: object, options: IntakeOptions) -> NewVersion | Outcome:
    """A storable version of ``obj``, or the rejection saying why not."""
    object_id, version_text = _describe(obj)
    problems = validate_object(obj)
    if problems:
        return Outcome(object_id, version_text, "rejected", "; ".join(problems))
    assert isinstance(obj, dict)
    if object_id in _KNOWN_FIXED:
        return Outcome(object_id, version_text, "duplicate", "a standard marking definition")
    principal = options.principal
    if obj.get("type") == DELETION_NOTICE_TYPE:
        refused = may_write_notice(options)
        if refused is not None:
            return Outcome(object_id, version_text, "rejected", refused)
    created_by = obj.get("created_by_ref")
    try:
        created, version = version_of(obj)
    except TimestampError as exc:  # validate_object already checks; kept for safety
        return Outcome(object_id, version_text, "rejected", str(exc))
    author_org, region = principal.org_row, options.region
    if created_by is not None and created_by != principal.org_identity:
        fellow = principal.peer_org(created_by)
        if fellow is not None:  # a sync key writes as any org hosted on its peer node
            author_org, region = fellow.row, fellow.country
        elif not (obj.get("type") == "identity" and object_id == principal.org_identity):
            return Outcome(
                object_id,
                version_text,
                "rejected",
                f"created_by_ref {created_by} is not the writing organisation "
                f"({principal.org_identity}); an org may not write as another",
            )
    if created_by is None and created is not None and object_id != principal.org_identity:
        obj["created_by_ref"] = principal.org_identity
        created_by = principal.org_identity
    marking_refs = obj.get("object_marking_refs")
    level = tlp_of(marking_refs, untagged=options.untagged)
    if options.force_tlp is not None and not any(
        ref in MARKING_LEVELS for ref in marking_refs or ()
    ):
        marking_refs = [*(marking_refs or []), options.force_tlp.marking_id]
        obj["object_marking_refs"] = marking_refs
        level = options.force_tlp
    try:
        recipients, groups = recipients_of(obj)
        audience = audience_for(
            level,
            author_org=author_org,
            recipient_refs=recipients,
            group_refs=groups,
            directory=options.directory,
        )
    except ValueError as exc:  # AudienceError included
        return Outcome(object_id, version_text, "rejected", str(exc))
    try:
        body = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        return Outcome(object_id, version_text, "rejected", f"cannot be stored as JSON: {exc}")
    confidence = obj.get("confidence")
    valid_until = obj.get("valid_until")
    revoked = obj.get("revoked") is True
    carried = specs(obj, region=region) if options.correlate and not revoked else ()
    return NewVersion(
        id=object_id,
        type=str(obj["type"]),
        spec_version=str(obj.get("spec_version", "2.1")),
        version=version,
        created=created,
        created_by_ref=created_by,
        author_org=author_org,
        revoked=revoked,
        tlp=level.label,
        markings=",".join(marking_refs) if marking_refs else None,
        confidence=confidence if isinstance(confidence, int) else None,
        valid_until=parse_timestamp(valid_until) if isinstance(valid_until, str) else None,
        origin=options.origin,
        audience=audience,
        collection_row=options.collection_row,
        body=body,
        name=_text(obj.get("name"), 1000),
        description=_text(obj.get("description")),
        refs=_refs(obj),
        groups=tuple(groups),
        observables=carried,
    )


def prepare_batch(objects: Sequence[object], options: IntakeOptions) -> list[NewVersion | Outcome]:
    """Validate and serialise a batch: pure work, no database, so it may run elsewhere.

    Equal audiences, markings and type names share one instance, so a batch sent
    to the writing process pickles each of them once.
    """
    shared: dict[object, Any] = {}
    prepared = [prepare(obj, options) for obj in objects]
    for item in prepared:
        if isinstance(item, NewVersion):
            if item.audience is not None:
                item.audience = shared.setdefault(item.audience, item.audience)
            if item.markings is not None:
                item.markings = shared.setdefault(item.markings, item.markings)
            item.type = shared.setdefault(item.type, item.type)
    return prepared


def store_prepared(
    conn: Connection,
    prepared: Sequence[NewVersion | Outcome],
    *,
    now: int,
    correlator: Correlator | None = None,
) -> list[Outcome]:
    """Store a prepared batch inside an open write transaction; one outcome per object.

    With a ``correlator`` the observable index, the hits and the alert outbox are
    brought up to date in the same transaction.
    """
    outcomes: list[Outcome | None] = []
    ready: list[NewVersion] = []
    slots: list[int] = []
    for item in prepared:
        if isinstance(item, Outcome):
            outcomes.append(item)
        else:
            slots.append(len(outcomes))
            outcomes.append(None)
            ready.append(item)
    changes = LatestChanges() if correlator is not None else None
    results = insert_versions(conn, ready, now=now, changes=changes)
    notices = [
        v
        for v, (result, _) in zip(ready, results, strict=True)
        if result == STORED and v.type == DELETION_NOTICE_TYPE
    ]
    if correlator is not None and changes is not None:
        correlator.update(conn, changes, now=now)
    elif ready:
        mark_unindexed(conn)  # written with correlation off: the next `init` indexes them
    if notices:
        apply_notices(conn, notices, now=now, correlator=correlator)
    for slot, version, (result, date_added) in zip(slots, ready, results, strict=True):
        stamp = version.version if version.created is not None else date_added
        if result == STORED:
            outcomes[slot] = Outcome(version.id, None, "stored", "stored", stamp, date_added)
        elif result == DUPLICATE:
            outcomes[slot] = Outcome(version.id, None, "duplicate", "already stored", stamp)
        else:
            outcomes[slot] = Outcome(version.id, None, "rejected", result, stamp)
    return [o for o in outcomes if o is not None]


def store_batch(
    conn: Connection,
    objects: Sequence[object],
    options: IntakeOptions,
    *,
    now: int,
    correlator: Correlator | None = None,
) -> list[Outcome]:
    """Validate and store one batch inside an open write transaction."""
    return store_prepared(conn, prepare_batch(objects, options), now=now, correlator=correlator)


def store_objects(
    conn: Connection,
    objects: Sequence[object],
    options: IntakeOptions,
    *,
    clock: Callable[[], int],
    batch: int = 1000,
    correlator: Correlator | None = None,
) -> list[Outcome]:
    """Validate and store a request's objects in batches, inside its write transaction."""
    outcomes: list[Outcome] = []
    for start in range(0, len(objects), batch):
        chunk = objects[start : start + batch]
        outcomes.extend(store_batch(conn, chunk, options, now=clock(), correlator=correlator))
    return outcomes
