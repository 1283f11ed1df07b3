"""Exact rational linear algebra for small dimension matrices (a handful of bases by a dozen inputs).

The rank and the consistency test use sympy's rational matrices; the inner loop of the basis search solves many
tiny systems, which plain :class:`fractions.Fraction` Gauss-Jordan does faster than building sympy matrices.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import sympy

__all__ = ["Matrix", "gram", "integerize", "inverse", "rank", "solve_normal", "to_sympy"]

Matrix = list[list[Fraction]]


def to_sympy(rows: Sequence[Sequence[Fraction]]) -> sympy.Matrix:
    """A sympy Matrix of Rationals from rows of Fractions (an empty matrix keeps its shape)."""
    n_cols = len(rows[0]) if rows else 0
    return sympy.Matrix(len(rows), n_cols, [sympy.Rational(x.numerator, x.denominator) for row in rows for x in row])


def rank(rows: Sequence[Sequence[Fraction]]) -> int:
    """The exact rank (sympy)."""
    if not rows or not rows[0]:
        return 0
    return int(to_sympy(rows).rank())


def inverse(m: Matrix) -> Matrix | None:
    """The inverse of a square matrix by Gauss-Jordan on Fractions; None when it is singular."""
    n = len(m)
    work = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(m)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if work[r][col] != 0), None)
        if pivot is None:
            return None
        work[col], work[pivot] = work[pivot], work[col]
        inv_p = 1 / work[col][col]
        work[col] = [x * inv_p for x in work[col]]
        for r in range(n):
            if r != col and work[r][col] != 0:
                f = work[r][col]
                work[r] = [a - f * b for a, b in zip(work[r], work[col])]
    return [row[n:] for row in work]


def solve_normal(cols: Sequence[Sequence[Fraction]], gram_inv: Matrix, rhs: Sequence[Fraction]) -> list[Fraction]:
    """The coefficients ``a`` with ``sum_i a_i cols[i] = rhs``, given the inverse of the Gram matrix of ``cols``
    (exact when ``rhs`` lies in their span, which the caller has checked)."""
    proj = [sum((a * b for a, b in zip(c, rhs)), Fraction(0)) for c in cols]
    return [sum((g * p for g, p in zip(row, proj)), Fraction(0)) for row in gram_inv]


def gram(cols: Sequence[Sequence[Fraction]]) -> Matrix:
    """The Gram matrix ``C C^T`` of the vectors ``cols``."""
    return [[sum((a * b for a, b in zip(u, v)), Fraction(0)) for v in cols] for u in cols]


def integerize(vector: Sequence[Fraction]) -> list[int]:
    """The smallest integer vector with the direction of a rational one (denominators cleared, gcd divided out)."""
    scale = 1
    for x in vector:
        scale = scale * x.denominator // math.gcd(scale, x.denominator)
    ints = [int(x * scale) for x in vector]
    g = 0
    for v in ints:
        g = math.gcd(g, abs(v))
    return [v // g for v in ints] if g > 1 else ints
