"""``kansci bench feynman --equations FILE.csv``: a user's own table in the layout of the bundled Feynman table.

Every malformed row is a one-line error naming the file and line, exit code 2, and nothing is written. The runs use a
fake task function (in the task processes, which import this module: keep its top-level imports light).
"""
from __future__ import annotations

from pathlib import Path

import pytest

HEADER = "id,output,formula,v1_name,v1_low,v1_high,v2_name,v2_low,v2_high"
GOOD = ["my.1,f,x*y,x,1,2,y,1,3", "my.2,g,exp(-x)*gamma,x,0,1,gamma,1,2", "my.3,E,sqrt(x),x,1,4,,,"]


def fast_task(task, mark) -> dict:
    mark("fit", {"fit_test_r2": 0.99999})
    mark("pipeline_done", {"wall_s": 0.01})
    return {"strict": True, "robust": True, "accuracy": True, "formula": task.equation.formula,
            "formula_test_r2": 1.0, "same_shape": True}


def table(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def invoke(*args: str | Path):
    from typer.testing import CliRunner

    from kansci import cli

    return CliRunner().invoke(cli.app, [str(a) for a in args])


# ------------------------------------------------------------------------------------------------- reading
def test_the_bundled_table_reads_the_same_through_the_checked_reader() -> None:
    from importlib import resources

    from kansci.data.feynman import feynman_table, load_equations

    path = resources.files("kansci").joinpath("resources/feynman.csv")
    assert load_equations(Path(str(path))) == feynman_table()


def test_a_good_table(tmp_path: Path) -> None:
    from kansci.data.feynman import load_equations

    eqs = load_equations(table(tmp_path / "eq.csv", *GOOD))
    assert [e.id for e in eqs] == ["my.1", "my.2", "my.3"] and [e.number for e in eqs] == [1, 2, 3]
    assert eqs[1].variables == (("x", 0.0, 1.0), ("gamma", 1.0, 2.0)) and eqs[2].names == ["x"]
    assert not any(e.in_srbench for e in eqs)


@pytest.mark.parametrize("rows, line, needle", [
    (["my.1,f,x*y,x,1,2,y,1"], 2, "line 2 has 8 fields, expected 9"),
    ([GOOD[0], "my.2,f,x*y,x,1,2,y,1,3,4"], 3, "line 3 has 10 fields"),
    (["my.1,f,x*(y,x,1,2,y,1,3"], 2, "syntax error"),
    (["my.1,f,x*z,x,1,2,y,1,3"], 2, "unknown variable 'z'"),
    (["my.1,f,x*y,x,3,2,y,1,3"], 2, "range of 'x' has low >= high (3 >= 2)"),
    (["my.1,f,x*y,x,1,1,y,1,3"], 2, "low >= high"),
    (["my.1,f,x*y,x,1,two,y,1,3"], 2, "range of 'x' is not numeric"),
    (["my.1,f,x*y,x,1,inf,y,1,3"], 2, "not finite"),
    (["my.1,f,x,x,1,2,,1,3"], 2, "v2_low/v2_high are set but v2_name is empty"),
    (["my.1,f,x,x,1,2,x,1,3"], 2, "variable 'x' is declared twice"),
    (["my.1,x,y,x,1,2,y,1,3"], 2, "variable 'x' is also the output"),
    (["my.1,f,x,lambda,1,2,,,"], 2, "v1_name 'lambda' is not a valid name"),
    (["my.1,,x,x,1,2,,,"], 2, "output is empty"),
    ([",f,x,x,1,2,,,"], 2, "the id is empty"),
    (["my.1,f,,x,1,2,,,"], 2, "the formula is empty"),
    (["my.1,f,x,,,,,,"], 2, "no variables"),
    (["my.1,f,log(x-5),x,1,2,,,"], 2, "not finite (NaN/inf)"),
    ([GOOD[0], "", "# a comment", GOOD[0]], 4, "line 4 has 1 field"),
    ([GOOD[0], GOOD[1], GOOD[0]], 4, "id 'my.1' is already used on line 2"),
])
def test_malformed_rows_name_their_line(tmp_path: Path, rows: list[str], line: int, needle: str) -> None:
    from kansci.data.feynman import load_equations
    from kansci.errors import DataError

    path = table(tmp_path / "eq.csv", *rows)
    with pytest.raises(DataError) as exc:
        load_equations(path)
    assert exc.value.line == line and exc.value.path == str(path), exc.value
    assert f"{path}: line {line}" in str(exc.value) and needle in str(exc.value)


@pytest.mark.parametrize("header, needle", [
    ("id,output,formula,v1_name,v1_low", "lacks the column(s) v1_high"),
    ("id,output,v1_name,v1_low,v1_high", "lacks the column(s) formula"),
    ("id,output,formula,v1_name,v1_low,v1_high,v2_nam", "unknown column 'v2_nam' (hint: did you mean 'v2_name'?)"),
    ("id,output,formula,formula,v1_name,v1_low,v1_high", "column 'formula' appears twice"),
    ("id,output,formula,v1_name,v1_low,v1_high,n_vars", "n_vars is 3 but 1 variable(s) are declared"),
])
def test_malformed_headers(tmp_path: Path, header: str, needle: str) -> None:
    from kansci.data.feynman import load_equations
    from kansci.errors import DataError

    n = header.count(",") + 1
    row = ",".join(["my.1", "f", "x", "x", "1", "2", "3"][:n])
    with pytest.raises(DataError, match="line") as exc:
        load_equations(table(tmp_path / "eq.csv", row, header=header))
    assert needle in str(exc.value)


def test_missing_or_empty_files(tmp_path: Path) -> None:
    from kansci.data.feynman import load_equations
    from kansci.errors import DataError

    with pytest.raises(DataError, match="does not exist"):
        load_equations(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        load_equations(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="no equations"):
        load_equations(table(tmp_path / "h.csv"))


@pytest.mark.parametrize("row", ["my.1,f,x*z,x,1,2,y,1,3", "my.1,f,x*y,x,3,2,y,1,3", "my.1,f,x*y,x,1,2,y,1"])
def test_cli_error_exit_2_and_nothing_left_behind(tmp_path: Path, row: str) -> None:
    path = table(tmp_path / "eq.csv", GOOD[0], row)
    res = invoke("bench", "feynman", "--equations", path, "--out", tmp_path / "bench")
    assert res.exit_code == 2 and res.stdout == "" and "Traceback" not in res.output
    assert res.stderr.startswith(f"error: {path}: line 3") and len(res.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eq.csv"]


# ------------------------------------------------------------------------------------------------- running
def test_tasks_carry_their_equation(tmp_path: Path) -> None:
    import numpy as np

    from kansci.bench.feynman import task_data
    from kansci.data.feynman import load_equations

    eq = load_equations(table(tmp_path / "eq.csv", *GOOD))[0]
    d = task_data(eq, 0, 50, 10, 0.0)
    assert d.names == ["x", "y"] and np.array_equal(d.dataset.y, d.dataset.X[:, 0] * d.dataset.X[:, 1])
    assert d.box == [(1.0, 2.0), (1.0, 3.0)]


def test_run_a_users_table_select_and_resume(tmp_path: Path) -> None:
    from kansci.bench.feynman import run_feynman_bench
    from kansci.errors import ConfigError, DataError

    path = table(tmp_path / "eq.csv", *GOOD)
    lines: list[str] = []
    kw = dict(n_train=20, n_test=10, budget_s=30.0, workers=2, out=tmp_path / "b", task_fn=fast_task,
              equations=path)
    res = run_feynman_bench(**kw, log=lines.append)
    assert sorted(r["id"] for r in res.rows) == ["my.1", "my.2", "my.3"]
    assert {r["id"]: r["truth"] for r in res.rows}["my.2"] == "gamma_*exp(-x)"     # gamma clashes: renamed
    assert all(r["status"] == "ok" and r["strict"] for r in res.rows)
    assert res.markdown.startswith(f"# Benchmark on {path} (kansci)") and "published" not in res.markdown
    assert res.settings["equations"] == str(path) and len(res.settings["equations_sha256"]) == 64
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == ["[1/3", "[2/3", "[3/3"]
    assert all(" eta " in line for line in lines if line.startswith("["))

    picked = run_feynman_bench(**{**kw, "out": tmp_path / "c"}, ids=["my.3", "my.1"])
    assert sorted(r["id"] for r in picked.rows) == ["my.1", "my.3"]
    with pytest.raises(DataError, match="no equation 'I.6.2a' in the table"):
        run_feynman_bench(**{**kw, "out": tmp_path / "d"}, ids=["I.6.2a"])
    assert not (tmp_path / "d").exists()

    again = run_feynman_bench(**kw, resume=True)
    assert (again.ran, again.skipped) == (0, 3)
    table(path, *GOOD[:2])
    with pytest.raises(ConfigError, match="equations_sha256"):
        run_feynman_bench(**kw, resume=True)
