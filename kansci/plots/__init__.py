"""Figures from plain arrays (matplotlib object API, no pyplot state, no file I/O): the shared dataclasses, colours
and helpers (:mod:`._base`), the charts (:mod:`.charts`: loss, parity, Pareto) and the network diagram with its edge
panels (:mod:`.network`). The only package that imports matplotlib."""
from __future__ import annotations

from kansci.plots._base import (
                                FORMATS,
                                SERIES_COLORS,
                                SPLINE_COLOR,
                                SYMBOLIC_COLOR,
                                EdgeCurve,
                                LayerShape,
                                NetworkView,
                                figure_bytes,
                                new_figure,
                                plain,
                                short,
                                styled,
)
from kansci.plots.charts import loss_figure, pareto_figure, pareto_front, parity_figure
from kansci.plots.network import edges_figure, layout, network_figure
from kansci.plots.structure import structure_figure

__all__ = ["FORMATS", "SERIES_COLORS", "SPLINE_COLOR", "SYMBOLIC_COLOR", "EdgeCurve", "LayerShape", "NetworkView",
           "edges_figure", "figure_bytes", "layout", "loss_figure", "network_figure", "new_figure", "pareto_figure",
           "pareto_front", "parity_figure", "plain", "short", "structure_figure", "styled"]
