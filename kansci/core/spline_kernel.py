"""Compiled CPU kernels (numba) for the local B-spline basis: one pass per input, no temporaries.

:func:`kansci.core.spline.bspline_basis` uses these on CPU for float32/float64 tensors; on CUDA, for other dtypes,
when numba is missing, or with ``KANSCI_SPLINE_KERNEL=torch`` it uses its vectorised torch code instead. Both
follow the same conventions (clamping outside the interior range, interval ownership at knots) and agree to
rounding; the tests compare them and scipy.

What a kernel does per input value ``x[b, i]``:

1. clamp to the interior range ``[g_k, g_{k+G}]`` of input i's knots;
2. find the interval s (a count of interior knots ``<= x`` for small G, bisection beyond);
3. run de Boor's triangle for the k+1 non-zero bases. Its denominators are knot differences that do not depend on
   x, so they come from a per-call table of reciprocals and the triangle needs no division;
4. write the whole row ``B[b, i, :]`` (zeros and the k+1 values), and when asked the k+1 x-derivatives (zero
   outside the range) plus s for the backward, which reads back only those k+1 gradient entries.

k = 3 has a hand-unrolled kernel (the default order, faster than the general one); other orders use the general
triangle. Large batches are cut into row blocks run in parallel by numba's OpenMP threading layer (one block per
torch thread); a Python thread pool gains nothing, because torch's spinning OpenMP workers hold the other cores
right after a torch op (the measurements behind these choices are in ``docs/performance_notes.md``). The layer's
hazards are fenced off: a forked child of a process that launched it (GNU OpenMP cannot continue after
fork, numba terminates such a child) and concurrent launches from two threads (fatal for numba's work-queue layer)
both run the serial kernels instead, and a layer that fails to load disables the parallel path. numba is asked to
prefer OpenMP (its default order tries TBB first, which fights torch's OpenMP threads) unless
``NUMBA_THREADING_LAYER`` is set. Results do not depend on the blocks: each row is computed alone. Compiled code is
cached on disk by numba, so only the first use on a machine pays the compile time.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import torch

try:  # numba is a dependency; without it (or with KANSCI_SPLINE_KERNEL=torch) the torch code path is used
    import numba
    from numba import prange
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None
else:
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

__all__ = ["usable", "basis_with_kernel"]

_SEARCH_ABOVE_G = 16  # count knots up to this many intervals, bisect beyond
_PARALLEL_MIN = 16384  # inputs (rows * d) below which one thread beats splitting the rows (docs/performance_notes.md)
_launch = threading.Lock()  # one parallel launch at a time; a thread that finds it taken runs serially
_parallel = {"pid": None, "broken": False}  # process that launched numba's threads; whether the layer failed


def usable(x: torch.Tensor) -> bool:
    """Whether the compiled kernel handles ``x``: CPU, float32/float64, numba present and not switched off."""
    return (numba is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and os.environ.get("KANSCI_SPLINE_KERNEL", "numba") != "torch")


if numba is not None:
    _jit = dict(cache=True, nogil=True, error_model="numpy")

    @numba.njit(**_jit)
    def _reciprocals(grid, k):
        """(k + 1, d, m) table: ``[j, i, m] = 1 / (t_i[m + j] - t_i[m])`` for 1 <= j <= k (0 past the end)."""
        d, m = grid.shape
        out = np.zeros((k + 1, d, m), dtype=grid.dtype)
        for j in range(1, k + 1):
            for i in range(d):
                for a in range(m - j):
                    out[j, i, a] = 1.0 / (grid[i, a + j] - grid[i, a])
        return out

    @numba.njit(inline="always", **_jit)
    def _interval(grid, i, k, G, xc):
        """Interior interval index s in [0, G-1] of xc: the number of interior knots g_{k+1..k+G-1} <= xc."""
        if G <= _SEARCH_ABOVE_G:
            s = 0
            for m in range(1, G):
                s += xc >= grid[i, k + m]
            return s
        lo, hi = 0, G - 1  # answer in [lo, hi]: knots k+1..k+lo are <= xc, knots beyond k+hi are > xc
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if grid[i, k + mid] <= xc:
                lo = mid
            else:
                hi = mid - 1
        return lo

    @numba.njit(inline="always", **_jit)
    def _blank_row(B, dN, S, b, i, xv, k, deriv):
        """Zero row ``B[b, i]``; for a NaN input also fill the k+1 values (and derivatives) with NaN, as the torch
        path does, and return True (the row is done)."""
        for m in range(B.shape[2]):
            B[b, i, m] = 0.0
        if xv == xv:
            return False
        for r in range(k + 1):
            B[b, i, r] = xv
            if deriv:
                dN[b, i, r] = xv
        S[b, i] = 0
        return True

    @numba.njit(**_jit)
    def _cubic_rows(x, grid, R, B, dN, S, deriv):
        """k = 3: fill B (n, d, G+3), S (n, d), and dN (n, d, 4) when ``deriv``."""
        n, d = x.shape
        G = grid.shape[1] - 7
        zero = x.dtype.type(0.0)
        for b in range(n):
            for i in range(d):
                lo, hi, xv = grid[i, 3], grid[i, 3 + G], x[b, i]
                if _blank_row(B, dN, S, b, i, xv, 3, deriv):
                    continue
                xc = min(max(xv, lo), hi)
                s = _interval(grid, i, 3, G, xc)
                p = s + 3  # knot index of the interval's left end
                l1, r1 = xc - grid[i, p], grid[i, p + 1] - xc
                l2, r2 = xc - grid[i, p - 1], grid[i, p + 2] - xc
                l3, r3 = xc - grid[i, p - 2], grid[i, p + 3] - xc
                a = R[1, i, p]  # level 1: N = [r1, l1] / (t[p+1] - t[p])
                t0, t1 = r1 * a * R[2, i, p - 1], l1 * a * R[2, i, p]  # level 2 quotients
                c0, c1, c2 = r1 * t0, l2 * t0 + r2 * t1, l1 * t1
                u0, u1, u2 = c0 * R[3, i, p - 2], c1 * R[3, i, p - 1], c2 * R[3, i, p]  # level 3 quotients
                B[b, i, s] = r1 * u0
                B[b, i, s + 1] = l3 * u0 + r2 * u1
                B[b, i, s + 2] = l2 * u1 + r3 * u2
                B[b, i, s + 3] = l1 * u2
                S[b, i] = s
                if deriv:
                    f = x.dtype.type(3.0) if lo <= xv <= hi else zero
                    dN[b, i, 0] = -f * u0
                    dN[b, i, 1] = f * (u0 - u1)
                    dN[b, i, 2] = f * (u1 - u2)
                    dN[b, i, 3] = f * u2

    @numba.njit(**_jit)
    def _general_rows(x, grid, R, k, B, dN, S, deriv):
        """Any order k >= 1: the same as :func:`_cubic_rows` with de Boor's triangle in loops."""
        n, d = x.shape
        G = grid.shape[1] - 2 * k - 1
        zero = x.dtype.type(0.0)
        for b in range(n):
            N = np.empty(k + 1, dtype=x.dtype)
            left = np.empty(k + 1, dtype=x.dtype)
            right = np.empty(k + 1, dtype=x.dtype)
            temp = np.empty(k + 1, dtype=x.dtype)
            for i in range(d):
                lo, hi, xv = grid[i, k], grid[i, k + G], x[b, i]
                if _blank_row(B, dN, S, b, i, xv, k, deriv):
                    continue
                xc = min(max(xv, lo), hi)
                s = _interval(grid, i, k, G, xc)
                p = s + k
                N[0] = 1.0
                for j in range(1, k + 1):
                    left[j] = xc - grid[i, p + 1 - j]
                    right[j] = grid[i, p + j] - xc
                    saved = zero
                    for r in range(j):
                        t = N[r] * R[j, i, p + r + 1 - j]  # N[r] / (t[p+r+1] - t[p+r+1-j])
                        temp[r] = t
                        N[r] = saved + right[r + 1] * t
                        saved = left[j - r] * t
                    N[j] = saved
                for r in range(k + 1):
                    B[b, i, s + r] = N[r]
                S[b, i] = s
                if deriv:
                    f = x.dtype.type(k) if lo <= xv <= hi else zero
                    prev = zero
                    for r in range(k):
                        dN[b, i, r] = f * (prev - temp[r])
                        prev = temp[r]
                    dN[b, i, k] = f * prev

    @numba.njit(**_jit)
    def _grad_rows(g, dN, S, out):
        """grad_x[b, i] = sum_r g[b, i, S + r] * dN[b, i, r]."""
        n, d = S.shape
        for b in range(n):
            for i in range(d):
                s, acc = S[b, i], g.dtype.type(0.0)
                for r in range(dN.shape[2]):
                    acc += g[b, i, s + r] * dN[b, i, r]
                out[b, i] = acc



if numba is not None:
    @numba.njit(parallel=True, **_jit)
    def _cubic_blocks(blocks, x, grid, R, B, dN, S, deriv):
        """:func:`_cubic_rows` on ``blocks`` row blocks in parallel."""
        n = x.shape[0]
        for j in prange(blocks):
            lo, hi = n * j // blocks, n * (j + 1) // blocks
            if deriv:
                _cubic_rows(x[lo:hi], grid, R, B[lo:hi], dN[lo:hi], S[lo:hi], deriv)
            else:
                _cubic_rows(x[lo:hi], grid, R, B[lo:hi], dN, S[lo:hi], deriv)

    @numba.njit(parallel=True, **_jit)
    def _general_blocks(blocks, x, grid, R, k, B, dN, S, deriv):
        """:func:`_general_rows` on ``blocks`` row blocks in parallel."""
        n = x.shape[0]
        for j in prange(blocks):
            lo, hi = n * j // blocks, n * (j + 1) // blocks
            if deriv:
                _general_rows(x[lo:hi], grid, R, k, B[lo:hi], dN[lo:hi], S[lo:hi], deriv)
            else:
                _general_rows(x[lo:hi], grid, R, k, B[lo:hi], dN, S[lo:hi], deriv)

    @numba.njit(parallel=True, **_jit)
    def _grad_blocks(blocks, g, dN, S, out):
        """:func:`_grad_rows` on ``blocks`` row blocks in parallel."""
        n = S.shape[0]
        for j in prange(blocks):
            lo, hi = n * j // blocks, n * (j + 1) // blocks
            _grad_rows(g[lo:hi], dN[lo:hi], S[lo:hi], out[lo:hi])


def _run(serial, parallel, work: int, *args) -> None:
    """``parallel(blocks, *args)`` when it pays and is safe (see the module notes), else ``serial(*args)``."""
    threads = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    pid = os.getpid()
    if (threads < 2 or work < _PARALLEL_MIN or _parallel["broken"] or _parallel["pid"] not in (None, pid)
            or not _launch.acquire(blocking=False)):
        return serial(*args)
    try:
        _parallel["pid"] = pid
        numba.set_num_threads(threads)
        parallel(threads, *args)
    except (ValueError, RuntimeError, ImportError, OSError):  # no loadable threading layer on this machine
        _parallel["broken"] = True
        serial(*args)
    finally:
        _launch.release()


class _KernelBasis(torch.autograd.Function):
    """Dense basis from the compiled kernel; saves the k+1 derivative planes and the interval index."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:  # type: ignore[override]
        n, d = x.shape
        G = grid.shape[1] - 2 * k - 1
        deriv = x.requires_grad
        xn = x.detach().contiguous().numpy()
        gn = grid.detach().to(x.dtype).contiguous().numpy()
        B = torch.empty(n, d, G + k, dtype=x.dtype)
        dN = torch.empty((n, d, k + 1) if deriv else (0, 0, k + 1), dtype=x.dtype)
        S = torch.empty(n, d, dtype=torch.int32)
        R = _reciprocals(gn, k)
        if k == 3:
            _run(_cubic_rows, _cubic_blocks, n * d, xn, gn, R, B.numpy(), dN.numpy(), S.numpy(), deriv)
        else:
            _run(_general_rows, _general_blocks, n * d, xn, gn, R, k, B.numpy(), dN.numpy(), S.numpy(), deriv)
        if deriv:
            ctx.save_for_backward(dN, S)
        return B

    @staticmethod
    def backward(ctx, grad_B: torch.Tensor):  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None
        dN, S = ctx.saved_tensors
        g = grad_B.contiguous()
        out = torch.empty(S.shape, dtype=g.dtype)
        _run(_grad_rows, _grad_blocks, S.numel(), g.numpy(), dN.numpy(), S.numpy(), out.numpy())
        return out, None, None


def basis_with_kernel(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """Dense basis (n, d, G + k) of x (n, d) on grid (d, G + 2k + 1), differentiable in x. Requires usable(x)."""
    assert usable(x) and k >= 1, (x.device, x.dtype, k)
    return _KernelBasis.apply(x, grid, k)
