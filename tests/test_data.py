"""Tests for kansci.data and kansci.data.table: CSV parsing, bad-input errors, split and normalization."""
from __future__ import annotations

import json
import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from kansci.data import (
    Dataset,
    Normalization,
    dataset_from_arrays,
    fit_normalization,
    load_dataset,
    read_table,
    split_indices,
)
from kansci.errors import DataError, KansciError


def write(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def good_csv(n: int = 20, header: str = "x0,x1,y") -> str:
    rows = [f"{i * 0.1!r},{(i % 7) - 3.5!r},{i * i * 0.01!r}" for i in range(n)]
    return header + "\n" + "\n".join(rows) + "\n"


def data_error(fn, *args, **kwargs) -> DataError:
    """Call, expect a DataError with a one-line message and a non-empty hint, and return it."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    exc = info.value
    assert isinstance(exc, KansciError) and exc.exit_code == 2
    assert "\n" not in exc.message and exc.hint and "\n" not in exc.hint
    return exc


# ---------------------------------------------------------------- file-level errors

def test_missing_path(tmp_path):
    path = tmp_path / "nope.csv"
    exc = data_error(load_dataset, path)
    assert str(path) in exc.message and "does not exist" in exc.message


def test_directory(tmp_path):
    exc = data_error(read_table, tmp_path)
    assert str(tmp_path) in exc.message and "directory" in exc.message


@pytest.mark.parametrize("content, words", [("", "is empty"), ("# only a comment\n\n# another\n", "only comments")])
def test_empty_file(tmp_path, content, words):
    path = write(tmp_path, content)
    exc = data_error(read_table, path)
    assert str(path) in exc.message and words in exc.message and "header" in exc.hint


def test_header_only(tmp_path):
    path = write(tmp_path, "# comment\nx,y\n\n")
    exc = data_error(load_dataset, path)
    assert str(path) in exc.message and "no data rows" in exc.message and "line 2" in exc.message


def test_no_header(tmp_path):
    path = write(tmp_path, "1.0,2.0,3.0\n4,5,6\n")
    exc = data_error(read_table, path)
    assert str(path) in exc.message and "line 1" in exc.message and "not a header" in exc.message
    assert "x0,x1,y" in exc.hint


def test_ragged_row_physical_line_numbers(tmp_path):
    text = "# comment\r\n\r\nx0,x1,y\r\n1,2,3\r\n\r\n4,5\r\n7,8,9\r\n"
    path = write(tmp_path, text)
    expected_line = text.split("\r\n").index("4,5") + 1  # as an editor numbers lines
    exc = data_error(read_table, path)
    assert str(path) in exc.message and f"line {expected_line} " in exc.message
    assert "has 2 fields, expected 3" in exc.message


def test_ragged_trailing_comma_hint(tmp_path):
    path = write(tmp_path, "x,y\n1,2,\n")
    exc = data_error(read_table, path)
    assert "line 2 has 3 fields, expected 2" in exc.message and "extra commas" in exc.hint


def test_line_number_after_multiline_quoted_field(tmp_path):
    path = write(tmp_path, 'x,y\n"1\n",2\n3,4,5\n')  # the quoted cell spans lines 2-3; the ragged row is line 4
    exc = data_error(read_table, path)
    assert "line 4 has 3 fields" in exc.message


def test_non_numeric_cell(tmp_path):
    path = write(tmp_path, "x,temp,y\n1,2,3\n4,abc,6\n")
    exc = data_error(read_table, path)
    assert str(path) in exc.message and "line 3" in exc.message and "'temp'" in exc.message and "'abc'" in exc.message


def test_missing_value_marker_hint(tmp_path):
    path = write(tmp_path, "x,y\n1,2\nNA,3\n")
    exc = data_error(read_table, path)
    assert "'NA'" in exc.message and "missing-value marker" in exc.hint


def test_comment_after_header(tmp_path):
    exc = data_error(read_table, write(tmp_path, "# ok here\nx,y\n1,2\n# not here\n"))
    assert "line 4 is a comment ('# not here')" in exc.message and "before the header" in exc.hint
    exc = data_error(read_table, write(tmp_path, "x,y\n1,2\n#a,b\n", "b.csv"))  # right field count: not a number
    assert "line 3" in exc.message and "'#a'" in exc.message and "before the header" in exc.hint


def test_nan_inf_empty_cells(tmp_path):
    rows = ["1,2,3"] * 12
    rows[1], rows[4], rows[6], rows[9] = "nan,2,3", "1,2,inf", ",2,3", "-Infinity,2,3"
    path = write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n")
    exc = data_error(read_table, path)
    msg = exc.message
    assert str(path) in msg and "4 missing or non-finite values" in msg
    assert "column 'a' (3) at lines 3, 8, 11" in msg and "column 'y' (1) at line 6" in msg


def test_nan_list_is_truncated(tmp_path):
    path = write(tmp_path, "a,y\n" + "nan,1\n" * 8 + "1,1\n")
    exc = data_error(read_table, path)
    assert "(8) at lines 2, 3, 4, 5, 6, ..." in exc.message


def test_bad_cells_in_unused_column_are_ignored(tmp_path):
    path = write(tmp_path, "label,x,y\n" + "".join(f"row{i},{i},{i * i}\n" for i in range(12)))
    data_error(read_table, path)  # read_table checks every column
    ds = load_dataset(path, inputs=["x"])
    assert ds.input_names == ["x"] and ds.target_name == "y"
    np.testing.assert_array_equal(ds.X[:, 0], np.arange(12.0))


def test_constant_input_column(tmp_path):
    path = write(tmp_path, "x0,c,y\n" + "".join(f"{i},1.5,{i * 2}\n" for i in range(12)))
    exc = data_error(load_dataset, path)
    assert str(path) in exc.message and "'c'" in exc.message and "1.5" in exc.message
    assert "--inputs x0" in exc.hint


def test_constant_target(tmp_path):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},7\n" for i in range(12)))
    exc = data_error(load_dataset, path)
    assert str(path) in exc.message and "target column 'y'" in exc.message and "constant" in exc.message


def test_duplicate_column_names(tmp_path):
    path = write(tmp_path, "x, y ,y\n1,2,3\n")
    exc = data_error(read_table, path)
    assert str(path) in exc.message and "duplicate column name 'y'" in exc.message and "columns 2 and 3" in exc.message


def test_empty_column_name(tmp_path):
    path = write(tmp_path, "x,,y\n1,2,3\n")
    exc = data_error(read_table, path)
    assert str(path) in exc.message and "column 2" in exc.message and "empty name" in exc.message


@pytest.mark.parametrize("name", ["v (m/s)", "2x", "\u03b1", "\u0394T", "I", "E", "beta", "lambda", "sin", "if",
                                  "x 1", "Temp (K)", "a`b", "_x"])
def test_any_column_name_is_accepted_as_it_is(tmp_path, name):
    header, values = read_table(write(tmp_path, f'x,"{name}",y\n1,2,3\n'))
    assert header == ["x", name, "y"]
    np.testing.assert_array_equal(values, [[1.0, 2.0, 3.0]])


def test_control_characters_in_a_name_are_refused(tmp_path):
    path = write(tmp_path, 'x,"a\nb",y\n1,2,3\n')
    exc = data_error(read_table, path)
    assert str(path) in exc.message and "column 2" in exc.message and "control character" in exc.message
    assert exc.column == "a\nb" and "line break" in exc.hint


def test_surrounding_spaces_are_sanitized(tmp_path):
    header, values = read_table(write(tmp_path, "\ufeff  x0 , \"x1\",y  \n 1 , 2,3 \n"))
    assert header == ["x0", "x1", "y"]
    np.testing.assert_array_equal(values, [[1.0, 2.0, 3.0]])


def test_semicolon_separated_file(tmp_path):
    path = write(tmp_path, "x;y\n1;2\n")
    exc = data_error(load_dataset, path)
    assert str(path) in exc.message and "line 1" in exc.message and "';'" in exc.message and "comma" in exc.hint


def test_non_utf8_bytes(tmp_path):
    content = b"x,y\n1,2\n3,caf\xe9\n"
    path = write(tmp_path, content)
    exc = data_error(read_table, path)
    assert str(path) in exc.message and "line 3" in exc.message and "0xe9" in exc.message
    offset = content.index(b"\xe9")
    assert f"file offset {offset}" in exc.message and "UTF-8" in exc.hint


def test_malformed_quoting(tmp_path):
    exc = data_error(read_table, write(tmp_path, 'x,y\n1,2\n3,"4\n'))
    assert "line 3" in exc.message and "malformed" in exc.message and "quote" in exc.hint


def test_too_few_rows(tmp_path):
    path = write(tmp_path, good_csv(5))
    exc = data_error(load_dataset, path, min_rows=10)
    assert str(path) in exc.message and "5 data rows" in exc.message and "10" in exc.message
    assert load_dataset(path, min_rows=5).n_rows == 5


def test_no_input_column(tmp_path):
    path = write(tmp_path, "y\n" + "".join(f"{i}\n" for i in range(12)))
    exc = data_error(load_dataset, path)
    assert str(path) in exc.message and "at least one input" in exc.message
    exc = data_error(load_dataset, write(tmp_path, good_csv(), "b.csv"), inputs=[])
    assert "no input columns" in exc.message


def test_target_listed_as_input(tmp_path):
    exc = data_error(load_dataset, write(tmp_path, good_csv()), inputs=["x0", "y"])
    assert "'y' is the target" in exc.message


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5])
def test_test_frac_out_of_range(tmp_path, frac):
    exc = data_error(load_dataset, write(tmp_path, good_csv()), test_frac=frac)
    assert f"test_frac={frac!r}" in exc.message


def test_test_frac_leaves_no_test_or_train_rows(tmp_path):
    path = write(tmp_path, good_csv(10))
    exc = data_error(load_dataset, path, test_frac=0.01)
    assert str(path) in exc.message and "0 test" in exc.message
    exc = data_error(load_dataset, path, test_frac=0.9)
    assert "9 test and 1 training" in exc.message
    data_error(split_indices, 3, 0.5, 0)  # 2 test, 1 train


def test_unknown_target_with_suggestion(tmp_path):
    path = write(tmp_path, good_csv(header="temp,pressure,y"))
    exc = data_error(load_dataset, path, target="tmp")
    assert str(path) in exc.message and "'tmp'" in exc.message and "'pressure'" in exc.message
    assert "did you mean 'temp'" in exc.hint
    exc = data_error(load_dataset, path, inputs=["temp", "presure"])
    assert "input column 'presure'" in exc.message and "'pressure'" in exc.hint


def test_unknown_normalization(tmp_path):
    exc = data_error(load_dataset, write(tmp_path, good_csv()), normalize="zscore")
    assert "'zscore'" in exc.message and "standard" in exc.hint


# ---------------------------------------------------------------- parsing

def test_values_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(3)
    values = rng.standard_normal((50, 3)) * 10.0 ** rng.integers(-300, 300, (50, 3))
    values[0] = [5e-324, -1.7976931348623157e308, -0.0]
    values[1] = [0.1, 1 / 3, 2.0 ** -1074 * 3]
    text = "a,b,y\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in values)
    header, parsed = read_table(write(tmp_path, text))
    assert header == ["a", "b", "y"] and parsed.dtype == np.float64 and parsed.shape == (50, 3)
    assert parsed.tobytes() == values.tobytes()  # bitwise, including the sign of -0.0


def test_default_roles_and_source(tmp_path):
    path = write(tmp_path, "# units: SI\n" + good_csv())
    ds = load_dataset(str(path))
    assert ds.input_names == ["x0", "x1"] and ds.target_name == "y" and ds.source == str(path)
    import hashlib

    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds.X.shape == (20, 2) and ds.y.shape == (20,)
    np.testing.assert_array_equal(ds.y, [i * i * 0.01 for i in range(20)])
    ds2 = load_dataset(path, target="x0", inputs=["y"])
    np.testing.assert_array_equal(ds2.X[:, 0], ds.y)
    assert load_dataset(path, inputs="x1, x0").input_names == ["x1", "x0"]  # comma-separated string, order kept


def test_read_100k_rows_fast(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((100_000, 4))
    path = tmp_path / "big.csv"
    path.write_text("a,b,c,y\n" + "\n".join(",".join(map(repr, row)) for row in values.tolist()) + "\n")
    t0 = time.perf_counter()
    _, parsed = read_table(path)
    elapsed = time.perf_counter() - t0
    np.testing.assert_array_equal(parsed, values)
    assert elapsed < 2.0


# ---------------------------------------------------------------- split

def test_split_is_seeded_disjoint_and_complete():
    train, test = split_indices(101, 0.25, seed=7)
    assert len(test) == 25 and len(train) == 76  # round(0.25 * 101) = 25
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(101))
    again = split_indices(101, 0.25, seed=7)
    np.testing.assert_array_equal(again[1], test)
    other = split_indices(101, 0.25, seed=8)
    assert not np.array_equal(other[1], test)


def test_dataset_split_uses_split_seed(tmp_path):
    path = write(tmp_path, good_csv(30))
    a, b = load_dataset(path, split_seed=3), load_dataset(path, split_seed=3)
    np.testing.assert_array_equal(a.test_idx, b.test_idx)
    np.testing.assert_array_equal(a.test_idx, split_indices(30, 0.2, 3)[1])
    np.testing.assert_array_equal(a.X_test, a.X[a.test_idx])
    np.testing.assert_array_equal(a.y_train, a.y[a.train_idx])


# ---------------------------------------------------------------- normalization

def test_auto_scales_are_powers_of_ten():
    rng = np.random.default_rng(5)
    for _ in range(200):
        peak = 10.0 ** rng.uniform(-300, 300)
        v = rng.uniform(-1, 1, (20, 1)) * peak
        scale = fit_normalization(v, "auto").scale[0]
        m = np.abs(v).max()
        if 0.1 <= m <= 100:
            assert scale == 1.0
            continue
        k = round(math.log10(scale))
        assert scale == float(f"1e{k}")
        ratio = Fraction(float(m)) / (Fraction(10) ** k)  # against the exact power of ten
        assert Fraction(1, 10) <= ratio < 100


def test_auto_leaves_unit_range_untouched():
    x = np.linspace(-1, 1, 50)[:, None]
    ds = dataset_from_arrays(x, np.exp(np.sin(np.pi * x[:, 0])))
    assert ds.x_norm.shift.tolist() == [0.0] and ds.x_norm.scale.tolist() == [1.0]
    assert ds.X_train_norm.tobytes() == ds.X_train.tobytes()
    # the target is standardized under auto: mean 0, std 1 on the training rows
    y = ds.y_train
    np.testing.assert_allclose(ds.y_norm.shift, [y.mean()]) and np.testing.assert_allclose(ds.y_norm.scale, [y.std()])
    assert abs(ds.y_train_norm.mean()) < 1e-12 and abs(ds.y_train_norm.std() - 1) < 1e-12


def test_auto_scales_tiny_data():
    x = np.linspace(1, 5, 40)[:, None] * 1e-12
    ds = dataset_from_arrays(x, x[:, 0] * 1e12 + x[:, 0] ** 2 * 1e24)
    assert ds.x_norm.scale.tolist() == [1e-12]
    np.testing.assert_allclose(ds.y_norm.scale, [ds.y_train.std()])
    assert 1 <= np.abs(ds.X_train_norm).max() < 10


def test_undo_inverts_apply():
    rng = np.random.default_rng(2)
    v = rng.uniform(-1, 1, (1000, 3)) * np.array([1e-12, 3e5, 0.5])
    v[0] = [-5e-12, 3e5, 0.5]  # peaks: 5e-12, 3e5, 0.5
    auto = fit_normalization(v, "auto")
    assert auto.scale.tolist() == [1e-12, 1e5, 1.0]
    back = auto.undo(auto.apply(v))
    # powers of ten other than 1 are not exact in binary: v / s is rounded once, so exact only within 1 ulp
    assert np.all(np.abs(back - v) <= np.spacing(np.abs(v)))
    assert back[:, 2].tobytes() == v[:, 2].tobytes()  # scale 1: bitwise
    two = Normalization(np.zeros(3), np.array([0.25, 1024.0, 1.0]))
    assert two.undo(two.apply(v)).tobytes() == v.tobytes()  # powers of two: bitwise
    std = fit_normalization(v, "standard")
    np.testing.assert_allclose(std.shift, v.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(std.scale, v.std(axis=0), rtol=1e-15)
    np.testing.assert_allclose(std.undo(std.apply(v)), v, rtol=1e-13, atol=0)
    none = fit_normalization(v, "none")
    assert none.apply(v).tobytes() == v.tobytes()


def test_scales_come_from_training_rows_only():
    n, frac, seed = 40, 0.25, 1
    train, test = split_indices(n, frac, seed)
    x = np.linspace(-1, 1, n)[:, None].copy()
    y = np.linspace(0.5, 2, n)
    x[test[0], 0] = 1e6  # outlier in a test row: ignored
    ds = dataset_from_arrays(x, y, test_frac=frac, split_seed=seed)
    assert ds.x_norm.scale.tolist() == [1.0]
    x[train[0], 0] = 1e6  # outlier in a training row: sets the scale
    ds = dataset_from_arrays(x, y, test_frac=frac, split_seed=seed, normalize="standard")
    assert ds.x_norm.shift[0] == pytest.approx(x[train, 0].mean(), rel=1e-14)
    assert dataset_from_arrays(x, y, test_frac=frac, split_seed=seed).x_norm.scale.tolist() == [1e6]


# ---------------------------------------------------------------- json and arrays

def test_json_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, (30, 2)) * np.array([1e-7, 3.0])
    y = X[:, 0] * 1e7 + X[:, 1] ** 2 + 1e3
    rows = zip(X.tolist(), y.tolist(), strict=True)
    path = write(tmp_path, "a,b,y\n" + "".join(f"{r[0]!r},{r[1]!r},{t!r}\n" for r, t in rows))
    ds = load_dataset(path, split_seed=11, normalize="standard")
    meta = json.loads(json.dumps(ds.to_json()))
    assert meta["inputs"] == ["a", "b"] and meta["target"] == "y" and meta["n_rows"] == 30
    assert meta["split"]["seed"] == 11 and meta["normalization"]["policy"] == "standard"
    back = Dataset.from_json(meta, ds.X, ds.y)
    for name in ("train_idx", "test_idx", "X", "y"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))
    for name in ("x_norm", "y_norm"):
        assert getattr(back, name).to_dict() == getattr(ds, name).to_dict()  # floats survive json bitwise
    assert (back.source, back.sha256, back.split_seed) == (ds.source, ds.sha256, 11)
    bare = Dataset.from_json(meta)
    assert bare.X is None and bare.n_rows == 30
    np.testing.assert_array_equal(bare.test_idx, ds.test_idx)
    data_error(lambda: bare.X_train)
    exc = data_error(Dataset.from_json, meta, ds.X[:, :1], ds.y)
    assert "does not match" in exc.message
    broken = dict(meta, split={"seed": 1, "train": [0, 1], "test": [1]})
    data_error(Dataset.from_json, broken)
    data_error(Dataset.from_json, {"inputs": ["a"]})


def test_dataset_from_arrays_checks():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (20, 2))
    ds = dataset_from_arrays(X, X.sum(axis=1)[:, None])
    assert ds.input_names == ["x0", "x1"] and ds.target_name == "y" and ds.source is None and ds.y.shape == (20,)
    assert "reshape" in data_error(dataset_from_arrays, X[:, 0], X[:, 1]).hint
    data_error(dataset_from_arrays, X, X[:5, 0])
    Xn = X.copy()
    Xn[3, 1] = np.nan
    assert "rows 3" in data_error(dataset_from_arrays, Xn, X[:, 0]).message
    assert dataset_from_arrays(X, X[:, 0], input_names=["Temp (K)", "I"], target_name="lambda").input_names == [
        "Temp (K)", "I"]
    assert "control character" in data_error(dataset_from_arrays, X, X[:, 0], input_names=["a", "b\tc"]).message
    assert "empty name" in data_error(dataset_from_arrays, X, X[:, 0], input_names=["a", " "]).message
    data_error(dataset_from_arrays, X, X[:, 0], input_names=["a"])
    data_error(dataset_from_arrays, X, X[:, 0], input_names=["a", "y"])
