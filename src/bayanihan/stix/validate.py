"""Validation of STIX 2.1 objects on the write path.

:func:`validate_object` takes an object as decoded from JSON and returns the list
of reasons it is not valid STIX 2.1 (empty when it is). The per-type rules live in
:mod:`bayanihan.stix.properties`; this module turns each property kind into a
checking function once, at import time, so that checking a valid object is a
single walk over its properties with one dictionary look-up per property.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from bayanihan.stix.pattern import pattern_error
from bayanihan.stix.properties import (
    CUSTOM_SCO,
    CUSTOM_SDO,
    EXTENSION_TYPES,
    MARKING,
    OPINION_VALUES,
    PREDEFINED_EXTENSIONS,
    SCO_COMMON_NAMES,
    TLP1_LEVELS,
    TYPE_SPECS,
    RefTarget,
    TypeSpec,
)
from bayanihan.stix.timestamps import TimestampError, parse_timestamp

__all__ = ["validate_object"]

Errors = list[str]
Check = Callable[[str, object, Errors], None]

_TYPE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.ASCII)
_IDENTIFIER = re.compile(
    r"([a-z0-9]+(?:-[a-z0-9]+)*)--"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    re.ASCII,
)
_PROPERTY_NAME = re.compile(r"[a-z0-9_]{3,250}", re.ASCII)
_EXTENSION_NAME = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*", re.ASCII)
_RELATIONSHIP_TYPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
_MAC_ADDRESS = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", re.ASCII)
_EXTENSION_DEFINITION_PREFIX = "extension-definition--"

_MAX_INT = 999_999_999

# ------------------------------------------------------------------------ timestamps

# Bounded memo of parsed timestamps: feeds repeat the same instants a lot
# (created == modified == valid_from is the common case).
_TIMESTAMP_MEMO: dict[str, int] = {}
_TIMESTAMP_MEMO_LIMIT = 8192


def _micros(value: object) -> int | None:
    """Microseconds since the epoch, or None when ``value`` is not a STIX timestamp."""
    if type(value) is not str:
        return None
    micros = _TIMESTAMP_MEMO.get(value)
    if micros is not None:
        return micros
    try:
        micros = parse_timestamp(value)
    except TimestampError:
        return None
    if len(_TIMESTAMP_MEMO) >= _TIMESTAMP_MEMO_LIMIT:
        _TIMESTAMP_MEMO.clear()
    _TIMESTAMP_MEMO[value] = micros
    return micros


def _check_timestamp(name: str, value: object, errors: Errors) -> None:
    if type(value) is str and value in _TIMESTAMP_MEMO:
        return
    if _micros(value) is not None:
        return
    try:
        parse_timestamp(value)
    except TimestampError as exc:
        errors.append(f"property '{name}' is not a valid timestamp: {exc}")


# ----------------------------------------------------------------- value kind checks


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _check_skip(name: str, value: object, errors: Errors) -> None:
    return None


def _check_string(name: str, value: object, errors: Errors) -> None:
    if type(value) is not str:
        errors.append(f"property '{name}' must be a string, not {_type_name(value)}")


def _check_bool(name: str, value: object, errors: Errors) -> None:
    if type(value) is not bool:
        errors.append(f"property '{name}' must be a boolean, not {_type_name(value)}")


def _int_in(name: str, value: object, errors: Errors, low: int, high: int | None) -> None:
    if type(value) is not int:
        errors.append(f"property '{name}' must be an integer, not {_type_name(value)}")
    elif value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        errors.append(f"property '{name}' must be {bounds}, not {value}")


def _check_int(name: str, value: object, errors: Errors) -> None:
    if type(value) is not int:
        errors.append(f"property '{name}' must be an integer, not {_type_name(value)}")


def _check_nonneg_int(name: str, value: object, errors: Errors) -> None:
    if type(value) is not int or value < 0:
        _int_in(name, value, errors, 0, None)


def _check_confidence(name: str, value: object, errors: Errors) -> None:
    if type(value) is not int or not 0 <= value <= 100:
        _int_in(name, value, errors, 0, 100)


def _check_count(name: str, value: object, errors: Errors) -> None:
    if type(value) is not int or not 0 <= value <= _MAX_INT:
        _int_in(name, value, errors, 0, _MAX_INT)


def _check_number_observed(name: str, value: object, errors: Errors) -> None:
    if type(value) is not int or not 1 <= value <= _MAX_INT:
        _int_in(name, value, errors, 1, _MAX_INT)


def _check_port(name: str, value: object, errors: Errors) -> None:
    if type(value) is not int or not 0 <= value <= 65535:
        _int_in(name, value, errors, 0, 65535)


def _number_in(name: str, value: object, errors: Errors, low: float, high: float | None) -> None:
    if type(value) is not int and type(value) is not float:
        errors.append(f"property '{name}' must be a number, not {_type_name(value)}")
        return
    assert isinstance(value, int | float)
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        errors.append(f"property '{name}' must be {bounds}, not {value}")


def _check_latitude(name: str, value: object, errors: Errors) -> None:
    _number_in(name, value, errors, -90.0, 90.0)


def _check_longitude(name: str, value: object, errors: Errors) -> None:
    _number_in(name, value, errors, -180.0, 180.0)


def _check_nonneg_number(name: str, value: object, errors: Errors) -> None:
    _number_in(name, value, errors, 0.0, None)


def _check_dict(name: str, value: object, errors: Errors) -> None:
    if type(value) is not dict:
        errors.append(f"property '{name}' must be an object, not {_type_name(value)}")


def _nonempty_list(name: str, value: object, errors: Errors) -> list[object] | None:
    if type(value) is not list:
        errors.append(f"property '{name}' must be a list, not {_type_name(value)}")
        return None
    if not value:
        errors.append(f"property '{name}' must not be an empty list")
        return None
    return value


def _check_string_list(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, item in enumerate(items):
        if type(item) is not str:
            errors.append(f"property '{name}[{index}]' must be a string, not {_type_name(item)}")


def _check_timestamp_list(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, item in enumerate(items):
        _check_timestamp(f"{name}[{index}]", item, errors)


def _check_dict_list(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, item in enumerate(items):
        if type(item) is not dict:
            errors.append(f"property '{name}[{index}]' must be an object, not {_type_name(item)}")


def _check_hashes(name: str, value: object, errors: Errors) -> None:
    if type(value) is not dict:
        errors.append(f"property '{name}' must be an object, not {_type_name(value)}")
        return
    if not value:
        errors.append(f"property '{name}' must contain at least one hash")
        return
    for algorithm, digest in value.items():
        if type(digest) is not str:
            errors.append(
                f"property '{name}.{algorithm}' must be a string, not {_type_name(digest)}"
            )
        elif not 3 <= len(algorithm) <= 250:
            errors.append(f"property '{name}' has a hash name {algorithm!r} not 3-250 characters")


def _check_opinion(name: str, value: object, errors: Errors) -> None:
    if value not in OPINION_VALUES:
        allowed = ", ".join(sorted(OPINION_VALUES))
        errors.append(f"property '{name}' must be one of {allowed}, not {value!r}")


def _check_relationship_type(name: str, value: object, errors: Errors) -> None:
    if type(value) is not str:
        errors.append(f"property '{name}' must be a string, not {_type_name(value)}")
    elif _RELATIONSHIP_TYPE.fullmatch(value) is None:
        errors.append(f"property '{name}' ({value!r}) must use only a-z, 0-9 and hyphens")


def _check_mac_address(name: str, value: object, errors: Errors) -> None:
    if type(value) is not str:
        errors.append(f"property '{name}' must be a string, not {_type_name(value)}")
    elif _MAC_ADDRESS.fullmatch(value) is None:
        errors.append(
            f"property '{name}' ({value!r}) must be a lower-case colon-separated MAC-48 address"
        )


def _check_extension_types(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, item in enumerate(items):
        if item not in EXTENSION_TYPES:
            allowed = ", ".join(sorted(EXTENSION_TYPES))
            errors.append(f"property '{name}[{index}]' must be one of {allowed}, not {item!r}")


def _check_kill_chain_phases(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, phase in enumerate(items):
        if type(phase) is not dict:
            errors.append(f"property '{name}[{index}]' must be an object, not {_type_name(phase)}")
            continue
        for key in ("kill_chain_name", "phase_name"):
            if type(phase.get(key)) is not str:
                errors.append(f"property '{name}[{index}]' requires a string '{key}'")


def _check_external_references(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, reference in enumerate(items):
        where = f"{name}[{index}]"
        if type(reference) is not dict:
            errors.append(f"property '{where}' must be an object, not {_type_name(reference)}")
            continue
        if type(reference.get("source_name")) is not str:
            errors.append(f"property '{where}' requires a string 'source_name'")
        if not ("description" in reference or "url" in reference or "external_id" in reference):
            errors.append(
                f"property '{where}' requires at least one of 'description', 'url', 'external_id'"
            )
        for key in ("description", "url", "external_id"):
            if key in reference and type(reference[key]) is not str:
                errors.append(f"property '{where}.{key}' must be a string")
        if "hashes" in reference:
            _check_hashes(f"{where}.hashes", reference["hashes"], errors)


def _check_granular_markings(name: str, value: object, errors: Errors) -> None:
    items = _nonempty_list(name, value, errors)
    if items is None:
        return
    for index, marking in enumerate(items):
        where = f"{name}[{index}]"
        if type(marking) is not dict:
            errors.append(f"property '{where}' must be an object, not {_type_name(marking)}")
            continue
        selectors = marking.get("selectors")
        if type(selectors) is not list or not selectors:
            errors.append(f"property '{where}' requires a non-empty list 'selectors'")
        elif any(type(selector) is not str for selector in selectors):
            errors.append(f"property '{where}.selectors' must hold only strings")
        has_ref = "marking_ref" in marking
        has_lang = "lang" in marking
        if has_ref == has_lang:
            errors.append(f"property '{where}' requires exactly one of 'marking_ref' or 'lang'")
        if has_ref:
            _check_single_ref(f"{where}.marking_ref", marking["marking_ref"], MARKING, errors)
        if has_lang and type(marking["lang"]) is not str:
            errors.append(f"property '{where}.lang' must be a string")


def _check_extensions(name: str, value: object, errors: Errors) -> None:
    if type(value) is not dict:
        errors.append(f"property '{name}' must be an object, not {_type_name(value)}")
        return
    if not value:
        errors.append(f"property '{name}' must not be empty")
    for key, extension in value.items():
        if key.startswith(_EXTENSION_DEFINITION_PREFIX):
            if _UUID.fullmatch(key, len(_EXTENSION_DEFINITION_PREFIX)) is None:
                errors.append(
                    f"property '{name}' key {key!r} is not of the form extension-definition--<UUID>"
                )
        elif key not in PREDEFINED_EXTENSIONS and not (
            3 <= len(key) <= 250 and _EXTENSION_NAME.fullmatch(key)
        ):
            errors.append(f"property '{name}' key {key!r} is not a valid extension name")
        if type(extension) is not dict:
            errors.append(f"property '{name}.{key}' must be an object, not {_type_name(extension)}")


_KIND_CHECKS: Mapping[str, Check] = MappingProxyType(
    {
        "skip": _check_skip,
        "string": _check_string,
        "bool": _check_bool,
        "int": _check_int,
        "nonneg_int": _check_nonneg_int,
        "confidence": _check_confidence,
        "count": _check_count,
        "number_observed": _check_number_observed,
        "port": _check_port,
        "latitude": _check_latitude,
        "longitude": _check_longitude,
        "nonneg_number": _check_nonneg_number,
        "timestamp": _check_timestamp,
        "dict": _check_dict,
        "dict_list": _check_dict_list,
        "string_list": _check_string_list,
        "timestamp_list": _check_timestamp_list,
        "hashes": _check_hashes,
        "opinion": _check_opinion,
        "relationship_type": _check_relationship_type,
        "mac_address": _check_mac_address,
        "extension_types": _check_extension_types,
        "kill_chain_phases": _check_kill_chain_phases,
        "external_references": _check_external_references,
        "granular_markings": _check_granular_markings,
        "extensions": _check_extensions,
    }
)

# ------------------------------------------------------------------------ references


def _identifier_type(value: object) -> str | None:
    """The object type named by identifier ``value``, or None if it is not one."""
    if type(value) is not str:
        return None
    match = _IDENTIFIER.fullmatch(value)
    if match is None:
        return None
    object_type = match.group(1)
    if not 3 <= len(object_type) <= 250:
        return None
    return object_type


def _check_single_ref(name: str, value: object, target: RefTarget | None, errors: Errors) -> None:
    object_type = _identifier_type(value)
    if object_type is None:
        errors.append(f"property '{name}' must be an identifier <type>--<UUID>, not {value!r}")
    elif target is not None and not target.allows(object_type):
        errors.append(f"property '{name}' must reference {target.describe}, not {value!r}")


def _check_ref_list(name: str, value: object, target: RefTarget | None, errors: Errors) -> None:
    if type(value) is not list or not value:
        _nonempty_list(name, value, errors)
        return
    match = _IDENTIFIER.fullmatch
    for index, item in enumerate(value):
        found = match(item) if type(item) is str else None
        if found is not None:
            object_type = found.group(1)
            if 3 <= len(object_type) <= 250 and (target is None or target.allows(object_type)):
                continue
        if _identifier_type(item) is None:
            errors.append(
                f"property '{name}[{index}]' must be an identifier <type>--<UUID>, not {item!r}"
            )
        elif target is not None:
            errors.append(
                f"property '{name}[{index}]' must reference {target.describe}, not {item!r}"
            )


def _ref_check(name: str, target: RefTarget) -> Check:
    if name.endswith("_refs"):

        def check_list(prop: str, value: object, errors: Errors) -> None:
            _check_ref_list(prop, value, target, errors)

        return check_list

    def check_single(prop: str, value: object, errors: Errors) -> None:
        _check_single_ref(prop, value, target, errors)

    return check_single


def _check_custom(name: str, value: object, errors: Errors) -> None:
    """A property no table knows: a custom property."""
    if _PROPERTY_NAME.fullmatch(name) is None:
        errors.append(
            f"property {name!r} is not a valid property name (3-250 characters of a-z, 0-9 and '_')"
        )
    elif name.endswith("_ref"):
        _check_single_ref(name, value, None, errors)
    elif name.endswith("_refs"):
        _check_ref_list(name, value, None, errors)


# ------------------------------------------------------------- per-type extra checks


def _indicator_extra(obj: dict[str, object], errors: Errors) -> None:
    pattern = obj.get("pattern")
    if obj.get("pattern_type") == "stix" and type(pattern) is str:
        reason = pattern_error(pattern)
        if reason is not None:
            errors.append(f"property 'pattern' is not a valid STIX 2.1 pattern: {reason}")


def _malware_extra(obj: dict[str, object], errors: Errors) -> None:
    if obj.get("is_family") is True and "name" not in obj:
        errors.append("malware requires property 'name' when 'is_family' is true")


def _location_extra(obj: dict[str, object], errors: Errors) -> None:
    has_latitude = "latitude" in obj
    if has_latitude != ("longitude" in obj):
        errors.append("location properties 'latitude' and 'longitude' must be given together")
    if "precision" in obj and not has_latitude:
        errors.append("location property 'precision' requires 'latitude' and 'longitude'")


def _artifact_extra(obj: dict[str, object], errors: Errors) -> None:
    if "url" in obj and "hashes" not in obj:
        errors.append("artifact requires property 'hashes' when 'url' is present")


def _email_message_extra(obj: dict[str, object], errors: Errors) -> None:
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        errors.append("email-message property 'body' must not be used when 'is_multipart' is true")
    elif multipart is False and "body_multipart" in obj:
        errors.append(
            "email-message property 'body_multipart' must not be used when 'is_multipart' is false"
        )


def _marking_definition_extra(obj: dict[str, object], errors: Errors) -> None:
    kind = obj.get("definition_type")
    definition = obj.get("definition")
    if type(definition) is not dict:
        return
    if kind == "tlp":
        if definition.get("tlp") not in TLP1_LEVELS:
            errors.append(
                "property 'definition' of a tlp marking needs 'tlp' set to white, green, "
                "amber or red"
            )
    elif kind == "statement" and type(definition.get("statement")) is not str:
        errors.append("property 'definition' of a statement marking needs a string 'statement'")


def _language_content_extra(obj: dict[str, object], errors: Errors) -> None:
    contents = obj.get("contents")
    if type(contents) is dict:
        for lang, translated in contents.items():
            if type(translated) is not dict:
                errors.append(f"property 'contents.{lang}' must be an object")


_EXTRA_CHECKS: Mapping[str, Callable[[dict[str, object], Errors], None]] = MappingProxyType(
    {
        "indicator": _indicator_extra,
        "malware": _malware_extra,
        "location": _location_extra,
        "artifact": _artifact_extra,
        "email-message": _email_message_extra,
        "marking-definition": _marking_definition_extra,
        "language-content": _language_content_extra,
    }
)

# --------------------------------------------------------------- compiled type plans


class _Plan:
    """A :class:`TypeSpec` with every property resolved to its checking function.

    Properties whose only rule is a JSON type (string, boolean, object) are kept in
    ``simple`` and checked inline; ``checks`` holds the functions for the rest.
    """

    __slots__ = ("spec", "simple", "checks", "extra", "required", "plain")

    def __init__(self, spec: TypeSpec) -> None:
        self.spec = spec
        simple: dict[str, type] = {}
        checks: dict[str, Check] = {}
        for name, kind in spec.kinds.items():
            expected = _SIMPLE_KINDS.get(kind)
            if expected is not None:
                simple[name] = expected
            else:
                checks[name] = _KIND_CHECKS[kind]
        for name, target in spec.refs.items():
            checks[name] = _ref_check(name, target)
        self.simple = simple
        self.checks = checks
        self.extra = _EXTRA_CHECKS.get(spec.name)
        self.required = frozenset(spec.required)
        # No "one of", exclusivity or "some property" rule: presence is one subset test.
        self.plain = not (spec.one_of or spec.exclusive or spec.beyond_common)


_SIMPLE_KINDS: Mapping[str, type] = MappingProxyType({"string": str, "bool": bool, "dict": dict})
_SIMPLE_NAMES: Mapping[type, str] = MappingProxyType(
    {str: "a string", bool: "a boolean", dict: "an object"}
)


_PLANS: Mapping[str, _Plan] = MappingProxyType(
    {name: _Plan(spec) for name, spec in TYPE_SPECS.items()}
)
_CUSTOM_SDO_PLAN = _Plan(CUSTOM_SDO)
_CUSTOM_SCO_PLAN = _Plan(CUSTOM_SCO)


def _describe_alternative(alternative: tuple[str, ...]) -> str:
    return " and ".join(f"'{name}'" for name in alternative)


def _missing(obj: dict[str, object], object_type: str, plan: _Plan, errors: Errors) -> None:
    spec = plan.spec
    for name in spec.required:
        if name not in obj:
            if name == "spec_version":
                errors.append(
                    f"{object_type} requires property 'spec_version' (this node accepts STIX 2.1)"
                )
            else:
                errors.append(f"{object_type} requires property '{name}'")
    for group in spec.one_of:
        if not any(all(name in obj for name in alternative) for alternative in group):
            choices = ", ".join(_describe_alternative(alternative) for alternative in group)
            errors.append(f"{object_type} requires at least one of {choices}")
    for first, second in spec.exclusive:
        if first in obj and second in obj:
            errors.append(f"{object_type} must not have both '{first}' and '{second}'")
    if spec.beyond_common and all(name in SCO_COMMON_NAMES for name in obj):
        errors.append(
            f"{object_type} requires at least one property besides type, id and the common ones"
        )


def _check_order(obj: dict[str, object], spec: TypeSpec, errors: Errors) -> None:
    for earlier, later, strict in spec.order:
        first = obj.get(earlier)
        if first is None:
            continue
        second = obj.get(later)
        if second is None:
            continue
        if first == second:
            if strict:
                errors.append(
                    f"property '{later}' ({second}) must be later than '{earlier}' ({first})"
                )
            continue
        first_micros = _micros(first)
        second_micros = _micros(second)
        if first_micros is None or second_micros is None:
            continue  # already reported as a malformed timestamp
        if second_micros < first_micros:
            errors.append(f"property '{later}' ({second}) is earlier than '{earlier}' ({first})")
        elif strict and second_micros == first_micros:
            errors.append(f"property '{later}' ({second}) must be later than '{earlier}' ({first})")


# ------------------------------------------------------------------------ public API


def validate_object(obj: object) -> list[str]:
    """Return the reasons ``obj`` is not a valid STIX 2.1 object (empty when it is).

    ``obj`` is a value as decoded from JSON. Every problem found is reported, each
    naming the offending property.
    """
    if type(obj) is not dict:
        return [f"a STIX object must be a JSON object, not {_type_name(obj)}"]
    errors: Errors = []

    object_type = obj.get("type")
    if object_type is None:
        errors.append("property 'type' is required")
    elif type(object_type) is not str:
        errors.append(f"property 'type' must be a string, not {_type_name(object_type)}")
    elif not 3 <= len(object_type) <= 250 or _TYPE_NAME.fullmatch(object_type) is None:
        errors.append(
            f"property 'type' ({object_type!r}) must be 3-250 characters of a-z, 0-9 and "
            "single inner hyphens"
        )
    if errors:
        if "id" not in obj:
            errors.append("property 'id' is required")
        return errors
    assert type(object_type) is str

    object_id = obj.get("id")
    if object_id is None:
        errors.append("property 'id' is required")
    elif not (
        type(object_id) is str
        and object_id.startswith(object_type)
        and object_id.startswith("--", len(object_type))
        and _UUID.fullmatch(object_id, len(object_type) + 2) is not None
    ):
        errors.append(f"property 'id': {object_id!r} is not of the form {object_type}--<UUID>")

    plan = _PLANS.get(object_type)
    if plan is None:
        plan = _CUSTOM_SDO_PLAN if "created" in obj else _CUSTOM_SCO_PLAN

    version = obj.get("spec_version", "2.1")
    if version != "2.1":
        errors.append(f"property 'spec_version' is {version!r} but this node accepts STIX 2.1 only")

    if not (plan.plain and plan.required <= obj.keys()):
        _missing(obj, object_type, plan, errors)

    simple = plan.simple
    checks = plan.checks
    for name, value in obj.items():
        expected = simple.get(name)
        if expected is not None:
            if type(value) is not expected:
                errors.append(
                    f"property '{name}' must be {_SIMPLE_NAMES[expected]}, not {_type_name(value)}"
                )
            continue
        check = checks.get(name)
        if check is None:
            _check_custom(name, value, errors)
        elif check is not _check_skip:
            check(name, value, errors)

    if plan.spec.order:
        _check_order(obj, plan.spec, errors)
    if plan.extra is not None:
        plan.extra(obj, errors)
    return errors
