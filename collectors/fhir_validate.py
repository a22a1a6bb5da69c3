"""FHIR R4 validation at page speed: fhir.resources' verdict, without paying for its
model tree on every resource.

A full ``model_validate`` of an R4B ChargeItem builds ~30 nested models and costs ~250 µs,
most of a collector's CPU per record. Yet a searchset page repeats a handful of *shapes*:
the tree of element names, object/list nesting, list lengths and leaf JSON types (nulls
and empty objects included). Everything the model checks apart from primitive values —
unknown elements, required elements, choice types ``[x]`` one-of-many, null or empty
complex elements — is a function of the shape alone. So:

- a resource of a shape not seen yet is validated by the R4B model (the authority); if it
  passes, its shape is remembered with, for each leaf, the primitive type its model
  field declares (``Annotated[datetime, DateTime()]``, ``Code()``, ``Id()`` ...);
- a resource of a known shape has only its primitive values validated, each with that
  very type (a pydantic ``TypeAdapter``, a few µs), values already found valid for that
  type being skipped;
- any failure runs the full model again, for its authoritative error.

``tests/collectors/test_fhir_validate.py`` checks, on thousands of mutated resources, that
this agrees with ``model_validate`` every time.
"""

from __future__ import annotations

import threading
import types
import typing
from collections import OrderedDict
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import TypeAdapter, ValidationError

MAX_SHAPES = 2048  # per resource type; a real stream has a few dozen
MAX_KNOWN_VALUES = 200_000
_FULL_ONLY = object()  # a shape whose leaves cannot be typed: validate it whole each time


class FhirValidationError(ValueError):
    """A resource that fails FHIR R4 validation; ``problems`` names the first errors."""

    def __init__(self, resource_type: str, problems: list[str]) -> None:
        super().__init__(f"{resource_type} fails FHIR R4 validation: {'; '.join(problems)}")
        self.problems = problems


_OPEN_OBJECT, _OPEN_LIST, _CLOSE = object(), object(), object()


def _shape(value: Any, tokens: list[Any], leaves: list[Any]) -> None:
    """Append the shape of a JSON value to ``tokens`` (element names, nesting marks and
    leaf types) and its leaf values to ``leaves``, in document order."""
    _walk(value, tokens.append, leaves.append)


def _walk(value: Any, token: Callable[[Any], None], leaf: Callable[[Any], None]) -> None:
    # the appends are bound once: this runs for every element of every resource
    if type(value) is dict:
        token(_OPEN_OBJECT)
        for key, item in value.items():
            token(key)
            kind = type(item)
            if kind is dict or kind is list:
                _walk(item, token, leaf)
            else:  # most elements are leaves: no call for them
                token(kind)
                leaf(item)
    elif type(value) is list:
        token(_OPEN_LIST)
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                _walk(item, token, leaf)
            else:
                token(kind)
                leaf(item)
    else:
        token(type(value))
        leaf(value)
        return
    token(_CLOSE)


def _leaf_paths(value: Any, path: tuple[str, ...], out: list[tuple[str, ...]]) -> None:
    """The element path (list indices left out) of each leaf, in ``_shape``'s order."""
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            _leaf_paths(v, (*path, k), out)
    elif kind is list:
        for v in value:
            _leaf_paths(v, path, out)
    else:
        out.append(path)


def _unwrap(annotation: Any) -> Any:
    """``Optional[List[X]]`` / ``X | None`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        elif origin in (list, typing.List):  # noqa: UP006 - fhir.resources uses typing.List
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


@cache
def _fields(model: type) -> dict[str, Any]:
    """JSON element name -> field annotation of a model."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


@lru_cache(maxsize=4096)
def _leaf_check(model: type, path: tuple[str, ...]) -> Callable[[Any], Any] | None:
    """The validator of the primitive at ``path`` under ``model``, or None if unknown."""
    for depth, key in enumerate(path):
        annotation = _fields(model).get(key)
        if annotation is None:
            return None
        annotation = _unwrap(annotation)
        if depth == len(path) - 1:
            if hasattr(annotation, "get_model_klass"):
                return None  # a complex element where a primitive stands: let the model say
            return TypeAdapter(annotation).validator.validate_python  # no wrapper: hot path
        klass = getattr(annotation, "get_model_klass", None)
        if klass is None:
            return None
        model = klass()
        if model.__name__ in ("Resource", "DomainResource"):
            return None  # contained resources: typed by their own resourceType
    return None


class PageValidator:
    """Validates resources of one type, remembering the shapes already proven valid."""

    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type
        self.model = get_fhir_model_class(resource_type)
        self.shapes: OrderedDict[Any, Any] = OrderedDict()
        # (check, type, value) already found valid: codes, systems, units, facility ids
        # repeat on every resource; ids and times do not
        self.known_values: set[tuple[Any, type, Any]] = set()
        self.lock = threading.Lock()  # sources are polled on several scheduler threads

    def _is_type(self, value: Any) -> None:
        if value != self.resource_type:
            raise ValueError("resourceType differs")

    def full(self, resource: dict[str, Any]) -> None:
        """The fhir.resources model's own validation (raises ``FhirValidationError``)."""
        try:
            self.model.model_validate(resource)
        except (ValidationError, ValueError, TypeError) as exc:
            raise FhirValidationError(self.resource_type, _problems(exc)) from None

    def validate(self, resource: dict[str, Any]) -> None:
        """Raise ``FhirValidationError`` unless ``resource`` is a valid R4 resource."""
        tokens: list[Any] = []
        leaves: list[Any] = []
        _shape(resource, tokens, leaves)
        shape = tuple(tokens)
        with self.lock:
            checks = self.shapes.get(shape)
            if checks is not None:
                self.shapes.move_to_end(shape)
        if checks is None:
            self.full(resource)
            paths: list[tuple[str, ...]] = []
            _leaf_paths(resource, (), paths)
            checks = [self._is_type if path == ("resourceType",)
                      else _leaf_check(self.model, path) for path in paths]
            with self.lock:
                self.shapes[shape] = _FULL_ONLY if any(c is None for c in checks) else checks
                if len(self.shapes) > MAX_SHAPES:
                    self.shapes.popitem(last=False)
            return
        if checks is _FULL_ONLY:
            self.full(resource)
            return
        known = self.known_values
        # (check, type, value) of every leaf (the type: 1 == True == 1.0 as keys), made
        # and compared with the known ones in C; only the new ones are checked
        new = set(zip(checks, map(type, leaves), leaves, strict=True)) - known  # walks the few
        try:
            for check, _kind, value in new:
                check(value)
        except (ValidationError, ValueError, TypeError):
            self.full(resource)  # the authoritative error (or, if it passes, no error)
            return
        if len(known) > MAX_KNOWN_VALUES:
            known.clear()
        known |= new


def _problems(exc: Exception) -> list[str]:
    """Where and what, without the offending values (they may hold PHI)."""
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in err['loc']) or '(resource)'}: {err['msg']}"
                for err in exc.errors()[:3]]
    return [str(exc).splitlines()[0][:200]]


_VALIDATORS: dict[str, PageValidator] = {}
_VALIDATORS_LOCK = threading.Lock()


def validator_for(resource_type: str) -> PageValidator:
    """The process-wide validator of one resource type (its shapes outlive a page)."""
    with _VALIDATORS_LOCK:
        found = _VALIDATORS.get(resource_type)
        if found is None:
            found = _VALIDATORS[resource_type] = PageValidator(resource_type)
        return found
