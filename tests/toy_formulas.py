"""Toy laws for the recovery suite (tests/test_toys.py): chosen once, before any of them was run, and never used to
tune the discovery engine. None of them appears in the other tests. They cover functions of sums, differences,
products and ratios, sums of composed terms, rational functions, nested functions, and 2 to 5 variables."""
from __future__ import annotations

# (formula, {variable: (low, high)})
TOYS: list[tuple[str, dict[str, tuple[float, float]]]] = [
    # a function of one combination of two variables
    ("exp(-(a + b)**2)", {"a": (-1, 1), "b": (-1, 1)}),
    ("cos(a - b)", {"a": (-2, 2), "b": (-2, 2)}),
    ("log(a*b)", {"a": (1, 4), "b": (1, 4)}),
    ("a/(a**2 + b**2)", {"a": (1, 3), "b": (1, 3)}),
    ("sqrt(a + b)", {"a": (1, 4), "b": (1, 4)}),
    ("tanh(a*b)", {"a": (-1, 1), "b": (-1, 1)}),
    ("(a - b)**2", {"a": (-2, 2), "b": (-2, 2)}),
    ("atan(a/b)", {"a": (1, 3), "b": (1, 3)}),
    # sums of composed terms
    ("log(1 + a**2) + b", {"a": (-2, 2), "b": (-2, 2)}),
    ("exp(a) - b**2", {"a": (-1, 1), "b": (-1, 1)}),
    ("sin(a**2) + cos(b)", {"a": (-1.5, 1.5), "b": (-1.5, 1.5)}),
    ("a**3 - 2*b + c", {"a": (-1, 1), "b": (-1, 1), "c": (-1, 1)}),
    ("exp(-a) + exp(-b) + exp(-c)", {"a": (0, 2), "b": (0, 2), "c": (0, 2)}),
    ("sqrt(a) + 1/b", {"a": (0.5, 3), "b": (0.5, 3)}),
    # rational functions
    ("a/(1 + b)", {"a": (0.5, 3), "b": (0.5, 3)}),
    ("(a + b)/(1 + a*b)", {"a": (0.1, 0.9), "b": (0.1, 0.9)}),
    ("a*b/(a + b)", {"a": (1, 4), "b": (1, 4)}),
    ("1/(a**2 + b**2)", {"a": (0.5, 2), "b": (0.5, 2)}),
    ("(a - b)/(a + b)", {"a": (1, 4), "b": (1, 4)}),
    # nested functions
    ("b*exp(sin(a))", {"a": (-2, 2), "b": (1, 3)}),
    ("sin(exp(a) + b)", {"a": (-1, 0.5), "b": (-1, 1)}),
    ("log(1 + exp(a - b))", {"a": (-2, 2), "b": (-2, 2)}),
    ("b*sqrt(1 + sin(a)**2)", {"a": (-2, 2), "b": (1, 3)}),
    ("cos(a*exp(-b))", {"a": (0, 2), "b": (0, 2)}),
    # three to five variables
    ("a*b*c/d", {"a": (1, 5), "b": (1, 5), "c": (1, 5), "d": (1, 5)}),
    ("a*exp(-b*c)", {"a": (0.5, 2), "b": (0.5, 2), "c": (0.5, 2)}),
    ("a*sin(b) + c*cos(d)", {"a": (0.5, 2), "b": (0.5, 2), "c": (0.5, 2), "d": (0.5, 2)}),
    ("(a + b + c)**2", {"a": (-1, 1), "b": (-1, 1), "c": (-1, 1)}),
    # (its fifth variable is named g: "e" is Euler's number in formula text and is refused as a column name)
    ("a*b + c*d + g", {"a": (-1, 1), "b": (-1, 1), "c": (-1, 1), "d": (-1, 1), "g": (-1, 1)}),
    ("sqrt(a**2 + b**2 + c**2)/d", {"a": (1, 3), "b": (1, 3), "c": (1, 3), "d": (1, 3)}),
    ("a**2*b/(c + d)", {"a": (1, 3), "b": (1, 3), "c": (1, 3), "d": (1, 3)}),
    ("exp(-(a - b)**2/c)", {"a": (-1, 1), "b": (-1, 1), "c": (1, 3)}),
]
