"""Small builders of valid STIX 2.1 objects for tests."""

from __future__ import annotations

import uuid
from typing import Any

from bayanihan.policy.tlp import Tlp


def stamp(day: int = 1, second: int = 0, month: int = 11) -> str:
    return f"2026-{month:02d}-{day:02d}T00:00:{second:02d}.000Z"


def indicator(
    value: str = "192.0.2.1",
    *,
    tlp: Tlp | None = Tlp.GREEN,
    modified: str | None = None,
    object_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    created = extra.pop("created", stamp())
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": object_id or f"indicator--{uuid.uuid4()}",
        "created": created,
        "modified": modified or created,
        "name": f"Indicator for {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": created,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [tlp.marking_id]
    obj.update(extra)
    return obj


def ipv4(value: str, *, tlp: Tlp | None = Tlp.GREEN) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": f"ipv4-addr--{uuid.uuid5(uuid.NAMESPACE_URL, value)}",
        "value": value,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [tlp.marking_id]
    return obj


def malware(name: str = "Demo stealer", *, tlp: Tlp = Tlp.GREEN) -> dict[str, Any]:
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": stamp(),
        "modified": stamp(),
        "name": name,
        "is_family": True,
        "object_marking_refs": [tlp.marking_id],
    }


def bundle(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
