"""Structured errors (issue 17): errors carry ``path``, ``line``, ``key`` and ``column``, config origins are an Enum,
and no code in kansci/ reads an error's message text to decide anything.

The first tests raise real errors (a bad custom primitive, a missing column, a bad cell) and check their fields and
the file:line:key their messages name. The last ones parse every kansci module and look for decisions taken on a
message: ``... in exc.message``, ``exc.message.startswith(...)`` or ``... in str(exc)`` inside a comparison or the
test of an ``if``, ``while``, conditional expression or comprehension.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kansci.cli.options import check_library
from kansci.config import Origin, load_config, resolve_data_path
from kansci.data import load_dataset
from kansci.data.table import read_table
from kansci.errors import ConfigError, DataError, FormulaError, KansciError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kansci"
CSV = "x,y,f\n" + "".join(f"{i},{i % 3},{2 * i + i % 3}\n" for i in range(20))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_data_error(tmp_path: Path, yaml: str, **kw) -> KansciError:
    """The error of loading the data of config ``yaml`` (next to a valid data.csv) the way ``kansci fit`` does."""
    from kansci.pipeline import load_data

    write(tmp_path, "data.csv", CSV)
    cfg = load_config(write(tmp_path, "c.yaml", yaml), **kw)
    with pytest.raises(KansciError) as info:
        load_data(cfg)
    return info.value


# ------------------------------------------------------------------------------------------------ the fields
def test_fields_default_to_none_and_are_keyword_only() -> None:
    err = KansciError("m", "h")
    assert (err.path, err.line, err.key, err.column) == (None, None, None, None) and err.fields() == {}
    err = DataError("m", "h", path=Path("a.csv"), line=3, column="x", key="data.inputs")
    assert err.fields() == {"path": "a.csv", "line": 3, "key": "data.inputs", "column": "x"}
    assert str(err) == "m (hint: h)" and err.exit_code == 2
    with pytest.raises(TypeError):
        KansciError("m", "h", "a.csv")  # type: ignore[misc]
    assert ConfigError("m").issues == []


def test_bad_custom_primitive_names_its_expr_key_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "seed: 1\nsymbolic:\n  custom:\n    - name: cube\n"
                                     "      expr: __import__('os').system('x')\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, extra_validators=[check_library])
    err = info.value
    assert err.message.startswith(f"{path}:5: symbolic.custom.0.expr: primitive 'cube': attribute access ")
    assert (err.key, err.path, err.line) == ("symbolic.custom.0.expr", str(path), 5)


def test_custom_primitive_errors_point_at_the_entry_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "symbolic:\n  custom:\n    - name: cube\n      expr: x**3\n"
                                     "    - name: sin\n      expr: sin(2*x)\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, extra_validators=[check_library])
    assert (info.value.key, info.value.line) == ("symbolic.custom.1.name", 5)
    assert info.value.message == f"{path}:5: symbolic.custom.1.name: custom primitive 'sin' clashes with a library name"

    with pytest.raises(ConfigError) as info:  # from a --set: named by the override, no file or line
        load_config(overrides=["symbolic.custom=[{name: f, expr: 'x*y'}]"], extra_validators=[check_library])
    assert info.value.key == "symbolic.custom.0.expr" and (info.value.path, info.value.line) == (None, None)
    assert info.value.message.startswith("--set symbolic.custom=[{name: f, expr: 'x*y'}]: symbolic.custom.0.expr: ")


def test_library_errors_carry_their_config_key() -> None:
    from kansci.symbolic.primitives import build_library

    with pytest.raises(ConfigError) as info:
        build_library(["sin", "sinn"])
    assert info.value.key == "symbolic.lib"
    with pytest.raises(FormulaError) as formula:
        build_library([], [{"name": "ok", "expr": "x"}, {"name": "bad", "expr": "open('f')"}])
    assert formula.value.key == "symbolic.custom.1.expr"
    with pytest.raises(ConfigError) as info:
        build_library([], [{"name": "f", "expr": "x", "domain": [1, 0]}])
    assert info.value.key == "symbolic.custom.0.domain"


def test_missing_target_column_names_the_config_file_line_and_key(tmp_path: Path) -> None:
    err = load_data_error(tmp_path, "data:\n  path: data.csv\n  target: z\n")
    cfg_path, csv_path = tmp_path / "c.yaml", tmp_path / "data.csv"
    assert isinstance(err, ConfigError)
    assert err.message == f"{cfg_path}:3: data.target: {csv_path}: no target column 'z'; available columns: " \
                          "'x', 'y', 'f'"
    assert (err.key, err.path, err.line) == ("data.target", str(cfg_path), 3)
    data_err = err.__context__  # the loader's own error, with the CSV's fields
    assert isinstance(data_err, DataError)
    assert (data_err.path, data_err.column, data_err.key) == (str(csv_path), "z", "data.target")


def test_missing_input_column_names_data_inputs(tmp_path: Path) -> None:
    err = load_data_error(tmp_path, "data:\n  path: data.csv\n  target: f\n  inputs: [x, q]\n")
    assert isinstance(err, ConfigError) and (err.key, err.line) == ("data.inputs", 4)
    assert err.message.startswith(f"{tmp_path / 'c.yaml'}:4: data.inputs: {tmp_path / 'data.csv'}: no input column 'q'")


def test_a_column_set_on_the_command_line_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    err = load_data_error(tmp_path, "data:\n  path: data.csv\n", flags={"data.target": "z"})
    assert isinstance(err, DataError) and err.key == "data.target" and err.column == "z"
    assert err.message.startswith(f"{tmp_path / 'data.csv'}: no target column 'z'")


def test_bad_cell_data_error_carries_path_line_and_column(tmp_path: Path) -> None:
    csv = write(tmp_path, "t.csv", CSV + "1,abc,2\n")
    with pytest.raises(DataError) as info:
        read_table(csv)
    assert info.value.fields() == {"path": str(csv), "line": 22, "column": "y"}
    with pytest.raises(DataError) as info:  # non-finite values: the first bad column and its first bad line
        load_dataset(write(tmp_path, "n.csv", CSV + "1,2,nan\n1,nan,2\n"))
    assert info.value.fields() == {"path": str(tmp_path / "n.csv"), "line": 23, "column": "y"}
    with pytest.raises(DataError) as info:
        read_table(write(tmp_path, "r.csv", "x,y\n1,2\n3\n"))
    assert info.value.fields() == {"path": str(tmp_path / "r.csv"), "line": 3}


def test_bad_cell_in_a_configured_input_points_at_data_inputs(tmp_path: Path) -> None:
    from kansci.pipeline import load_data

    write(tmp_path, "data.csv", CSV + "1,abc,2\n")
    cfg = load_config(write(tmp_path, "c.yaml", "data:\n  path: data.csv\n  inputs: [x, y]\n"))
    with pytest.raises(ConfigError) as info:
        load_data(cfg)
    assert (info.value.key, info.value.line) == ("data.inputs", 3)
    cfg = load_config(tmp_path / "c.yaml", overrides=["data.inputs=null"])  # column not chosen there: the file
    with pytest.raises(ConfigError) as info:
        load_data(cfg)
    assert (info.value.key, info.value.line) == ("data.path", 2)


# ------------------------------------------------------------------------------------------------ config errors
def test_config_errors_carry_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "train:\n  steps: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.fields() == {"path": str(path), "line": 2, "key": "train.steps"}
    assert len(info.value.issues) == 1

    with pytest.raises(ConfigError) as info:  # several issues: the file, and each issue on its own
        load_config(path, overrides=["seed=-1"])
    assert info.value.fields() == {"path": str(path)} and [i.path for i in info.value.issues] == ["train.steps", "seed"]

    with pytest.raises(ConfigError) as info:
        load_config(flags={"train.steps": 0})
    assert info.value.fields() == {"key": "train.steps"}

    bad = write(tmp_path, "bad.yaml", "train:\n  steps: 3\n   grids: [3]\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.fields() == {"path": str(bad), "line": 3, "column": 9}

    tagged = write(tmp_path, "tag.yaml", "train:\n  steps: !!python/object/apply:os.system ['x']\n")
    with pytest.raises(ConfigError) as info:
        load_config(tagged)
    assert info.value.fields() == {"path": str(tagged), "line": 2, "key": "train.steps"}


def test_origins_are_an_enum(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "data:\n  path: a.csv\ntrain:\n  steps: 5\n")
    cfg = load_config(path, overrides=["train.lr=0.5"], flags={"seed": 3, "model.k": None})
    source = cfg._source
    assert source.origin("data.path") is Origin.FILE and source.place("train.steps").line == 4
    assert source.origin("train.lr") is Origin.OVERRIDE and source.place("train.lr").line is None
    assert source.origin("seed") is Origin.FLAG
    assert source.origin("model.k") is Origin.DEFAULT and source.where("model.k") == "defaults"
    assert resolve_data_path(cfg) == tmp_path / "a.csv"  # a file's relative path resolves against its folder
    moved = load_config(path, overrides=["data.path=b.csv"])
    assert moved._source.origin("data.path") is Origin.OVERRIDE and resolve_data_path(moved) == Path("b.csv")


# ------------------------------------------------------------------------------------------------ no text decisions
#: Sites allowed to read an exception's text, with the reason: only for exceptions from other libraries, which carry
#: no structured field. Each entry is (module path relative to the repository, function name).
ALLOWED = {
    ("kansci/rundir/store.py", "load_tensors"): "torch.load's errors (zipfile/RuntimeError) say 'truncated' only in "
                                                "their text",
}


def _exception_names(tree: ast.AST) -> set[str]:
    """Names bound by ``except ... as NAME`` anywhere in the module."""
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler) and node.name}


def _reads_message(expr: ast.AST, exc_names: set[str]) -> bool:
    """True if ``expr`` reads message text: ``X.message`` (of any error), or ``str(E)``/``repr(E)``/``E.args`` of a
    caught exception ``E``."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Attribute) and node.attr == "message":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "args" and isinstance(node.value, ast.Name) \
                and node.value.id in exc_names:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "repr") \
                and any(isinstance(a, ast.Name) and a.id in exc_names for a in node.args):
            return True
    return False


def _decisions(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """Every expression that decides something, with its enclosing function's name: comparisons anywhere, and the
    tests of ``if``/``while``/``elif``, conditional expressions, comprehension filters and ``match`` subjects."""
    found: list[tuple[ast.AST, str]] = []

    def visit(node: ast.AST, func: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            found.append((node.test, func))
        elif isinstance(node, ast.comprehension):
            found.extend((cond, func) for cond in node.ifs)
        elif isinstance(node, ast.Match):
            found.append((node.subject, func))
        elif isinstance(node, ast.Compare):
            found.append((node, func))
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, "<module>")
    return found


def text_decisions(source: str) -> list[tuple[int, str]]:
    """(line, function) of every decision in ``source`` that reads an error's message text."""
    tree = ast.parse(source)
    names = _exception_names(tree)
    return sorted({(expr.lineno, func) for expr, func in _decisions(tree) if _reads_message(expr, names)})


def test_the_checker_finds_decisions_on_message_text() -> None:
    old_check_library = (
        "def check_library(cfg):\n"
        "    try:\n        build()\n"
        "    except KansciError as exc:\n"
        "        for i, c in enumerate(cfg.custom):\n"
        "            if repr(c.name) in exc.message or f'#{i + 1}' in exc.message:\n"
        "                key = 'expr' if 'formula' in exc.message.lower() else 'name'\n"
        "        raise ConfigError(f'{key}: {exc.message}', exc.hint) from None\n"
    )
    assert text_decisions(old_check_library) == [(6, "check_library"), (7, "check_library")]
    assert text_decisions("def f(m):\n    return m.split('available')[0] if m.message.startswith('x') else m\n")
    assert text_decisions("try:\n    g()\nexcept ValueError as e:\n    ok = 'central' in str(e)\n") == [(4, "<module>")]
    passing_through = ("try:\n    g()\nexcept DataError as exc:\n"
                       "    if exc.key is not None:\n        raise ConfigError(f'{exc.key}: {exc.message}')\n")
    assert text_decisions(passing_through) == []


def test_no_module_decides_on_an_error_message() -> None:
    hits, used = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, func in text_decisions(path.read_text(encoding="utf-8")):
            if (rel, func) in ALLOWED:
                used.add((rel, func))
            else:
                hits.append(f"{rel}:{line} (in {func})")
    assert hits == [], "decisions on error message text; use the error's fields (key, column, path, line) instead"
    assert used == set(ALLOWED), f"stale ALLOWED entries: {set(ALLOWED) - used}"
