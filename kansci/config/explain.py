"""Pydantic validation errors as config issues: the dotted key at fault and a plain message for each.

Pydantic reports a location tuple and an error type; this module turns them into what a person reads, e.g.
``train.steps: must be >= 1 (got 0)`` or ``train.setps: unknown key (did you mean 'steps'?)``. Where each key was set
is asked of the caller (:meth:`kansci.config.load.ConfigSource.place`). No torch import.
"""
from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from kansci.config.origin import Place
from kansci.config.schema import Config, show
from kansci.config.yaml12 import ConfigIssue

__all__ = ["issues_from", "submodel"]


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's annotation (``TrainConfig``, ``list[CustomPrimitiveConfig]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(submodel, typing.get_args(annotation)) if m), None)


def _fields_at(parts: Sequence[str | int]) -> list[str]:
    """The valid keys of the mapping at ``parts`` (a pydantic error location without its last item)."""
    model: type[BaseModel] | None = Config
    for part in parts:
        if isinstance(part, str) and model is not None and part in model.model_fields:
            model = submodel(model.model_fields[part].annotation)
    return list(model.model_fields) if model is not None else []


def _unknown_key(parts: Sequence[str | int], key: str) -> str:
    valid = _fields_at(parts)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    elsewhere = [f"{s}.{key}" for s in Config.model_fields if key in _fields_at([s])]
    if key in Config.model_fields:
        elsewhere.insert(0, key)
    if elsewhere:
        return f"unknown key here (did you mean {elsewhere[0]!r}?)"
    return f"unknown key (valid keys: {', '.join(valid)})"


_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"), "less_than": ("<", "lt"),
           "less_than_equal": ("<=", "le")}
_KINDS = {"int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
          "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
          "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
          "tuple_type": "a list of two numbers [low, high]", "model_type": "a mapping of keys",
          "model_attributes_type": "a mapping of keys", "dict_type": "a mapping of keys"}


def _describe(err: Mapping[str, Any]) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    got = f"(got {show(value)})"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in _KINDS:
        return f"must be {_KINDS[kind]} {got}"
    if kind == "string_type":
        quote = "; put it in quotes" if isinstance(value, (int, float)) else ""
        return f"must be a string {got[:-1]}{quote})"
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        bound = ctx[name]
        return f"must be {op} {bound:g} {got}" if isinstance(bound, float) else f"must be {op} {bound} {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"must have {'at least' if kind == 'too_short' else 'at most'} {n} item(s) {got}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(value, options, n=1) if isinstance(value, str) else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"must be one of {', '.join(map(repr, options))} {got[:-1]}{hint})"
    msg = str(err["msg"])
    return f"{msg[:1].lower()}{msg[1:]} {got}"


def issues_from(exc: ValidationError, place_of: Callable[[str], Place]) -> list[ConfigIssue]:
    """One issue per pydantic error: its dotted key, a plain message, and where ``place_of`` says the key was set."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if err["type"] == "extra_forbidden":
            parts = [p for p in loc[:-1] if isinstance(p, int) or p in _ALL_FIELDS] + [loc[-1]]
            message = _unknown_key(parts[:-1], str(loc[-1]))
        else:
            parts = [p for p in loc if isinstance(p, int) or p in _ALL_FIELDS]
            message = _describe(err)
        dotted = ".".join(map(str, parts))
        place = place_of(dotted)
        issues.append(ConfigIssue(place.where, dotted, message, place.order))
    return issues


def _all_fields(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for f in model.model_fields.values():
        sub = submodel(f.annotation)
        names |= _all_fields(sub) if sub else set()
    return names


_ALL_FIELDS = _all_fields(Config)
