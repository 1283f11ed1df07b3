"""The compiled CPU kernel against the torch code path (itself checked against scipy in test_spline.py).

Covers what the shared scipy tests do not: both dtypes, the parallel and serial kernels, NaN and infinite inputs,
non-contiguous inputs, concurrent calls from threads and a forked child process.
"""
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from kansci.core import spline, spline_kernel


def _grid(d: int, G: int, k: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    samples = (torch.rand(400, d, generator=gen, dtype=torch.float64) * 2 - 1) ** 3  # skewed: non-uniform knots
    return spline.grid_from_samples(samples, G, k, grid_eps=0.1).to(dtype)


def _inputs(n: int, d: int, dtype: torch.dtype, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=gen, dtype=torch.float64) * 2.6 - 1.3).to(dtype)  # some outside the grid


def _both(x: torch.Tensor, grid: torch.Tensor, k: int, weight: torch.Tensor):
    """(basis, grad of sum(basis * weight)) from the kernel and from the torch path."""
    out = []
    for fn in (lambda t: spline_kernel.basis_with_kernel(t, grid, k), lambda t: spline._Basis.apply(t, grid, k)):
        t = x.detach().clone().requires_grad_(True)
        B = fn(t)
        (g,) = torch.autograd.grad((B * weight).sum(), t)
        out.append((B.detach(), g))
    return out


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-13), (torch.float32, 1e-5)])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("parallel", [False, True])  # serial kernel, or row blocks on numba's threads
def test_kernel_matches_torch_path(dtype, tol, k, parallel, monkeypatch):
    monkeypatch.setattr(spline_kernel, "_PARALLEL_MIN", 1 if parallel else 10**12)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        G = 9
        grid = _grid(6, G, k, dtype)
        x = _inputs(700, 6, dtype)
        weight = torch.randn(700, 6, G + k, generator=torch.Generator().manual_seed(2), dtype=dtype)
        (Bk, gk), (Bt, gt) = _both(x, grid, k, weight)
        assert (spline_kernel._parallel["pid"] == os.getpid()) or not parallel
    finally:
        torch.set_num_threads(threads)
    assert Bk.dtype == dtype and Bk.shape == (700, 6, G + k)
    torch.testing.assert_close(Bk, Bt, atol=tol, rtol=0)
    torch.testing.assert_close(gk, gt, atol=tol * 10, rtol=tol * 10)
    outside = (x < grid[:, k]) | (x > grid[:, k + G])
    assert outside.any() and (gk[outside] == 0).all()  # constant continuation: zero slope outside


def test_nan_propagates_and_infinity_clamps():
    k, G = 3, 30
    grid = _grid(2, G, k, torch.float64)
    inf = float("inf")
    x = torch.tensor([[float("nan"), 0.2], [inf, -inf]], dtype=torch.float64, requires_grad=True)
    B = spline.bspline_basis(x, grid, k)
    assert torch.isnan(B[0, 0]).any() and not torch.isnan(B[0, 1]).any()
    ends = spline.bspline_basis(torch.stack([grid[0, k + G], grid[1, k]])[None], grid, k)
    torch.testing.assert_close(B[1], ends[0])  # +inf -> right end of input 0, -inf -> left end of input 1
    (g,) = torch.autograd.grad(B.nan_to_num().sum(), x)
    assert torch.isnan(g[0, 0]) and g[1].abs().sum() == 0


def test_non_contiguous_input_and_grid_of_other_dtype():
    k, G = 3, 5
    grid = _grid(4, G, k, torch.float64)
    xt = _inputs(4, 50, torch.float32).T  # (50, 4), not contiguous
    assert not xt.is_contiguous()
    B = spline_kernel.basis_with_kernel(xt, grid, k)
    ref = spline._Basis.apply(xt.contiguous(), grid.to(torch.float32), k)
    torch.testing.assert_close(B, ref, atol=1e-6, rtol=0)


def test_no_gradient_requested_saves_nothing():
    grid = _grid(3, 5, 3, torch.float64)
    B = spline.bspline_basis(_inputs(10, 3, torch.float64), grid, 3)
    assert B.grad_fn is None and B.shape == (10, 3, 8)


def test_backend_choice():
    assert spline.basis_backend(torch.zeros(2, 2)) == "numba"
    assert spline.basis_backend(torch.zeros(2, 2, dtype=torch.float16)) == "torch"  # unsupported dtype: torch path


def test_concurrent_calls_from_threads_agree(monkeypatch):
    monkeypatch.setattr(spline_kernel, "_PARALLEL_MIN", 1)
    grid = _grid(8, 5, 3, torch.float64)
    xs = [_inputs(3000, 8, torch.float64, seed=s) for s in range(6)]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda t: spline_kernel.basis_with_kernel(t, grid, 3), xs))
    for x, B in zip(xs, got):
        torch.testing.assert_close(B, spline._Basis.apply(x, grid, 3), atol=1e-13, rtol=0)


def _child(conn, x, grid, expected) -> None:
    """In a forked child of a process that launched numba's threads: the serial kernels must run (a parallel launch
    here would be terminated). Torch ops are avoided: torch's own OpenMP pool does not survive a fork either."""
    B = spline_kernel.basis_with_kernel(x, grid, 3)
    conn.send(bool(np.array_equal(B.numpy(), expected.numpy())))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_serial_kernels(monkeypatch):
    monkeypatch.setattr(spline_kernel, "_PARALLEL_MIN", 1)
    grid = _grid(8, 5, 3, torch.float64)
    x = _inputs(5000, 8, torch.float64)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = spline_kernel.basis_with_kernel(x, grid, 3)  # the parent launches numba's threads
        assert spline_kernel._parallel["pid"] == os.getpid()
    finally:
        torch.set_num_threads(threads)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, x, grid, expected))
    proc.start()
    proc.join(60)
    if proc.is_alive():
        proc.kill()
    assert proc.exitcode == 0, proc.exitcode
    assert parent.recv() is True


def test_a_threading_layer_that_fails_disables_the_parallel_path(monkeypatch):
    def broken(*args):
        raise ValueError("No threading layer could be loaded.")

    monkeypatch.setattr(spline_kernel, "_PARALLEL_MIN", 1)
    monkeypatch.setattr(spline_kernel, "_cubic_blocks", broken)
    monkeypatch.setitem(spline_kernel._parallel, "broken", False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grid = _grid(4, 5, 3, torch.float64)
        x = _inputs(300, 4, torch.float64)
        B = spline_kernel.basis_with_kernel(x, grid, 3)
    finally:
        torch.set_num_threads(threads)
    assert spline_kernel._parallel["broken"] is True
    torch.testing.assert_close(B, spline._Basis.apply(x, grid, 3), atol=1e-13, rtol=0)
