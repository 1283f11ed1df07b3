"""Formulas as sympy expressions, a base layer (numpy, sympy and the standard library; torch only inside
:func:`~kansci.expr.evaluate.to_torch`):

- :mod:`.text`: the safe parser, text -> sympy (:func:`~kansci.expr.text.parse_formula`), after a first pass over
  the characters and quoted names in :mod:`.lexer`;
- :mod:`.names`: how a column name is written in formula text, LaTeX and Python (the one mapping for every output);
- :mod:`.functions`: the one table of supported functions (sympy, numpy, torch and Python-source forms of each);
- :mod:`.evaluate`: one tree walker that compiles an expression for numpy (:func:`~kansci.expr.evaluate.to_numpy`) or
  torch (:func:`~kansci.expr.evaluate.to_torch`);
- :mod:`.export`: exact formula text (:func:`~kansci.expr.export.to_text`, read back by the parser), display text,
  LaTeX, and a stand-alone numpy module (:func:`~kansci.expr.export.to_source`).
"""
