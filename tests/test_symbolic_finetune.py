"""End-to-end fine-tune of symbolic edges (Levenberg-Marquardt) and the Jacobian used by formula polishing."""
import time

import pytest
import sympy
import torch

from kansci.budget import with_grace
from kansci.core.model import KAN
from kansci.expr.evaluate import to_torch
from kansci.symbolic.lm import jacobian
from kansci.symbolic.primitives import default_library
from kansci.symbolic.select import finetune_symbolic, symbolic_edges, symbolic_output

pytestmark = pytest.mark.usefixtures("float64_default")

LIB = default_library()


def product_net(params: dict[tuple[int, int, int], list[float]]) -> KAN:
    """[2, [1, 1], 1]: edge (0, 0, 0) sin, (0, 1, 0) x^2 into the sum node, (0, 0, 1) and (0, 1, 2) x into the
    product node, then exp and x on the output edges."""
    model = KAN([2, [1, 1], 1], seed=0)
    prims = {(0, 0, 0): "sin", (0, 1, 0): "x^2", (0, 0, 1): "x", (0, 1, 2): "x", (1, 0, 0): "exp", (1, 1, 0): "x"}
    for (l, i, j), name in prims.items():
        model.layers[l].set_symbolic(i, j, LIB[name], params[(l, i, j)])
    for i, j in [(1, 1), (0, 2)]:  # edges not listed carry nothing
        model.layers[0].mask[i, j] = 0
    return model


TRUE = {(0, 0, 0): [3.0, 0.0, 1.0, 0.0], (0, 1, 0): [1.0, 0.0, 1.0, 0.0], (0, 0, 1): [1.0, 0.0, 1.0, 0.0],
        (0, 1, 2): [1.0, 0.0, 1.0, 0.0], (1, 0, 0): [1.0, 0.0, 1.0, 0.0], (1, 1, 0): [1.0, 0.0, 1.0, 0.0]}


def data(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        return x, product_net(TRUE)(x)


def test_symbolic_output_is_the_model_output():
    model = product_net({k: [v[0] * 1.1, 0.1, v[2] * 0.9, -0.2] for k, v in TRUE.items()})
    x, _ = data()
    edges = symbolic_edges(model)
    assert len(edges) == 6
    theta = torch.cat([model.layers[l].sym_params[i, j] for l, i, j, _ in edges])
    with torch.no_grad():
        torch.testing.assert_close(symbolic_output(model, edges, x, theta), model(x)[:, 0], rtol=1e-13, atol=1e-13)


def test_finetune_reaches_rounding_level_on_an_exact_assignment():
    x, y = data()
    model = product_net({k: [v[0] * 1.05, v[1] + 0.05, v[2] * 0.95, v[3] - 0.05] for k, v in TRUE.items()})
    with torch.no_grad():
        before = float(torch.mean((model(x) - y) ** 2))
    after = finetune_symbolic(model, x, y, 200)
    with torch.no_grad():
        assert float(torch.mean((model(x) - y) ** 2)) == pytest.approx(after, rel=1e-6, abs=1e-28)
    assert before > 1e-4 and after < 1e-24


def test_finetune_never_raises_the_loss_and_zero_steps_change_nothing():
    x, y = data()
    model = product_net(TRUE)
    model.layers[0].set_symbolic(0, 0, LIB["tanh"], [1.0, 0.0, 1.0, 0.0])  # the wrong primitive
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        before = float(torch.mean((model(x) - y) ** 2))
    finetune_symbolic(model, x, y, 0)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    after = finetune_symbolic(model, x, y, 50)
    assert after <= before and all(torch.isfinite(p).all() for p in model.parameters())


def test_finetune_starts_no_step_past_its_deadline_and_the_grace_gives_the_first_one_time():
    x, y = data()
    model = product_net({k: [v[0] * 1.05, v[1] + 0.05, v[2] * 0.95, v[3] - 0.05] for k, v in TRUE.items()})
    state = {k: v.clone() for k, v in model.state_dict().items()}
    passed = time.perf_counter() - 1.0
    finetune_symbolic(model, x, y, 200, passed)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # nothing started
    graced = with_grace(passed, 30.0)
    assert graced is not None and graced > time.perf_counter() + 20.0 and with_grace(None) is None
    assert finetune_symbolic(model, x, y, 200, graced) < 1e-24  # the grace lets it finish


def test_finetune_refuses_a_model_with_numeric_edges():
    x, y = data()
    with pytest.raises(AssertionError):
        finetune_symbolic(KAN([2, 1, 1], seed=0), x, y, 10)


def test_formula_jacobian_matches_autograd():
    x, y, c0, c1, c2, c3 = sympy.symbols("x y _c0 _c1 _c2 _c3")
    expr = c0 * sympy.exp(c1 * x) + sympy.Abs(y + c2) + c3 * 0 + sympy.sin(c1 * y)  # c3 has no effect
    fn = to_torch(expr, [x, y, c0, c1, c2, c3])
    X, Y = torch.rand(50) * 2 - 1, torch.rand(50) * 2 - 1

    def residual(theta):
        return fn(X, Y, *theta) - Y

    theta = torch.tensor([0.7, -1.3, 0.2, 5.0])
    J = jacobian(residual, theta)
    assert J.shape == (50, 4) and torch.equal(J[:, 3], torch.zeros(50))
    torch.testing.assert_close(J, torch.autograd.functional.jacobian(residual, theta))
