"""TLP 2.0 markings in STIX 2.1, with TLP 1.0 identifiers mapped onto them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Tlp(IntEnum):
    """TLP levels, ordered from least to most restrictive."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def marking_id(self) -> str:
        return TLP2_IDS[self]

    @classmethod
    def parse(cls, name: str) -> Tlp:
        """Parse ``clear``, ``TLP:GREEN``, ``amber+strict``, ``white`` (TLP 1.0) and the like."""
        key = name.strip().lower().removeprefix("tlp:").replace("_", "+").replace(" ", "")
        if key == "white":
            key = "clear"
        for level, label in _LABELS.items():
            if label == key:
                return level
        raise ValueError(f"unknown TLP level {name!r} (clear, green, amber, amber+strict, red)")


_LABELS = {
    Tlp.CLEAR: "clear",
    Tlp.GREEN: "green",
    Tlp.AMBER: "amber",
    Tlp.AMBER_STRICT: "amber+strict",
    Tlp.RED: "red",
}

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

TLP2_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

TLP1_IDS = {
    Tlp.CLEAR: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    Tlp.GREEN: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    Tlp.AMBER: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    Tlp.RED: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

MARKING_LEVELS: dict[str, Tlp] = {
    **{marking: level for level, marking in TLP2_IDS.items()},
    **{marking: level for level, marking in TLP1_IDS.items()},
}


def tlp_of(marking_refs: Iterable[str] | None, *, untagged: Tlp) -> Tlp:
    """The TLP level an object's ``object_marking_refs`` give it.

    Several TLP markings on one object (it happens in the wild) resolve to the
    most restrictive one; no TLP marking at all gives ``untagged``.
    """
    level: Tlp | None = None
    for ref in marking_refs or ():
        found = MARKING_LEVELS.get(ref)
        if found is not None and (level is None or found > level):
            level = found
    return untagged if level is None else level


def marking_definition(level: Tlp) -> dict[str, object]:
    """The OASIS TLP 2.0 marking-definition object for ``level``, as published by OASIS."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{level.label.upper()}",
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level.label}
        },
    }
