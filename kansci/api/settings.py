"""From estimator parameters to a validated :class:`~kansci.config.Config`, and the fit's surroundings: the seed from
``random_state``, torch threads from ``n_jobs``, and a working folder that never outlives the fit unless asked for.

Config keys reach the estimator in three ways, lowest precedence first:

1. ``config``: a dict of dotted keys (``{"train.steps": 20, "symbolic.lib": ["x", "sin"]}``) or of sections
   (``{"train": {"steps": 20}}``). A value ``None`` sets the key to null (``{"train.time_limit_s": None}``: no limit).
2. Keywords ``section__key`` (``train__steps=20``), given to the constructor or to ``set_params``: they are merged
   into a new ``config`` dict, so ``get_params``, ``clone`` and ``GridSearchCV(param_grid={"train__steps": ...})``
   see and reproduce them.
3. The first-class keywords ``width``, ``steps``, ``grids``, ``device`` and ``time_limit_s``, when not None.
"""
from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from kansci.config import Config, load_config
from kansci.errors import ConfigError

__all__ = ["SECTIONS", "build_config", "merge_keywords", "seed_of", "threads", "workspace"]

#: Config sections that ``section__key`` keywords may name.
SECTIONS = frozenset(name for name in Config.model_fields if name not in ("seed", "version"))
_SEED_RANGE = 2**31 - 1


def merge_keywords(config: Any, keywords: Mapping[str, Any]) -> Any:
    """``config`` with ``section__key`` keywords added as dotted keys (a new dict; ``config`` itself is unchanged).
    Nothing is checked here (scikit-learn wants constructors and ``set_params`` that never raise): a keyword that
    names no config key is reported by :func:`build_config`, when ``fit`` runs."""
    if not keywords or not (config is None or isinstance(config, Mapping)):
        return config  # a config that is not a dict is reported by build_config, keywords or not
    merged = dict(config or {})
    merged.update({k.replace("__", "."): v for k, v in keywords.items()})
    return merged


def _flatten(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a dict of config keys, got {type(config).__name__}",
                          'write e.g. config={"train.steps": 20}', key="config")
    out: dict[str, Any] = {}
    for key, value in config.items():
        key = str(key).replace("__", ".")
        if isinstance(value, Mapping):
            out.update({f"{key}.{k}": v for k, v in _flatten(value).items()})
        else:
            out[key] = value
    return out


def build_config(config: Any, first_class: Mapping[str, Any], seed: int | None, out_dir: str,
                 params: Sequence[str] = ()) -> Config:
    """The validated config: schema defaults < ``config`` < first-class keywords (dotted key -> value; None = not
    given) < ``seed`` (None: keep) < ``output.dir``. ConfigError (a ValueError) lists every bad key at once; a name
    outside every section gets a did-you-mean among the sections and the estimator's ``params``."""
    entries = _flatten(config)
    unknown = [k for k in entries if k.split(".", 1)[0] not in SECTIONS | {"seed"}]
    if unknown:
        guesses = difflib.get_close_matches(unknown[0], [*params, *SECTIONS], n=1)
        raise ConfigError(f"unknown parameter or config key(s) {unknown}", (f"did you mean {guesses[0]!r}? " if guesses
                          else "") + "a config key is written section__key (e.g. train__steps=20) or, in config, "
                          'section.key (e.g. config={"train.steps": 20})', key=unknown[0])
    entries.update({k: v for k, v in first_class.items() if v is not None})
    if seed is not None:
        entries["seed"] = seed
    entries["output.dir"] = out_dir
    nulls = [f"{k}=null" for k, v in entries.items() if v is None]
    return load_config(None, overrides=nulls, flags={k: _plain(v) for k, v in entries.items() if v is not None})


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (e.g. from a ``GridSearchCV`` grid made with ``np.arange``) as Python values."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def seed_of(random_state: Any) -> int | None:
    """``random_state`` as a run seed: an int is the seed itself (so ``random_state=k`` and ``kansci fit --seed k``
    agree); a numpy ``RandomState`` or ``Generator`` gives one draw; None keeps the config's ``seed`` (0 unless
    set), so an unseeded estimator is reproducible too."""
    if random_state is None:
        return None
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, _SEED_RANGE))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, _SEED_RANGE))
    raise ConfigError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}",
                      "pass e.g. random_state=0", key="random_state")


@contextmanager
def threads(n_jobs: int | None) -> Iterator[None]:
    """At most ``n_jobs`` torch CPU threads inside (joblib's convention: -1 = all cores, -2 = all but one; None =
    torch's default); small problems run on one thread anyway (see ``kansci.pipeline.common.cpu_threads_for``)."""
    if n_jobs is None:
        yield
        return
    if not isinstance(n_jobs, (int, np.integer)) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ConfigError(f"n_jobs must be None or a non-zero int, got {n_jobs!r}", "pass e.g. n_jobs=-1",
                          key="n_jobs")
    cores = os.cpu_count() or 1
    wanted = int(n_jobs) if n_jobs > 0 else max(1, cores + 1 + int(n_jobs))
    old = torch.get_num_threads()
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def workspace(out_dir: str | os.PathLike[str] | None) -> Iterator[str]:
    """The folder that receives the run directory: ``out_dir`` when given (kept), else a temporary folder that is
    removed when the block ends, whether it ends normally or by an error."""
    if out_dir is not None:
        yield os.fspath(out_dir)
        return
    with tempfile.TemporaryDirectory(prefix="kansci-") as tmp:
        yield tmp


def declare_units(cfg: Config, ds: Any, x_units: Sequence[Any] | None, y_units: Any) -> bool:
    """``fit(X_units=..., y_units=...)`` as the config's ``data.units`` for the dataset's columns; True when units
    are declared (by these arguments or by the config)."""
    if x_units is None and y_units is None:
        return cfg.data.units is not None or cfg.data.units_file is not None
    if x_units is None or y_units is None:
        raise ValueError("give both X_units (one unit per column of X) and y_units, or neither")
    if isinstance(x_units, (str, bytes)) or len(x_units) != len(ds.input_names):
        raise ValueError(f"X_units must list one unit per column of X ({len(ds.input_names)}), got {x_units!r}")
    cfg.data.units = {**dict(zip(ds.input_names, x_units)), ds.target_name: y_units}
    return True
