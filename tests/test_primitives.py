"""Primitive library and the sympy→torch evaluator, checked against sympy.lambdify(numpy) as the reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from kansci.errors import ConfigError, FormulaError
from kansci.expr.evaluate import to_torch
from kansci.symbolic.primitives import (
    SINGULAR_GAP,
    Primitive,
    X,
    build_library,
    default_library,
    format_library,
)

LIB = default_library()
PYKAN_NAMES = ["x", "x^2", "x^3", "x^4", "x^5", "1/x", "1/x^2", "1/x^3", "1/x^4", "1/x^5", "sqrt", "x^0.5", "x^1.5",
               "1/sqrt(x)", "1/x^0.5", "exp", "log", "abs", "sin", "cos", "tan", "tanh", "sgn", "arcsin", "arccos",
               "arctan", "arctanh", "0", "gaussian"]
# Where each built-in must be undefined or singular (used to test the guard and `valid`).
SINGULAR = {"1/x": [0.0], "1/x^2": [0.0], "1/x^3": [0.0], "1/x^4": [0.0], "1/x^5": [0.0], "log": [0.0, -2.0],
            "1/sqrt(x)": [0.0, -1.0], "sqrt": [-1.0], "x^1.5": [-0.5], "arcsin": [1.5, -3.0], "arccos": [-1.01, 2.0],
            "arctanh": [1.0, -1.0, 2.0], "tan": [math.pi / 2, -math.pi / 2, 3 * math.pi / 2]}


def _reference(prim: Primitive, x: np.ndarray) -> np.ndarray:
    fn = sympy.lambdify(X, prim.sympy(), modules="numpy")
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(fn(x), dtype=np.float64), x.shape)


def test_library_covers_pykan_set_and_aliases() -> None:
    lib = build_library(PYKAN_NAMES)
    assert set(lib) <= set(LIB) and len(lib) == len(set(LIB))  # the aliases fold onto the canonical names
    assert {"x^0.5", "1/x^0.5"}.isdisjoint(lib) and lib["sqrt"] is LIB["sqrt"]
    assert LIB["x"].complexity == 1 and LIB["0"].complexity == 0 and LIB["sin"].complexity == 2


@pytest.mark.parametrize("name", list(LIB))
def test_torch_matches_lambdify_in_domain(name: str) -> None:
    prim = LIB[name]
    xs = np.concatenate([np.linspace(-4, 4, 4001), [0.0, 1.0, -1.0, 1e-3, -1e-3, 3.0]])
    ref = _reference(prim, xs)
    t = torch.tensor(xs, dtype=torch.float64)
    valid = prim.valid(t).numpy()
    assert not np.any(valid & ~np.isfinite(ref)), "valid() claims a point where the expression is undefined"
    # valid() may only exclude the documented gap neighbourhoods of finite points
    assert valid.sum() >= np.isfinite(ref).sum() - 3
    assert valid.sum() > 1000
    got = prim.torch(t)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy()[valid], ref[valid], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prim.raw(t).numpy()[valid], ref[valid], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prim.numpy(xs[valid]), ref[valid], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(LIB))
def test_guard_keeps_outputs_finite(name: str, dtype: torch.dtype) -> None:
    prim = LIB[name]
    special = [0.0, 1e-300, -1e-300, 1e-7, -1e-7, 1.0, -1.0, math.pi / 2, -math.pi / 2, 3 * math.pi / 2, 1e3, -1e3,
               1e30, -1e30]
    x = torch.tensor(special, dtype=dtype)
    y = prim.torch(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert torch.isfinite(y).all(), (name, y)
    for s in SINGULAR.get(name, []):
        assert not prim.valid(torch.tensor([s], dtype=dtype)).item(), (name, s)


def test_dtype_follows_input_whatever_the_default_dtype() -> None:
    old = torch.get_default_dtype()
    try:
        for default in (torch.float64, torch.float32):
            torch.set_default_dtype(default)
            for prim in LIB.values():
                for dtype in (torch.float32, torch.float64):
                    x = torch.tensor([0.0, 0.5, math.pi / 2, -2.0], dtype=dtype)
                    assert prim.torch(x).dtype == dtype and prim.valid(x).dtype == torch.bool, (prim.name, dtype)
    finally:
        torch.set_default_dtype(old)


def test_guard_values_are_documented_clamps() -> None:
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    assert LIB["1/x"].torch(t([0.0])).item() == pytest.approx(1 / SINGULAR_GAP)
    assert LIB["1/x"].torch(t([-1e-9])).item() == pytest.approx(-1 / SINGULAR_GAP)
    assert LIB["log"].torch(t([-3.0])).item() == pytest.approx(math.log(SINGULAR_GAP))
    assert LIB["sqrt"].torch(t([-1.0])).item() == 0.0
    assert LIB["arcsin"].torch(t([2.0])).item() == pytest.approx(math.pi / 2)
    assert LIB["arctanh"].torch(t([1.0])).item() == pytest.approx(math.atanh(1 - SINGULAR_GAP))
    assert abs(LIB["tan"].torch(t([math.pi / 2])).item()) == pytest.approx(1 / SINGULAR_GAP, rel=1e-3)
    assert LIB["exp"].torch(t([1e4])).item() == torch.finfo(torch.float64).max


def test_interval_valid_rejects_intervals_that_jump_over_a_pole() -> None:
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    assert LIB["1/x"].interval_valid(t([0.5, -2.0, -1.0]), t([2.0, -0.5, 1.0])).tolist() == [True, True, False]
    tan = LIB["tan"]
    assert tan.interval_valid(t([-1.5, 1.6, 1.6]), t([1.5, 4.7, 4.8])).tolist() == [True, True, False]
    assert LIB["log"].interval_valid(t([0.1, -0.1]), t([5.0, 5.0])).tolist() == [True, False]


def test_sympy_substitution_and_format() -> None:
    y = sympy.Symbol("y")
    assert LIB["sin"].sympy(2 * y + 1) == sympy.sin(2 * y + 1)
    assert LIB["gaussian"].sympy() == sympy.exp(-X**2)
    rows = format_library(LIB)
    assert [r[0] for r in rows] == list(LIB)
    assert all(isinstance(r[1], str) and isinstance(r[2], int) and isinstance(r[3], str) for r in rows)
    assert dict((r[0], r[3]) for r in rows)["arcsin"] == "-1 <= x <= 1"


def test_build_library_selection_and_errors() -> None:
    lib = build_library(["sin", "x^2", "sin"])
    assert list(lib) == ["sin", "x^2"]
    with pytest.raises(ConfigError, match="did you mean 'sin'"):
        build_library(["sine"])
    bad = [({"name": "q", "exp": "x"}, ConfigError, "did you mean 'expr'"),
           ({"name": "q", "expr": "x", "complexity": -1}, ConfigError, "complexity"),
           ({"name": "q", "expr": "x", "complexity": True}, ConfigError, "complexity"),
           ({"name": "q", "expr": "x", "domain": [2, 1]}, ConfigError, "domain"),
           ({"name": "sin", "expr": "x"}, ConfigError, "clashes"),
           ({"name": "two words", "expr": "x"}, ConfigError, "name"),
           ({"name": "q", "expr": "__import__('os')"}, FormulaError, "q"),
           ({"name": "q", "expr": "x + y"}, FormulaError, "y"),
           ({"name": "q", "expr": "gamma(x)"}, FormulaError, "gamma")]
    for entry, err, text in bad:
        with pytest.raises(err, match=text):
            build_library([], custom=[entry])


def test_custom_primitive_guard_and_domain() -> None:
    lib = build_library([], custom=[{"name": "lg", "expr": "ln(x) + x^2"},
                                    {"name": "rt", "expr": "sqrt(x)", "complexity": 5, "domain": [0, math.inf]}])
    lg, rt = lib["lg"], lib["rt"]
    assert lg.complexity == 3 and rt.complexity == 5
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    assert torch.isfinite(lg.torch(x)).all()
    assert lg.valid(x).tolist() == [False, False, True]  # no declared domain: finiteness decides
    assert lg.torch(x)[2].item() == pytest.approx(math.log(2) + 4)
    assert rt.valid(x).tolist() == [False, True, True]
    assert rt.torch(x).tolist() == pytest.approx([0.0, 0.0, math.sqrt(2)])
    assert lib["rt"].to_dict() == {"name": "rt", "expr": "sqrt(x)", "complexity": 5, "domain": [0.0, math.inf]}


# ---------------------------------------------------------------------------------------------- to_torch (kansci.expr)
def test_to_torch_matches_lambdify_multivariate() -> None:
    x, y = sympy.symbols("x y")
    expr = (sympy.sin(x) * y**-3 + sympy.pi / 2 + sympy.Max(x, y, 0) + 2**x + sympy.sqrt(x**2 + 1)
            + sympy.atan2(y, x) + sympy.erf(x * y) + sympy.Abs(x - y) * sympy.sign(x) + sympy.cosh(x) / 3
            + sympy.log(y) + x ** sympy.Rational(3, 2) * 0 + sympy.exp(-x**2) + sympy.atanh(x / 2) + sympy.tan(y))
    rng = np.random.default_rng(0)
    xv, yv = rng.uniform(-1.5, 1.5, 500), rng.uniform(0.2, 1.4, 500)
    ref = sympy.lambdify([x, y], expr, modules=["scipy", "numpy"])(xv, yv)  # scipy provides erf
    got = to_torch(expr, [x, y])(torch.tensor(xv), torch.tensor(yv))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_to_torch_shapes_dtypes_and_gradients() -> None:
    x, y = sympy.symbols("x y")
    const = to_torch(sympy.Integer(3), [x])
    assert const(torch.zeros(4, dtype=torch.float32)).tolist() == [3.0] * 4
    only_x = to_torch(x**2, [x, y])
    out = only_x(torch.ones(3, 1, dtype=torch.float64), torch.ones(1, 5, dtype=torch.float64))
    assert out.shape == (3, 5) and out.dtype == torch.float64
    t = torch.linspace(0.1, 2, 7, dtype=torch.float64, requires_grad=True)
    expr = sympy.sin(x) * sympy.exp(-x) + 1 / sympy.sqrt(x)
    (g,) = torch.autograd.grad(to_torch(expr, [x])(t).sum(), t)
    ref = sympy.lambdify(x, sympy.diff(expr, x), modules="numpy")(t.detach().numpy())
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-12)


def test_to_torch_rejects_unsupported() -> None:
    x, y = sympy.symbols("x y")
    with pytest.raises(FormulaError, match="Piecewise"):
        to_torch(sympy.Piecewise((x, x > 0), (0, True)), [x])
    with pytest.raises(FormulaError, match="not a finite real"):
        to_torch(sympy.I * x, [x])
    with pytest.raises(FormulaError, match="symbol y"):
        to_torch(x + y, [x])
    with pytest.raises(TypeError):
        to_torch("x + 1", [x])  # text must go through parse_formula, never sympify
