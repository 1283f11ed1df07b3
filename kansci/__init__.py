"""kansci: symbolic regression with Kolmogorov-Arnold Networks.

Public API: :class:`KAN`, :class:`KANRegressor`, :class:`Formula`, :func:`load_run`, :func:`fit`, :func:`symbolify`.
"""
__version__ = "0.1.0"

from .api import KANRegressor, load_run  # noqa: E402
from .core.model import KAN  # noqa: E402
from .pipeline import fit_run as fit  # noqa: E402
from .symbolic.exports import Formula  # noqa: E402
from .symbolify import symbolify_run as symbolify  # noqa: E402

__all__ = ["KAN", "KANRegressor", "Formula", "load_run", "fit", "symbolify", "__version__"]
