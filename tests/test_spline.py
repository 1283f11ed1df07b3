"""The spline core against independent references: scipy's BSpline and a naive scalar Cox-de Boor."""
import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kansci.core import spline

pytestmark = pytest.mark.usefixtures("float64_default")  # tensors below are built without dtype arguments


@pytest.fixture(params=["numba", "torch"])
def backend(request, monkeypatch):
    """Run a test on the compiled CPU kernel and on the torch code path (the one CUDA uses)."""
    monkeypatch.setenv("KANSCI_SPLINE_KERNEL", request.param)
    assert spline.basis_backend(torch.zeros(1, 1)) == request.param
    return request.param


def naive_basis(t: np.ndarray, i: int, k: int, x: float) -> float:
    """Textbook Cox-de Boor recursion, one basis function at one point (half-open intervals)."""
    if k == 0:
        return 1.0 if t[i] <= x < t[i + 1] else 0.0
    a = 0.0 if t[i + k] == t[i] else (x - t[i]) / (t[i + k] - t[i]) * naive_basis(t, i, k - 1, x)
    b = 0.0 if t[i + k + 1] == t[i + 1] else \
        (t[i + k + 1] - x) / (t[i + k + 1] - t[i + 1]) * naive_basis(t, i + 1, k - 1, x)
    return a + b


def grids(G: int, k: int, uniform: bool) -> torch.Tensor:
    lo = torch.tensor([-1.0, 0.5])
    hi = torch.tensor([1.0, 3.0])
    if uniform:
        return spline.uniform_grid(lo, hi, G, k)
    gen = torch.Generator().manual_seed(G * 10 + k)
    samples = lo + (hi - lo) * torch.rand(500, 2, generator=gen) ** 2  # skewed: clustered near lo
    return spline.grid_from_samples(samples, G, k, grid_eps=0.0)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("G", [7, 40])  # 40: interval by bisection / searchsorted instead of counting knots
def test_basis_matches_scipy(k, uniform, G, backend):
    grid = grids(G, k, uniform)
    gen = torch.Generator().manual_seed(k)
    lo, hi = grid[:, k], grid[:, k + G]
    x = lo + (hi - lo) * torch.rand(300, 2, generator=gen)
    B = spline.bspline_basis(x, grid, k)  # (300, 2, G+k)
    assert B.shape == (300, 2, G + k)
    for dim in range(2):
        ref = BSpline.design_matrix(x[:, dim].numpy(), grid[dim].numpy(), k).toarray()
        np.testing.assert_allclose(B[:, dim].numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3])
def test_basis_matches_naive_cox_de_boor(k, backend):
    G = 5
    grid = grids(G, k, uniform=False)
    x = torch.tensor([[-0.93, 0.61], [0.0, 1.7], [0.42, 2.9]])
    B = spline.bspline_basis(x, grid, k)
    for n in range(x.shape[0]):
        for dim in range(2):
            t = grid[dim].numpy()
            ref = [naive_basis(t, i, k, float(x[n, dim])) for i in range(G + k)]
            np.testing.assert_allclose(B[n, dim].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_partition_of_unity_inside_grid_and_clamped_outside(k, backend):
    grid = grids(6, k, uniform=False)
    x = torch.linspace(0, 1, 101)[:, None] * (grid[:, k + 6] - grid[:, k]) + grid[:, k]  # includes both ends
    B = spline.bspline_basis(x, grid, k)
    torch.testing.assert_close(B.sum(-1), torch.ones_like(x), atol=1e-13, rtol=0)
    # Outside the interior range the basis equals its value at the nearest end (constant continuation).
    far = torch.stack([grid[:, 0] - 5.0, grid[:, -1] + 5.0])  # (2, d)
    ends = torch.stack([grid[:, k], grid[:, k + 6]])
    torch.testing.assert_close(spline.bspline_basis(far, grid, k), spline.bspline_basis(ends, grid, k))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("G", [6, 40])
def test_derivative_matches_scipy(k, G, backend):
    grid = grids(G, k, uniform=False)
    gen = torch.Generator().manual_seed(3)
    coef = torch.randn(2, G + k, generator=gen)
    lo, hi = grid[:, k], grid[:, k + G]
    x = (lo + (hi - lo) * torch.rand(200, 2, generator=gen)).requires_grad_(True)
    y = (spline.bspline_basis(x, grid, k) * coef).sum()
    (gx,) = torch.autograd.grad(y, x)
    for dim in range(2):
        ref = BSpline(grid[dim].numpy(), coef[dim].numpy(), k).derivative()(x[:, dim].detach().numpy())
        np.testing.assert_allclose(gx[:, dim].numpy(), ref, atol=1e-10)


def test_curve_to_coef_reproduces_spline_exactly():
    k, G = 3, 8
    grid = grids(G, k, uniform=False)
    gen = torch.Generator().manual_seed(1)
    coef = torch.randn(2, G + k, 3, generator=gen)
    lo, hi = grid[:, k], grid[:, k + G]
    x = lo + (hi - lo) * torch.rand(400, 2, generator=gen)
    y = spline.spline_eval(x, grid, coef, k)
    fitted = spline.coef_from_curve(x, y, grid, k, ridge=0.0)
    torch.testing.assert_close(fitted, coef, atol=1e-8, rtol=0)


@pytest.mark.parametrize("G_old,G_new", [(5, 10), (10, 20), (3, 6)])
def test_nested_grid_extension_preserves_function(G_old, G_new):
    """Refining a uniform grid by an integer factor represents the old spline exactly (knot insertion)."""
    k = 3
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    old, new = spline.uniform_grid(lo, hi, G_old, k), spline.uniform_grid(lo, hi, G_new, k)
    coef = torch.randn(1, G_old + k, 2, generator=torch.Generator().manual_seed(0))
    x = torch.linspace(-1, 1, 1000)[:, None]
    y_old = spline.spline_eval(x, old, coef, k)
    y_new = spline.spline_eval(x, new, spline.coef_from_curve(x, y_old, new, k), k)
    rel = (y_new - y_old).abs().max() / y_old.abs().max()
    assert rel < 1e-6, rel


def test_grid_from_samples_mixes_uniform_and_quantile():
    x = torch.linspace(0, 1, 1001)[:, None] ** 3  # dense near 0
    G, k = 4, 3
    uni = spline.grid_from_samples(x, G, k, grid_eps=1.0)[0, k : k + G + 1]
    ada = spline.grid_from_samples(x, G, k, grid_eps=0.0)[0, k : k + G + 1]
    mix = spline.grid_from_samples(x, G, k, grid_eps=0.25)[0, k : k + G + 1]
    torch.testing.assert_close(uni, torch.linspace(0, 1, G + 1))
    torch.testing.assert_close(ada, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]) ** 3)
    torch.testing.assert_close(mix, 0.25 * uni + 0.75 * ada)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_all_orders_mode_gives_second_derivatives_matching_scipy(k):
    """Inside derivatives_of_all_orders the basis is plain autograd: its second x-derivative (autograd twice) is
    scipy's BSpline second derivative, and its values equal the default path's."""
    G = 7
    one = torch.ones(1, dtype=torch.float64)
    grid = spline.uniform_grid(-one, one, G, k)
    x = torch.linspace(-0.97, 0.97, 53, dtype=torch.float64)[:, None].requires_grad_(True)
    coef = torch.randn(G + k, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    with spline.derivatives_of_all_orders():
        y = spline.bspline_basis(x, grid, k)[:, 0, :] @ coef
        (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (d2,) = torch.autograd.grad(d1.sum(), x)
    ref = BSpline(grid[0].numpy(), coef.numpy(), k)
    xs = x.detach().numpy()[:, 0]
    np.testing.assert_allclose(y.detach().numpy(), ref(xs), atol=1e-12)
    np.testing.assert_allclose(d2.numpy()[:, 0], ref.derivative(2)(xs), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(spline.bspline_basis(x.detach(), grid, k)[:, 0, :].numpy() @ coef.numpy(), ref(xs),
                               atol=1e-12)
