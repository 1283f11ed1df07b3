"""The house plan's import rules, read from the source with ``ast`` (every import counts, lazy ones included):
no import cycles between kansci modules, and imports point down the layers

    base (errors, config, data, expr, metrics, budget, atomic, units) < core < {train, prune, symbolic, plots, rundir}
    < discover < pipeline < {api, bench} < cli

A module may import its own package's modules and anything in a lower layer, never sideways across packages of
one layer nor upward."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kansci"
LAYERS: dict[str, int] = {
    "errors": 0, "config": 0, "data": 0, "expr": 0, "metrics": 0, "budget": 0, "atomic": 0, "units": 0,
    "core": 1,
    "train": 2, "prune": 2, "symbolic": 2, "plots": 2, "rundir": 2,
    "discover": 3,
    "pipeline": 4,
    "api": 5, "bench": 5,
    "cli": 6, "__main__": 7,
}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imported(module: str, source: str, is_package: bool = False) -> set[str]:
    """kansci modules that ``module`` imports in ``source`` (``from pkg import name`` counts as pkg.name when that
    is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != "kansci" and name != module and not module.startswith(name + "."):
                out.add(name)
    return out


GRAPH = {m: imported(m, p.read_text(encoding="utf-8"), p.name == "__init__.py") for m, p in MODULES.items()}


def package(module: str) -> str:
    return module.split(".")[1] if module != "kansci" else ""


def test_every_package_has_a_layer() -> None:
    missing = sorted({package(m) for m in MODULES if m != "kansci"} - set(LAYERS))
    assert not missing, f"add these packages to LAYERS (and to DESIGN.md): {missing}"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def violations(module: str, targets: set[str]) -> list[str]:
    """The targets ``module`` may not import: another package of the same or a higher layer (base modules may use
    each other)."""
    here = LAYERS[package(module)]
    return [t for t in sorted(targets) if package(t) != package(module) and LAYERS.get(package(t), 99) >= here
            and not LAYERS[package(t)] == 0 == here]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "kansci"))
def test_imports_point_down(module: str) -> None:
    wrong = violations(module, GRAPH[module])
    assert not wrong, f"{module} (layer {LAYERS[package(module)]}) imports {wrong}: sideways or upward"


def test_the_checker_finds_upward_sideways_and_lazy_imports() -> None:
    src = ("from kansci.core.layer import KANLayer\n"
           "def f():\n    from kansci.pipeline.common import predict\n    import kansci.symbolic.primitives\n")
    found = imported("kansci.rundir.store", src)
    assert found == {"kansci.core.layer", "kansci.pipeline.common", "kansci.symbolic.primitives"}
    assert violations("kansci.rundir.store", found) == ["kansci.pipeline.common", "kansci.symbolic.primitives"]
    assert violations("kansci.cli.run", found) == []
