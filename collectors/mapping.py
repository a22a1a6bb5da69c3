"""Field mappings: how a source's payload fields become canonical fields, read from YAML.

A hospital whose ERP or billing system names fields differently writes a mapping file
(``mapping:`` on the source) instead of code. The language is deliberately small. A
field spec is one of:

- a path string: ``ItemId``, ``subject.identifier.value``, ``type[0].coding[0].code``;
  ``ext(urn:chargeline:lot)`` picks a FHIR extension by url (its ``value[x]``);
  ``FT1-2`` / ``PID-3.4`` / ``MSH-9`` are HL7 v2 field (and component) references;
  ``=TEXT`` is a constant;
- a list of specs: the first non-empty value wins;
- a stream's ``lines:`` section (``each:`` a repeating element, ``record:``, ``fields:``)
  makes one more record of each element of that list (a FHIR Claim's ``item``s);
- a mapping with ``path`` (or ``paths``) and optional ``regex`` (keep the first group),
  ``map`` (translate values), ``as: date`` (the facility's local calendar date of the
  value, see below), ``times`` (multiply by another field: ``{path: priceOverride.value,
  times: quantity.value}`` where the source sends a unit price and the canonical amount is
  the line total), ``negate_if`` (``{path: TransactionType, in: [ISSUE]}``) and
  ``default``.

Local dates. A file may hold a top-level ``facility_time_zones:`` section (``{FAC01:
America/New_York, "*": UTC}``). A field mapped ``as: date`` from an instant, and a usage's
``used_on`` (derived from its ``used_at``), take the facility's local date: in the
configured zone, else in the offset the source wrote (``core.localtime``).

Defaults for the standard formats live in ``collectors/mappings/<kind>.yaml``; a
source's own file is merged over them, section by section.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError, RecordError
from core.localtime import Zones, local_date, parse_zones, zone_for

MAPPINGS_DIR = Path(__file__).with_name("mappings")
ZONES_SECTION = "facility_time_zones"
_OPTIONS = ("path", "paths", "regex", "map", "as", "times", "negate_if", "default")
_INDEX = re.compile(r"^([^\[]+)\[(\d+)\]$")
_EXT = re.compile(r"^ext\((.+)\)$")
_HL7_REF = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?$")

Getter = Callable[[Any], Any]


def _value_of_extension(ext: Mapping[str, Any]) -> Any:
    for key, value in ext.items():
        if key.startswith("value"):
            return value
    return None


def _json_step(name: str) -> Getter:
    match = _INDEX.match(name)
    if match:
        key, index = match.group(1), int(match.group(2))

        def get_indexed(obj: Any) -> Any:
            seq = obj.get(key) if isinstance(obj, dict) else None
            return seq[index] if isinstance(seq, list) and len(seq) > index else None

        return get_indexed
    ext = _EXT.match(name)
    if ext:
        url = ext.group(1)

        def get_extension(obj: Any) -> Any:
            extensions = obj.get("extension") if isinstance(obj, dict) else None
            for item in extensions if isinstance(extensions, list) else ():
                if isinstance(item, dict) and item.get("url") == url:
                    return _value_of_extension(item)
            return None

        return get_extension

    def get_key(obj: Any) -> Any:
        # JSON objects are dicts; a dict check is much cheaper than an ABC one
        return obj.get(name) if isinstance(obj, dict) else None

    return get_key


def _split_path(path: str) -> list[str]:
    # dots inside ext(...) urls are not path separators
    parts, depth, current = [], 0, ""
    for char in path:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def compile_path(path: str) -> Getter:
    """Turn one path string into a function of a payload (JSON dict or HL7 accessor)."""
    if path.startswith("="):
        constant = path[1:]
        return lambda _obj: constant
    hl7 = _HL7_REF.match(path)
    if hl7:
        segment, field, component = hl7.group(1), int(hl7.group(2)), hl7.group(3)
        comp = int(component) if component else 0
        return lambda msg: msg.field(segment, field, comp)
    parts = _split_path(path)
    if not any(_INDEX.match(p) or _EXT.match(p) for p in parts):
        keys = tuple(parts)

        def get_keys(obj: Any) -> Any:
            # plain element names (most paths): one loop, no call per step
            for key in keys:
                if not isinstance(obj, dict):
                    return None
                obj = obj.get(key)
            return obj

        return get_keys
    steps = [_json_step(p) for p in parts]

    def get_path(obj: Any) -> Any:
        for step in steps:
            if obj is None:
                return None
            obj = step(obj)
        return obj

    return get_path


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def compile_spec(spec: Any, where: str) -> Getter:
    """Compile one field spec (see the module docstring) into a getter."""
    if isinstance(spec, str):
        return compile_path(spec)
    if isinstance(spec, list):
        getters = [compile_spec(s, where) for s in spec]

        def first_of(obj: Any) -> Any:
            for getter in getters:
                value = getter(obj)
                if not _empty(value):
                    return value
            return None

        return first_of
    if isinstance(spec, Mapping):
        return _compile_options(spec, where)
    raise ConfigError(f"mapping {where}: a field spec must be a path, a list or a mapping")


def _compile_options(spec: Mapping[str, Any], where: str) -> Getter:
    unknown = set(spec) - set(_OPTIONS)
    if unknown:
        raise ConfigError(f"mapping {where}: unknown option(s) {sorted(unknown)}; "
                          f"use {', '.join(_OPTIONS)}")
    if spec.get("as") not in (None, "date"):
        raise ConfigError(f"mapping {where}: as: {spec['as']!r} is not known; use as: date")
    if "path" not in spec and "paths" not in spec:
        raise ConfigError(f"mapping {where}: give path: (e.g. path: ItemId)")
    base = compile_spec(spec.get("path", spec.get("paths")), where)
    regex = re.compile(spec["regex"]) if "regex" in spec else None
    table = {str(k): v for k, v in (spec.get("map") or {}).items()}
    as_date = spec.get("as") == "date"
    times = compile_spec(spec["times"], where) if "times" in spec else None
    default = spec.get("default")
    negate = spec.get("negate_if")
    negate_get = compile_spec(negate["path"], where) if negate else None
    negate_in = {str(v) for v in negate.get("in", [])} if negate else set()

    def get_with_options(obj: Any) -> Any:
        value = base(obj)
        if regex is not None and isinstance(value, str):
            match = regex.search(value)
            value = (match.group(1) if match.groups() else match.group(0)) if match else None
        if table and value is not None:
            value = table.get(str(value), value)
        if as_date and isinstance(value, str) and len(value) <= 10:
            value = value[:10]  # a date already; an instant is localised in apply()
        if times is not None and value is not None:
            factor = times(obj)
            value = None if _empty(factor) else Decimal(str(value)) * Decimal(str(factor))
        if negate_get is not None and str(negate_get(obj)) in negate_in and value is not None:
            value = -Decimal(str(value))
        return default if _empty(value) else value

    return get_with_options


class RecordMapping:
    """The compiled field mapping of one stream (an entity set, a FHIR resource type)."""

    def __init__(self, name: str, section: Mapping[str, Any],
                 zones: Zones | None = None) -> None:
        self.name = name
        if not isinstance(section, Mapping):
            raise ConfigError(f"mapping {name} must be a mapping with fields:")
        self.options = {k: v for k, v in section.items() if k not in ("fields", "lines")}
        # a resource's repeating lines as records of their own (a FHIR Claim's items):
        # ``lines: {each: item, record: claim_line, fields: {...}}``, each field read from
        # one element of ``each``
        self.lines: RecordMapping | None = None
        if section.get("lines") is not None:
            lines = section["lines"]
            if not isinstance(lines, Mapping) or not isinstance(lines.get("each"), str):
                raise ConfigError(f"mapping {name}.lines must name the repeating element: "
                                  "each: item")
            self.lines = RecordMapping(f"{name}.lines", lines, zones)
        fields = section.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise ConfigError(f"mapping {name}.fields must be a mapping of field: spec")
        self.raw_fields = dict(fields)
        self.getters = {f: compile_spec(s, f"{name}.{f}") for f, s in fields.items()}
        self.zones = dict(zones or {})
        self.date_fields = tuple(f for f, s in fields.items()
                                 if isinstance(s, Mapping) and s.get("as") == "date")
        self.derives_used_on = "used_at" in self.getters and "used_on" not in self.getters

    def _localise(self, out: dict[str, Any]) -> None:
        """Instants mapped ``as: date`` become the facility's local date, and a usage's
        ``used_on`` is the local date of its ``used_at`` (module docstring)."""
        facility_zone = zone_for(self.zones, out.get("facility_id"))
        for name in self.date_fields:
            value = out.get(name)
            if isinstance(value, str) and len(value) > 10:
                day = local_date(value, facility_zone)
                if day is None:
                    raise RecordError(f"{self.name}.{name}: {value[:40]!r} is not a date "
                                      "or a time")
                out[name] = day
        if self.derives_used_on and "used_at" in out:
            day = local_date(out["used_at"], facility_zone)
            if day is not None:
                out["used_on"] = day

    def apply(self, payload: Any) -> dict[str, Any]:
        """The canonical field values this mapping extracts from one payload."""
        out: dict[str, Any] = {}
        for field, getter in self.getters.items():
            try:
                value = getter(payload)
            except (ArithmeticError, ValueError, TypeError) as exc:  # e.g. negate_if on text
                raise RecordError(f"{self.name}.{field}: {type(exc).__name__} reading the "
                                  "source value") from None
            if not (value is None or value == "" or value == []):  # _empty, inlined
                if type(value) is str and "\x00" in value:
                    # PostgreSQL text cannot hold it, and no real identifier contains one
                    raise RecordError(f"{self.name}.{field}: contains a NUL character")
                out[field] = value
        if self.date_fields or self.derives_used_on:
            self._localise(out)
        return out


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: {exc.strerror} — check the source's "
                          "mapping: path") from None
    except yaml.MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise ConfigError(f"mapping file {path}{line}: YAML syntax error: {exc.problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"mapping file {path}: the top level must be a mapping of streams")
    return data


@lru_cache(maxsize=64)
def load_mapping(kind: str, override_file: str = "") -> dict[str, RecordMapping]:
    """The compiled mappings of a source kind, with a source's own file merged over them."""
    data = _read_yaml(MAPPINGS_DIR / f"{kind}.yaml")
    if override_file:
        data = _merge(data, _read_yaml(Path(override_file)))
    zones = parse_zones(data.pop(ZONES_SECTION, None),
                        f"mapping file {override_file or kind}")
    return {name: RecordMapping(name, section, zones) for name, section in data.items()}
