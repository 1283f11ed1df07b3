"""The library of one-variable primitives ``f`` that a KAN edge ``c·f(a·x + b) + d`` can be snapped to.

A :class:`Primitive` is plain data: a name, a sympy expression string in ``x``, a complexity and a domain. Its torch
function is derived from the expression (compiled once per expression and cached at module level), so nothing
callable is ever stored on a model or in a run directory.

Domain
------
The domain is a closed interval ``domain = (lo, hi)`` (``±inf`` allowed) minus open neighbourhoods
``|x - p| < gap`` of the poles ``p`` in ``poles``; with ``period > 0`` the poles repeat at ``p + k·period`` for
every integer ``k``. One-sided guards are intervals (log: ``[gap, inf)``, sqrt: ``[0, inf)``), two-sided guards are
poles (1/x: ``poles=(0,)``, tan: ``poles=(pi/2,), period=pi``).

Guard (what :meth:`Primitive.torch` does outside the domain)
------------------------------------------------------------
1. the input is clamped into ``[lo, hi]``;
2. an input within ``gap`` of a pole is pushed to the nearer edge of the excluded neighbourhood (an input exactly on
   the pole goes to ``p + gap``), so ``1/x`` at 0 gives ``1/gap`` and ``tan`` at pi/2 gives ``tan(pi/2 + gap)``;
3. any remaining non-finite output (overflow of ``exp``/``x^5``, NaN of a custom expression) is replaced:
   NaN by 0 and ``±inf`` by the largest finite value of the dtype.
So ``torch`` never returns NaN or inf. Inside the domain the guard changes nothing. :meth:`Primitive.valid` tells
where the unguarded expression is defined and finite; the edge fitter uses it (it never fits guarded values).

Complexities (PyKAN's scale): 0 → 0; x → 1; x^2, 1/x, 1/x^2, sqrt, 1/sqrt(x), exp, log, sin, cos → 2;
x^3, x^4, x^5, 1/x^3, tan, tanh, sgn, abs, gaussian → 3; x^1.5, 1/x^4, arcsin, arccos, arctan, arctanh → 4;
1/x^5 → 5. Custom primitives default to 3.
"""
from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from kansci.errors import ConfigError, FormulaError
from kansci.expr.evaluate import to_torch
from kansci.expr.text import parse_formula

__all__ = ["Primitive", "X", "SINGULAR_GAP", "default_library", "build_library", "format_library"]

#: The symbol every primitive expression is written in.
X = sympy.Symbol("x")
#: Half-width of the neighbourhood excluded around poles (and the margin kept from log/rsqrt/arctanh boundaries).
#: 1/gap^5 = 1e30 stays representable in float32.
SINGULAR_GAP = 1e-6
INF = math.inf
SYMMETRIES = ("none", "scale", "shift", "linear", "constant")


@dataclass(frozen=True)
class Primitive:
    """One library function ``f(x)``.

    Attributes:
        name: library key, e.g. ``"sin"``, ``"x^2"``, ``"1/x"``.
        expr: sympy expression string in ``x`` (``"sin(x)"``, ``"x**2"``, ``"exp(-x**2)"``).
        complexity: cost used to rank equally good fits (lower is simpler).
        domain: closed interval ``(lo, hi)`` of allowed inputs.
        poles: points excluded together with their open ``gap``-neighbourhoods.
        period: if > 0 the poles repeat with this period.
        gap: half-width of the neighbourhood excluded around each pole.
        symmetry: which parameter of ``c·f(a·x+b)+d`` is redundant, used by the edge fitter to shrink its search:
            ``"scale"`` (f(s·z) = α(s)f(z) + β(s), so only sign(a) and b/a matter: powers, log, abs, sgn),
            ``"shift"`` (f(z + t) = α(t)f(z) + β(t), so b is redundant: exp), ``"linear"`` (f affine),
            ``"constant"``, or ``"none"``. A wrong ``"none"`` is always safe (just slower).
    """

    name: str
    expr: str
    complexity: int
    domain: tuple[float, float] = (-INF, INF)
    poles: tuple[float, ...] = ()
    period: float = 0.0
    gap: float = 0.0
    symmetry: str = "none"

    def __post_init__(self) -> None:
        lo, hi = self.domain
        if not lo <= hi or self.gap < 0 or self.period < 0 or self.symmetry not in SYMMETRIES:
            raise ValueError(f"inconsistent primitive {self!r}")

    # ----------------------------------------------------------------------------------------------- expressions
    def sympy(self, arg: sympy.Expr = X) -> sympy.Expr:
        """The expression with ``arg`` substituted for ``x``."""
        expr = _sympy_of(self.expr, self.name)
        return expr if arg is X else expr.xreplace({X: arg})

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The bare expression, elementwise on ``x`` (any shape); NaN/inf outside the domain."""
        return _torch_of(self.expr, self.name)(x)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        """Guarded evaluation, elementwise on ``x`` (any shape): equals :meth:`raw` inside the domain and is finite
        everywhere (see the module docstring for what the guard does outside)."""
        x = _float(x)
        y = self.raw(self._guard(x))
        return torch.nan_to_num(y, nan=0.0)

    def numpy(self, x: np.ndarray | float) -> np.ndarray:
        """Guarded evaluation on a numpy array (computed in float64 through :meth:`torch`)."""
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        return self.torch(t).numpy()

    # ----------------------------------------------------------------------------------------------- domain
    def valid(self, x: torch.Tensor) -> torch.Tensor:
        """Bool tensor (shape of ``x``): x lies in the domain and the unguarded expression is finite there."""
        x = _float(x)
        return self.interval_valid(x, x) & torch.isfinite(self.raw(self._guard(x)))

    def interval_valid(self, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Bool tensor: the whole closed interval ``[lo, hi]`` (elementwise, ``lo <= hi``) lies in the domain,
        i.e. inside ``domain`` and clear of every pole neighbourhood. Non-finite bounds are invalid."""
        ok = torch.isfinite(lo) & torch.isfinite(hi) & (lo >= self.domain[0]) & (hi <= self.domain[1])
        for p in self.poles:
            if self.period > 0:  # the first pole above lo - gap, then: is it below hi + gap?
                q = p + (torch.floor((lo - self.gap - p) / self.period) + 1) * self.period
            else:
                q = torch.full_like(lo, p)
            ok = ok & ~((q > lo - self.gap) & (q < hi + self.gap))
        return ok

    def _guard(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.domain
        if lo > -INF or hi < INF:
            x = torch.clamp(x, min=lo, max=hi)
        for p in self.poles:
            q = p + torch.round((x - p) / self.period) * self.period if self.period > 0 else p
            d = x - q
            pushed = q + torch.where(d >= 0, d.new_tensor(self.gap), d.new_tensor(-self.gap))  # keeps x's dtype
            x = torch.where(d.abs() < self.gap, pushed, x)
        return x

    def describe_domain(self) -> str:
        """Human-readable domain, e.g. ``"x >= 1e-06"``, ``"-1 <= x <= 1"``, ``"|x| >= 1e-06"``."""
        lo, hi = self.domain
        parts = []
        if lo > -INF and hi < INF:
            parts.append(f"{lo:g} <= x <= {hi:g}")
        elif lo > -INF:
            parts.append(f"x >= {lo:g}")
        elif hi < INF:
            parts.append(f"x <= {hi:g}")
        for p in self.poles:
            centre = f"x - {p:g}" if p else "x"
            if self.period > 0:
                centre += f" - k*{self.period:g}"
            parts.append(f"|{centre}| >= {self.gap:g}")
        return ", ".join(parts) or "all x"

    def to_dict(self) -> dict[str, object]:
        """The custom-entry mapping accepted by :func:`build_library` (name, expr, complexity, domain).

        Meant for custom primitives; a built-in is rebuilt from its name (poles and symmetry are not in the dict)."""
        return {"name": self.name, "expr": self.expr, "complexity": self.complexity, "domain": list(self.domain)}


def _float(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


# ---------------------------------------------------------------------------------------------------- built-ins
def _entry(name: str, e: sympy.Expr, cx: int, **kw: object) -> tuple[Primitive, sympy.Expr]:
    return Primitive(name, str(e), cx, **kw), e  # type: ignore[arg-type]


_G = SINGULAR_GAP
_POLE0: dict[str, object] = {"poles": (0.0,), "gap": _G, "symmetry": "scale"}
_BUILTIN = [
    _entry("x", X, 1, symmetry="linear"),
    _entry("x^2", X**2, 2, symmetry="scale"),
    _entry("x^3", X**3, 3, symmetry="scale"),
    _entry("x^4", X**4, 3, symmetry="scale"),
    _entry("x^5", X**5, 3, symmetry="scale"),
    _entry("1/x", 1 / X, 2, **_POLE0),
    _entry("1/x^2", X**-2, 2, **_POLE0),
    _entry("1/x^3", X**-3, 3, **_POLE0),
    _entry("1/x^4", X**-4, 4, **_POLE0),
    _entry("1/x^5", X**-5, 5, **_POLE0),
    _entry("sqrt", sympy.sqrt(X), 2, domain=(0.0, INF), symmetry="scale"),
    _entry("1/sqrt(x)", 1 / sympy.sqrt(X), 2, domain=(_G, INF), symmetry="scale"),
    _entry("x^1.5", X ** sympy.Rational(3, 2), 4, domain=(0.0, INF), symmetry="scale"),
    _entry("exp", sympy.exp(X), 2, symmetry="shift"),
    _entry("log", sympy.log(X), 2, domain=(_G, INF), symmetry="scale"),
    _entry("sin", sympy.sin(X), 2),
    _entry("cos", sympy.cos(X), 2),
    _entry("tan", sympy.tan(X), 3, poles=(math.pi / 2,), period=math.pi, gap=_G),
    _entry("tanh", sympy.tanh(X), 3),
    _entry("sgn", sympy.sign(X), 3, symmetry="scale"),
    _entry("abs", sympy.Abs(X), 3, symmetry="scale"),
    _entry("arcsin", sympy.asin(X), 4, domain=(-1.0, 1.0)),
    _entry("arccos", sympy.acos(X), 4, domain=(-1.0, 1.0)),
    _entry("arctan", sympy.atan(X), 4),
    _entry("arctanh", sympy.atanh(X), 4, domain=(-1.0 + _G, 1.0 - _G)),
    _entry("gaussian", sympy.exp(-(X**2)), 3),
    _entry("0", sympy.Integer(0), 0, symmetry="constant"),
]
_BUILTIN_SYMPY: dict[str, sympy.Expr] = {p.expr: e for p, e in _BUILTIN}
_DEFAULT: dict[str, Primitive] = {p.name: p for p, _ in _BUILTIN}
#: Alternative names accepted by build_library (PyKAN's duplicates and spellings).
ALIASES = {"x^0.5": "sqrt", "1/x^0.5": "1/sqrt(x)", "x^-0.5": "1/sqrt(x)", "sign": "sgn"}
_CUSTOM_KEYS = ("name", "expr", "complexity", "domain")


@functools.cache
def _sympy_of(expr: str, name: str) -> sympy.Expr:
    if expr in _BUILTIN_SYMPY:
        return _BUILTIN_SYMPY[expr]
    return parse_formula(expr, variables=["x"], source=f"primitive {name!r}", symbols={"x": X})


@functools.cache
def _torch_of(expr: str, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return to_torch(_sympy_of(expr, name), [X])


def default_library() -> dict[str, Primitive]:
    """All built-in primitives, keyed by name (a fresh dict; the primitives are immutable)."""
    return dict(_DEFAULT)


def build_library(names: Sequence[str] | None = None,
                  custom: Sequence[Mapping[str, object]] = ()) -> dict[str, Primitive]:
    """Select built-ins by name (``None`` = all) and add custom primitives.

    Custom entries are ``{"name": str, "expr": str, "complexity": int = 3, "domain": [lo, hi] = [-inf, inf]}``; the
    expression is parsed with the safe formula parser, in the variable ``x``.

    Raises:
        ConfigError: unknown built-in name (with a did-you-mean), malformed or duplicate custom entry.
        FormulaError: a custom expression is unsafe, uses other variables, or has no torch equivalent.
    """
    lib: dict[str, Primitive] = {}
    for name in _DEFAULT if names is None else names:
        key = ALIASES.get(name, name)
        if key not in _DEFAULT:
            close = difflib.get_close_matches(str(name), [*_DEFAULT, *ALIASES], n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else "run `kansci lib list` to see the built-in names"
            raise ConfigError(f"unknown primitive {name!r}", hint + " (or define it under custom primitives)",
                              key="symbolic.lib")
        lib[key] = _DEFAULT[key]
    for i, entry in enumerate(custom):
        prim = _custom_primitive(i, entry)
        if prim.name in lib or prim.name in _DEFAULT or prim.name in ALIASES:
            raise ConfigError(f"custom primitive {prim.name!r} clashes with a library name", "pick another name",
                              key=f"symbolic.custom.{i}.name")
        lib[prim.name] = prim
    return lib


def _custom_primitive(i: int, entry: Mapping[str, object]) -> Primitive:
    where, at = f"custom primitive #{i + 1}", f"symbolic.custom.{i}"  # at: the config key of entry i, for .key
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} is not a mapping", 'write it as {name: ..., expr: ..., complexity: ...}', key=at)
    for key in entry:
        if key not in _CUSTOM_KEYS:
            close = difflib.get_close_matches(str(key), _CUSTOM_KEYS, n=1)
            raise ConfigError(f"{where}: unknown key {key!r}", f"did you mean {close[0]!r}?" if close else
                              f"allowed keys: {', '.join(_CUSTOM_KEYS)}", key=f"{at}.{key}")
    name, expr = entry.get("name"), entry.get("expr")
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ConfigError(f"{where}: 'name' must be a non-empty string without spaces", "e.g. name: sinc",
                          key=f"{at}.name")
    where = f"{where} {name!r}"
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"{where}: 'expr' must be an expression string in x", "e.g. expr: sin(x)/x",
                          key=f"{at}.expr")
    cx = entry.get("complexity", 3)
    if not isinstance(cx, int) or isinstance(cx, bool) or cx < 0:
        raise ConfigError(f"{where}: 'complexity' must be a non-negative integer, got {cx!r}", "e.g. complexity: 3",
                          key=f"{at}.complexity")
    dom = entry.get("domain", (-INF, INF))
    if (not isinstance(dom, Sequence) or isinstance(dom, str) or len(dom) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in dom)
            or math.isnan(dom[0]) or math.isnan(dom[1]) or not dom[0] < dom[1]):
        raise ConfigError(f"{where}: 'domain' must be [lo, hi] with lo < hi, got {dom!r}", "e.g. domain: [0, .inf]",
                          key=f"{at}.domain")
    try:
        e = _sympy_of(expr, name)  # FormulaError if unsafe
        if not e.free_symbols:
            sym = "constant"
        elif e.is_polynomial(X) and sympy.degree(e, X) == 1:
            sym = "linear"
        else:
            sym = "none"
        _torch_of(expr, name)  # FormulaError now, not at fit time, if a node has no torch equivalent
    except FormulaError as exc:  # the parser's error, with the config key of the expression added
        exc.key = f"{at}.expr"
        raise
    return Primitive(name, expr, cx, domain=(float(dom[0]), float(dom[1])), symmetry=sym)


def format_library(lib: Mapping[str, Primitive]) -> list[tuple[str, str, int, str]]:
    """Rows ``(name, expression, complexity, domain)`` for display, in library order."""
    return [(p.name, str(p.sympy()), p.complexity, p.describe_domain()) for p in lib.values()]

