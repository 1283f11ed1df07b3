"""``kansci dataset make``, ``kansci lib list`` and ``kansci config show|validate``: small tools around the pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kansci.cli import render
from kansci.cli.app import app, command
from kansci.cli.options import SetOpt, check_data, check_library
from kansci.config import config_to_yaml, load_config

dataset_app = typer.Typer(help="Make synthetic datasets.", no_args_is_help=True)
lib_app = typer.Typer(help="The primitive library used by symbolify.", no_args_is_help=True)
config_app = typer.Typer(help="Show and validate experiment configs.", no_args_is_help=True)



@command(dataset_app, "make")
def dataset_make(
    formula: Annotated[str | None, typer.Argument(help="formula, e.g. 'exp(sin(pi*x) + y**2)'")] = None,
    var: Annotated[list[str] | None, typer.Option(help="variable range name=low:high (repeatable)")] = None,
    n: Annotated[int, typer.Option("-n", "--n-samples", help="number of rows")] = 2000,
    noise: Annotated[float, typer.Option(help="Gaussian noise, std = noise × RMS(y)")] = 0.0,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    target: Annotated[str | None, typer.Option(help="target column name (default: y, or f if y is an input)")] = None,
    feynman: Annotated[str | None, typer.Option(help="a Feynman equation id, e.g. I.6.2a, instead of FORMULA")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write")] = ...,  # type: ignore[assignment]
) -> None:
    """Sample a dataset from a formula (parsed safely, never evaluated) or a Feynman equation; write a CSV."""
    from kansci.data import synthetic
    from kansci.data.feynman import feynman_dataset

    if (formula is None) == (feynman is None):
        raise typer.BadParameter("give either FORMULA or --feynman ID (exactly one)")
    if feynman is not None:
        if var or target:
            raise typer.BadParameter("--feynman takes its variables, ranges and target from the Feynman table; "
                                   "drop --var and --target")
        data = feynman_dataset(feynman, n, noise=noise, seed=seed)
    else:
        ranges = [synthetic.parse_var_spec(v) for v in var or []]
        default = "f" if any(r[0] == "y" for r in ranges) else "y"
        data = synthetic.make_dataset(formula or "", ranges, n, noise=noise, seed=seed, target=target or default)
    synthetic.write_csv(output, data.names, data.X, data.y, data.target)
    render.out(f"wrote {output}: {len(data.y)} rows, columns {', '.join([*data.names, data.target])}")
    render.out(f"{data.target} = {data.expr}")

@command(lib_app, "list")
def lib_list(config: Annotated[Path | None, typer.Option(
        help="list the library this config selects (symbolic.lib + symbolic.custom)")] = None) -> None:
    """Print the primitive library: name, expression, complexity, domain."""
    from kansci.symbolic.primitives import build_library, default_library, format_library

    if config is None:
        lib = default_library()
    else:
        cfg = load_config(config, extra_validators=[check_library])
        lib = build_library(cfg.symbolic.lib, [{k: v for k, v in c.model_dump().items() if v is not None}
                                                for c in cfg.symbolic.custom])
    for line in render.table_lines(["name", "expression", "complexity", "domain"], format_library(lib)):
        render.out(line)

@command(config_app, "show")
def config_show(file: Annotated[Path | None, typer.Argument(help="YAML config (default: all defaults)")] = None,
                sets: SetOpt = None) -> None:
    """Print the fully resolved config as YAML."""
    render.out(config_to_yaml(load_config(file, overrides=sets or [])).rstrip())

@command(config_app, "validate")
def config_validate(file: Annotated[Path, typer.Argument(help="YAML config to check")]) -> None:
    """Check a config: keys, types, ranges, primitives, and the data file with its columns. Prints ok."""
    load_config(file, extra_validators=[check_library, check_data])
    render.out("ok")


app.add_typer(dataset_app, name="dataset")
app.add_typer(lib_app, name="lib")
app.add_typer(config_app, name="config")
