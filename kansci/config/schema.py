"""The experiment schema: every config key, its type, its default, its allowed range and a one-line description.

Defaults live only here. Each field's ``description`` doubles as the comment in the reference YAML
(``kansci.config.reference_yaml``). Loading, overrides and error messages with line numbers live in
``kansci.config``; this module only says what a valid config is. No torch import.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

PlotKind = Literal["network", "edges", "loss", "parity", "pareto", "structure"]
PlotFormat = Literal["png", "svg", "pdf"]
LayerWidth = int | tuple[int, int]          # n sum nodes, or (n sum nodes, n multiplication nodes)

_SEED_MAX = 2**63 - 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NonNegFloat = Annotated[float, Field(ge=0)]
NonNegInt = Annotated[int, Field(ge=0)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
_NOT_SEPARATORS = "\"#\r\n. -+"  # quote, comment, line break, and characters of numbers
_SEP_WORDS = {"comma": ",", "tab": "\t", "semicolon": ";", "pipe": "|"}  # names that need no YAML or shell quoting


def show(value: Any) -> str:
    """A value as a user wrote it in YAML: strings quoted, None as null, booleans lower case; truncated to 60 chars."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(show(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(v: Any) -> Any:
    """Accept a YAML list of two items where the schema wants a 2-tuple (strict mode wants a real tuple)."""
    return tuple(v) if isinstance(v, list) and len(v) == 2 else v


def _unique(values: list[Any] | None) -> list[Any] | None:
    if values is not None:
        seen = set()
        for v in values:
            if v in seen:
                raise ValueError(f"lists {show(v)} twice")
            seen.add(v)
    return values


def _ordered_range(v: tuple[float, float] | None) -> tuple[float, float] | None:
    if v is not None and not v[0] < v[1]:
        raise ValueError(f"must be [low, high] with low < high (got {show(v)})")
    return v


class Section(BaseModel):
    """Shared settings: unknown keys refused, no silent str→number or float→int coercion, finite floats only."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_assignment=True)


class DataConfig(Section):
    path: str | None = Field(None, min_length=1,
        description="data file: CSV, TSV or parquet (.parquet, needs pyarrow); '-' reads standard input; a relative "
                    "path resolves against this config file's folder")
    sep: str = Field("auto",
        description="field separator of a text data file: auto = comma or tab, whichever splits the header line into "
                    "more fields; or comma, tab, semicolon, pipe, or one character such as ':'")
    target: NonEmptyStr | list[NonEmptyStr] | None = Field(None,
        description="target column name, or a list of names (or 'a,b') for several targets: one KAN with one "
                    "output per target and one formula per target; null = the last column")
    inputs: list[NonEmptyStr] | None = Field(None, min_length=1,
        description="input column names; null = all other columns")
    test_frac: float = Field(0.2, gt=0, lt=1, description="fraction of rows held out as the test set, in (0, 1)")
    split_seed: int | None = Field(None, ge=0, le=_SEED_MAX,
        description="seed of the train/test split; null = derived from seed")
    normalize: Literal["auto", "standard", "none"] = Field("auto",
        description="input/target scaling: auto, standard (z-score) or none")
    denoise: bool = Field(False,
        description="smooth the training targets with a Gaussian process before the search (needs scikit-learn)")
    units: dict[NonEmptyStr, Any] | str | None = Field(None,
        description="units of the columns, {column: unit}: a unit string (N, m/s^2, dimensionless; needs pint), 1, "
                    "or base exponents {m: 1, s: -2}; or the inline text F=N,m=kg,a=m/s^2. With units the search "
                    "runs on dimensionless groups and every formula's units are checked")
    units_file: str | None = Field(None, min_length=1,
        description="units CSV in the AI Feynman layout (Variable,Units,m,s,kg,T,V: one row per column, one "
                    "exponent per base dimension); a relative path resolves against this config file's folder")

    @field_validator("sep")
    @classmethod
    def _sep(cls, v: str) -> str:
        v = _SEP_WORDS.get(v, v)
        if v != "auto" and (len(v) != 1 or v.isalnum() or v in _NOT_SEPARATORS):
            raise ValueError("must be auto, comma, tab, semicolon, pipe or one separator character such as ':' "
                             f"(got {show(v)})")
        return v

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, v: list[str] | None, info: Any) -> list[str] | None:
        _unique(v)
        target = info.data.get("target")
        for name in [target] if isinstance(target, str) else target or []:
            if v is not None and name in v:
                raise ValueError(f"contains the target column {show(name)}")
        return v

    @field_validator("target")
    @classmethod
    def _target(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list):
            if not v:
                raise ValueError("is an empty list; name at least one target column")
            _unique(v)
        return v


class ModelConfig(Section):
    width: Literal["auto"] | list[LayerWidth] = Field("auto",
        description="layer widths, e.g. [2, 5, 1] or [2, [5, 2], 1] (sum nodes, mult nodes); auto = from data")
    k: int = Field(3, ge=1, le=7, description="spline order, 1..7 (3 = cubic)")
    grid_eps: float = Field(0.02, ge=0, le=1,
        description="grid placement: 1 = uniform, 0 = sample quantiles, in between = mix")
    grid_range: tuple[float, float] = Field((-1.0, 1.0),
        description="initial spline domain [low, high] (inputs are normalized first)")
    mult_arity: int = Field(2, ge=2, description="inputs per multiplication node, >= 2")
    base_fun: Literal["silu", "zero"] = Field("silu", description="residual base function added to every spline edge")
    device: Literal["auto", "cpu", "cuda"] = Field("auto",
        description="compute device; auto = cuda when available, else cpu")
    dtype: Literal["float64", "float32"] = Field("float64", description="floating point precision of the model")
    init_noise: NonNegFloat = Field(0.1, description="scale of the random spline coefficients at init, >= 0")

    @field_validator("width", mode="before")
    @classmethod
    def _width(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v != "auto":
                raise ValueError(f"must be 'auto' or a list of layer sizes like [2, 5, 1] (got {show(v)})")
            return v
        if not isinstance(v, (list, tuple)):
            return v                                  # the typed check reports the type error
        if len(v) < 2:
            raise ValueError(f"needs at least an input and an output layer, e.g. [2, 5, 1] (got {show(v)})")
        out: list[Any] = []
        for i, item in enumerate(v):
            if _is_int(item):
                if item < 1:
                    raise ValueError(f"layer {i} must have at least 1 node (got {item})")
                out.append(item)
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(_is_int(x) for x in item):
                n_sum, n_mult = item
                if n_sum < 0 or n_mult < 0 or n_sum + n_mult < 1:
                    raise ValueError(f"layer {i} must be [sum nodes, mult nodes], both >= 0, not both 0 "
                                     f"(got {show(item)})")
                if i == 0 and n_mult:
                    raise ValueError("layer 0 is the input layer and cannot have multiplication nodes "
                                     f"(got {show(item)})")
                out.append((n_sum, n_mult))
            else:
                raise ValueError(f"layer {i} must be an integer or a [sum, mult] pair of integers (got {show(item)})")
        return out

    @field_validator("grid_range", mode="before")
    @classmethod
    def _grid_range_in(cls, v: Any) -> Any:
        return _pair(v)

    @field_validator("grid_range")
    @classmethod
    def _grid_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        return _ordered_range(v)  # type: ignore[return-value]


class TrainConfig(Section):
    optimizer: Literal["lbfgs", "adam"] = Field("lbfgs", description="optimizer: lbfgs (full batch, few steps) or adam")
    steps: int = Field(100, ge=1, description="optimizer steps per grid stage, >= 1")
    grids: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [3, 5, 10], min_length=1,
        description="grid-extension schedule: intervals per stage, each >= 1, non-decreasing")
    lr: float | None = Field(None, gt=0,
        description="learning rate > 0; null = optimizer default (lbfgs 1.0, adam 1e-2)")
    lamb: NonNegFloat = Field(0.0, description="sparsity regularization strength, >= 0 (0 = off)")
    lamb_l1: NonNegFloat = Field(1.0, description="weight of the L1 term inside the sparsity penalty")
    lamb_entropy: NonNegFloat = Field(2.0, description="weight of the entropy term inside the sparsity penalty")
    lamb_coef: NonNegFloat = Field(0.0, description="weight of the L1 penalty on spline coefficients")
    update_grid: bool = Field(True, description="move grid knots to follow the training inputs during a stage")
    grid_update_every: int = Field(20, ge=1, description="steps between grid updates, >= 1")
    stop_grid_update_step: NonNegInt = Field(50, description="no grid updates after this step of a stage")
    batch_size: int | None = Field(None, ge=1,
        description="rows per optimizer step; null = automatic: full batch up to 50000 fit rows, above that a "
                    "seeded minibatch of 20000 rows per step")
    patience: NonNegInt = Field(10,
        description="early stopping: steps without a min_delta relative improvement of the validation loss; with "
                    "LBFGS, stages before the last also stop once converged; 0 = off (fixed schedule)")
    min_delta: NonNegFloat = Field(1e-3,
        description="relative validation-loss improvement that counts for early stopping")
    log_every: int = Field(10, ge=1, description="steps between history rows and progress updates, >= 1")
    checkpoint_every_s: NonNegFloat | None = Field(180.0,
        description="seconds between training checkpoints in the run directory (kill -9 safe resume); 0 or null = off")
    search_restarts: NonNegInt = Field(1,
        description="width: auto: other initialisations tried for a ladder rung whose screen stalls short of the fit")
    time_limit_s: float | None = Field(120.0, gt=0,
        description="soft time limit of training in seconds; past it the current stage stops and later rungs/stages "
                    "are skipped; null = none")

    @field_validator("grids")
    @classmethod
    def _grids(cls, v: list[int]) -> list[int]:
        if any(b < a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"must be non-decreasing, e.g. [3, 5, 10] (got {show(v)})")
        return v


class PruneConfig(Section):
    enabled: bool = Field(True, description="prune small edges, nodes and inputs after training")
    node_th: NonNegFloat = Field(1e-2, description="a hidden node is removed when its attribution score is below this")
    edge_th: NonNegFloat = Field(3e-2, description="an edge is removed when its attribution score is below this")
    input_th: NonNegFloat = Field(1e-2, description="an input is dropped when its attribution score is below this")
    refit_steps: NonNegInt = Field(50, description="training steps after pruning, >= 0")


class CustomPrimitiveConfig(Section):
    name: str = Field(description="primitive name: letters, digits and _, not starting with a digit")
    expr: NonEmptyStr = Field(description="formula in x, e.g. 'x**3' (parsed safely, never evaluated)")
    complexity: int = Field(3, ge=1, description="complexity charged when an edge uses it, >= 1")
    domain: tuple[float, float] | None = Field(None, description="valid input interval [low, high]; null = all reals")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(f"must be letters, digits and _, not starting with a digit (got {show(v)})")
        return v

    @field_validator("domain", mode="before")
    @classmethod
    def _domain_in(cls, v: Any) -> Any:
        return _pair(v)

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(v)


class SymbolicConfig(Section):
    lib: list[NonEmptyStr] | None = Field(None, min_length=1,
        description="primitive names to try per edge; null = all built-in primitives")
    custom: list[CustomPrimitiveConfig] = Field(default_factory=list,
        description="extra primitives: [{name, expr, complexity, domain}]")
    r2_min: float = Field(0.99, ge=0, le=1, description="minimum R² of an edge fit to accept a primitive, in [0, 1]")
    complexity_weight: NonNegFloat = Field(0.3,
        description="score penalty per unit of complexity, in decades of 1-R², >= 0")
    top_k: int = Field(3, ge=1, description="candidates checked end to end per edge, >= 1")
    finetune_steps: NonNegInt = Field(200, description="training steps of the affine constants after fixing edges")
    snap: bool = Field(True, description="snap constants to simple values (integers, fractions) when harmless")
    snap_tol: NonNegFloat = Field(1e-14,
        description="absolute slack in normalized train MSE allowed by a snap, on top of the AIC rule, >= 0")
    simplify_timeout_s: float = Field(10.0, gt=0, description="time limit of sympy simplification in seconds, > 0")
    time_limit_s: float | None = Field(60.0, gt=0,
        description="soft time limit of symbolify in seconds: the structure search gets half of it, and past it "
                    "optional work (the edge-by-edge fit when a formula exists, alternative edges, extra candidate "
                    "formulas, further snaps) is skipped; null = none")
    precision: int = Field(4, ge=1, le=17, description="significant digits shown in printed formulas (display only)")

    @field_validator("lib")
    @classmethod
    def _lib(cls, v: list[str] | None) -> list[str] | None:
        return _unique(v)

    @field_validator("custom")
    @classmethod
    def _custom(cls, v: list[CustomPrimitiveConfig]) -> list[CustomPrimitiveConfig]:
        _unique([c.name for c in v])
        return v


class PlotConfig(Section):
    what: list[PlotKind] = Field(default_factory=lambda: ["network", "edges", "loss", "parity", "pareto", "structure"],
        description="figures to draw: network, edges, loss, parity, pareto, structure")
    format: list[PlotFormat] = Field(default_factory=lambda: ["png"], min_length=1,
        description="file formats for each figure: png, svg, pdf")
    dpi: int = Field(150, ge=50, le=600, description="resolution of raster figures, 50..600")

    @field_validator("what", "format")
    @classmethod
    def _no_repeats(cls, v: list[str]) -> list[str]:
        return _unique(v)  # type: ignore[return-value]


class OutputConfig(Section):
    dir: NonEmptyStr = Field("runs", description="folder that receives run directories")
    name: str | None = Field(None, description="run name (folder prefix); null = the data file stem")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or v in (".", "..") or any(c in v for c in "/\\\0")):
            raise ValueError(f"must be a plain folder name without / or \\ (got {show(v)})")
        return v


class Config(Section):
    """A complete, validated experiment config. Sections: data, model, train, prune, symbolic, plot, output."""

    seed: int = Field(0, ge=0, le=_SEED_MAX,
        description="run seed; the data split seed is derived from it unless data.split_seed is set")
    version: int = Field(1, description="config format version; only 1 is accepted")
    data: DataConfig = Field(default_factory=DataConfig, description="where the data comes from and how it is split")
    model: ModelConfig = Field(default_factory=ModelConfig, description="KAN architecture")
    train: TrainConfig = Field(default_factory=TrainConfig, description="optimization and grid-extension schedule")
    prune: PruneConfig = Field(default_factory=PruneConfig, description="pruning after training")
    symbolic: SymbolicConfig = Field(default_factory=SymbolicConfig,
        description="turning edges into closed-form functions")
    plot: PlotConfig = Field(default_factory=PlotConfig, description="figures")
    output: OutputConfig = Field(default_factory=OutputConfig, description="where run directories go")

    _source: Any = PrivateAttr(default=None)      # kansci.config.ConfigSource: file path and key → line origins

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError(f"unsupported config format version {v}; only 1 is accepted")
        return v

    @property
    def source_path(self) -> Path | None:
        """The YAML file this config was loaded from, or None."""
        return None if self._source is None else self._source.path

    def __eq__(self, other: object) -> bool:
        """Configs are equal when all their values are; where they were loaded from does not matter."""
        if not isinstance(other, Config):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]
