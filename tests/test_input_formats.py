"""Input formats (issue 14): CSV and TSV (separator detected from the header line, or data.sep), ``-`` for standard
input (the run directory still keeps the values), and parquet through the optional extra (pyarrow); every format
keeps the strict line/column messages (for parquet: the column name and a row index)."""
from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from kansci.config import config_to_yaml, load_config, reference_yaml
from kansci.data import load_dataset, read_table
from kansci.data.table import check_sep
from kansci.errors import ConfigError, DataError
from tests.cli_support import in_folder


def rows(n: int = 20, sep: str = ",") -> str:
    return "".join(sep.join(repr(v) for v in (0.1 * i, (i % 7) - 3.5, 0.01 * i * i)) + "\n" for i in range(n))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def data_error(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    assert "\n" not in info.value.message and info.value.hint
    return info.value


# ------------------------------------------------------------------------------------------------ CSV and TSV
def test_tsv_is_detected_from_the_header(tmp_path: Path) -> None:
    csv_header, csv_values = read_table(write(tmp_path, "d.csv", "x 1,Temp (K),y\n" + rows()))
    tsv_header, tsv_values = read_table(write(tmp_path, "d.tsv", "x 1\tTemp (K)\ty\n" + rows(sep="\t")))
    assert tsv_header == csv_header == ["x 1", "Temp (K)", "y"]
    np.testing.assert_array_equal(tsv_values, csv_values)
    # a comma inside a quoted name does not make a tab-separated file comma-separated
    header, _ = read_table(write(tmp_path, "q.tsv", '"a,b"\tc\n1\t2\n'))
    assert header == ["a,b", "c"]


def test_tsv_errors_name_the_line_and_the_tabs(tmp_path: Path) -> None:
    exc = data_error(read_table, write(tmp_path, "r.tsv", "x\ty\tf\n1\t2\t3\n4\t5\n"))
    assert "r.tsv: line 3 has 2 fields, expected 3" in exc.message and "tabs" in exc.hint and exc.line == 3
    exc = data_error(load_dataset, write(tmp_path, "t.tsv", "x\ty\tf\n" + rows(sep="\t") + "1\tabc\t2\n"))
    assert "line 22, column 'y': 'abc' is not a number" in exc.message and exc.column == "y"


@pytest.mark.parametrize(("sep", "char"), [(";", ";"), ("semicolon", ";"), ("pipe", "|"), ("|", "|"), (":", ":"),
                                           ("tab", "\t"), ("comma", ",")])
def test_a_given_separator(tmp_path: Path, sep: str, char: str) -> None:
    path = write(tmp_path, "d.txt", char.join(["x", "y", "f"]) + "\n" + rows(sep=char))
    ds = load_dataset(path, sep=sep)
    assert ds.input_names == ["x", "y"] and ds.n_rows == 20
    assert check_sep(sep) == char


def test_separator_errors(tmp_path: Path) -> None:
    exc = data_error(load_dataset, write(tmp_path, "s.csv", "x;y;f\n" + rows(sep=";")))
    assert "line 1" in exc.message and "';'" in exc.message and "data.sep=semicolon" in exc.hint
    exc = data_error(load_dataset, write(tmp_path, "t.tsv", "x\ty\tf\n" + rows(sep="\t")), sep=",")
    assert "'\\t'" in exc.message and "data.sep=tab" in exc.hint and "set to ','" in exc.hint
    for bad in ("ab", "1", ".", "-", '"', "#", ""):
        assert data_error(check_sep, bad).key == "data.sep"


def test_data_sep_config_key(tmp_path: Path) -> None:
    assert load_config(None).data.sep == "auto"
    assert load_config(None, overrides=["data.sep=tab"]).data.sep == "\t"
    assert load_config(None, overrides=["data.sep=semicolon"]).data.sep == ";"
    assert load_config(None, overrides=["data.sep=':'"]).data.sep == ":"
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  sep: ab\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "c.yaml:2" in info.value.message and "data.sep" in info.value.message and "'ab'" in info.value.message
    cfg = load_config(None, overrides=["data.sep=tab"])
    assert yaml.safe_load(config_to_yaml(cfg))["data"]["sep"] == "\t"
    assert re.search(r"^  sep: auto +# field separator", reference_yaml(), re.M)


# ------------------------------------------------------------------------------------------------ standard input
class _Stdin:
    def __init__(self, data: bytes, tty: bool = False) -> None:
        self.buffer, self.tty = io.BytesIO(data), tty

    def isatty(self) -> bool:
        return self.tty


def test_dash_reads_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"# measured\nT (K),lambda,p\n" + rows().encode("utf-8")
    monkeypatch.setattr(sys, "stdin", _Stdin(data))
    ds = load_dataset("-")
    assert ds.source == "<stdin>" and ds.sha256 == hashlib.sha256(data).hexdigest()
    assert ds.input_names == ["T (K)", "lambda"] and ds.n_rows == 20
    monkeypatch.setattr(sys, "stdin", _Stdin(b"x,y,f\n1,2,3\n4,5\n"))
    exc = data_error(load_dataset, "-")
    assert exc.message.startswith("<stdin>: line 3 has 2 fields") and exc.path == "<stdin>"
    monkeypatch.setattr(sys, "stdin", _Stdin(b"", tty=True))
    exc = data_error(load_dataset, "-")
    assert "nothing is piped in" in exc.message and "kansci fit - < data.csv" in exc.hint


def test_fit_from_standard_input_keeps_the_data_in_the_run(tmp_path: Path) -> None:
    from kansci import load_run
    from kansci.cli import app

    data = ("a b\tlambda\tf\n" + rows(sep="\t")).encode("utf-8")
    args = ["fit", "-", "--width", "2,1", "--device", "cpu", "--set", "train.steps=2", "--set", "train.grids=[3]",
            "--out", "runs"]
    with in_folder(tmp_path):
        res = CliRunner().invoke(app, args, input=data)
    assert res.exit_code == 0, res.stderr
    run = tmp_path / re.search(r"^run: (.+)$", res.stdout, re.M).group(1)
    assert run.name.startswith("stdin-")
    assert yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))["data"]["path"] == "-"
    meta = json.loads((run / "dataset.json").read_text(encoding="utf-8"))
    assert meta["source"] == "<stdin>" and meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["inputs"] == ["a b", "lambda"] and meta["target"] == "f"
    _, values = read_table(write(tmp_path, "copy.tsv", data))
    with np.load(run / "data.npz") as saved:
        np.testing.assert_array_equal(saved["X"], values[:, :2])
        np.testing.assert_array_equal(saved["y"], values[:, 2])
    assert load_run(run).dataset.input_names == ["a b", "lambda"]


# ------------------------------------------------------------------------------------------------ parquet
def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    for path in (write(tmp_path, "d.parquet", b"PAR1 not really"), write(tmp_path, "d.bin", b"PAR1 by its bytes")):
        exc = data_error(read_table, path)
        assert str(path) in exc.message and "pyarrow" in exc.message and "kansci[parquet]" in exc.hint


@pytest.fixture
def pq():
    pytest.importorskip("pyarrow")
    import pyarrow
    import pyarrow.parquet

    return pyarrow, pyarrow.parquet


def test_parquet_is_read_with_any_column_names(tmp_path: Path, pq, monkeypatch: pytest.MonkeyPatch) -> None:
    pa, pqm = pq
    rng = np.random.default_rng(0)
    table = pa.table({"Temp (K)": rng.uniform(1, 2, 30), "n": pa.array(np.arange(30), pa.int32()),
                      "θ": pa.array([str(v) for v in rng.uniform(0, 1, 30)]), "lambda": rng.uniform(0, 1, 30),
                      "note": pa.array(["text"] * 30)})
    path = tmp_path / "d.parquet"
    pqm.write_table(table, path)
    ds = load_dataset(path, target="lambda", inputs=["Temp (K)", "n", "θ"])  # the text column is left out
    assert ds.input_names == ["Temp (K)", "n", "θ"] and ds.n_rows == 30
    np.testing.assert_array_equal(ds.X[:, 1], np.arange(30))
    np.testing.assert_array_equal(ds.X[:, 2], [float(v) for v in table.column("θ").to_pylist()])
    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(sys, "stdin", _Stdin(path.read_bytes()))  # standard input: found by its first bytes
    assert load_dataset("-", target="lambda", inputs=["Temp (K)"]).n_rows == 30


def test_parquet_errors_name_the_column_and_row_index(tmp_path: Path, pq) -> None:
    pa, pqm = pq
    n = 20
    table = pa.table({"x": pa.array([1.0, None] + [0.5 + i for i in range(n - 2)]),
                      "s": pa.array(["1", "2", "3", "abc"] + ["4"] * (n - 4)),
                      "b": pa.array([True, False] * (n // 2)), "f": pa.array(np.arange(float(n)))})
    path = tmp_path / "bad.parquet"
    pqm.write_table(table, path)
    exc = data_error(load_dataset, path, inputs=["x"], target="f")
    assert "(null, NaN or inf)" in exc.message and "column 'x' (1) at row index 1" in exc.message
    assert exc.column == "x" and exc.line is None and exc.path == str(path)
    exc = data_error(load_dataset, path, inputs=["s"], target="f")
    assert "row index 3, column 's': 'abc' is not a number" in exc.message
    exc = data_error(load_dataset, path, inputs=["b"], target="f")
    assert "row index 0, column 'b': 'True' is not a number" in exc.message
    dup = pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["x", "x"])
    pqm.write_table(dup, tmp_path / "dup.parquet")
    assert "duplicate column name 'x'" in data_error(read_table, tmp_path / "dup.parquet").message
    pqm.write_table(table.slice(0, 0), tmp_path / "empty.parquet")
    assert "no data rows" in data_error(read_table, tmp_path / "empty.parquet").message
    exc = data_error(read_table, write(tmp_path, "junk.parquet", b"PAR1 and then nothing useful"))
    assert "not a readable parquet file" in exc.message
