"""The same law through other dimensionless groups: a structure that one basis hides, another shows.

Buckingham's theorem fixes how many groups there are, not which: for u, v, c (all speeds) the groups can be
(c/u, v/u) or (u/c, v/c), and relativistic velocity addition is (a + b)/(1 + a·b) in the second basis but a tangle
in the first. :func:`reduce <kansci.units.reduce>` picks the simplest basis by exponents alone. When the structure
search on that basis verifies nothing, :func:`search_other_bases` searches the next simplest ones
(:func:`~kansci.units.reductions`), with no new training: the network trained on the chosen groups is a surrogate
for every basis. At a point π' of another basis, the inputs x(π') with that basis's repeating variables at 1 and
each own variable equal to its group give y(x) = Φ'(π') (the other prefactor is 1 there), and the trained network
gives y(x) = P(x)·Φ(π(x)). A formula found for Φ' is rewritten as one for Φ (``restore`` then ``phi_from``) and
finished on the chosen basis's rows like every other candidate.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
import torch

from kansci.budget import expired, remaining
from kansci.config import Config
from kansci.core.model import KAN
from kansci.data import Dataset
from kansci.discover.surrogate import Surrogate, from_kan
from kansci.pipeline.candidates import finish
from kansci.pipeline.discovery import discover
from kansci.pipeline.units_step import RunUnits, reduced_dataset
from kansci.pipeline.units_weights import weighted_rows
from kansci.symbolic.exports import make_symbols
from kansci.train.loop import TrainData
from kansci.units import Reduction, reductions

__all__ = ["OTHER_BASES", "other_bases", "surrogate_in", "search_other_bases"]

OTHER_BASES = 3  # bases tried after the chosen one (the next simplest)


def _same(a: Reduction, b: Reduction) -> bool:
    return a.group_exponents == b.group_exponents and a.prefactor_exponents == b.prefactor_exponents


def other_bases(units: RunUnits, limit: int = OTHER_BASES) -> list[Reduction]:
    """Up to ``limit`` other reductions of the run's units, simplest first: each group's own variable with exponent
    1 (so that x(π') exists for every π'), finite on the original rows."""
    red, ds = units.reduction, units.original
    if red is None or ds is None:
        return []
    found = reductions(units.declared.input_dims(), units.declared.target.dim, 4 * limit + 1)
    if not isinstance(found, list):
        return []
    out = []
    for alt in found:
        if _same(alt, red) or any(g[j] != 1 for g, j in zip(alt.group_exponents, alt.own)):
            continue
        if alt.applicable(ds.X, ds.y) is None:
            out.append(alt)
        if len(out) == limit:
            break
    return out


def surrogate_in(alt: Reduction, red: Reduction, f: Surrogate) -> Surrogate:
    """Φ' of basis ``alt`` from ``f``, a surrogate of Φ on ``red``'s groups: Z (n, k) -> (n,)."""
    n_in = len(red.inputs)
    group_exps = [torch.tensor([float(e) for e in g], dtype=torch.float64) for g in red.group_exponents]
    pref = torch.tensor([float(e) for e in red.prefactor_exponents], dtype=torch.float64)

    def monomial(x: torch.Tensor, exps: torch.Tensor) -> torch.Tensor:
        out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(n_in):
            if float(exps[i]) != 0.0:
                out = out * x[:, i] ** float(exps[i])
        return out

    def fn(Z: torch.Tensor) -> torch.Tensor:
        assert Z.dim() == 2 and Z.shape[1] == len(alt.own), Z.shape
        x = torch.ones(Z.shape[0], n_in, dtype=Z.dtype, device=Z.device)
        for g, j in enumerate(alt.own):
            x[:, j] = Z[:, g]
        pi = torch.stack([monomial(x, e) for e in group_exps], dim=1) if group_exps else x[:, :0]
        return monomial(x, pref) * f(pi)

    return fn


def _in_basis(expr: sympy.Expr, alt: Reduction, red: Reduction, symbols: list[sympy.Symbol]) -> sympy.Expr:
    """A formula for Φ' (in ``alt``'s group symbols) as one for Φ in ``symbols`` (``red``'s groups)."""
    phi = red.phi_from(alt.restore(expr))
    by_name = {s.name: s for s in symbols}
    return phi.xreplace({s: by_name[s.name] for s in phi.free_symbols if isinstance(s, sympy.Symbol)
                         and s.name in by_name})


def search_other_bases(network: KAN, data: TrainData, ds: Dataset, rows: Dataset, units: RunUnits, cfg: Config,
                       symbols: list[sympy.Symbol], deadline: float | None, accept: float,
                       log: Callable[[str], None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(finished candidates for Φ on ``ds``'s groups, one record per basis searched) from the other bases, each
    given an equal share of the time to ``deadline``; stops at the first verified one (NMSE within ``accept``).
    ``rows``: the rows the candidates are finished on (``ds`` itself, or drawn by the units' weights)."""
    red, original = units.reduction, units.original
    assert red is not None and original is not None
    f = from_kan(network, ds.x_norm.shift, ds.x_norm.scale, float(ds.y_norm.shift[0]), float(ds.y_norm.scale[0]))
    bases = other_bases(units)
    out: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for k, alt in enumerate(bases):
        if expired(deadline):
            break
        share = None if deadline is None else time.perf_counter() + remaining(deadline) / (len(bases) - k)
        alt_ds = reduced_dataset(original, alt)
        alt_rows = alt_ds
        if units.weights is not None:  # Φ' = y / P' has noise σ/P': the weights move with the prefactor
            ratio = alt.prefactor_values(original.X) / red.prefactor_values(original.X)
            alt_rows = weighted_rows(alt_ds, units.weights * ratio**2, cfg.seed)
        alt_symbols = make_symbols(list(alt.group_names), alt_ds.X)
        log(f"structure: other groups: {alt.describe(original.target_name)}")
        found = discover(network, data, alt_rows, cfg, alt_symbols, share, log, surrogate=surrogate_in(alt, red, f))
        verified = False
        for c in found.candidates:
            if out and expired(share):
                break
            try:
                expr = _in_basis(c["formula"].expr, alt, red, symbols)
            except (TypeError, ValueError, ZeroDivisionError):
                continue
            done = finish(expr, rows, symbols, cfg, share)
            if not np.isfinite(done["nmse"]):
                continue
            done.update(how=f"{c['how']}, in the groups {', '.join(map(sympy.sstr, alt.groups))}", tree=c["tree"])
            out.append(done)
            verified = verified or done["nmse"] <= accept
        records.append({"reduction": alt.describe(original.target_name), "verified": verified,
                        "candidates": found.record.get("candidates", [])})
        if verified:
            break
    return out, records
