"""Tests for kansci.plots / kansci.plots.network: every figure renders, layouts hold their promises, bytes are
stable."""
from __future__ import annotations

import io
import itertools
import re

import matplotlib
import numpy as np
import pytest
from PIL import Image

from kansci import plots as P
from kansci.errors import ConfigError, KansciError
from kansci.plots.network import ALPHA_FLOOR, layout

pytestmark = pytest.mark.filterwarnings("error")

FUNCS = {"sin": lambda t: np.sin(3 * t), "x^2": np.square, "exp": np.exp, "tanh": lambda t: np.tanh(2 * t)}


def _edge(layer: int, i: int, j: int, score: float, kind: str = "sin", symbolic: str | None = None,
          n: int = 200, seed: int = 0) -> P.EdgeCurve:
    rng = np.random.default_rng(seed + 100 * layer + 10 * i + j)
    x = rng.uniform(-1.0, 1.0, n)  # unsorted on purpose
    y = FUNCS[kind](x) + 0.01 * rng.standard_normal(n)
    e = P.EdgeCurve(layer, i, j, x, y, score=score, symbolic=symbolic)
    if symbolic:
        e.fit_y, e.fit_label, e.r2 = FUNCS[kind](x), f"1.00*{symbolic}(3.00*x+0.00)+0.00", 0.999991
    return e


def view_451() -> P.NetworkView:
    kinds = list(FUNCS)
    edges = [_edge(0, i, j, (i + j) / 7, kinds[(i + j) % 4]) for i in range(4) for j in range(5)]
    edges += [_edge(1, i, 0, 1.0 - i / 5, kinds[i % 4]) for i in range(5)]
    return P.NetworkView([P.LayerShape(4), P.LayerShape(5), P.LayerShape(1)], edges,
                         ["x1", "x2", "temperature", "p"], ["energy"])


def view_mult() -> P.NetworkView:
    """[2, [5, 2], 1]: 5 sum + 2 mult nodes of arity 2, so 9 subnodes in the hidden layer."""
    edges = [_edge(0, i, j, 0.5) for i in range(2) for j in range(9)]
    edges += [_edge(1, i, 0, 0.8, "x^2") for i in range(7)]
    return P.NetworkView([P.LayerShape(2), P.LayerShape(5, 2, 2), P.LayerShape(1)], edges, ["a", "b"], ["y"])


def view_symbolic() -> P.NetworkView:
    """[2, 3, 1] with symbolic edges and edge (0, 1, 2) pruned (absent); hidden node 2 marked inactive."""
    edges = [_edge(0, 0, 0, 1.0, "sin", symbolic="sin"), _edge(0, 0, 1, 0.3, "exp", symbolic="exp"),
             _edge(0, 0, 2, 0.0), _edge(0, 1, 0, 0.6, "tanh"), _edge(0, 1, 1, 0.2),
             _edge(1, 0, 0, 0.9, "x^2", symbolic="x^2"), _edge(1, 1, 0, 0.4)]
    active = [np.array([True, True]), np.array([True, True, False]), np.array([True])]
    return P.NetworkView([P.LayerShape(2), P.LayerShape(3), P.LayerShape(1)], edges, ["velocity", "mass"],
                         ["kinetic"], node_active=active)


def view_empty() -> P.NetworkView:
    return P.NetworkView([P.LayerShape(2), P.LayerShape(3), P.LayerShape(1)], [], ["u", "v"], ["w"])


VIEWS = {"451": view_451, "mult": view_mult, "symbolic": view_symbolic, "empty": view_empty}


def other_figure(name: str):
    """A freshly built loss, parity or pareto figure from small synthetic data."""
    rng = np.random.default_rng(1)
    if name == "loss":
        steps = np.arange(300)
        train = np.exp(-steps / 50) + 1e-4
        return P.loss_figure(steps, train, 1.2 * train, [(50, "grid 5"), (150, "grid 10"), (150, "prune")])
    if name == "parity":
        y = rng.normal(size=120)
        return P.parity_figure(y, {"KAN": y + 0.05 * rng.normal(size=120), "formula": 1.01 * y}, target_name="E")
    return P.pareto_figure(np.array([1, 3, 5, 7]), np.array([1.0, 0.1, 1e-4, 9e-5]),
                           ["x", "sin(x)", "sin(x) + x**2", "long"], chosen=2)


def assert_png(data: bytes, min_px: int = 200) -> None:
    """Valid PNG of sane size whose pixels are not all the same (something was drawn)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    w, h = img.size
    assert min_px <= w <= 6000 and min_px <= h <= 6000, img.size
    gray = np.asarray(img.convert("L"), dtype=float)
    assert gray.var() > 5.0


def svg_texts(svg: bytes) -> list[str]:
    """Strings drawn as text: matplotlib writes each text (rendered as glyph paths) with an XML comment of it."""
    return re.findall(r"<!-- (.*?) -->", svg.decode())


@pytest.mark.parametrize("name", list(VIEWS))
def test_network_has_one_inset_per_active_edge_and_renders(name: str) -> None:
    view = VIEWS[name]()
    fig = P.network_figure(view, title="demo")
    assert len(fig.axes) == 1 + len(view.edges)
    assert_png(P.figure_bytes(fig, "png"))


@pytest.mark.parametrize("name", ["451", "mult", "symbolic"])
def test_network_insets_lie_inside_figure_and_never_overlap(name: str) -> None:
    fig = P.network_figure(VIEWS[name]())
    boxes = [ax.get_position() for ax in fig.axes[1:]]
    for b in boxes:
        assert 0.0 <= b.x0 < b.x1 <= 1.0 and 0.0 <= b.y0 < b.y1 <= 1.0
    for a, b in itertools.combinations(boxes, 2):
        assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, (a, b)


def test_network_figure_grows_with_widest_layer() -> None:
    small = P.network_figure(view_symbolic()).get_size_inches()
    wide_view = P.NetworkView([P.LayerShape(10), P.LayerShape(10), P.LayerShape(1)],
                              [_edge(0, i, (2 * i + 3) % 10, 0.5, n=20) for i in range(10)],
                              [f"x{i}" for i in range(10)], ["y"])
    fig = P.network_figure(wide_view)
    assert len(fig.axes) == 11
    assert fig.get_size_inches()[0] > 1.5 * small[0]


@pytest.mark.parametrize("widths", [[4, 5, 1], [5, 4, 3], [3, 13, 1], [6, 2, 1], [10, 10, 10, 1], [2, 8, 8, 1]])
def test_dense_layouts_keep_boxes_readable(widths: list[int]) -> None:
    """Fully connected nets: boxes stay >= 0.3 inch wide, inside the drawing, and never overlap (layout only)."""
    edges = [_edge(l, i, j, 0.5, n=2) for l in range(len(widths) - 1)
             for i in range(widths[l]) for j in range(widths[l + 1])]
    view = P.NetworkView([P.LayerShape(w) for w in widths], edges, [f"x{i}" for i in range(widths[0])], ["y"])
    lay = layout(view)
    assert lay.box_w >= 0.3 and lay.width <= 30.0
    centres = np.array(list(lay.boxes.values()))
    assert len(centres) == len(edges)
    assert np.all(centres[:, 0] - lay.box_w / 2 >= 0) and np.all(centres[:, 0] + lay.box_w / 2 <= lay.width)
    for (ax_, ay), (bx, by) in itertools.combinations(centres, 2):
        assert abs(ax_ - bx) >= lay.box_w or abs(ay - by) >= lay.box_h


def test_network_opacity_follows_score_with_floor() -> None:
    view = view_symbolic()
    fig = P.network_figure(view)
    ordered = sorted(view.edges, key=lambda e: (e.layer, e.i, e.j))
    alphas = [ax.lines[0].get_alpha() for ax in fig.axes[1:]]
    expected = [ALPHA_FLOOR + (1 - ALPHA_FLOOR) * e.score for e in ordered]
    np.testing.assert_allclose(alphas, expected)
    assert min(alphas) == pytest.approx(ALPHA_FLOOR)  # the score-0 edge is still visible


def test_network_labels_symbolic_colour_and_mult_marks() -> None:
    view = view_symbolic()
    fig = P.network_figure(view)
    texts = svg_texts(P.figure_bytes(fig, "svg"))
    for label in ["velocity", "mass", "kinetic", "sin", "exp", "x^2"]:
        assert label in texts
    by_name = {t.get_text(): t for ax in fig.axes[1:] for t in ax.texts}
    assert matplotlib.colors.same_color(by_name["sin"].get_color(), P.SYMBOLIC_COLOR)
    sym_insets = [ax for ax in fig.axes[1:] if ax.texts]
    assert len(sym_insets) == 3
    assert all(matplotlib.colors.same_color(ax.lines[0].get_color(), P.SYMBOLIC_COLOR) for ax in sym_insets)
    mult = P.network_figure(view_mult())
    assert sum(t.get_text() == "×" for t in mult.axes[0].texts) == 2


def test_user_names_with_dollar_are_not_mathtext() -> None:
    view = view_empty()
    view.input_names = ["cost_$", "a$^$"]  # as mathtext "$^$" is a parse error at draw time
    view.output_names = ["$x_1$"]
    texts = svg_texts(P.figure_bytes(P.network_figure(view), "svg"))
    assert "cost_$" in texts and "a$^$" in texts and "$x_1$" in texts


def test_bad_edge_index_is_rejected() -> None:
    view = view_451()
    view.edges.append(_edge(0, 0, 5, 0.5))  # hidden layer has 5 nodes, so j = 5 is out of range
    with pytest.raises(ValueError, match="j=5"):
        P.network_figure(view)


def test_edges_figure_panels_titles_and_order() -> None:
    view = view_symbolic()
    fig = P.edges_figure(view)
    assert len(fig.axes) == len(view.edges)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "L0 velocity→n0: sin, R²=0.99999"
    assert titles[2] == "L0 velocity→n2"
    assert titles[-1] == "L1 n1→kinetic"
    assert [ax.get_xlabel() for ax in fig.axes[:5]] == ["velocity"] * 3 + ["mass"] * 2
    first = fig.axes[0]
    assert len(first.lines) == 2  # spline samples + fitted primitive
    xs = first.lines[0].get_xdata()
    assert np.all(np.diff(xs) >= 0)  # samples were sorted by x
    np.testing.assert_allclose(first.lines[1].get_ydata(), np.sin(3 * xs))  # fit kept aligned with its x
    texts = svg_texts(P.figure_bytes(fig, "svg"))
    assert "1.00*sin(3.00*x+0.00)+0.00" in texts
    assert_png(P.figure_bytes(fig, "png"))


def test_edges_figure_shortens_long_names_in_titles() -> None:
    view = view_symbolic()
    view.input_names[0] = "velocity_of_the_particle"
    ax = P.edges_figure(view).axes[0]
    assert ax.get_title() == "L0 velocity_of…→n0: sin, R²=0.99999"
    assert ax.get_xlabel() == "velocity_of_the_particle"


def test_edges_figure_names_mult_subnodes_and_handles_no_edges() -> None:
    titles = [ax.get_title() for ax in P.edges_figure(view_mult()).axes]
    assert "L0 a→n5[0]" in titles and "L0 b→n6[1]" in titles and "L1 n6→y" in titles
    empty = P.edges_figure(view_empty())
    assert_png(P.figure_bytes(empty, "png"))


@pytest.mark.parametrize("name", ["loss", "parity", "pareto"])
def test_other_figures_render(name: str) -> None:
    assert_png(P.figure_bytes(other_figure(name), "png"))


def test_loss_figure_log_scale_events_and_bad_values() -> None:
    fig = other_figure("loss")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["grid 5", "grid 10, prune"]
    steps = np.arange(5)
    zero = P.loss_figure(steps, np.array([1.0, 0.0, np.nan, 0.1, 0.01]), None)  # masked, no warning
    assert zero.axes[0].get_yscale() == "log"
    flat = P.loss_figure(steps, np.zeros(5), np.zeros(5))
    assert flat.axes[0].get_yscale() == "linear"
    assert_png(P.figure_bytes(flat, "png"))
    with pytest.raises(ValueError):
        P.loss_figure(steps, np.ones(4), None)



def test_parity_legend_reports_r2() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    fig = P.parity_figure(y, {"KAN": y, "formula": np.array([0.0, 1.0, 2.0, 4.0])}, target_name="E")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:2] == ["KAN (R²=1.00000)", "formula (R²=0.80000)"]
    assert fig.axes[0].get_xlabel() == "true E"
    with pytest.raises(ValueError):
        P.parity_figure(y, {"KAN": y[:3]})


def test_pareto_front_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    cx = rng.integers(1, 12, 40).astype(float)
    loss = rng.uniform(0.0, 1.0, 40)
    got = set(P.pareto_front(cx, loss).tolist())
    dominated = {a for a in range(40) for b in range(40)
                 if cx[b] <= cx[a] and loss[b] <= loss[a] and (cx[b] < cx[a] or loss[b] < loss[a])}
    assert got == set(range(40)) - dominated


def test_pareto_figure_highlights_chosen_and_handles_zero_loss() -> None:
    fig = P.pareto_figure(np.array([1, 2, 3]), np.array([1.0, 0.0, 0.5]), ["a", "exact", "c"], chosen=1)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert "exact" in [t.get_text() for t in ax.texts]
    assert_png(P.figure_bytes(fig, "png"))
    with pytest.raises(ValueError):
        P.pareto_figure(np.array([1, 2]), np.array([1.0, 0.5]), ["a", "b"], chosen=2)


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_output_is_deterministic(fmt: str) -> None:
    first = P.figure_bytes(P.network_figure(view_mult(), title="t"), fmt)
    second = P.figure_bytes(P.network_figure(view_mult(), title="t"), fmt)
    assert first == second
    assert P.figure_bytes(other_figure("pareto"), fmt) == P.figure_bytes(other_figure("pareto"), fmt)
    if fmt == "pdf":
        assert first.startswith(b"%PDF") and b"CreationDate" not in first


def test_output_does_not_depend_on_caller_style() -> None:
    plain_svg = P.figure_bytes(P.network_figure(view_symbolic()), "svg")
    with matplotlib.rc_context({"lines.linewidth": 5.0, "font.size": 20, "axes.facecolor": "black"}):
        styled_svg = P.figure_bytes(P.network_figure(view_symbolic()), "svg")
    assert plain_svg == styled_svg
    assert matplotlib.rcParams["svg.hashsalt"] is None or matplotlib.rcParams["svg.hashsalt"] != "kansci"


def test_unknown_format_is_a_user_error() -> None:
    with pytest.raises(ConfigError) as info:
        P.figure_bytes(P.network_figure(view_empty()), "jpg")
    assert isinstance(info.value, KansciError) and "png" in (info.value.hint or "")
