"""One evaluator for formulas (kansci.expr) and one Levenberg-Marquardt (kansci.symbolic.lm), against independent
references: sympy's own evalf at points, scipy.special.erf, np.arctan2 and scipy.optimize.least_squares. The generated
formula.py is run in a subprocess that can import numpy but not sympy, scipy, torch or kansci."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch
from scipy.optimize import least_squares
from scipy.special import erf as scipy_erf

from kansci import load_run, pipeline
from kansci.config import load_config
from kansci.core.model import KAN
from kansci.data.synthetic import make_dataset, write_csv
from kansci.errors import RunDirError
from kansci.expr.evaluate import to_numpy, to_torch
from kansci.expr.export import to_source, to_text
from kansci.expr.functions import FUNCTIONS
from kansci.expr.text import parse_formula
from kansci.symbolic import formula as formula_module
from kansci.symbolic import select
from kansci.symbolic.exports import EXACT_KEY, Formula
from kansci.symbolic.lm import jacobian, levenberg_marquardt
from kansci.symbolic.primitives import default_library

x, y = sympy.symbols("x y")
# For every function of the table: an expression in x (and y) and a box where it is defined and finite.
CASES: dict[str, tuple[sympy.Expr, tuple[float, float], tuple[float, float]]] = {
    "sin": (sympy.sin(3 * x), (-2, 2), (0, 1)), "cos": (sympy.cos(x), (-2, 2), (0, 1)),
    "tan": (sympy.tan(x), (-1.2, 1.2), (0, 1)), "asin": (sympy.asin(x), (-0.95, 0.95), (0, 1)),
    "acos": (sympy.acos(x), (-0.95, 0.95), (0, 1)), "atan": (sympy.atan(x), (-5, 5), (0, 1)),
    "atan2": (sympy.atan2(y, x), (-2, 2), (-2, 2)), "sinh": (sympy.sinh(x), (-2, 2), (0, 1)),
    "cosh": (sympy.cosh(x), (-2, 2), (0, 1)), "tanh": (sympy.tanh(x), (-2, 2), (0, 1)),
    "asinh": (sympy.asinh(x), (-3, 3), (0, 1)), "acosh": (sympy.acosh(x), (1.05, 4), (0, 1)),
    "atanh": (sympy.atanh(x), (-0.95, 0.95), (0, 1)), "exp": (sympy.exp(x), (-3, 3), (0, 1)),
    "log": (sympy.log(x), (0.05, 5), (0, 1)), "Abs": (sympy.Abs(x), (-2, 2), (0, 1)),
    "sign": (sympy.sign(x), (-2, 2), (0, 1)), "erf": (sympy.erf(x), (-2.5, 2.5), (0, 1)),
    "cot": (sympy.cot(x), (0.2, 1.4), (0, 1)), "sec": (sympy.sec(x), (-1.2, 1.2), (0, 1)),
    "csc": (sympy.csc(x), (0.2, 1.4), (0, 1)), "erfc": (sympy.erfc(x), (-2.5, 2.5), (0, 1)),
    "floor": (sympy.floor(3 * x), (-2, 2), (0, 1)), "ceiling": (sympy.ceiling(3 * x), (-2, 2), (0, 1)),
    "loggamma": (sympy.loggamma(x), (0.1, 6), (0, 1)),
    "Max": (sympy.Max(x, y, sympy.Rational(1, 3)), (-1, 1), (-1, 1)),
    "Min": (sympy.Min(x, y, sympy.Rational(1, 3)), (-1, 1), (-1, 1)),
}
# Imports refused to the generated module: it must run stand-alone with numpy (and the standard library).
_STANDALONE = """
import importlib.abc, importlib.util, sys
import numpy as np

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"sympy", "scipy", "torch", "kansci", "mpmath"}:
            raise ImportError(f"formula.py imported {name}")
        return None

sys.meta_path.insert(0, Refuse())
folder = sys.argv[1]
out = {}
with np.load(folder + "/inputs.npz") as inputs:
    for key in inputs.files:
        spec = importlib.util.spec_from_file_location(key, f"{folder}/{key}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        X = inputs[key]
        out[key] = module.formula(*[X[:, i] for i in range(X.shape[1])])
np.savez(folder + "/outputs.npz", **out)
"""


def run_standalone(folder: Path, modules: dict[str, tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Write each (source, X) as ``folder/<key>.py``, run them all in a fresh interpreter; returns their outputs."""
    for key, (source, _) in modules.items():
        (folder / f"{key}.py").write_text(source)
    np.savez(folder / "inputs.npz", **{key: X for key, (_, X) in modules.items()})
    done = subprocess.run([sys.executable, "-c", _STANDALONE, str(folder)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    with np.load(folder / "outputs.npz") as outputs:
        return {key: outputs[key] for key in outputs.files}


def points(box_x: tuple[float, float], box_y: tuple[float, float], n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(*box_x, n), rng.uniform(*box_y, n)])  # (n, 2)


def sympy_values(expr: sympy.Expr, X: np.ndarray) -> np.ndarray:
    """The independent reference: sympy's arbitrary-precision evalf at every row of X (n, 2)."""
    return np.array([float(expr.evalf(30, subs={x: sympy.Float(a, 30), y: sympy.Float(b, 30)})) for a, b in X])


def test_every_function_agrees_across_numpy_torch_and_formula_py(tmp_path: Path) -> None:
    assert set(CASES) == {f.name for f in FUNCTIONS.values()}  # a new function in the table needs a case here
    modules, got = {}, {}
    for name, (expr, box_x, box_y) in CASES.items():
        X = points(box_x, box_y)
        ref = sympy_values(expr, X)
        num = to_numpy(expr, [x, y])(X)
        tor = to_torch(expr, [x, y])(torch.tensor(X[:, 0]), torch.tensor(X[:, 1])).numpy()
        np.testing.assert_allclose(num, ref, rtol=1e-12, atol=1e-12, err_msg=f"numpy {name}")
        np.testing.assert_allclose(tor, ref, rtol=1e-12, atol=1e-12, err_msg=f"torch {name}")
        modules[name] = (to_source(expr, ["x", "y"]), X)
        got[name] = num
    standalone = run_standalone(tmp_path, modules)
    for name, num in got.items():
        assert standalone[name].dtype == np.float64 and np.array_equal(standalone[name], num), name  # same bits


def test_erf_and_atan2_match_scipy_and_numpy() -> None:
    X = points((-2, 2), (-2, 2), 200)
    u, v = X[:, 0], X[:, 1]
    expr = sympy.erf(x / 2) + sympy.atan2(y, x) * 3
    want = scipy_erf(u / 2) + np.arctan2(v, u) * 3
    np.testing.assert_allclose(to_numpy(expr, ["x", "y"])(X), want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(to_torch(expr, ["x", "y"])(torch.tensor(u), torch.tensor(v)).numpy(), want,
                               rtol=1e-13, atol=1e-14)


def test_constants_shapes_and_symbols_by_name() -> None:
    X = points((1, 2), (1, 2), 5)
    pos = sympy.Symbol("x", positive=True)  # matched to the input "x" by name, whatever its assumptions
    out = to_numpy(pos * sympy.sqrt(2) + sympy.pi, ["x", "y"])(X)
    np.testing.assert_array_equal(out, X[:, 0] * np.sqrt(2.0) + np.pi)
    assert to_numpy(sympy.Integer(3), ["x"])(X[:, :1]).tolist() == [3.0] * 5  # a constant is broadcast
    with np.errstate(all="raise"):  # invalid operations give NaN/inf, without warnings
        assert np.isnan(to_numpy(sympy.log(x), ["x"])(np.array([[-1.0]])))[0]


def erf_atan2_formula() -> Formula:
    X = np.random.default_rng(1).uniform(0.5, 2.0, size=(10, 2))
    from kansci.symbolic.exports import make_symbols

    a, b = make_symbols(["a", "b"], X)
    expr = 0.30000000000000004 * sympy.erf(1.7 * a - 0.25) + sympy.atan2(b - 1.25, a - 1) * 2.000000000000001 + 1e-300
    return Formula(expr, ["a", "b"], "f")


def test_erf_atan2_formula_call_module_and_reload(tmp_path: Path) -> None:
    f = erf_atan2_formula()
    X = np.random.default_rng(2).uniform(0.5, 2.0, size=(300, 2))
    want = 0.30000000000000004 * scipy_erf(1.7 * X[:, 0] - 0.25) + np.arctan2(X[:, 1] - 1.25, X[:, 0] - 1) * 2.0
    got = f(X)  # used to raise TypeError (lambdify has no numpy erf)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(f(a=X[:, 0], b=X[:, 1]), got)
    assert "import math" in f.python_module() and "import numpy" in f.python_module()
    standalone = run_standalone(tmp_path, {"erf_atan2": (f.python_module(), X)})["erf_atan2"]
    np.testing.assert_array_equal(standalone, got)
    doc = json.loads(json.dumps(f.to_json()))  # what formula.json holds
    back = Formula.from_json(doc)
    assert back.expr == f.expr and sympy.srepr(back.expr) == sympy.srepr(f.expr)
    np.testing.assert_array_equal(back(X), got)


def test_exact_text_reads_back_every_float_exactly() -> None:
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 2**63, size=200, dtype=np.uint64).view(np.float64)
    values = [v for v in raw.tolist() if math.isfinite(v)] + [0.1 + 0.2, 5e-324, 1.7976931348623157e308, -2.5]
    for v in values:
        expr = sympy.Float(v) * sympy.exp(x) + sympy.Float(-v / 3) * y**sympy.Float(1.5)
        back = parse_formula(to_text(expr), ["x", "y"], float64=True)
        assert back == expr and sympy.srepr(back) == sympy.srepr(expr), v
    # the default parser keeps a literal's own digits (unchanged behaviour)
    assert parse_formula("0.30000000000000004")._prec != 53


def test_formula_json_that_cannot_be_reloaded_says_why() -> None:
    doc = erf_atan2_formula().to_json()
    old = {k: v for k, v in doc.items() if k not in (EXACT_KEY, "assumptions")}  # a run from an older kansci
    with pytest.raises(RunDirError, match=EXACT_KEY) as info:
        Formula.from_json(old)
    assert "symbolify" in info.value.hint
    no_text = Formula(sympy.Max(x, 1), ["x"]).to_json()  # evaluable, but the parser has no Max
    assert no_text[EXACT_KEY] is None
    with pytest.raises(RunDirError, match="cannot be reloaded"):
        Formula.from_json(no_text)
    with pytest.raises(RunDirError, match="not allowed"):
        Formula.from_json(dict(doc, **{EXACT_KEY: "a.__class__"}))


def test_module_names_do_not_clash_with_inputs(tmp_path: Path) -> None:
    numpy_, math_, value = sympy.symbols("numpy math value")
    expr = sympy.erf(numpy_) + math_ * value
    X = points((-1, 1), (-1, 1), 20)
    X = np.column_stack([X, X[:, 0] * 2])
    source = to_source(expr, ["numpy", "math", "value"])
    out = run_standalone(tmp_path, {"clash": (source, X)})["clash"]
    np.testing.assert_allclose(out, scipy_erf(X[:, 0]) + X[:, 1] * X[:, 2], rtol=1e-13)


def test_expr_is_a_torch_free_base_layer() -> None:
    code = "import sys, kansci.expr, kansci.expr.evaluate, kansci.expr.export; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode == 0


# ---------------------------------------------------------------------------------------------- Levenberg-Marquardt
def _exp_fit(y_noise: float) -> tuple[np.ndarray, torch.Tensor, float, object]:
    xs = np.linspace(0.0, 2.0, 60)
    ys = 2.5 * np.exp(-1.3 * xs) + y_noise * np.sin(7 * xs)  # y_noise = 0: exact data, optimum (2.5, -1.3)
    xt, yt = torch.tensor(xs), torch.tensor(ys)

    def residual(t: torch.Tensor) -> torch.Tensor:
        return t[0] * torch.exp(t[1] * xt) - yt

    theta, loss = levenberg_marquardt(residual, lambda t: jacobian(residual, t), torch.tensor([1.0, 0.5]), 200,
                                      tol=1e-16)
    ref = least_squares(lambda t: t[0] * np.exp(t[1] * xs) - ys, [1.0, 0.5], jac="2-point", xtol=1e-15, ftol=1e-15,
                        gtol=1e-15, method="lm")
    return ys, theta, loss, ref


def test_jacobian_matches_torch_reference_with_unused_and_piecewise_constants() -> None:
    """The batched reverse-mode Jacobian against torch.autograd.functional.jacobian, with a constant that does not
    reach the residuals (a zero column) and a piecewise op."""
    x = torch.linspace(0.1, 3.0, 40, dtype=torch.float64)

    def residual(t: torch.Tensor) -> torch.Tensor:
        return t[0] * torch.sin(t[1] * x) + torch.abs(t[2] - x) * torch.exp(-t[3] * x) + 0.0 * t[4]

    theta = torch.tensor([1.3, 0.7, 1.5, 0.4, 2.0], dtype=torch.float64)
    got = jacobian(residual, theta)
    want = torch.autograd.functional.jacobian(residual, theta)
    assert got.shape == (40, 5)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    assert torch.all(got[:, 4] == 0)


def test_lm_reaches_the_least_squares_optimum() -> None:
    _, theta, loss, ref = _exp_fit(0.0)
    np.testing.assert_allclose(theta.numpy(), [2.5, -1.3], rtol=1e-12)
    np.testing.assert_allclose(ref.x, [2.5, -1.3], rtol=1e-9)
    assert loss < 1e-28
    _, theta, loss, ref = _exp_fit(0.05)  # inexact data: the optimum is scipy's
    np.testing.assert_allclose(theta.numpy(), ref.x, rtol=1e-8)
    ref_loss = float(np.mean(ref.fun**2))
    assert loss == pytest.approx(ref_loss, rel=1e-10) and loss <= ref_loss * (1 + 1e-12)


def test_polish_and_finetune_share_the_one_lm(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs["tol"])
        return levenberg_marquardt(*args, **kwargs)

    monkeypatch.setattr(formula_module, "levenberg_marquardt", spy)
    monkeypatch.setattr(select, "levenberg_marquardt", spy)
    xs = np.linspace(0.0, 2.0, 60)
    ys = 2.5 * np.exp(-1.3 * xs)
    expr, err = formula_module.polish(1.0 * sympy.exp(0.5 * x), [x], xs[:, None], ys)
    assert calls == [1e-16] and err < 1e-28
    np.testing.assert_allclose(sorted(float(f) for f in expr.atoms(sympy.Float)), [-1.3, 2.5], rtol=1e-12)
    model = KAN([1, 1], seed=0)  # float64
    model.layers[0].set_symbolic(0, 0, default_library()["exp"], [0.5, 0.0, 1.0, 0.0])
    mse = select.finetune_symbolic(model, torch.tensor(xs)[:, None], torch.tensor(ys)[:, None], 100)
    assert calls == [1e-16, select.FINETUNE_TOL] and mse < 1e-26


# ---------------------------------------------------------------------------------------------- run directories
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """A fitted run on f = erf(2x) + y with erf as a custom primitive (tiny model, few steps)."""
    tmp = tmp_path_factory.mktemp("tiny")
    data = make_dataset("erf(2*x) + y", {"x": (-1, 1), "y": (-1, 1)}, 200, seed=0, target="f")
    write_csv(tmp / "d.csv", data.names, data.X, data.y, "f")
    flags = {"data.path": str(tmp / "d.csv"), "output.dir": str(tmp / "runs"), "train.grids": [3], "train.steps": 5,
             "model.width": [2, 1], "model.device": "cpu", "symbolic.custom": [{"name": "erf", "expr": "erf(x)"}]}
    return pipeline.fit_run(load_config(None, flags=flags)), flags, data


def test_load_run_reloads_the_symbolified_formula_exactly(tiny_run, tmp_path: Path) -> None:
    from kansci.pipeline.symbolify import symbolify_run

    fit, flags, data = tiny_run
    sym = symbolify_run(fit.run, load_config(None, flags=flags))
    run = load_run(fit.run)
    assert run.formula.expr == sym.formula.expr and sympy.srepr(run.formula.expr) == sympy.srepr(sym.formula.expr)
    np.testing.assert_array_equal(run.formula(data.X), sym.formula(data.X))
    written = (fit.run / "symbolic" / "formula.py").read_text()
    np.testing.assert_array_equal(run_standalone(tmp_path, {"run": (written, data.X)})["run"], sym.formula(data.X))
    # an erf/atan2 formula (which the old srepr whitelist could not reload: no atan2) through a real run directory
    path = fit.run / "symbolic" / "formula.json"
    f = erf_atan2_formula()
    path.write_text(json.dumps(dict(json.loads(path.read_text()), **f.to_json())))
    assert load_run(fit.run).formula.expr == f.expr
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != EXACT_KEY}
    path.write_text(json.dumps(old))
    with pytest.raises(RunDirError, match="older kansci"):
        load_run(fit.run)


def test_symbolify_honours_finetune_steps(tiny_run, monkeypatch: pytest.MonkeyPatch) -> None:
    from kansci.pipeline import direct_fit as direct_fit_module
    from kansci.pipeline import symbolify as symbolify_module
    from kansci.pipeline.discovery import Discovery

    fit, flags, _ = tiny_run
    # the structure-first route finds nothing here, so the edge-by-edge fit (the one that fine-tunes) always runs
    monkeypatch.setattr(symbolify_module, "discover", lambda *args, **kwargs: Discovery())
    real = select.finetune_symbolic
    for steps in (3, 9):
        seen: dict[str, list[int]] = {"edges": [], "formula": []}

        def spy(where: str):
            def finetune(model, x_, y_, n, deadline=None):
                seen[where].append(n)
                return real(model, x_, y_, n, deadline)
            return finetune

        monkeypatch.setattr(select, "finetune_symbolic", spy("edges"))  # inside symbolize_edges
        monkeypatch.setattr(direct_fit_module, "finetune_symbolic", spy("formula"))  # before each candidate
        cfg = load_config(None, flags={**flags, "symbolic.finetune_steps": steps, "symbolic.snap": False})
        symbolify_module.symbolify_run(fit.run, cfg)
        assert seen["edges"] and seen["formula"], seen
        assert set(seen["edges"]) == set(seen["formula"]) == {steps}, seen
