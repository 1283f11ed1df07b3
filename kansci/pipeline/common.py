"""What the pipeline stages share: loading the configured data, the train/validation tensors, the model's
prediction in original units, metrics, the environment record and the saved config."""
from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kansci import __version__, rundir
from kansci.config import Config, Origin, config_to_yaml, error_at, resolve_data_path
from kansci.core.model import KAN
from kansci.data import Dataset, load_dataset
from kansci.errors import ConfigError, DataError, KansciError, RunDirError
from kansci.metrics import regression_metrics
from kansci.symbolic.primitives import Primitive, build_library, default_library
from kansci.train.loop import TrainData

Log = Callable[[str], None]


def quiet(_: str) -> None:
    pass


@contextmanager
def cpu_threads_for(n_rows: int, device: torch.device) -> Iterator[None]:
    """Run small CPU problems on one thread. Their kernels are tiny (a few thousand rows), and OpenMP's thread
    hand-offs cost more than they save, most of all when another process holds a core (docs/performance_notes.md).
    Large problems keep torch's default."""
    if device.type != "cpu" or n_rows > 20_000:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def split_seed(cfg: Config) -> int:
    """The data split has its own seed, derived from the run seed unless set explicitly."""
    return cfg.data.split_seed if cfg.data.split_seed is not None else (cfg.seed * 7919 + 17) % (2**31)


def load_data(cfg: Config, progress: Callable[[int, int], None] | None = None) -> Dataset:
    """The configured dataset. A data error about a key that a config file set names that file, line and key.
    ``progress(bytes_done, bytes_total)`` is called while the file is read."""
    path = resolve_data_path(cfg)
    if path is None:
        raise ConfigError("no data file given", "pass DATA.csv, or set data.path in the config", key="data.path")
    try:
        ds = load_dataset(
            path, target=cfg.data.target, inputs=cfg.data.inputs, test_frac=cfg.data.test_frac,
            split_seed=split_seed(cfg), normalize=cfg.data.normalize, sep=cfg.data.sep, progress=progress,
        )
    except DataError as exc:
        raise _located(cfg, _data_key(cfg, exc), exc) from None
    if cfg.data.denoise:  # the run stores the smoothed training targets; config.yaml records data.denoise
        from kansci.data.denoise import denoise_targets

        if ds.n_targets > 1:
            raise _located(cfg, "data.denoise", ConfigError(
                f"data.denoise smooths one target; the data has {ds.n_targets} ({ds.target_name})",
                "set data.denoise: false, or fit one target at a time", key="data.denoise"))

        ds, _ = denoise_targets(ds, cfg.seed)
    return ds


def _data_key(cfg: Config, exc: DataError) -> str:
    """The config key a data error is about, decided on its structured fields (never its text): the key it names
    (an unknown or misused target/input column), else ``data.inputs``/``data.target`` when the column at fault was
    chosen there explicitly, else ``data.path`` (the file itself)."""
    if exc.key is not None:
        return exc.key
    if exc.column is not None and exc.column in (cfg.data.inputs or []):
        return "data.inputs"
    target = cfg.data.target
    if exc.column is not None and (exc.column == target or (isinstance(target, list) and exc.column in target)):
        return "data.target"
    return "data.path"


def _located(cfg: Config, key: str, exc: KansciError) -> KansciError:
    """``exc`` as a ConfigError prefixed with ``file:line: key:`` (fields: the config file, line and key) when a
    config file set ``key``; unchanged otherwise (a value from the command line is named by the error itself)."""
    source = cfg._source
    if source is None or source.origin(key) is not Origin.FILE:
        return exc
    return error_at(cfg, key, exc.message, exc.hint)


def model_dtype(cfg: Config) -> torch.dtype:
    return torch.float64 if cfg.model.dtype == "float64" else torch.float32


def train_tensors(ds: Dataset, seed: int, dtype: torch.dtype, device: torch.device) -> TrainData:
    """Normalized train rows split again into fit and validation parts (20%, seeded) for early stopping and
    architecture choice; the test rows are never used for any decision."""
    n = len(ds.train_idx)
    perm = np.random.default_rng(seed + 1).permutation(n)
    n_val = max(1, int(round(0.2 * n)))
    val, fit = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    (xf, yf), (xv, yv) = ds.train_rows_norm(fit), ds.train_rows_norm(val)  # one copy of each part, no more
    return TrainData(t(xf), t(yf).reshape(len(yf), -1), t(xv), t(yv).reshape(len(yv), -1))  # y: (n, n_targets)


def weighted_tensors(ds: Dataset, seed: int, weights: np.ndarray, dtype: torch.dtype,
                     device: torch.device) -> TrainData:
    """``train_tensors(ds, seed, ...)`` with ``weights`` (one per row of ``ds``, original row order) on its fit and
    validation rows. A part whose weights are all zero counts its rows equally (a weighted mean needs a weight).
    The rows of the split are found by running :func:`train_tensors` on a copy of ``ds`` whose target is the row
    number, so the split is never re-implemented."""
    from kansci.data.dataset import Normalization

    data = train_tensors(ds, seed, dtype, device)
    rows = np.arange(ds.n_rows, dtype=np.float64)
    shadow = dataclasses.replace(ds, y=rows, y_norm=Normalization(np.zeros(1), np.ones(1)))
    probe = train_tensors(shadow, seed, torch.float64, torch.device("cpu"))

    def part(row_numbers: torch.Tensor) -> torch.Tensor | None:
        w = weights[np.rint(row_numbers[:, 0].numpy()).astype(np.int64)]
        return torch.as_tensor(w[:, None], dtype=dtype, device=device) if np.any(w > 0) else None

    return dataclasses.replace(data, w_train=part(probe.y_train), w_val=part(probe.y_val))


#: Rows per chunk when a model is evaluated on many rows (bounds the memory of the per-edge activations).
PREDICT_CHUNK = 32_768


def predict(model: KAN, ds: Dataset, X: np.ndarray) -> np.ndarray:
    """Model prediction in ORIGINAL units for X (n, d) in original units -> (n,) for a one-output model, (n, k) for
    k outputs (several targets), in chunks of :data:`PREDICT_CHUNK` rows."""
    out = np.empty((X.shape[0], model.n_out))
    with torch.no_grad():
        for s in range(0, X.shape[0], PREDICT_CHUNK):
            xn = torch.as_tensor(ds.x_norm.apply(X[s:s + PREDICT_CHUNK]), dtype=model.dtype, device=model.device)
            out[s:s + PREDICT_CHUNK] = model(xn).double().cpu().numpy()
    y = ds.y_norm.undo(out)
    return y[:, 0] if model.n_out == 1 else y


METRIC_KEYS = ("train_rmse", "train_r2", "test_rmse", "test_r2")


def model_metrics(model: KAN, ds: Dataset) -> dict[str, Any]:
    """Train/test RMSE and R² of the network. Several targets: each target's under ``per_target`` (keyed by name),
    and their plain mean at the top level (scikit-learn's ``uniform_average``)."""
    pred_train, pred_test = predict(model, ds, ds.X_train), predict(model, ds, ds.X_test)
    if ds.n_targets == 1:
        return _train_test(ds.y_train, pred_train, ds.y_test, pred_test)
    per = {name: _train_test(ds.y_train[:, j], pred_train[:, j], ds.y_test[:, j], pred_test[:, j])
           for j, name in enumerate(ds.targets)}
    return {**{key: float(np.mean([m[key] for m in per.values()])) for key in METRIC_KEYS}, "per_target": per}


def _train_test(y_train: np.ndarray, p_train: np.ndarray, y_test: np.ndarray, p_test: np.ndarray) -> dict[str, float]:
    train, test = regression_metrics(y_train, p_train), regression_metrics(y_test, p_test)
    return {"train_rmse": train["rmse"], "train_r2": train["r2"], "test_rmse": test["rmse"], "test_r2": test["r2"]}


def environment() -> dict[str, str]:
    return {"kansci": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def build_model(cfg: Config, width: Any, device: torch.device, *, mult_arity: int | None = None,
                seed: int | None = None) -> KAN:
    """An untrained KAN of ``width`` as the config describes it, initialised from ``seed`` (default ``cfg.seed``)."""
    m = cfg.model
    return KAN(
        width, grid=cfg.train.grids[0], k=m.k, mult_arity=mult_arity or m.mult_arity, grid_range=tuple(m.grid_range),
        grid_eps=m.grid_eps, base_fun=m.base_fun, init_noise=m.init_noise, seed=cfg.seed if seed is None else seed,
        dtype=model_dtype(cfg), device=device,
    )


def check_width(cfg: Config, ds: Dataset) -> None:
    """An explicit ``model.width`` must have the data's number of inputs and one output per target."""
    if cfg.model.width == "auto":
        return
    width = [list(w) if isinstance(w, tuple) else w for w in cfg.model.width]
    k = ds.n_targets
    if width[0] != ds.n_inputs or width[-1] != k:
        raise _located(cfg, "model.width", ConfigError(
            f"model.width {width} does not match the data: {ds.n_inputs} inputs and {k} target{'s' if k > 1 else ''}",
            f"use width [{ds.n_inputs}, ..., {k}], or width: auto", key="model.width",
        ))


def check_targets(cfg: Config, ds: Dataset) -> None:
    """Several targets cannot be combined with declared units yet (the reduction has one target)."""
    if ds.n_targets > 1 and (cfg.data.units or cfg.data.units_file):
        key = "data.units" if cfg.data.units else "data.units_file"
        raise _located(cfg, key, ConfigError(
            f"declared units work with one target; the data has {ds.n_targets} ({ds.target_name})",
            "drop the units, or fit one target at a time", key=key))


def write_config(run: Path, cfg: Config) -> None:
    saved = cfg.model_copy(deep=True)
    data_path = resolve_data_path(cfg)
    if data_path is not None and cfg.data.path != "-":  # absolute, so re-running RUN/config.yaml finds the same file
        saved.data.path = str(data_path.resolve())  # ("-", standard input, stays: the values are in data.npz)
    rundir.write_text(run / "config.yaml", config_to_yaml(saved))


def load_run_data(run: Path) -> Dataset:
    """The dataset of a run (values from ``data.npz``, split and normalization from ``dataset.json``)."""
    meta = rundir.read_json(run, "dataset.json")
    arrays = rundir.load_arrays(run / "data.npz")
    try:
        return Dataset.from_json(meta, arrays["X"], arrays["y"])
    except Exception as exc:
        raise RunDirError(f"{run / 'dataset.json'}: inconsistent with data.npz ({exc})", "re-run `kansci fit`") from exc


def resolve_primitive(row: dict[str, Any]) -> Primitive:
    """A stored symbolic edge's primitive: a built-in by name, or a custom one rebuilt from its stored spec."""
    lib = default_library()
    name = row["primitive"]
    if name in lib and row.get("expr", lib[name].expr) == lib[name].expr:
        return lib[name]
    spec = row.get("spec")
    if not spec:
        raise ValueError(f"symbolic edge uses unknown primitive {name!r} and stores no definition")
    return build_library([], [spec])[name]


def load_model(run: Path, name: str = "model", device: str | torch.device = "cpu") -> KAN:
    """A run's model (``model``) or its symbolified model (``run / "symbolic"``), symbolic edges included."""
    return rundir.load_model(run, name, device, resolve_primitive=resolve_primitive)
