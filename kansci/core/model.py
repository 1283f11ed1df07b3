"""KAN: a stack of :class:`KANLayer` with sum nodes and KAN 2.0 multiplication nodes.

Width notation: ``[2, 5, 1]`` or ``[2, [5, 2], 1]`` = 5 sum nodes and 2 multiplication nodes in the hidden layer.
Layer ``l`` maps the ``n_sum + n_mult`` nodes of node layer ``l`` to the *subnodes* of node layer ``l + 1``:
``n_sum + arity * n_mult`` of them. Subnode ``j < n_sum`` is sum node ``j``; subnodes
``n_sum + m * arity ... n_sum + (m + 1) * arity - 1`` are multiplied into multiplication node ``n_sum + m``.

The architecture is a plain dict (:meth:`KAN.spec`), saved beside the ``state_dict``, so a model rebuilds without
pickle: ``KAN.from_spec(spec, resolve_primitive)`` then ``load_state_dict``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from kansci.core.layer import KANLayer, PrimitiveLike

WidthSpec = Sequence[int | Sequence[int]]


def normalize_width(width: WidthSpec) -> list[tuple[int, int]]:
    """``[2, [5, 2], 1]`` -> ``[(2, 0), (5, 2), (1, 0)]``. Raises ValueError on malformed widths."""
    out: list[tuple[int, int]] = []
    for w in width:
        if isinstance(w, (list, tuple)):
            if len(w) != 2:
                raise ValueError(f"width entry {w!r} must be an int or [n_sum, n_mult]")
            pair = (int(w[0]), int(w[1]))
        else:
            pair = (int(w), 0)
        if pair[0] < 0 or pair[1] < 0 or sum(pair) == 0:
            raise ValueError(f"width entry {w!r} must have at least one node and no negative counts")
        out.append(pair)
    if len(out) < 2:
        raise ValueError(f"width {list(width)!r} needs at least an input and an output layer")
    if out[0][1] != 0:
        raise ValueError("the input layer cannot have multiplication nodes")
    return out


#: Below this many data rows, ``device: auto`` stays on the CPU even when CUDA is available: symbolic-regression
#: sized problems (thousands of rows, tens of edges) are dominated by kernel-launch latency and LBFGS's host-side
#: line search, which a GPU does not speed up.
AUTO_CUDA_MIN_ROWS = 50_000


def resolve_device(device: str, n_rows: int | None = None) -> torch.device:
    """``auto`` -> CUDA when available and the data is large (``n_rows >= AUTO_CUDA_MIN_ROWS``, or unknown), else
    CPU. Anything else is passed to ``torch.device``."""
    return choose_device(device, n_rows)[0]


def choose_device(device: str, n_rows: int | None = None) -> tuple[torch.device, str]:
    """The device and a one-line reason, for logs (``device: cpu (auto: ...)``)."""
    if device != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            from kansci.errors import ConfigError

            raise ConfigError("model.device is 'cuda' but no CUDA device is available",
                              "use --device cpu or auto (auto picks CUDA when there is one)")
        return dev, "requested"
    if not torch.cuda.is_available():
        return torch.device("cpu"), "auto: no CUDA device"
    if n_rows is not None and n_rows < AUTO_CUDA_MIN_ROWS:
        return torch.device("cpu"), f"auto: {n_rows} rows is small; CUDA pays off from about {AUTO_CUDA_MIN_ROWS}"
    return torch.device("cuda"), "auto: CUDA available and the data is large"


class KAN(nn.Module):
    """Kolmogorov-Arnold Network. Input (batch, n_in) -> output (batch, n_out), all tensors on one device."""

    def __init__(
        self,
        width: WidthSpec,
        *,
        grid: int = 3,
        k: int = 3,
        mult_arity: int = 2,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        base_fun: str = "silu",
        init_noise: float = 0.1,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.width = normalize_width(width)
        if mult_arity < 2:
            raise ValueError("mult_arity must be >= 2")
        self.mult_arity, self.k, self.grid_eps, self.base_fun = mult_arity, k, grid_eps, base_fun
        self.grid_range, self.init_noise = (float(grid_range[0]), float(grid_range[1])), init_noise
        gen = torch.Generator().manual_seed(seed)
        layers = []
        for l in range(len(self.width) - 1):
            n_in = sum(self.width[l])
            n_sum, n_mult = self.width[l + 1]
            layers.append(
                KANLayer(
                    n_in, n_sum + mult_arity * n_mult, G=grid, k=k, grid_range=grid_range, grid_eps=grid_eps,
                    base_fun=base_fun, init_noise=init_noise, generator=gen, dtype=dtype, device=device,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.seed = seed

    # ----------------------------------------------------------------------------------------------- properties
    @property
    def n_in(self) -> int:
        return self.width[0][0]

    @property
    def n_out(self) -> int:
        return sum(self.width[-1])

    @property
    def G(self) -> int:
        return self.layers[0].G

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].grid.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].grid.device

    def width_spec(self) -> list[int | list[int]]:
        """Width in the compact notation: ints where a layer has no multiplication nodes."""
        return [s if m == 0 else [s, m] for s, m in self.width]

    # ------------------------------------------------------------------------------------------------- forward
    def combine(self, l: int, z: torch.Tensor) -> torch.Tensor:
        """Subnodes of node layer ``l`` (batch, n_sum + arity*n_mult) -> nodes (batch, n_sum + n_mult)."""
        n_sum, n_mult = self.width[l]
        if n_mult == 0:
            return z
        prod = z[:, n_sum:].reshape(z.shape[0], n_mult, self.mult_arity).prod(dim=-1)  # (batch, n_mult)
        return torch.cat([z[:, :n_sum], prod], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_in) -> (batch, n_out)."""
        assert x.dim() == 2 and x.shape[1] == self.n_in, (x.shape, self.n_in)
        for l, layer in enumerate(self.layers):
            x = self.combine(l + 1, layer(x))
        return x

    @torch.no_grad()
    def inspect(self, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """The inspect pass on a batch you choose. Per layer: ``inputs`` (n, in), ``edges`` (n, in, out subnodes),
        ``outputs`` (n, nodes of the next layer)."""
        acts = []
        for l, layer in enumerate(self.layers):
            edges = layer.edge_values(x)  # (n, in, out)
            out = self.combine(l + 1, layer(x))
            acts.append({"inputs": x, "edges": edges, "outputs": out})
            x = out
        return acts

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """``load_state_dict`` that also accepts a state saved at another grid size (resizes grids and coefs)."""
        for l, layer in enumerate(self.layers):
            grid = state.get(f"layers.{l}.grid")
            if grid is not None and grid.shape != layer.grid.shape:
                layer.grid = grid.to(layer.grid).clone()
                layer.coef = nn.Parameter(state[f"layers.{l}.coef"].to(layer.coef).clone())
        self.load_state_dict(state)

    # ------------------------------------------------------------------------------------------------ grids
    @torch.no_grad()
    def regrid(self, x: torch.Tensor, G: int | None = None) -> None:
        """Update every layer's grid from the samples x (n, n_in) flowing through it (optionally to size G)."""
        for l, layer in enumerate(self.layers):
            layer.regrid(x, G)
            x = self.combine(l + 1, layer(x))

    def active_edges(self) -> list[tuple[int, int, int]]:
        """All unmasked edges as (layer, i, j)."""
        out = []
        for l, layer in enumerate(self.layers):
            for i, j in torch.nonzero(layer.mask > 0).tolist():
                out.append((l, i, j))
        return out

    def numeric_edges(self) -> list[tuple[int, int, int]]:
        return [e for e in self.active_edges() if e[1:] not in self.layers[e[0]].symbolic]

    # ----------------------------------------------------------------------------------------------- spec
    def spec(self) -> dict[str, Any]:
        """The architecture, masks excluded (they are buffers in the state_dict), symbolic edges as data."""
        return {
            "width": self.width_spec(),
            "grid": self.G,
            "k": self.k,
            "mult_arity": self.mult_arity,
            "grid_range": list(self.grid_range),
            "grid_eps": self.grid_eps,
            "base_fun": self.base_fun,
            "init_noise": self.init_noise,
            "seed": self.seed,
            "dtype": str(self.dtype).replace("torch.", ""),
            "symbolic": [dict(layer=l, **row) for l, layer in enumerate(self.layers) for row in layer.symbolic_spec()],
        }

    @classmethod
    def from_spec(
        cls,
        spec: dict[str, Any],
        resolve_primitive: Callable[[dict[str, Any]], PrimitiveLike] | None = None,
        device: torch.device | str = "cpu",
    ) -> KAN:
        """Rebuild a model (fresh weights) from :meth:`spec`; symbolic edges need ``resolve_primitive(row)``."""
        model = cls(
            spec["width"], grid=int(spec["grid"]), k=int(spec["k"]), mult_arity=int(spec["mult_arity"]),
            grid_range=tuple(spec["grid_range"]), grid_eps=float(spec["grid_eps"]), base_fun=spec["base_fun"],
            init_noise=float(spec["init_noise"]), seed=int(spec["seed"]),
            dtype=getattr(torch, spec["dtype"]), device=device,
        )
        rows = spec.get("symbolic", [])
        if rows and resolve_primitive is None:
            raise ValueError("spec has symbolic edges: pass resolve_primitive")
        for row in rows:
            model.layers[row["layer"]].set_symbolic(row["i"], row["j"], resolve_primitive(row), row["params"])
        return model
