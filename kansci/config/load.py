"""Experiment config: YAML loading, ``--set`` overrides, CLI flags, and validation errors that point at a line.

Precedence: schema defaults < YAML file < ``--set a.b=v`` overrides < explicit flags. Every error names the dotted
key and where its value came from (``file.yaml:LINE``, ``--set a.b=v`` or ``command line``); all errors of one load
are raised together in one :class:`~kansci.errors.ConfigError`, whose ``issues`` attribute lists them.

YAML reading (1.2 scalars, no tags, a line per key) is in :mod:`kansci.config.yaml12`; the schema itself (keys,
defaults, ranges, descriptions) is in :mod:`kansci.config.schema`.
"""
from __future__ import annotations

import copy
import difflib
import os
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kansci.config.schema import (
    Config,
    CustomPrimitiveConfig,
    DataConfig,
    ModelConfig,
    OutputConfig,
    PlotConfig,
    PruneConfig,
    SymbolicConfig,
    TrainConfig,
    show,
)
from kansci.config.yaml12 import ConfigIssue, Dumper, parse
from kansci.errors import ConfigError

__all__ = ["Config", "DataConfig", "ModelConfig", "TrainConfig", "PruneConfig", "SymbolicConfig",
           "CustomPrimitiveConfig", "PlotConfig", "OutputConfig", "ConfigIssue", "ConfigSource", "default_config",
           "load_config", "config_to_dict", "config_to_yaml", "reference_yaml", "resolve_data_path", "line_of"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_HINT = "see configs/full_reference.yaml (or `kansci config show`) for every key, its default and allowed values"


@dataclass
class ConfigSource:
    """Where a loaded config's values came from. ``origins`` maps dotted keys to (location text, sort order)."""

    path: Path | None = None
    display: str = "config"
    origins: dict[str, tuple[str, tuple[int, int]]] = field(default_factory=dict)

    def origin(self, dotted: str) -> tuple[str, tuple[int, int]]:
        """The most specific recorded origin of ``dotted``, else of an enclosing key, else of a key inside it."""
        parts = dotted.split(".") if dotted else []
        for n in range(len(parts), 0, -1):
            hit = self.origins.get(".".join(parts[:n]))
            if hit:
                return hit
        inside = [o for k, o in self.origins.items() if k.startswith(dotted + ".")] if dotted else []
        return min(inside, key=lambda o: o[1]) if inside else ("defaults" if dotted else self.display, (3, 0))

    def where(self, dotted: str) -> str:
        """Location text for ``dotted``: ``file.yaml:LINE``, ``--set a.b=v``, ``command line`` or ``defaults``."""
        return self.origin(dotted)[0]


def line_of(cfg: Config | ConfigSource, dotted: str) -> str:
    """Where the value at ``dotted`` (e.g. ``"symbolic.lib"``, ``"symbolic.lib.2"``) was set, for error messages.

    Lets a later validator (e.g. the primitive library checking ``symbolic.lib``) raise
    ``ConfigError(f"{line_of(cfg, 'symbolic.lib')}: symbolic.lib: unknown primitive ...")``.
    """
    source = cfg if isinstance(cfg, ConfigSource) else cfg._source
    return source.where(dotted) if source is not None else "defaults"


def _plain(value: Any) -> Any:
    """CLI values as YAML would give them: tuples → lists, paths → strings."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return os.fspath(value) if isinstance(value, os.PathLike) else value


class _Layers:
    """The raw nested dict being assembled, plus the origin of every key in it."""

    def __init__(self, source: ConfigSource) -> None:
        self.raw: dict[str, Any] = {}
        self.source = source
        self.issues: list[ConfigIssue] = []

    def assign(self, dotted: str, value: Any, where: str, order: tuple[int, int]) -> None:
        """Set ``dotted`` to ``value``: mappings merge into mappings, anything else replaces."""
        parts = dotted.split(".")
        node = self.raw
        for i, part in enumerate(parts[:-1]):
            if node.get(part) is None:
                node[part] = {}
            elif not isinstance(node[part], dict):
                section = ".".join(parts[: i + 1])
                self.issues.append(ConfigIssue(where, section, f"is {show(node[part])}, not a section with key "
                                                               f"{parts[i + 1]!r}", order))
                return
            node = node[part]
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            for key, sub in value.items():
                self.assign(f"{dotted}.{key}", sub, where, order)
            return
        node[parts[-1]] = value
        for key in [k for k in self.source.origins if k == dotted or k.startswith(dotted + ".")]:
            del self.source.origins[key]
        self.source.origins[dotted] = (where, order)


def _read_file(path: Path, display: str, layers: _Layers) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display}: config file not found", hint="check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{display}: is a folder, not a YAML config file", hint="pass the .yaml file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read: {exc.strerror}") from None
    at = lambda line, col: f"{display}:{line}:{col}" if col else f"{display}:{line}"  # noqa: E731
    value, lines, issues = parse(text, at, lambda line: (0, line))
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{display}:1: top level must be a mapping of sections like 'train:' (got {show(value)})",
                          hint="start the file with keys such as 'data:' or 'train:'; see configs/full_reference.yaml")
    layers.raw = value or {}
    layers.issues += issues
    layers.source.origins.update({k: (f"{display}:{line}", (0, line)) for k, line in lines.items()})


def _apply_override(i: int, text: str, layers: _Layers) -> None:
    where, order = f"--set {text}", (1, i)
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.fullmatch(key):
        layers.issues.append(ConfigIssue(where, "", "expected KEY=VALUE with a dotted key, e.g. train.steps=200", order))
        return
    value, _, issues = parse(raw, lambda line, col: where, lambda line: order)
    layers.issues += [ConfigIssue(where, f"{key}.{p.path}".rstrip("."), p.message, order) for p in issues]
    layers.assign(key, value, where, order)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_submodel, typing.get_args(annotation)) if m), None)


def _fields_at(parts: Sequence[str | int]) -> list[str]:
    """The valid keys of the mapping at ``parts`` (a pydantic error location without its last item)."""
    model: type[BaseModel] | None = Config
    for part in parts:
        if isinstance(part, str) and model is not None and part in model.model_fields:
            model = _submodel(model.model_fields[part].annotation)
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


def _issues_from(exc: ValidationError, source: ConfigSource) -> list[ConfigIssue]:
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
        where, order = source.origin(dotted)
        issues.append(ConfigIssue(where, dotted, message, order))
    return issues


def _all_fields(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for f in model.model_fields.values():
        sub = _submodel(f.annotation)
        names |= _all_fields(sub) if sub else set()
    return names


_ALL_FIELDS = _all_fields(Config)


def _raise(issues: list[ConfigIssue], display: str, hint: str | None = _HINT) -> None:
    issues = sorted(dict.fromkeys(issues), key=lambda i: i.order)
    head = [] if len(issues) == 1 else [f"{len(issues)} errors in {display}"]
    err = ConfigError("\n".join(head + [str(i) for i in issues]), hint=hint)
    err.issues = issues  # type: ignore[attr-defined]
    raise err


def default_config() -> Config:
    """The config with every key at its schema default."""
    return Config()


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = (),
                flags: Mapping[str, Any] | None = None,
                extra_validators: Sequence[Callable[[Config], None]] = ()) -> Config:
    """Build a validated :class:`Config` from defaults < YAML file < ``--set`` overrides < flags.

    Args:
        path: YAML file, or None for defaults only. An empty file means all defaults.
        overrides: ``"a.b=v"`` strings; ``v`` is read as one YAML value (``3``, ``1e-3``, ``[3, 5]``, ``null``).
        flags: dotted key → value from explicit CLI flags; ``None`` values mean "not given" and are skipped.
        extra_validators: called with the valid config; each may raise ConfigError (use :func:`line_of`).

    Raises:
        ConfigError: naming file:line (or the ``--set``) and dotted key of every problem at once.
    """
    display = str(path) if path is not None else "the config overrides"
    source = ConfigSource(Path(path) if path is not None else None, display)
    layers = _Layers(source)
    if path is not None:
        _read_file(Path(path), display, layers)
    for i, text in enumerate(overrides):
        _apply_override(i, text, layers)
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if not _KEY.fullmatch(key):
            layers.issues.append(ConfigIssue("command line", key, "not a dotted config key", (2, 0)))
            continue
        layers.assign(key, copy.deepcopy(_plain(value)), "command line", (2, 0))
    raw = copy.deepcopy(layers.raw)
    for name, info in Config.model_fields.items():
        if raw.get(name, 0) is None and _submodel(info.annotation):
            raw[name] = {}                                       # "train:" with nothing under it = all defaults
    issues = list(layers.issues)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        _raise(issues + _issues_from(exc, source), display)
    if issues:
        _raise(issues, display)
    cfg._source = source
    errors: list[ConfigError] = []
    for check in extra_validators:
        try:
            check(cfg)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        _raise([ConfigIssue(e.message, "", "", (4, i)) for i, e in enumerate(errors)], display, errors[0].hint)
    return cfg


def resolve_data_path(cfg: Config) -> Path | None:
    """``data.path`` as a usable path: relative to the config file's folder when the file set it, else as given."""
    if cfg.data.path is None:
        return None
    path = Path(cfg.data.path).expanduser()
    source = cfg._source
    if path.is_absolute() or source is None or source.path is None or source.origin("data.path")[1][0] != 0:
        return path
    return source.path.parent / path


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The fully resolved config as plain YAML-able values (lists, not tuples), in schema key order."""
    return cfg.model_dump(mode="json")


def config_to_yaml(cfg: Config) -> str:
    """The fully resolved config as YAML text that :func:`load_config` reads back to an equal config."""
    return yaml.dump(config_to_dict(cfg), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


def _flow(value: Any) -> str:
    lines = yaml.dump(value, Dumper=Dumper, default_flow_style=True, width=10_000, allow_unicode=True).splitlines()
    return "\n".join(line for line in lines if line != "...")


def reference_yaml() -> str:
    """Every key with its default value and its description as a comment (for configs/full_reference.yaml)."""
    defaults = config_to_dict(default_config())
    out = ["# kansci experiment config: every key with its default.",
           "# Precedence: these defaults < this file < --set section.key=value < explicit command-line flags."]
    for name, info in Config.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is None:
            out.append(f"{name + ': ' + _flow(defaults[name]):<38} # {info.description}")
            continue
        out += ["", f"# {info.description}", f"{name}:"]
        for key, sub_info in sub.model_fields.items():
            if sub is SymbolicConfig and key == "custom":
                out.append("  # e.g. custom: [{name: cube, expr: 'x**3', complexity: 2, domain: null}]")
            out.append(f"  {key + ': ' + _flow(defaults[name][key]):<36} # {sub_info.description}")
    return "\n".join(out) + "\n"
