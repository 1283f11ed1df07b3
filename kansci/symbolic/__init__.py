"""Symbolic regression on a trained KAN: turn each edge into ``c·f(a·x + b) + d`` and assemble a formula.

- :mod:`.primitives`: the library of one-variable primitives ``f`` (data: name, expression, complexity, domain),
  with guarded torch evaluation and user extensions parsed safely.
- :mod:`.sympy_torch`: evaluate any sympy expression with torch operations (no eval, no lambdify).
- :mod:`.edge_fit`: fit every edge against every primitive at once (batched grid search, zoom, widening, LM polish).
- :mod:`.select`: choose one primitive per edge; :mod:`.formula`: assemble, simplify and export the formula.
"""
