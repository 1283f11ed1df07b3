"""Target transforms: fit a formula g to t = T(y) instead of y, then map it back exactly with y = T⁻¹(g).

Some targets are far simpler after a transform (a product becomes a sum under log|y|, a reciprocal law becomes
linear under 1/y). Each transform knows when it applies to the data, its forward map on numbers and on sympy
expressions, and its exact sympy inverse. Transforms that lose the sign of y (log|y|, y²) record the sign of the data
when they are built, so the inverse restores it: y = sign·exp(g), y = sign·√g.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from kansci.errors import DataError

# |y| below this fraction of max|y| counts as a zero (1/y is then unusable). A numerical guard, not a tuning knob.
ZERO_FRACTION = 1e-9


def _finite(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise DataError("target transform: y is empty or has NaN/inf values", "clean the target column first")
    return y


def _one_sign(y: np.ndarray) -> int:
    """+1 if every y >= 0, -1 if every y <= 0 (and some are non-zero), else 0."""
    if np.all(y >= 0) and np.any(y > 0):
        return 1
    if np.all(y <= 0) and np.any(y < 0):
        return -1
    return 0


def _no_zeros(y: np.ndarray) -> bool:
    return bool(np.min(np.abs(y)) > ZERO_FRACTION * np.max(np.abs(y)))


@dataclass(frozen=True)
class TargetTransform:
    """t = T(y). ``sign`` is the recorded sign of y for transforms that drop it (+1 otherwise)."""

    name: str = "y"
    sign: int = 1

    def applicable(self, y: np.ndarray) -> bool:
        """Whether T is defined and invertible on every value of y (n,)."""
        return bool(np.all(np.isfinite(np.asarray(y, dtype=np.float64))))

    def _check(self, y: np.ndarray) -> np.ndarray:
        y = _finite(y)
        if not self.applicable(y):
            raise DataError(f"target transform {self.name}: not applicable to this target",
                            "use candidate_transforms(y) to get the transforms that apply")
        return y

    def forward(self, y: np.ndarray) -> np.ndarray:
        """t = T(y) for y (n,) -> (n,)."""
        return self._check(y).copy()

    def sympy_forward(self, expr: sympy.Expr) -> sympy.Expr:
        """T applied to a formula for y (used to check round trips)."""
        return expr

    def sympy_inverse(self, expr: sympy.Expr) -> sympy.Expr:
        """The formula for y given a formula g for t: y = T⁻¹(g)."""
        return expr


@dataclass(frozen=True)
class LogAbs(TargetTransform):
    """t = log|y| for y of one sign without zeros; y = sign·exp(t)."""

    name: str = "log|y|"

    def applicable(self, y: np.ndarray) -> bool:
        y = np.asarray(y, dtype=np.float64)
        return bool(np.all(np.isfinite(y)) and np.all(np.sign(y) == self.sign) and _no_zeros(y))

    def forward(self, y: np.ndarray) -> np.ndarray:
        return np.log(self.sign * self._check(y))

    def sympy_forward(self, expr: sympy.Expr) -> sympy.Expr:
        return sympy.log(self.sign * expr)

    def sympy_inverse(self, expr: sympy.Expr) -> sympy.Expr:
        return self.sign * sympy.exp(expr)


@dataclass(frozen=True)
class Reciprocal(TargetTransform):
    """t = 1/y for y without zeros; y = 1/t."""

    name: str = "1/y"

    def applicable(self, y: np.ndarray) -> bool:
        y = np.asarray(y, dtype=np.float64)
        return bool(np.all(np.isfinite(y)) and _no_zeros(y))

    def forward(self, y: np.ndarray) -> np.ndarray:
        return 1.0 / self._check(y)

    def sympy_forward(self, expr: sympy.Expr) -> sympy.Expr:
        return 1 / expr

    def sympy_inverse(self, expr: sympy.Expr) -> sympy.Expr:
        return 1 / expr


@dataclass(frozen=True)
class Square(TargetTransform):
    """t = y² for y of one sign (zeros allowed); y = sign·√t."""

    name: str = "y^2"

    def applicable(self, y: np.ndarray) -> bool:
        y = np.asarray(y, dtype=np.float64)
        return bool(np.all(np.isfinite(y)) and _one_sign(y) == self.sign)

    def forward(self, y: np.ndarray) -> np.ndarray:
        return np.square(self._check(y))

    def sympy_forward(self, expr: sympy.Expr) -> sympy.Expr:
        return expr ** 2

    def sympy_inverse(self, expr: sympy.Expr) -> sympy.Expr:
        return self.sign * sympy.sqrt(expr)


@dataclass(frozen=True)
class Sqrt(TargetTransform):
    """t = √y for y >= 0; y = t²."""

    name: str = "sqrt(y)"

    def applicable(self, y: np.ndarray) -> bool:
        y = np.asarray(y, dtype=np.float64)
        return bool(np.all(np.isfinite(y)) and np.all(y >= 0))

    def forward(self, y: np.ndarray) -> np.ndarray:
        return np.sqrt(self._check(y))

    def sympy_forward(self, expr: sympy.Expr) -> sympy.Expr:
        return sympy.sqrt(expr)

    def sympy_inverse(self, expr: sympy.Expr) -> sympy.Expr:
        return expr ** 2


def other_transforms(y: np.ndarray) -> list[TargetTransform]:
    """The transforms other than the identity that apply to y (n,) (none when y has a non-finite value)."""
    return [t for t in candidate_transforms(y) if t.name != "y"] if np.all(np.isfinite(y)) else []


def candidate_transforms(y: np.ndarray) -> list[TargetTransform]:
    """Every transform that applies to y (n,), identity first; sign-dropping ones carry the sign of the data."""
    y = _finite(y)
    sign = _one_sign(y) or 1
    options: list[TargetTransform] = [TargetTransform(), LogAbs(sign=sign), Reciprocal(), Square(sign=sign), Sqrt()]
    return [t for t in options if t.applicable(y)]
