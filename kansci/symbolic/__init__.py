"""Symbolic regression on a trained KAN: turn each edge into ``c·f(a·x + b) + d`` and assemble a formula.

- :mod:`.primitives`: the library of one-variable primitives ``f`` (data: name, expression, complexity, domain),
  with guarded torch evaluation and user extensions parsed safely.
  Their torch functions come from :func:`kansci.expr.evaluate.to_torch` (no eval, no lambdify).
- :mod:`.edge_fit`: fit every edge against every primitive at once (batched grid search, zoom, widening, LM polish).
- :mod:`.lm`: the Levenberg-Marquardt loop shared by the end-to-end fine-tune and the constant polish.
- :mod:`.select`: choose one primitive per edge; :mod:`.formula`: assemble, simplify, polish and snap the formula;
  :mod:`.exports`: the :class:`~kansci.symbolic.exports.Formula` object and its exports.
- :mod:`.uncertainty`: standard errors of a formula's constants (Jacobian at the optimum, residual noise), the simple
  values they may be snapped to, and their honest digits.
"""
