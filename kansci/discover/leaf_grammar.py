"""The grammar of the leaf search: tiny expression trees over one or two variables, with at most two inner
constants each, how to evaluate them for many constant vectors at once, and their sympy form.

A tree is a nested tuple (:data:`Node`): ``("x", i)`` is variable i, ``("u", op, variant, child)`` a unary operation
and ``("b", op, variant, left, right)`` a binary one. ``variant`` names where an inner constant sits (a shift inside
log, a scale inside exp, a weight on the right operand); the constants are chosen so that none is absorbed by the
outer affine map c·g + d that :mod:`kansci.discover.leaves` fits. Grid values of the constants are in units of the
data (see :class:`Eval`), so a grid suits any scale of x.
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import sympy

__all__ = ["Node", "GRIDS", "HUGE", "Eval", "grammar", "grid_kinds", "to_sympy", "complexity"]

Node = tuple  # ("x", i) | ("u", op, variant, child) | ("b", op, variant, left, right)
_NC = {"": 0, "shift": 1, "negshift": 1, "scale": 1, "weight": 1, "affine": 2}
HUGE = 1e100  # values beyond this count as overflow


def _guard(mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.where(mask, value, np.nan)


def _inv(z: np.ndarray) -> np.ndarray:
    return _guard(np.abs(z) > 1e-12 * np.max(np.abs(z), axis=-1, keepdims=True), 1.0 / z)


_UNARY: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[sympy.Expr], sympy.Expr]]] = {
    "sq": (np.square, lambda e: e ** 2), "cube": (lambda z: z ** 3, lambda e: e ** 3),
    "sqrt": (lambda z: np.sqrt(_guard(z >= 0, z)), sympy.sqrt), "inv": (_inv, lambda e: 1 / e),
    "isqrt": (lambda z: 1.0 / np.sqrt(_guard(z > 0, z)), lambda e: 1 / sympy.sqrt(e)),
    "cosh": (lambda z: np.cosh(_guard(np.abs(z) < 230, z)), sympy.cosh),
    "exp": (lambda z: np.exp(_guard(z < 230, z)), sympy.exp), "log": (lambda z: np.log(_guard(z > 0, z)), sympy.log),
    "sin": (np.sin, sympy.sin), "cos": (np.cos, sympy.cos), "tanh": (np.tanh, sympy.tanh),
    "atan": (np.arctan, sympy.atan), "asin": (lambda z: np.arcsin(_guard(np.abs(z) <= 1, z)), sympy.asin),
    # occupations of a level at energy z in units of kT: Bose-Einstein 1/(e^z − 1) and Fermi-Dirac 1/(e^z + 1)
    "bose": (lambda z: _inv(np.expm1(_guard(z < 230, z))), lambda e: 1 / (sympy.exp(e) - 1)),
    "fermi": (lambda z: 1.0 / (1.0 + np.exp(_guard(z < 230, z))), lambda e: 1 / (sympy.exp(e) + 1))}
_BINARY: dict[str, tuple[Callable[..., np.ndarray], Callable[..., sympy.Expr]]] = {
    "add": (np.add, lambda a, b: a + b), "sub": (np.subtract, lambda a, b: a - b),
    "mul": (np.multiply, lambda a, b: a * b), "div": (lambda a, b: a * _inv(b), lambda a, b: a / b)}
# Constant forms per unary op, chosen so none is absorbed by the outer c·g + d (e.g. exp(z + b) = e^b·exp(z)).
_VARIANTS = {"sq": ("", "shift"), "cube": ("", "shift"), "sqrt": ("", "shift", "negshift"), "inv": ("", "shift"),
             "isqrt": ("", "shift", "negshift"), "cosh": ("", "scale"),
             "exp": ("", "scale"), "log": ("", "shift", "negshift"), "sin": ("", "scale", "affine"),
             "cos": ("", "scale"), "tanh": ("", "scale", "affine"), "atan": ("", "scale", "affine"),
             "asin": ("", "scale"),
             "bose": ("scale",), "fermi": ("scale",)}
_PLAIN = tuple(op for op in _UNARY if op not in ("bose", "fermi"))  # the unaries tried on every simple tree
_TRANS = ("exp", "log", "sin", "cos", "tanh", "atan")
# Magnitudes of inner scales, about 1.4x apart: close enough that the best grid point of a one-constant tree lies in
# its refinement's basin (a 2x grid left exp(k·x) at NMSE ~1e-2 and outside the refined shortlist).
_SCALES = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)
# Exponentials also decay (or grow) over many e-folds within the data: a Boltzmann factor e^(−mgx/kT) over a range of
# mgx/kT from 0.1 to 56 is 56 e-folds, where the largest of the scales above, 8/max|z|, leaves exp(k·z) far from its
# basin and a tanh mimic wins.
_STEEP = (11.0, 16.0, 22.0, 32.0, 45.0, 64.0)
# Grid values in relative units (see Eval.const): scales in units of 1/max|z|, weights in units of the ratio of
# the two terms' magnitudes.
# Shifts are placed by where they put the zero of the shifted node: at position p of its data range [lo, hi], i.e.
# z + b = 0 at z = lo + p·(hi − lo) for "shift" and b − z = 0 there for "negshift". Poles and branch points just
# outside the data (1/(γ − 1) with γ ∈ [2, 5], 1/√(1 − v²/c²)) then lie on the grid whatever the scale of z; both
# kinds reach to 1% of the range beyond either end (1/√(x² − 1) for x from 1.5: its pole lies 1.3% below x²'s range).
GRIDS = {"shift": (-10.0, -3.0, -1.0, -0.3, -0.1, -0.03, -0.01, 0.5, 1.01, 1.03, 1.1, 1.3, 2.0, 4.0, 11.0),
          "negshift": (-0.3, 1.01, 1.03, 1.1, 1.3, 2.0, 4.0, 11.0),
          "weight": (-10, -3, -1, -0.3, -0.1, 0.1, 0.3, 1, 3, 10),
          "scale_exp": _SCALES + _STEEP + tuple(-v for v in _SCALES + _STEEP),
          "scale_osc": (0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 13, 16, 20),  # up to ~3 periods over the data
          "scale_sat": _SCALES, "phase": (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4),
          "offset": (-2.0, -1.0, 0.0, 1.0, 2.0)}


def grid_kinds(node: Node) -> list[str]:
    """Grid names of the node's constants, in evaluation order (children first)."""
    if node[0] == "x":
        return []
    kids = [k for c in node[3:] for k in grid_kinds(c)]
    op, v = node[1], node[2]
    if v == "scale":
        own = ["scale_exp" if op in ("exp", "cosh") else "scale_osc" if op in ("sin", "cos") else "scale_sat"]
    elif v == "affine":
        own = ["scale_osc", "phase"] if op == "sin" else ["scale_sat", "offset"]
    else:
        own = [v] * _NC[v]
    return kids + own


class Eval:
    """Evaluates a tree on X (n, k) for G constant vectors θ (G, p) at once -> (G, n). With ``relative`` the θ are
    grid values in data units; the absolute constants actually used are written to ``self.abs`` (G, p)."""

    def __init__(self, X: np.ndarray, theta: np.ndarray, relative: bool) -> None:
        self.X, self.theta, self.rel, self.pos = X, theta, relative, 0
        self.abs = np.array(theta, dtype=np.float64)

    def const(self, ref: np.ndarray, kind: str, partner: np.ndarray | None = None) -> np.ndarray:
        j, self.pos = self.pos, self.pos + 1
        t = self.theta[:, j:j + 1]
        if self.rel:
            s = np.max(np.abs(ref), axis=-1, keepdims=True)
            s = np.where(s > 0, s, 1.0)
            if kind in ("shift", "negshift"):
                lo, hi = np.min(ref, axis=-1, keepdims=True), np.max(ref, axis=-1, keepdims=True)
                span = np.where(hi > lo, hi - lo, s)
                t = lo + t * span if kind == "negshift" else -(lo + t * span)
            elif kind.startswith("scale"):
                t = t / s
            elif kind == "weight":
                p = np.max(np.abs(partner), axis=-1, keepdims=True)
                t = t * np.where(p > 0, p, 1.0) / s
            self.abs[:, j:j + 1] = t
        return t

    def __call__(self, node: Node) -> np.ndarray:
        if node[0] == "x":
            return self.X[:, node[1]][None, :]
        if node[0] == "u":
            z, op, v = self(node[3]), node[1], node[2]
            if v in ("scale", "affine"):
                z = self.const(z, grid_kinds(("u", op, v, ("x", 0)))[0]) * z
            if v in ("shift", "affine"):
                z = z + self.const(z, v)  # an affine offset is absolute (a phase), a shift is relative to |z|
            if v == "negshift":
                z = self.const(z, v) - z
            return _UNARY[op][0](z)
        op, v, left, right = node[1], node[2], self(node[3]), self(node[4])
        if v == "weight":
            right = self.const(right, "weight", left) * right
        elif v == "shift":
            right = right + self.const(right, "shift")
        return _BINARY[op][0](left, right)


def to_sympy(node: Node, syms: Sequence[sympy.Symbol], consts: Iterator[sympy.Expr]) -> sympy.Expr:
    if node[0] == "x":
        return syms[node[1]]
    if node[0] == "u":
        z, op, v = to_sympy(node[3], syms, consts), node[1], node[2]
        z = {"": lambda: z, "shift": lambda: z + next(consts), "negshift": lambda: next(consts) - z,
             "scale": lambda: next(consts) * z}.get(v, lambda: next(consts) * z)()
        z = z + next(consts) if v == "affine" else z
        return _UNARY[op][1](z)
    left, right = to_sympy(node[3], syms, consts), to_sympy(node[4], syms, consts)
    right = next(consts) * right if node[2] == "weight" else right + next(consts) if node[2] == "shift" else right
    return _BINARY[node[1]][1](left, right)


def complexity(node: Node) -> int:
    if node[0] == "x":
        return 1
    return 1 + _NC[node[2]] + sum(complexity(c) for c in node[3:])


def _u(op: str, child: Node, v: str = "") -> Node:
    return ("u", op, v, child)


def _powers(i: int) -> list[Node]:
    """x, x², x³, √x, 1/x, 1/x² of variable i."""
    x = ("x", i)
    return [x, _u("sq", x), _u("cube", x), _u("sqrt", x), _u("inv", x), _u("inv", _u("sq", x))]


def _unaries(t: Node, ops: Sequence[str] = _PLAIN) -> Iterator[Node]:
    for op in ops:
        for v in _VARIANTS[op]:
            yield _u(op, t, v)


@functools.lru_cache(maxsize=2)
def grammar(k: int) -> tuple[Node, ...]:
    """Every candidate tree for k variables, cheapest first (fewest constants, then fewest nodes).

    k = 1: powers p ∈ {x, x², x³, √x, 1/x, 1/x²}; p + a·q; every unary (in each constant form) of a power; x or x²
    times or dividing a transcendental of x or x²; reciprocals of transcendentals of x or x²; powers times an
    occupation 1/(e^{a·x} ∓ 1); powers times 1/√(b ∓ x) or 1/√(b ∓ x²); a Gaussian
    exp(a·(x + b)²). k = 2 (both variables used): p(x) ∘ q(y) for +, −, ×, ÷ both
    ways; p(x) + a·q(y); unaries of those with p, q ∈ {id, square, inverse}; √ and exp of p(x) + a·q(y); rationals
    N/(D + b) of simple polynomials (x, y, x², y², x±y, x²±y², x·y); p(x)·u(q(y)) and p(y)·u(q(x))."""
    out: list[Node] = []
    if k == 1:
        P = _powers(0)
        out += P + [("b", "add", "weight", p, q) for p, q in itertools.combinations(P, 2)]
        out += [u for t in P for u in _unaries(t)]
        for p in P[:2]:  # x or x², times or dividing a transcendental of x or x²
            out += [("b", bop, "", p, _u(op, t, v)) if bop == "mul" else ("b", bop, "", _u(op, t, v), p)
                    for bop in ("mul", "div") for t in P[:2] for op in _TRANS for v in ("", "scale")]
        # reciprocals of transcendentals of x or x²: 1/cosh(a·x) (two-level populations), 1/(e^{a·x} + b)
        # (Bose-Einstein and Fermi-Dirac occupations), 1/sin, 1/tanh
        out += [_u("inv", _u(op, t, "scale")) for t in P[:2] for op in ("cosh", "sin", "tanh")]
        out += [_u("inv", _u("exp", t, "scale"), "shift") for t in P[:2]]
        # powers times an occupation, x^p/(e^{a·x} ∓ 1): Planck's spectrum, the mean energy of an oscillator
        out += [("b", "mul", "", p, _u(op, P[0], "scale")) for p in P for op in ("bose", "fermi")]
        # powers times a Lorentz-like factor x^p/√(b − x^q): relativistic momentum v/√(1 − v²/c²); and
        # x^p/√(x^q − b), the same law in the reciprocal group (c/v)/√((c/v)² − 1)
        out += [("b", "mul", "", p, _u("isqrt", t, v)) for p in P for t in P[:2] for v in ("negshift", "shift")]
        out.append(_u("exp", _u("sq", P[0], "shift"), "scale"))  # a Gaussian peak off the origin
    else:
        Px, Py = _powers(0), _powers(1)
        bins = [("b", op, "", p, q) for p in Px for q in Py for op in ("add", "sub", "mul", "div")]
        out += bins + [("b", "div", "", q, p) for p in Px for q in Py]
        out += [("b", "add", "weight", p, q) for p in Px for q in Py]
        small = [n for n in bins if n[3] in Px[:2] + Px[4:5] and n[4] in Py[:2] + Py[4:5]]
        small += [("b", "div", "", q, p) for p in Px[:2] for q in Py[:2]]
        out += [u for t in small for u in _unaries(t) if not (u[1] in ("sq", "cube") and u[2])]
        out += [u for p in Px[:2] for q in Py[:2] for u in _unaries(("b", "add", "weight", p, q), ("sqrt", "exp"))
                if _NC[u[2]] == 0]
        simple = [Px[0], Py[0], Px[1], Py[1]] + [("b", op, "", Px[a], Py[a]) for op in ("add", "sub") for a in (0, 1)]
        simple.append(("b", "mul", "", Px[0], Py[0]))
        out += [("b", "div", "shift", a, b) for a in simple for b in simple if a != b and len(_vars(a) | _vars(b)) == 2]
        for (p, q) in ((Px, Py), (Py, Px)):
            out += [("b", "mul", "", a, _u(op, b, v)) for a in (p[0], p[1], p[4]) for b in q[:2] for op in _TRANS
                    for v in ("", "scale")]
    return tuple(sorted(dict.fromkeys(out), key=lambda n: (len(grid_kinds(n)), complexity(n))))


def _vars(node: Node) -> set[int]:
    return {node[1]} if node[0] == "x" else set().union(*(_vars(c) for c in node[3:]))
