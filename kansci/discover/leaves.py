"""Exhaustive search for small 1- and 2-variable leaves: y ≈ c·g(x; θ) + d over a grammar of tiny expression trees.

Once the structure tests have split a formula into pieces of one or two variables, each piece (a "leaf") is small
enough to solve by brute force. The grammar covers shapes that a single ``c·f(a·x+b)+d`` cannot, e.g. log(1+x²),
1/(1+x), √(x²+y²), x·e^{−x}, sin(x)/x, e^{−x²} and (x+y)/(1+x·y). Each tree carries at most two inner constants θ,
placed where they are not redundant with the outer affine map (a shift inside log, a scale inside exp, ...).

Fitting: the outer c, d are always solved by linear least squares. The inner θ is first scanned on a grid in units of
the data (relative to the range of the node it acts on) scored by squared correlation on a row subsample, then the
best candidates are refined on all rows by a few Levenberg-Marquardt steps on the variable-projection residual.
Ranking: ``score = log10(nmse + 1e-15) + weight·complexity`` with complexity = nodes (variables and operators) plus
inner constants. Trees whose value is undefined on the data (log of a negative, a pole) are skipped silently.
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from kansci.budget import expired
from kansci.errors import DataError
from kansci.symbolic.lm import levenberg_marquardt, mean_square

Node = tuple  # ("x", i) | ("u", op, variant, child) | ("b", op, variant, left, right)
_NC = {"": 0, "shift": 1, "negshift": 1, "scale": 1, "weight": 1, "affine": 2}
_HUGE = 1e100  # values beyond this count as overflow


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
    "atan": (np.arctan, sympy.atan)}
_BINARY: dict[str, tuple[Callable[..., np.ndarray], Callable[..., sympy.Expr]]] = {
    "add": (np.add, lambda a, b: a + b), "sub": (np.subtract, lambda a, b: a - b),
    "mul": (np.multiply, lambda a, b: a * b), "div": (lambda a, b: a * _inv(b), lambda a, b: a / b)}
# Constant forms per unary op, chosen so none is absorbed by the outer c·g + d (e.g. exp(z + b) = e^b·exp(z)).
_VARIANTS = {"sq": ("", "shift"), "cube": ("", "shift"), "sqrt": ("", "shift", "negshift"), "inv": ("", "shift"),
             "isqrt": ("", "shift", "negshift"), "cosh": ("", "scale"),
             "exp": ("", "scale"), "log": ("", "shift", "negshift"), "sin": ("", "scale", "affine"),
             "cos": ("", "scale"), "tanh": ("", "scale", "affine"), "atan": ("", "scale", "affine")}
_TRANS = ("exp", "log", "sin", "cos", "tanh", "atan")
# Magnitudes of inner scales, about 1.4x apart: close enough that the best grid point of a one-constant tree lies in
# its refinement's basin (a 2x grid left exp(k·x) at NMSE ~1e-2 and outside the refined shortlist).
_SCALES = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)
# Grid values in relative units (see _Eval.const): scales in units of 1/max|z|, weights in units of the ratio of
# the two terms' magnitudes.
# Shifts are placed by where they put the zero of the shifted node: at position p of its data range [lo, hi], i.e.
# z + b = 0 at z = lo + p·(hi − lo) for "shift" and b − z = 0 there for "negshift". Poles and branch points just
# outside the data (1/(γ − 1) with γ ∈ [2, 5], 1/√(1 − v²/c²)) then lie on the grid whatever the scale of z.
_GRIDS = {"shift": (-10.0, -3.0, -1.0, -0.3, -0.1, -0.03, 0.5, 1.03, 1.1, 1.3, 2.0, 4.0, 11.0),
          "negshift": (-0.3, 1.01, 1.03, 1.1, 1.3, 2.0, 4.0, 11.0),
          "weight": (-10, -3, -1, -0.3, -0.1, 0.1, 0.3, 1, 3, 10),
          "scale_exp": _SCALES + tuple(-v for v in _SCALES), "scale_osc": (0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8),
          "scale_sat": _SCALES, "phase": (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4),
          "offset": (-2.0, -1.0, 0.0, 1.0, 2.0)}


@dataclass(frozen=True)
class LeafCandidate:
    """A fitted leaf: ``expr`` = c·g + d with numeric constants, its NMSE on the data, complexity and score."""

    expr: sympy.Expr
    nmse: float
    complexity: int
    score: float
    shape: str


def _grid_kinds(node: Node) -> list[str]:
    """Grid names of the node's constants, in evaluation order (children first)."""
    if node[0] == "x":
        return []
    kids = [k for c in node[3:] for k in _grid_kinds(c)]
    op, v = node[1], node[2]
    if v == "scale":
        own = ["scale_exp" if op in ("exp", "cosh") else "scale_osc" if op in ("sin", "cos") else "scale_sat"]
    elif v == "affine":
        own = ["scale_osc", "phase"] if op == "sin" else ["scale_sat", "offset"]
    else:
        own = [v] * _NC[v]
    return kids + own


class _Eval:
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
                z = self.const(z, _grid_kinds(("u", op, v, ("x", 0)))[0]) * z
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


def _to_sympy(node: Node, syms: Sequence[sympy.Symbol], consts: Iterator[sympy.Expr]) -> sympy.Expr:
    if node[0] == "x":
        return syms[node[1]]
    if node[0] == "u":
        z, op, v = _to_sympy(node[3], syms, consts), node[1], node[2]
        z = {"": lambda: z, "shift": lambda: z + next(consts), "negshift": lambda: next(consts) - z,
             "scale": lambda: next(consts) * z}.get(v, lambda: next(consts) * z)()
        z = z + next(consts) if v == "affine" else z
        return _UNARY[op][1](z)
    left, right = _to_sympy(node[3], syms, consts), _to_sympy(node[4], syms, consts)
    right = next(consts) * right if node[2] == "weight" else right + next(consts) if node[2] == "shift" else right
    return _BINARY[node[1]][1](left, right)


def _complexity(node: Node) -> int:
    if node[0] == "x":
        return 1
    return 1 + _NC[node[2]] + sum(_complexity(c) for c in node[3:])


def _u(op: str, child: Node, v: str = "") -> Node:
    return ("u", op, v, child)


def _powers(i: int) -> list[Node]:
    """x, x², x³, √x, 1/x, 1/x² of variable i."""
    x = ("x", i)
    return [x, _u("sq", x), _u("cube", x), _u("sqrt", x), _u("inv", x), _u("inv", _u("sq", x))]


def _unaries(t: Node, ops: Sequence[str] = tuple(_UNARY)) -> Iterator[Node]:
    for op in ops:
        for v in _VARIANTS[op]:
            yield _u(op, t, v)


@functools.lru_cache(maxsize=2)
def _grammar(k: int) -> tuple[Node, ...]:
    """Every candidate tree for k variables, cheapest first (fewest constants, then fewest nodes).

    k = 1: powers p ∈ {x, x², x³, √x, 1/x, 1/x²}; p + a·q; every unary (in each constant form) of a power; x or x²
    times or dividing a transcendental of x or x²; reciprocals of transcendentals of x or x²; a Gaussian
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
    return tuple(sorted(dict.fromkeys(out), key=lambda n: (len(_grid_kinds(n)), _complexity(n))))


def _vars(node: Node) -> set[int]:
    return {node[1]} if node[0] == "x" else set().union(*(_vars(c) for c in node[3:]))


def _row_nmse(V: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NMSE (G,) of the best affine fit c·V[g] + d to y (m,), i.e. 1 − r²; inf for undefined or constant rows."""
    ok = np.isfinite(V).all(axis=1) & (np.abs(V).max(axis=1) < _HUGE)
    Vc, yc = V - V.mean(axis=1, keepdims=True), y - y.mean()
    vv = np.einsum("gi,gi->g", Vc, Vc)
    ok &= vv > 1e-24 * np.einsum("gi,gi->g", V, V)
    r2 = (Vc @ yc) ** 2 / (vv * (yc @ yc))
    return np.where(ok, np.clip(1.0 - r2, 0.0, None), np.inf)


def _project(g: np.ndarray | None, y: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Residual y − (c·g + d) (n,) with c, d by least squares, or None when g is undefined or constant."""
    if g is None or not np.all(np.isfinite(g)) or np.max(np.abs(g)) >= _HUGE:
        return None
    gc = g - g.mean()
    vv = gc @ gc
    if not vv > 1e-24 * (g @ g):
        return None
    c = gc @ (y - y.mean()) / vv
    d = y.mean() - c * g.mean()
    return y - c * g - d, float(c), float(d)


def _refine(fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, y: np.ndarray, iters: int = 30) -> np.ndarray:
    """Levenberg-Marquardt (:func:`kansci.symbolic.lm.levenberg_marquardt`, the project's one loop) on the inner
    constants θ (p,) of g = fn(θ) (n,), minimizing |y − (c·g + d)|² with c, d re-solved by least squares at every θ
    (variable projection). Central-difference Jacobian; an undefined residual counts as no improvement."""
    def res(t: np.ndarray) -> np.ndarray | None:
        p = _project(fn(t), y)
        return None if p is None else p[0]

    def residual(t: torch.Tensor) -> torch.Tensor:
        r = res(t.numpy())
        return torch.full((y.size,), math.inf, dtype=torch.float64) if r is None else torch.from_numpy(r)

    def jacobian_of(t: torch.Tensor) -> torch.Tensor:
        theta_ = t.numpy()
        r0 = res(theta_)
        J = np.full((y.size, theta_.size), np.nan)
        for j in range(theta_.size):
            e = np.zeros_like(theta_)
            e[j] = 1e-6 * max(1.0, abs(theta_[j]))
            rp, rm = res(theta_ + e), res(theta_ - e)
            if rp is not None and rm is not None:
                J[:, j] = (rp - rm) / (2 * e[j])
            elif r0 is not None and (rp is not None or rm is not None):
                J[:, j] = (rp - r0) / e[j] if rp is not None else (r0 - rm) / e[j]
        return torch.from_numpy(J)

    if res(theta) is None:
        return theta
    floor = 1e-30 * float(y @ y) / max(y.size, 1)  # below this the fit is exact: stop instead of chasing round-off

    def loss_of(r: torch.Tensor) -> float:
        return max(mean_square(r), floor) if bool(torch.isfinite(r).all()) else math.inf

    start = torch.from_numpy(theta.astype(np.float64))
    out, _ = levenberg_marquardt(residual, jacobian_of, start, iters, tol=1e-12, loss_of=loss_of)
    return out.numpy()


def _fingerprint(v: np.ndarray) -> bytes:
    """Same for two value vectors (n,) that differ only by an affine map c·v + d."""
    z = (v - v.mean()) / v.std()
    z = z * np.sign(z[np.argmax(np.abs(z) > 1e-6)])
    return np.round(z, 7).tobytes()


def _scan(X: np.ndarray, y: np.ndarray, trees: Sequence[Node], weight: float, deadline: float | None
          ) -> list[tuple[float, Node, np.ndarray]]:
    """Grid stage on X (m, k), y (m,): (score, tree, absolute constants of its best grid point), best first. Trees
    whose values equal an earlier constant-free tree's up to c·g + d are dropped."""
    grids: dict[tuple[str, ...], np.ndarray] = {}
    seen: set[bytes] = set()
    scanned: list[tuple[float, Node, np.ndarray]] = []
    for num, node in enumerate(trees):
        if num > 0 and expired(deadline):
            break
        kinds = tuple(_grid_kinds(node))
        if kinds not in grids:
            combos = list(itertools.product(*(_GRIDS[q] for q in kinds)))
            grids[kinds] = np.array(combos, dtype=np.float64).reshape(len(combos), len(kinds))
        ev = _Eval(X, grids[kinds], True)
        V = np.broadcast_to(ev(node), (grids[kinds].shape[0], X.shape[0]))
        nm = _row_nmse(V, y)
        best = int(np.argmin(nm))
        key = b"" if kinds else _fingerprint(V[0])
        if not np.isfinite(nm[best]) or key in seen:
            continue
        seen.update([key] if key else [])
        err, theta = _zoom(X, y, node, kinds, grids[kinds][best], float(nm[best]), ev.abs[best])
        scanned.append((math.log10(err + 1e-15) + weight * _complexity(node), node, theta))
    return sorted(scanned, key=lambda s: s[0])


def _zoom(X: np.ndarray, y: np.ndarray, node: Node, kinds: tuple[str, ...], rel: np.ndarray, err: float,
          theta: np.ndarray, points: int = 9) -> tuple[float, np.ndarray]:
    """Refine the best grid point ``rel`` (p,) one constant at a time on ``points`` values between its grid
    neighbours, so that a tree whose optimum falls between grid values (a pole close to the data) is ranked by
    roughly its best fit, not by the grid's luck. Returns (nmse, absolute constants)."""
    rel = rel.copy()
    for j, kind in enumerate(kinds):
        values = np.array(sorted(_GRIDS[kind]), dtype=np.float64)
        at = int(np.argmin(np.abs(values - rel[j])))
        lo, hi = values[max(at - 1, 0)], values[min(at + 1, values.size - 1)]
        trial = np.repeat(rel[None, :], points, axis=0)
        trial[:, j] = np.linspace(lo, hi, points)
        ev = _Eval(X, trial, True)
        nm = _row_nmse(np.broadcast_to(ev(node), (points, X.shape[0])), y)
        k = int(np.argmin(nm))
        if nm[k] < err:
            err, rel, theta = float(nm[k]), trial[k], ev.abs[k]
    return err, theta


def search_leaf(X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], deadline: float | None = None,
                weight: float = 0.05, max_results: int = 10, refine_top: int = 30, subsample: int = 128,
                floor: float = 0.0) -> list[LeafCandidate]:
    """Rank small formulas y ≈ c·g(x) + d for X (n, k), k ∈ {1, 2}, y (n,); ``symbols`` name the k columns.

    ``deadline`` is an absolute ``time.perf_counter()`` value (None: no limit); when it passes, the best candidates
    found so far are returned (at least the simplest one is always tried). The scan runs on ``subsample`` evenly
    spaced rows, then the ``refine_top`` best are refitted on all rows; the ``max_results`` best come back, best
    first, ranked by ``log10(max(nmse, floor) + 1e-15) + weight·complexity``: errors below ``floor`` (the noise
    level of y, when known) do not count, so the simplest formula within the noise comes first."""
    X = np.asarray(X, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, k = X.shape
    if k not in (1, 2) or len(symbols) != k or y.shape[0] != n or n < 3:
        raise DataError(f"leaf search: need X (n, 1|2) with n >= 3, y (n,) and one symbol per column; got X "
                        f"{X.shape}, y {y.shape}, {len(symbols)} symbols", "pass matching arrays and symbols")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise DataError("leaf search: X or y has NaN/inf values", "drop or impute those rows first")
    if not np.var(y) > 1e-30 * max(float(np.mean(y * y)), 1e-300):
        return [LeafCandidate(sympy.Float(float(y.mean())), 0.0, 0, math.log10(1e-15), "c")]
    rows = np.unique(np.linspace(0, n - 1, min(n, subsample)).round().astype(int))
    with np.errstate(all="ignore"):
        scanned = _scan(X[rows], y[rows], _grammar(k), weight, deadline)
        fitted: list[tuple[float, float, Node, np.ndarray, float, float]] = []
        for _, node, theta in scanned[:refine_top]:
            late = expired(deadline)
            if late and len(fitted) >= max_results:
                break
            fn = functools.partial(lambda nd, t: _Eval(X, t[None, :], False)(nd)[0], node)
            theta = _refine(fn, theta.copy(), y) if theta.size and not late else theta
            p = _project(fn(theta), y)
            if p is None:
                continue
            nmse = float(np.mean(p[0] ** 2) / np.var(y))
            fitted.append((math.log10(max(nmse, floor) + 1e-15) + weight * _complexity(node), nmse, node, theta,
                           p[1], p[2]))
    fitted.sort(key=lambda f: f[0])
    out: dict[str, LeafCandidate] = {}
    for score, nmse, node, theta, c, d in fitted:
        g = _to_sympy(node, symbols, iter([sympy.Float(float(t)) for t in theta]))
        expr = sympy.Float(c) * g + sympy.Float(d)
        shape = _to_sympy(node, symbols, iter(sympy.symbols(f"k0:{theta.size}")))
        out.setdefault(str(rounded(expr, 6)), LeafCandidate(expr, nmse, _complexity(node), score, f"c*({shape}) + d"))
        if len(out) == max_results:
            break
    return list(out.values())


def rounded(expr: sympy.Expr, digits: int = 3) -> sympy.Expr:
    """``expr`` with every float rounded to ``digits`` decimals (for display and for comparing with a known law)."""
    return expr.xreplace({f: sympy.Float(round(float(f), digits)) for f in expr.atoms(sympy.Float)})
