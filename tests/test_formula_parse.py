"""The safe formula parser: same expressions as sympy's own parser (reference), and every unsafe input refused."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sympy

from kansci.errors import FormulaError, KansciError
from kansci.expr.text import FUNCTIONS, MAX_LENGTH, parse_formula

X, Y, Z = sympy.symbols("x y z")
# Reference locals: how sympy's parser should read our vocabulary (aliases and the constant e).
REF_LOCALS = {"x": X, "y": Y, "z": Z, "e": sympy.E, "arcsin": sympy.asin, "arccos": sympy.acos,
              "arctan": sympy.atan, "arctan2": sympy.atan2, "arcsinh": sympy.asinh, "arccosh": sympy.acosh,
              "arctanh": sympy.atanh, "ln": sympy.log, "abs": sympy.Abs}

VALID = [
    "x", "3", "2.5", "1e-3", "-4.25E+2", "x + y*z", "x - y - z", "x/y/z", "x**y**z", "-x**2", "+x", "--x",
    "x^2 + 1", "2^-1", "(x + 1)^(y - 1)", "1/2*x", "3/4", "2**-1", "0.1*x + 0.2", "sin(x)*cos(y) - tan(z)",
    "asin(x/2) + acos(y/3) + atan(z)", "atan2(y, x)", "sinh(x) + cosh(y) + tanh(z)", "asinh(x) + acosh(y + 2)",
    "atanh(x/3)", "exp(-x**2/2)/sqrt(2*pi)", "log(x)", "log(x, 2)", "log(x, y)", "sqrt(x**2 + y**2)",
    "Abs(x) + abs(y)", "sign(x)*erf(y)", "arcsin(x) + arccos(y) + arctan(z)", "arctan2(x, y) + arctanh(z)",
    "ln(x*y)", "e**x + E*y", "pi*x**2", "exp(1)", "sin(pi)", "x*(y + z)**3 - 7*x/(1 + y**2)",
    "1.5e10*x/6.674e-11", "   x  +\n y\t", "2*x*3", "x**0.5", "1_000*x",
]


@pytest.mark.parametrize("text", VALID)
def test_matches_sympy_parser(text: str) -> None:
    got = parse_formula(text)
    ref = sympy.sympify(text.replace("1_000", "1000"), locals=REF_LOCALS)  # reference only, never in kansci
    assert got == ref
    assert sympy.srepr(got) == sympy.srepr(ref)


def _feynman_rows() -> list[dict[str, str]]:
    path = Path(__file__).resolve().parents[1] / "kansci" / "resources" / "feynman.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_all_feynman_formulas_match_sympy() -> None:
    rows = _feynman_rows()
    assert len(rows) == 100
    for row in rows:
        names = [row[f"v{i}_name"] for i in range(1, 11) if row[f"v{i}_name"]]
        syms = {name: sympy.Symbol(name) for name in names}
        got = parse_formula(row["formula"], names, symbols=syms, source=row["id"])
        assert got == sympy.sympify(row["formula"], locals=syms), row["id"]
        # The verbatim original (arcsin, ln) parses to the same expression through our aliases.
        assert parse_formula(row["formula_original"], names) == got, row["id"]
        assert {s.name for s in got.free_symbols} <= set(names)


def test_power_caret_precedence_and_exact_numbers() -> None:
    assert parse_formula("x^2+1") == X**2 + 1  # not x**3 (Python's xor precedence would give that)
    assert parse_formula("-x^2") == -(X**2)
    assert parse_formula("1/2") == sympy.Rational(1, 2)
    assert parse_formula("0.1") == sympy.Float("0.1")
    assert parse_formula("3.141592653589793238462643383") == sympy.Float("3.141592653589793238462643383")


def test_symbols_variables_and_constants() -> None:
    pos = sympy.Symbol("x", positive=True)
    expr = parse_formula("sqrt(x**2)", ["x"], symbols={"x": pos})
    assert expr == pos  # the given Symbol was used (positive, so sqrt(x**2) simplifies)
    assert parse_formula("e*x") == sympy.E * X
    assert parse_formula("e*x", ["e", "x"]) == sympy.Symbol("e") * X  # declared names beat constants
    assert parse_formula("I*gamma + beta", None) == sympy.Symbol("I") * sympy.Symbol("gamma") + sympy.Symbol("beta")
    assert parse_formula("I", ["I"]).is_Symbol
    assert parse_formula("lambd*nu") == sympy.Symbol("lambd") * sympy.Symbol("nu")


REJECT = [
    # (text, variables, fragment of message, 1-based column or None)
    ("x.__class__", None, "attribute access", 1),
    ("__import__('os')", None, "starts with '_'", 1),
    ("lambda x: x", None, "lambda", 1),
    ("x[0]", None, "indexing", 1),
    ("[t for t in x]", None, "comprehension", 1),
    ("sin(x=1)", None, "keyword arguments", 7),
    ("'abc'", None, "string", 1),
    ("x + b'abc'", None, "string", 5),
    ("x < y", None, "comparison", 1),
    ("x and y", None, "boolean operator", 1),
    ("sin(*x)", None, "starred", 5),
    ("(z := 3)", None, "assignment", 2),
    ("f'{x}'", None, "f-string", 1),
    ("x if y else z", None, "conditional", 1),
    ("(x, y)", None, "tuple", 1),
    ("x // y", None, "'//'", 3),
    ("x % y", None, "'%'", 3),
    ("x^2 // y", None, "'//'", 5),  # column in the original text although ^ became **
    ("~x", None, "'~'", 1),
    ("not x", None, "'not'", 1),
    ("x & y", None, "'&'", 3),
    ("sin(x", None, "syntax error", 4),
    ("x +* y", None, "syntax error", None),
    ("2x", None, "syntax error", None),
    ("", None, "empty", None),
    ("x ~= y", None, "syntax error", None),
    ("sin(theta2)", ["theta", "x"], "unknown variable 'theta2'", 5),
    ("sinn(x)", None, "unknown function 'sinn'", 1),
    ("foo(x)", ["x"], "unknown function 'foo'", 1),
    ("x(2)", ["x"], "is a variable", 1),
    ("sin + x", None, "'sin' is a function", 1),
    ("atan2(x)", None, "takes 2", 1),
    ("log(x, y, z)", None, "takes 1 or 2", 1),
    ("_x + 1", None, "starts with '_'", 1),
    ("x + 1e999", None, "not finite", 5),
    ("2j*x", None, "literal", 1),
    ("True + x", None, "literal", 1),
    ("1/0", None, "infinity", 1),
    ("log(0)", None, "infinity", 1),
    ("sqrt(-1)", None, "complex", 1),
    ("10**10**10", None, "too large", 3),
    ("2**(10**10/3)", None, "too large", 2),
    ("x + 10**300*10**300*10**300", None, "larger than", 5),
    ("1" + "0" * 700, None, "larger than", 1),
    ("x + θ", None, "character", 5),
    ("x\x00", None, "character", 2),
    ("x; y", None, "syntax error", 2),
]


@pytest.mark.parametrize(("text", "variables", "fragment", "column"), REJECT)
def test_rejections(text: str, variables: list[str] | None, fragment: str, column: int | None) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(text, variables, source="cfg.yaml:formula")
    err = info.value
    assert isinstance(err, KansciError)
    line = err.one_line()
    assert "\n" not in line
    assert line.startswith("cfg.yaml:formula: ")
    assert fragment in err.message
    assert err.hint
    if column is not None:
        assert err.column == column
        assert f"column {column}" in err.message


def test_did_you_mean() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("sin(thetta)", ["theta", "x"])
    assert "did you mean 'theta'" in info.value.hint and "allowed: theta, x" in info.value.hint
    with pytest.raises(FormulaError) as info:
        parse_formula("sine(x)")
    assert "did you mean 'sin'" in info.value.hint


def test_payloads_never_run(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    payloads = [
        f"__import__('os').system('touch {target}')",
        f"exec(\"open('{target}', 'w')\")",
        f"eval(\"open('{target}', 'w')\")",
        f"open('{target}', 'w')",
        f"().__class__.__base__.__subclasses__()[0]('{target}')",
        f"sin.__globals__['os'].system('touch {target}')",
        f"(lambda: __import__('os').system('touch {target}'))()",
        f"[__import__('os').system('touch {target}') for _ in '1']",
        f"x if __import__('os').system('touch {target}') else x",
        f"sin(x, key=__import__('os').system('touch {target}'))",
    ]
    for text in payloads:
        with pytest.raises(FormulaError):
            parse_formula(text)
        with pytest.raises(FormulaError):
            parse_formula(text, ["x"])
    assert not target.exists()


def test_size_limits_are_fast_errors() -> None:
    with pytest.raises(FormulaError, match="limit"):
        parse_formula("x+" * MAX_LENGTH + "x")
    with pytest.raises(FormulaError, match="nested"):
        parse_formula("sin(" * 150 + "x" + ")" * 150)
    with pytest.raises(FormulaError):
        parse_formula("(" * 300 + "x" + ")" * 300)
    with pytest.raises(FormulaError, match="nested"):
        parse_formula("-" * 500 + "x")
    # A long flat sum is fine: chains do not count as nesting.
    assert parse_formula("+".join(["x"] * 600)) == 600 * X
    with pytest.raises(FormulaError, match="expected a formula string"):
        parse_formula(3)  # type: ignore[arg-type]


def test_function_whitelist_is_documented_set() -> None:
    expected = {"sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
                "atanh", "exp", "log", "sqrt", "Abs", "sign", "erf", "arcsin", "arccos", "arctan", "arctan2",
                "arcsinh", "arccosh", "arctanh", "ln", "abs"}
    assert set(FUNCTIONS) == expected


# ------------------------------------------------------------------------------------------------ column names
def test_quoted_names_are_variables_whatever_they_hold() -> None:
    temp, lam, theta, sin_, pi_ = (sympy.Symbol(n) for n in ("Temp (K)", "lambda", "θ", "sin", "pi"))
    names = ["Temp (K)", "lambda", "θ", "sin", "pi", "a`b", "if"]
    assert parse_formula("2*`Temp (K)` + `lambda`", names) == 2 * temp + lam
    assert parse_formula("sin(`sin`) + `pi`*pi") == sympy.sin(sin_) + pi_ * sympy.pi  # bare: the constant
    assert parse_formula("pi", names) == pi_  # unless a variable of that name is declared
    assert parse_formula("`a``b`**2 + `if`", names) == sympy.Symbol("a`b") ** 2 + sympy.Symbol("if")
    # declared names Python cannot read bare: keywords and non-ASCII names may be written without backticks
    assert parse_formula("lambda*θ + if", names) == lam * theta + sympy.Symbol("if")
    # with no declared variables any quoted name is one; given Symbols are used for quoted names too
    assert parse_formula("`x 1` / `y-2`") == sympy.Symbol("x 1") / sympy.Symbol("y-2")
    pos = sympy.Symbol("Temp (K)", positive=True)
    assert parse_formula("sqrt(`Temp (K)`**2)", ["Temp (K)"], symbols={"Temp (K)": pos}) == pos


QUOTED_REJECT = [
    # (text, variables, fragment of message, 1-based column)
    ("x + `Temp (K)", ["Temp (K)", "x"], "unterminated quoted name", 5),
    ("x + ``", None, "empty quoted name", 5),
    ("x + ` `", None, "empty quoted name", 5),
    ("`Temp (K)`(2)", ["Temp (K)"], "is a variable and cannot be called", 1),
    ("x + `Temp (C)`", ["Temp (K)", "x"], "unknown variable '`Temp (C)`'", 5),
    ("x + θ", ["x"], "character 'θ'", 5),       # a non-ASCII name is read bare only when declared
    ("lambda*2", ["x"], "'lambda' is a Python keyword", 1),  # so is a keyword
    ("2θ", ["θ"], "character 'θ'", 2),          # non-ASCII right after a number is not a name
]


@pytest.mark.parametrize(("text", "variables", "fragment", "column"), QUOTED_REJECT)
def test_quoted_name_rejections(text: str, variables: list[str] | None, fragment: str, column: int) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(text, variables, source="cfg.yaml:formula")
    assert fragment in info.value.message and info.value.column == column and info.value.hint


def test_did_you_mean_a_quoted_name() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("`Temp (k)`", ["Temp (K)", "x"])
    assert "did you mean '`Temp (K)`'" in info.value.hint


def test_a_literal_far_below_float64_parses_at_once() -> None:
    """3.3e-17337418 (an exp coefficient in a printed formula) is read as float64's 0 instead of an exact decimal,
    which took sympy minutes to build (the exact term would also survive the check below)."""
    expr = parse_formula("3.328e-17337418*exp(x) + 1.5e-3*x", ["x"])
    assert sympy.simplify(expr - sympy.Float("0.0015") * sympy.Symbol("x")) == 0
