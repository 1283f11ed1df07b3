"""Per-column normalization of a :class:`~kansci.data.dataset.Dataset` (no torch import).

Normalization (``value_normalized = (value - shift) / scale``, per column; statistics from the TRAINING rows only):

- ``"none"``: shift 0, scale 1.
- ``"standard"``: z-score (shift = mean, scale = standard deviation, or 1 for a column constant on the training rows).
- ``"auto"`` (default): the TARGET is standardized (z-score, as ``"standard"``). For INPUTS: shift 0 always. Let ``M =
  max|value|``. If ``0.1 <= M <= 100`` the column is untouched (scale 1); otherwise the scale is the power of ten
  ``10**k`` that puts ``M / scale`` in ``[1, 10)``. Why: data in ordinary ranges (``exp(sin(pi*x))`` on ``[-1, 1]``)
  keeps its exact formula and "nice" constants, while data around ``1e-12`` or ``1e12`` still trains. A formula found
  in normalized units maps back exactly by substituting ``x = 10**k * x'``: the structure is unchanged and only
  constants get powers of ten. Scales are stored as the double nearest ``10**k`` (``float("1e{k}")``, exact for 0 <= k
  <= 22). ``undo(apply(v))`` equals ``v`` to within one ulp (checked on 10**6 values for each k in -30..30); it is
  bitwise exact when the scale is 1 or a power of two, but not for other powers of ten (about 2-15% of values differ
  by one ulp), as ``v / 10**k`` is rounded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kansci.errors import DataError

__all__ = ["NORMALIZE_POLICIES", "Normalization", "check_policy", "fit_normalization", "target_policy"]

NORMALIZE_POLICIES = ("auto", "standard", "none")
# Under "auto" the target is standardized (z-score): training converges several times faster on a unit-variance
# target, and the formula undoes the affine map exactly (y = scale * f + shift folds into the outer constants).
_TARGET_POLICY = {"auto": "standard", "standard": "standard", "none": "none"}


@dataclass
class Normalization:
    """Per-column affine map ``(value - shift) / scale``; ``shift`` and ``scale`` have shape (m,)."""

    shift: np.ndarray  # (m,) float64
    scale: np.ndarray  # (m,) float64

    def apply(self, v: np.ndarray) -> np.ndarray:
        """Original → normalized units; ``v`` is (n, m) or (m,) (or (n,) when m == 1)."""
        return (np.asarray(v, dtype=np.float64) - self.shift) / self.scale

    def undo(self, v: np.ndarray) -> np.ndarray:
        """Normalized → original units; inverse of :meth:`apply` up to one rounding."""
        return np.asarray(v, dtype=np.float64) * self.scale + self.shift

    def to_dict(self) -> dict[str, list[float]]:
        return {"shift": [float(s) for s in self.shift], "scale": [float(s) for s in self.scale]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalization:
        shift = np.asarray(d["shift"], dtype=np.float64).reshape(-1)
        scale = np.asarray(d["scale"], dtype=np.float64).reshape(-1)
        if shift.shape != scale.shape or not (np.all(np.isfinite(shift)) and np.all(scale > 0)):
            raise ValueError("shift and scale must have the same length, be finite, and scale must be > 0")
        return cls(shift, scale)


def fit_normalization(values: np.ndarray, policy: str = "auto") -> Normalization:
    """Normalization statistics of ``values`` (n, m) (pass the training rows only) under ``policy``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    m = values.shape[1]
    if policy == "none":
        return Normalization(np.zeros(m), np.ones(m))
    if policy == "standard":
        std = values.std(axis=0)
        return Normalization(values.mean(axis=0), np.where(std > 0, std, 1.0))
    if policy == "auto":
        peak = np.abs(values).max(axis=0) if len(values) else np.ones(m)
        return Normalization(np.zeros(m), np.array([_power_of_ten_scale(float(p)) for p in peak]))
    raise DataError(f"unknown normalization {policy!r}", f"use one of {', '.join(NORMALIZE_POLICIES)}")


def _power_of_ten_scale(peak: float) -> float:
    """1.0 if ``peak`` is in [0.1, 100] (or 0), else the double nearest 10**k with peak / 10**k in [1, 10)."""
    if not math.isfinite(peak) or peak == 0.0 or 0.1 <= peak <= 100.0:
        return 1.0
    k = math.floor(math.log10(peak))
    while peak / float(f"1e{k}") >= 10.0:  # guard log10 rounding near exact powers of ten
        k += 1
    while peak / float(f"1e{k}") < 1.0:
        k -= 1
    return float(f"1e{k}")


def target_policy(normalize: str) -> str:
    """The policy applied to the target under the input policy ``normalize``."""
    return _TARGET_POLICY[normalize]


def check_policy(normalize: str) -> None:
    """DataError unless ``normalize`` is one of :data:`NORMALIZE_POLICIES`."""
    if normalize not in NORMALIZE_POLICIES:
        raise DataError(f"unknown normalization {normalize!r}", f"use one of {', '.join(NORMALIZE_POLICIES)}")
