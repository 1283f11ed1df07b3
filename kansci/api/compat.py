"""scikit-learn, optional: the estimator's base classes, ``NotFittedError`` and input validation.

With scikit-learn installed, :class:`~kansci.api.KANRegressor` subclasses ``RegressorMixin`` and ``BaseEstimator``
(so ``clone``, ``Pipeline``, ``GridSearchCV``, tags, ``repr`` and ``score`` are scikit-learn's own), raises
scikit-learn's ``NotFittedError`` and validates its input with ``validate_data``. Without it, :class:`EstimatorBase`
gives the same basics (``get_params``, ``set_params``, a readable ``repr``, R² ``score``), and :func:`check_xy` and
:func:`check_x` make the same checks with the same kinds of error: every problem with the input is a ``ValueError``
(a :class:`~kansci.errors.DataError` when kansci raises it).
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from kansci.errors import DataError
from kansci.metrics import r2_score

__all__ = ["BASES", "SKLEARN", "EstimatorBase", "MIN_ROWS", "NotFittedError", "check_weights", "check_x", "check_xy"]

#: Fewest rows ``fit`` accepts: as many as a CSV needs (a train, a validation and a test part).
MIN_ROWS = 5

try:
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import validate_data

    SKLEARN = True
except ImportError:  # scikit-learn is optional (the `sklearn` extra)
    SKLEARN = False

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """The estimator is used before ``fit`` (the same bases as scikit-learn's error of that name)."""


class EstimatorBase:
    """scikit-learn's estimator basics, for when scikit-learn is not installed: parameters are the ``__init__``
    keywords, stored unchanged under their own names."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 (scikit-learn's signature)
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}; valid parameters: "
                                 + ", ".join(valid))
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, defaults.get(k))]
        return f"{type(self).__name__}({', '.join(shown)})"

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of ``predict(X)`` against ``y``, weighted by ``sample_weight`` when given."""
        pred = self.predict(X)  # type: ignore[attr-defined]
        if np.ndim(pred) == 2:  # several targets: the mean of their R² (scikit-learn's uniform_average)
            ys = np.asarray(y, dtype=np.float64).reshape(pred.shape)
            return float(np.mean([self._score_1d(ys[:, j], pred[:, j], sample_weight) for j in range(pred.shape[1])]))
        return self._score_1d(np.asarray(y, dtype=np.float64).reshape(-1), pred, sample_weight)

    @staticmethod
    def _score_1d(y: np.ndarray, pred: np.ndarray, sample_weight: Any) -> float:
        if sample_weight is None:
            return r2_score(y, pred)
        w = check_weights(sample_weight, len(y))
        mean = np.sum(w * y) / np.sum(w)
        return 1.0 - float(np.sum(w * (y - pred) ** 2) / np.sum(w * (y - mean) ** 2))


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


BASES: tuple[type, ...] = (RegressorMixin, BaseEstimator) if SKLEARN else (EstimatorBase,)


def check_xy(est: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate training data: X 2-D numeric and finite with at least :data:`MIN_ROWS` rows and one column, y one
    finite number per row ((n, 1) is flattened), or with several targets one row of k finite numbers per row. Sets
    ``est.n_features_in_`` and, when X has string column names, ``est.feature_names_in_``. Returns float64 X (n, d)
    and y (n,), or y (n, k) for several targets."""
    if y is None:
        raise DataError(f"{type(est).__name__} requires y to be passed, but the target y is None",
                        "pass the target values: fit(X, y)")
    shape = np.asarray(y).shape  # (np.ndim would call a wrapper's __array_function__)
    several = len(shape) == 2 and shape[1] > 1  # several targets: y (n, k)
    if SKLEARN:
        return validate_data(est, X, y, reset=True, dtype=np.float64, y_numeric=True, ensure_min_samples=MIN_ROWS,
                             multi_output=several)
    Xa = _matrix(X, "X")
    if len(Xa) < MIN_ROWS:
        raise DataError(f"Found array with {len(Xa)} sample(s) (shape={Xa.shape}) while a minimum of {MIN_ROWS} "
                        "is required", "pass more rows")
    ya = _numeric(y, "y")
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if several and len(ya) == len(Xa):
        pass
    elif ya.ndim != 1 or len(ya) != len(Xa):
        raise DataError(f"y must have shape ({len(Xa)},) to match X {Xa.shape}, got {ya.shape}",
                        "pass one target value per row of X")
    _finite(ya, "y")
    est.n_features_in_ = Xa.shape[1]
    names = _column_names(X)
    if names is not None:
        est.feature_names_in_ = np.asarray(names, dtype=object)
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    return Xa, ya


def check_x(est: Any, X: Any) -> np.ndarray:
    """Validate X for a fitted estimator: as in :func:`check_xy`, and with the columns it was fitted on."""
    if SKLEARN:
        return validate_data(est, X, reset=False, dtype=np.float64)
    Xa = _matrix(X, "X")
    if Xa.shape[1] != est.n_features_in_:
        raise DataError(f"X has {Xa.shape[1]} features, but {type(est).__name__} is expecting "
                        f"{est.n_features_in_} features as input", "pass the columns the estimator was fitted on")
    fitted, names = getattr(est, "feature_names_in_", None), _column_names(X)
    if fitted is not None and names is not None and list(names) != list(fitted):
        raise DataError(f"The feature names should match those that were passed during fit: {list(fitted)}, "
                        f"got {list(names)}", "pass the columns in the order used in fit")
    return Xa


def check_weights(sample_weight: Any, n: int) -> np.ndarray:
    """``sample_weight`` as float64 (n,): finite, non-negative, not all zero (a copy; the input is not changed)."""
    w = _numeric(sample_weight, "sample_weight").copy()
    if w.ndim != 1 or len(w) != n:
        raise DataError(f"sample_weight must have shape ({n},), one weight per row of X, got {w.shape}",
                        "pass a 1-D array of row weights")
    _finite(w, "sample_weight")
    if np.any(w < 0):
        raise DataError("sample_weight has negative weights", "weights must be >= 0")
    if not np.any(w > 0):
        raise DataError("sample_weight: all weights are zero; at least one must be positive",
                        "give some rows a positive weight")
    return w


def _numeric(values: Any, label: str) -> np.ndarray:
    if hasattr(values, "toarray") or hasattr(values, "tocsr"):
        raise TypeError(f"{label}: sparse input is not supported; pass a dense array (e.g. .toarray())")
    try:
        arr = np.asarray(values)
        if np.iscomplexobj(arr):
            raise DataError(f"{label}: Complex data not supported", "pass real numbers")
        return arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{label} must be numeric ({exc})", "convert it to a float array first") from None


def _matrix(X: Any, label: str) -> np.ndarray:
    Xa = _numeric(X, label)
    if Xa.ndim != 2:
        raise DataError(f"Expected 2D array, got {label} of shape {Xa.shape}",
                        "reshape your data with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a "
                        "single row")
    if Xa.shape[1] < 1:
        raise DataError(f"Found array with 0 feature(s) (shape={Xa.shape}) while a minimum of 1 is required.",
                        "pass at least one input column")
    _finite(Xa, label)
    return Xa


def _finite(values: np.ndarray, label: str) -> None:
    if np.isnan(values).any():
        raise DataError(f"Input {label} contains NaN", "remove or fill those rows first")
    if not np.isfinite(values).all():
        raise DataError(f"Input {label} contains infinity", "remove those rows first")


def _column_names(X: Any) -> Sequence[str] | None:
    """The column names of a DataFrame-like X when all are strings (scikit-learn's rule), else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = list(columns)
    return names if names and all(isinstance(c, str) for c in names) else None
