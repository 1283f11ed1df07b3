"""KAN layer/model behaviour against independent computations (naive per-edge sums, explicit products)."""
import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kansci.core.model import KAN, normalize_width
from kansci.symbolic.primitives import default_library

pytestmark = pytest.mark.usefixtures("float64_default")  # tensors below are built without dtype arguments


def naive_forward(model: KAN, x: torch.Tensor) -> torch.Tensor:
    """Edge by edge with scipy splines: the reference for the fused matmul forward."""
    h = x.numpy()
    for l, layer in enumerate(model.layers):
        out = np.zeros((h.shape[0], layer.out_dim))
        k = layer.k
        for i in range(layer.in_dim):
            t = layer.grid[i].numpy()
            lo, hi = t[k], t[-k - 1]
            xi = np.clip(h[:, i], lo, hi)
            for j in range(layer.out_dim):
                if layer.mask[i, j] == 0:
                    continue
                if (i, j) in layer.symbolic:
                    a, b, c, d = layer.sym_params[i, j].tolist()
                    out[:, j] += c * layer.symbolic[(i, j)].numpy(a * h[:, i] + b) + d
                    continue
                spl = BSpline(t, layer.coef[i, :, j].detach().numpy(), k)(xi)
                silu = h[:, i] / (1 + np.exp(-h[:, i]))
                out[:, j] += layer.w_base[i, j].item() * silu + layer.w_spline[i, j].item() * spl
        n_sum, n_mult = model.width[l + 1]
        a = model.mult_arity
        prods = [out[:, n_sum + m * a: n_sum + (m + 1) * a].prod(1) for m in range(n_mult)]
        h = np.concatenate([out[:, :n_sum]] + [p[:, None] for p in prods], axis=1)
    return torch.as_tensor(h)


@pytest.mark.parametrize("width", [[2, 5, 1], [3, [2, 2], 1], [2, [0, 1], 1], [4, 3, [1, 1]]])
def test_forward_matches_naive_edge_sum(width):
    model = KAN(width, grid=5, seed=1, mult_arity=3 if width == [2, [0, 1], 1] else 2)
    for layer in model.layers:  # non-trivial splines
        layer.coef.data = torch.randn(layer.coef.shape, generator=torch.Generator().manual_seed(7))
    x = torch.rand(64, model.n_in, generator=torch.Generator().manual_seed(2)) * 2.4 - 1.2  # some outside the grid
    model.layers[0].mask[0, 0] = 0
    got = model(x)
    torch.testing.assert_close(got, naive_forward(model, x), atol=1e-10, rtol=1e-10)


def test_inspect_edges_sum_to_forward_and_symbolic_edges_are_data():
    model = KAN([2, 3, 1], seed=0)
    lib = default_library()
    model.layers[0].set_symbolic(1, 2, lib["sin"], [2.0, 0.5, 1.5, -0.25])
    x = torch.rand(50, 2) * 2 - 1
    acts = model.inspect(x)
    hidden = acts[0]["edges"].sum(1)  # (n, 3)
    torch.testing.assert_close(hidden, model.layers[0](x))
    torch.testing.assert_close(acts[0]["edges"][:, 1, 2], 1.5 * torch.sin(2.0 * x[:, 1] + 0.5) - 0.25)
    spec = model.spec()
    assert spec["symbolic"] == [{"layer": 0, "i": 1, "j": 2, "primitive": "sin", "expr": "sin(x)",
                                 "spec": lib["sin"].to_dict(), "params": [2.0, 0.5, 1.5, -0.25]}]
    clone = KAN.from_spec(spec, lambda row: lib[row["primitive"]])
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)


def test_regrid_preserves_function_on_samples():
    model = KAN([2, 4, 1], grid=5, seed=3)
    for layer in model.layers:
        layer.coef.data = torch.randn(layer.coef.shape, generator=torch.Generator().manual_seed(1)) * 0.3
    x = torch.rand(400, 2) * 2 - 1
    before = model(x)
    model.regrid(x, 10)
    assert model.G == 10
    rel = (model(x) - before).abs().max() / before.abs().max()
    assert rel < 1e-2, rel


def test_gradients_match_finite_differences():
    model = KAN([2, 3, 1], seed=0)
    x = (torch.rand(8, 2) * 1.8 - 0.9).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp: model(inp).sum(), (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [[2], [[1, 1], 1], [2, 0, 1], [2, [-1, 2], 1]])
def test_bad_widths_rejected(bad):
    with pytest.raises(ValueError):
        normalize_width(bad)


def test_width_notation_roundtrip():
    model = KAN([2, [5, 2], 1], seed=0)
    assert model.width == [(2, 0), (5, 2), (1, 0)]
    assert model.width_spec() == [2, [5, 2], 1]
    assert model.layers[0].out_dim == 5 + 2 * 2 and model.layers[1].in_dim == 7


def test_auto_device_prefers_cpu_for_small_problems(monkeypatch):
    from kansci.core import model as model_mod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert model_mod.choose_device("auto", 10**6) == (torch.device("cpu"), "auto: no CUDA device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    dev, why = model_mod.choose_device("auto", 2000)
    assert dev == torch.device("cpu") and "small" in why
    assert model_mod.choose_device("auto", 10**6)[0] == torch.device("cuda")
    assert model_mod.choose_device("cpu", 10**6) == (torch.device("cpu"), "requested")
