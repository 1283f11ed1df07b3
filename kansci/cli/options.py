"""Options and validators shared by the commands: list parsing, config layering for a step on an existing run, and
the checks that find config errors before any training."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from kansci.config import Config, default_config, error_at, load_config
from kansci.errors import ConfigError, KansciError, RunDirError

SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="config override, e.g. --set train.steps=50 (repeatable)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML experiment config")]
RunArg = Annotated[str, typer.Argument(help="run directory, or 'latest' (newest run under --out)")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="print one JSON document on stdout (progress and logs stay on stderr; see docs/cli_json.md)")]


DEFAULT_RUNS = default_config().output.dir


# ------------------------------------------------------------------------------------------------ option parsing
def json_list(text: str | None, option: str, example: str) -> list[Any] | None:
    """``2,5,1`` or ``[2,[5,2],1]`` -> list (parsed as JSON, never evaluated); None stays None."""
    if text is None:
        return None
    body = text.strip()
    try:
        value = json.loads(body if body.startswith("[") else f"[{body}]")
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise ConfigError(f"{option} {text!r}: not a comma-separated list", f"write e.g. {option} {example}")
    return value


def name_list(text: str | None, option: str) -> list[str] | None:
    """``a,b,c`` -> ["a", "b", "c"]; None stays None."""
    if text is None:
        return None
    names = [s.strip() for s in text.split(",")]
    if not all(names):
        raise ConfigError(f"{option} {text!r}: empty name in the list", f"write e.g. {option} a,b,c")
    return names


def width_spec(text: str | None) -> str | list[Any] | None:
    if text is not None and text.strip() == "auto":
        return "auto"
    return json_list(text, "--width", "2,5,1 or '[2,[5,2],1]' or auto")


UnitsOpt = Annotated[str | None, typer.Option(
    "--units", help="units of the columns: a units CSV (Variable,Units,m,s,kg,...) or F=N,m=kg,a=m/s^2")]


def units_flags(value: str | None) -> dict[str, Any]:
    """``--units VALUE`` as config flags (``data.units_file`` for a CSV, ``data.units`` for the inline form),
    checked at once: an unknown unit or a bad units file is reported with ``--units`` or the file's line."""
    if value is None:
        return {}
    from kansci.units import parse_units_option

    parse_units_option(value)
    if Path(value).is_file() or "=" not in value:
        return {"data.units_file": str(Path(value).expanduser().resolve())}
    return {"data.units": value}


def check_library(cfg: Config) -> None:
    """Unknown primitive names and bad custom primitives are config errors, found before any training."""
    from kansci.symbolic.primitives import build_library

    custom = [{k: v for k, v in c.model_dump().items() if v is not None} for c in cfg.symbolic.custom]
    try:
        build_library(cfg.symbolic.lib, custom)
    except KansciError as exc:  # its key names the entry at fault, e.g. symbolic.custom.0.expr
        raise error_at(cfg, exc.key or "symbolic.lib", exc.message, exc.hint) from None


def check_data(cfg: Config) -> None:
    """The data file exists, parses, has the configured columns, and fits model.width (for ``config validate``;
    ``fit`` and ``run`` find the same errors, with the same file/line/key, when they load the data)."""
    from kansci import pipeline

    if cfg.data.path is not None:
        pipeline.check_width(cfg, pipeline.load_data(cfg))


def _file_overrides(path: Path) -> list[str]:
    """The keys a YAML config file sets, as ``key=value`` overrides (values taken after validation)."""
    import yaml

    cfg = load_config(path)                               # reports the file's own errors with line numbers
    values = cfg.model_dump(mode="json")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: list[str] = []

    def walk(node: Any, val: Any, prefix: str) -> None:
        for key, sub in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(sub, dict):
                walk(sub, val[key], dotted + ".")
            elif sub is not None or not isinstance(val[key], dict):      # "train:" alone sets nothing
                found.append(f"{dotted}={json.dumps(val[key])}")

    walk(raw, values, "")
    return found


def run_config(run: Path, config: Path | None, sets: list[str] | None, flags: dict[str, Any]) -> Config:
    """Config for a step on an existing run: the run's config.yaml < ``--config`` file < ``--set`` < flags."""
    base = run / "config.yaml"
    if not base.is_file():
        raise RunDirError(f"{base}: missing", f"is {run} a complete kansci run directory? re-run `kansci fit`")
    layered = _file_overrides(config) if config is not None else []
    return load_config(base, overrides=[*layered, *(sets or [])], flags=flags, extra_validators=[check_library])


