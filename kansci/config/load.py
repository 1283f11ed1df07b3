"""Experiment config: YAML loading, ``--set`` overrides, CLI flags, and validation errors that point at a line.

Precedence: schema defaults < YAML file < ``--set a.b=v`` overrides < explicit flags. Every error names the dotted
key and where its value came from (``file.yaml:LINE``, ``--set a.b=v`` or ``command line``); all errors of one load
are raised together in one :class:`~kansci.errors.ConfigError`, whose ``issues`` attribute lists them.

Every value's :class:`~kansci.config.origin.Place` (its :class:`~kansci.config.origin.Origin` and line) is kept in
the config's :class:`ConfigSource`, so later checks (:func:`error_at`) can name it too, and errors carry it as
structured fields (``path``, ``line``, ``key``) besides the message.

YAML reading (1.2 scalars, no tags, a line per key) is in :mod:`kansci.config.yaml12`; the wording of pydantic's
errors in :mod:`kansci.config.explain`; the schema itself (keys, defaults, ranges, descriptions) in
:mod:`kansci.config.schema`.
"""
from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kansci.config.explain import issues_from, submodel
from kansci.config.origin import DEFAULTS, Origin, Place
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
from kansci.errors import ConfigError, KansciError

__all__ = ["Config", "DataConfig", "ModelConfig", "TrainConfig", "PruneConfig", "SymbolicConfig",
           "CustomPrimitiveConfig", "PlotConfig", "OutputConfig", "ConfigIssue", "ConfigSource", "Origin", "Place",
           "default_config", "load_config", "config_to_dict", "config_to_yaml", "reference_yaml", "resolve_data_path",
           "line_of", "error_at"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_HINT = "see configs/full_reference.yaml (or `kansci config show`) for every key, its default and allowed values"
_CHECKS = len(Origin)  # sort position of errors from extra validators: after every value's own errors


@dataclass
class ConfigSource:
    """Where a loaded config's values came from. ``origins`` maps dotted keys to the :class:`Place` that set them."""

    path: Path | None = None
    display: str = "config"
    origins: dict[str, Place] = field(default_factory=dict)

    def place(self, dotted: str) -> Place:
        """The most specific recorded place of ``dotted``, else of an enclosing key, else of a key inside it."""
        parts = dotted.split(".") if dotted else []
        for n in range(len(parts), 0, -1):
            hit = self.origins.get(".".join(parts[:n]))
            if hit:
                return hit
        inside = [o for k, o in self.origins.items() if k.startswith(dotted + ".")] if dotted else []
        if inside:
            return min(inside, key=lambda o: o.order)
        return DEFAULTS if dotted else Place(self.display, Origin.DEFAULT)

    def origin(self, dotted: str) -> Origin:
        """What set ``dotted``: the file, a ``--set`` override, a flag, or nothing (the default)."""
        return self.place(dotted).origin

    def where(self, dotted: str) -> str:
        """Location text for ``dotted``: ``file.yaml:LINE``, ``--set a.b=v``, ``command line`` or ``defaults``."""
        return self.place(dotted).where

    @property
    def file(self) -> str | None:
        """The config file as messages name it, or None when no file was loaded."""
        return self.display if self.path is not None else None


def line_of(cfg: Config | ConfigSource, dotted: str) -> str:
    """Where the value at ``dotted`` (e.g. ``"symbolic.lib"``, ``"symbolic.lib.2"``) was set, for error messages.

    Lets a later validator (e.g. the primitive library checking ``symbolic.lib``) raise
    ``ConfigError(f"{line_of(cfg, 'symbolic.lib')}: symbolic.lib: unknown primitive ...")``.
    """
    source = cfg if isinstance(cfg, ConfigSource) else cfg._source
    return source.where(dotted) if source is not None else "defaults"


def error_at(cfg: Config, key: str, message: str, hint: str | None = None) -> ConfigError:
    """``ConfigError("<where key was set>: <key>: <message>")`` with ``key`` set, and ``path`` and ``line`` when a
    config file set it; for checks of a loaded config that live elsewhere (the primitive library, the data file)."""
    source: ConfigSource | None = cfg._source
    place = source.place(key) if source is not None else DEFAULTS
    path = source.file if source is not None and place.origin is Origin.FILE else None
    return ConfigError(f"{place.where}: {key}: {message}", hint, path=path, line=place.line, key=key)


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

    def assign(self, dotted: str, value: Any, place: Place) -> None:
        """Set ``dotted`` to ``value``: mappings merge into mappings, anything else replaces."""
        parts = dotted.split(".")
        node = self.raw
        for i, part in enumerate(parts[:-1]):
            if node.get(part) is None:
                node[part] = {}
            elif not isinstance(node[part], dict):
                section = ".".join(parts[: i + 1])
                self.issues.append(ConfigIssue(place.where, section, f"is {show(node[part])}, not a section with "
                                                                     f"key {parts[i + 1]!r}", place.order))
                return
            node = node[part]
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            for key, sub in value.items():
                self.assign(f"{dotted}.{key}", sub, place)
            return
        node[parts[-1]] = value
        for key in [k for k in self.source.origins if k == dotted or k.startswith(dotted + ".")]:
            del self.source.origins[key]
        self.source.origins[dotted] = place


def _read_file(path: Path, display: str, layers: _Layers) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display}: config file not found", hint="check the path", path=display) from None
    except IsADirectoryError:
        raise ConfigError(f"{display}: is a folder, not a YAML config file", hint="pass the .yaml file",
                          path=display) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8",
                          path=display) from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read: {exc.strerror}", path=display) from None

    def at(line: int, col: int) -> str:
        return f"{display}:{line}:{col}" if col else f"{display}:{line}"

    value, lines, issues = parse(text, at, lambda line: Place(at(line, 0), Origin.FILE, line).order, path=display)
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{display}:1: top level must be a mapping of sections like 'train:' (got {show(value)})",
                          hint="start the file with keys such as 'data:' or 'train:'; see configs/full_reference.yaml",
                          path=display, line=1)
    layers.raw = value or {}
    layers.issues += issues
    layers.source.origins.update({k: Place(at(line, 0), Origin.FILE, line) for k, line in lines.items()})


def _apply_override(i: int, text: str, layers: _Layers) -> None:
    place = Place(f"--set {text}", Origin.OVERRIDE, i)
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.fullmatch(key):
        layers.issues.append(ConfigIssue(place.where, "", "expected KEY=VALUE with a dotted key, e.g. train.steps=200",
                                         place.order))
        return
    value, _, issues = parse(raw, lambda line, col: place.where, lambda line: place.order)
    layers.issues += [ConfigIssue(place.where, f"{key}.{p.path}".rstrip("."), p.message, place.order) for p in issues]
    layers.assign(key, value, place)


def _raise(issues: list[ConfigIssue], source: ConfigSource, hint: str | None = _HINT,
           cause: KansciError | None = None) -> None:
    """One ConfigError listing every issue in file order. With a single issue the error's fields say where it is:
    those of ``cause`` (an extra validator's own error), else the issue's key and, for a file line, path and line."""
    issues = sorted(dict.fromkeys(issues), key=lambda i: i.order)
    head = [] if len(issues) == 1 else [f"{len(issues)} errors in {source.display}"]
    fields: dict[str, Any] = {"path": source.file}
    if len(issues) == 1 and cause is not None:
        fields = cause.fields()
    elif len(issues) == 1:
        line = issues[0].order[1] if issues[0].order[0] == Origin.FILE else None
        fields = {"path": source.file if line is not None else None, "line": line, "key": issues[0].path or None}
    raise ConfigError("\n".join(head + [str(i) for i in issues]), hint=hint, issues=issues, **fields)


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
    flag = Place("command line", Origin.FLAG)
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if not _KEY.fullmatch(key):
            layers.issues.append(ConfigIssue(flag.where, key, "not a dotted config key", flag.order))
            continue
        layers.assign(key, copy.deepcopy(_plain(value)), flag)
    raw = copy.deepcopy(layers.raw)
    for name, info in Config.model_fields.items():
        if raw.get(name, 0) is None and submodel(info.annotation):
            raw[name] = {}                                       # "train:" with nothing under it = all defaults
    issues = list(layers.issues)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        _raise(issues + issues_from(exc, source.place), source)
    if issues:
        _raise(issues, source)
    cfg._source = source
    errors: list[ConfigError] = []
    for check in extra_validators:
        try:
            check(cfg)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        _raise([ConfigIssue(e.message, "", "", (_CHECKS, i)) for i, e in enumerate(errors)], source, errors[0].hint,
               errors[0])
    return cfg


def resolve_data_path(cfg: Config) -> Path | None:
    """``data.path`` as a usable path: relative to the config file's folder when the file set it, else as given;
    ``-`` (standard input) stays ``-``."""
    if cfg.data.path is None:
        return None
    if cfg.data.path == "-":
        return Path("-")
    path = Path(cfg.data.path).expanduser()
    source = cfg._source
    if path.is_absolute() or source is None or source.path is None or source.origin("data.path") is not Origin.FILE:
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
        sub = submodel(info.annotation)
        if sub is None:
            out.append(f"{name + ': ' + _flow(defaults[name]):<38} # {info.description}")
            continue
        out += ["", f"# {info.description}", f"{name}:"]
        for key, sub_info in sub.model_fields.items():
            if sub is SymbolicConfig and key == "custom":
                out.append("  # e.g. custom: [{name: cube, expr: 'x**3', complexity: 2, domain: null}]")
            out.append(f"  {key + ': ' + _flow(defaults[name][key]):<36} # {sub_info.description}")
    return "\n".join(out) + "\n"
