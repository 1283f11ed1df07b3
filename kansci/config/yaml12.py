"""YAML for configs: YAML 1.2 scalars, no tags, and the line of every key.

Read with ``yaml.SafeLoader`` machinery only, with YAML 1.2 scalars: ``1e-3`` is a number, ``no``/``on`` and dates
stay strings, ``010`` is ten. Any explicit non-standard tag (``!!python/...``) is refused before anything is
constructed. :func:`parse` returns plain values plus a dotted-key -> line map, so :mod:`kansci.config` can say where
each value came from; :class:`Dumper` writes YAML that reads back alike under both YAML 1.1 and these rules.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from kansci.config.origin import Origin
from kansci.errors import ConfigError

__all__ = ["ConfigIssue", "Dumper", "parse"]

_T = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "seq", "map")}
_MAX_NODES = 100_000                 # guards against alias bombs
# YAML 1.2 core-schema scalars: (tag, pattern, possible first characters)
_SCALARS = [
    (_T + "bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_T + "null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_T + "int", r"^(?:[-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$", "-+0123456789"),
    (_T + "float", r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
]


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers: dict = {}


class Dumper(yaml.SafeDumper):
    """Quotes any string that YAML 1.1 *or* our 1.2 rules would read as a non-string, so output reads back alike."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign, text = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
    base = {"0x": 16, "0o": 8}.get(text[:2], 10)
    return sign * int(text[2:] if base != 10 else text, base)


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = not any(isinstance(x, dict) for x in data)
    return dumper.represent_sequence(_T + "seq", data, flow_style=flow)


for _tag, _pattern, _first in _SCALARS:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
    Dumper.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_Loader.add_constructor(_T + "int", _construct_int)
Dumper.add_representer(list, _represent_list)
Dumper.add_representer(tuple, _represent_list)


@dataclass(frozen=True)
class ConfigIssue:
    """One validation problem: where the value came from, its dotted key, what is wrong."""

    where: str
    path: str
    message: str
    order: tuple[int, int] = (Origin.DEFAULT, 0)  # sort key: (Origin, line in the file or position of the --set)

    def __str__(self) -> str:
        return ": ".join(part for part in (self.where, self.path, self.message) if part)


def _yaml_error(exc: yaml.YAMLError, text: str, at: Callable[[int, int], str], path: str | None) -> ConfigError:
    """A parser/scanner/reader error as ConfigError at file:line:column (``path``: the file, None for a --set)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        line, col = exc.problem_mark.line + 1, exc.problem_mark.column + 1
        problem = (exc.problem or "invalid YAML") + (f" ({exc.context})" if exc.context else "")
    else:
        pos = getattr(exc, "position", 0)
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        problem = str(exc).splitlines()[0]
    return ConfigError(f"{at(line, col)}: invalid YAML: {problem}", hint="check indentation, colons and quoting there",
                       path=path, line=line if path else None, column=col if path else None)


class _Builder:
    """Turns a composed node tree into plain Python values, refusing tags, recording the line of every key."""

    def __init__(self, loader: _Loader, at: Callable[[int], str], order: Callable[[int], tuple[int, int]],
                 path: str | None) -> None:
        self.loader, self.at, self.order, self.path = loader, at, order, path
        self.lines: dict[str, int] = {}
        self.issues: list[ConfigIssue] = []
        self.visits = 0
        self.open: set[int] = set()  # the collections being built (an alias to one of them would loop forever)

    def _issue(self, line: int, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(self.at(line), path, message, self.order(line)))

    def _error(self, line: int, key: str, message: str, hint: str) -> ConfigError:
        """A fatal error at ``line`` about ``key``. Its fields name the file, line and key when reading a file (in a
        --set value, ``key`` is relative to the overridden key and the line is meaningless, so they stay None)."""
        if self.path is None:
            return ConfigError(message, hint)
        return ConfigError(message, hint, path=self.path, line=line, key=key or None)

    def build(self, node: yaml.Node, path: str) -> Any:
        line = node.start_mark.line + 1
        self.visits += 1
        if self.visits > _MAX_NODES:
            raise self._error(line, "", f"{self.at(line)}: the YAML expands to more than {_MAX_NODES} values "
                              "(aliases?)", "write the config without anchors and aliases")
        if node.tag not in _ALLOWED_TAGS:
            tag = node.tag.replace(_T, "!!")
            raise self._error(line, path, f"{self.at(line)}: {path or 'top level'}: YAML tag '{tag}' is not allowed",
                              "use plain values only: strings, numbers, true/false, null, lists and mappings")
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self.open:
                raise self._error(line, path, f"{self.at(line)}: {path or 'top level'}: an alias refers to a value "
                                  "that contains it", "write the config without anchors and aliases")
            self.open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self.open.discard(id(node))
        try:
            return self.loader.construct_object(node)
        except (ValueError, KeyError, IndexError):                  # e.g. "!!int abc"
            raise self._error(line, path, f"{self.at(line)}: {path}: cannot read {node.value!r} as "
                              f"{node.tag.replace(_T, '!!')}", "drop the explicit !! tag or fix the value") from None

    def _collection(self, node: yaml.CollectionNode, path: str) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _T + "str":
                    if key_node.tag not in _ALLOWED_TAGS:
                        self.build(key_node, path)                      # raises: refused tag
                    got = f"{key_node.value!r:.40}" if isinstance(key_node, yaml.ScalarNode) else (
                        "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list")  # its repr may loop
                    self._issue(key_line, path, f"keys must be plain names (got {got})")
                    continue
                key = key_node.value
                sub = f"{path}.{key}" if path else key
                if key in out:
                    self._issue(key_line, sub, f"duplicate key (first set on line {first_line[key]})")
                first_line.setdefault(key, key_line)
                self.lines[sub] = key_line
                out[key] = self.build(value_node, sub)
            return out
        items = []  # a SequenceNode
        for i, item in enumerate(node.value):
            self.lines[f"{path}.{i}"] = item.start_mark.line + 1
            items.append(self.build(item, f"{path}.{i}"))
        return items


def parse(text: str, at: Callable[[int, int], str], order: Callable[[int], tuple[int, int]], *,
          path: str | None = None) -> tuple[Any, dict[str, int], list[ConfigIssue]]:
    """Compose and build one YAML document. Returns (value, dotted key → line, non-fatal issues).

    ``at(line, column)`` is the location text of messages, ``order(line)`` the sort key of issues, ``path`` the file
    named in the fields of a fatal ConfigError (None when ``text`` is not a file, e.g. a ``--set`` value)."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        builder = _Builder(loader, lambda line: at(line, 0), order, path)
        return builder.build(node, ""), builder.lines, builder.issues
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, at, path) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{at(1, 0)}: the YAML is nested too deeply", "write the config with fewer nested levels",
                          path=path) from None
    finally:
        if loader is not None:
            loader.dispose()
