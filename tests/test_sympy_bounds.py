"""sympy's expand and simplify are bounded by expression size as well as time: a multinomial expansion can
allocate gigabytes between two time checks."""
from __future__ import annotations

import sympy

from kansci.symbolic.formula import MAX_EXPANDED_POWER, MAX_SYMPY_OPS, final_simplify, tidy, too_big

x, y, z = sympy.symbols("x y z")


def test_a_high_power_of_a_sum_is_left_unexpanded() -> None:
    runaway = (x + y + z + 1) ** 40 * sympy.exp(x)
    assert too_big(runaway)
    assert tidy(runaway) == runaway and final_simplify(runaway) == runaway
    assert not too_big((x + y) ** MAX_EXPANDED_POWER)


def test_a_very_long_expression_is_left_alone_and_a_short_one_is_tidied() -> None:
    long = sum(sympy.Float(k + 0.5) * sympy.sin(k * x + y) for k in range(MAX_SYMPY_OPS))
    assert too_big(long) and tidy(long) == long
    short = sympy.log(x * y)
    assert not too_big(short) and tidy(short) == sympy.log(x) + sympy.log(y)
