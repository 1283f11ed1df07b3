"""The bad-input corpus (issue 8): every case runs the real ``kansci`` CLI on one bad input and checks the contract.

For every case: exit code 2 for input/usage errors (1 for runtime failures); exactly one error line on stderr, the
last one, of the form ``error: <message naming the thing> (hint: <fix>)``; no traceback (``--debug`` shows one); nothing
on stdout; and no file created, changed or deleted in the case's folder (no run directory, no ``.*.tmp``, no marker
file from an executed payload, no half-written output).

The case list is data (:data:`CASES`). ``docs/bad_inputs.md`` is generated from it and checked by
:func:`test_doc_is_current`; regenerate it with ``python -m tests.test_bad_inputs`` (from the repository root) or
``KANSCI_REGEN_DOCS=1 pytest tests/test_bad_inputs.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sympy
import torch

from tests.cli_support import hide_folder, invoke_in

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad_inputs.md"
TINY = ("--width", "2,1,1", "--device", "cpu", "--set", "train.steps=2", "--set", "train.grids=[3]", "--out", "runs")
MARKER = "PWNED"  # a payload that executes creates this file in the case's folder


# ------------------------------------------------------------------------------------------------ the inputs
def csv(header: str = "x,y,f", n: int = 20, extra: str = "", sep: str = ",") -> str:
    """A valid numeric CSV (3 columns, n rows, no constant column) with ``extra`` lines appended."""
    rows = [sep.join(str(v) for v in (i, i % 3, 2 * i + i % 3)) for i in range(n)]
    return header + "\n" + "\n".join(rows) + "\n" + extra


GOOD = csv()


def fit(path: str | None, *extra: str) -> tuple[str, ...]:
    """``kansci fit PATH`` with tiny training settings (so a case wrongly accepted still ends quickly)."""
    return ("fit", *([path] if path else []), *TINY, *extra)


def make(formula: str, *extra: str) -> tuple[str, ...]:
    return ("dataset", "make", formula, "--var", "x=-1:1", "-o", "out.csv", *extra)


class _Evil:
    """Unpickling this runs ``open(MARKER, "w")``: the file appears if a loader executes pickled code."""

    def __reduce__(self):
        return (open, (MARKER, "w"))


def _other_architecture(run: Path) -> None:
    from kansci.core.model import KAN

    (run / "model.json").write_text(json.dumps(KAN([2, 2, 1], grid=3, k=3, seed=0).spec()), encoding="utf-8")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "none": lambda run: None,
    "model.pt deleted": lambda run: (run / "model.pt").unlink(),
    "model.pt truncated": lambda run: _truncate(run / "model.pt"),
    "model.pt garbage": lambda run: (run / "model.pt").write_bytes(b"this is not a tensor file\n" * 20),
    "model.pt pickle": lambda run: torch.save({"layers.0.coef": _Evil()}, run / "model.pt"),
    "model.json other architecture": _other_architecture,
    "model.json deleted": lambda run: (run / "model.json").unlink(),
    "model.json garbage": lambda run: (run / "model.json").write_text("{\"width\": [2, 1", encoding="utf-8"),
    "config.yaml deleted": lambda run: (run / "config.yaml").unlink(),
    "data.npz deleted": lambda run: (run / "data.npz").unlink(),
    "metrics.json garbage": lambda run: (run / "metrics.json").write_text("{not json", encoding="utf-8"),
}


@dataclass(frozen=True)
class Case:
    """One bad input. The command runs in a fresh folder holding ``files`` (a name ending in ``/`` is an empty
    folder) and, when ``damage`` is set, a copy of a real tiny run at ``run/`` damaged as :data:`DAMAGE` says."""

    id: str                              # <kind>-<name>; kind is csv, yaml, run, cli or formula
    what: str                            # the bad input in words (doc column)
    argv: tuple[str, ...]                # arguments of `kansci`
    names: tuple[str, ...]               # substrings the error line must contain: the file, line, column, key...
    files: dict[str, str | bytes] = field(default_factory=dict)
    damage: str | None = None
    code: int = 2
    click: bool = False                  # a usage error reported by click: "Usage:", "Try ... --help", "Error: ..."
    defect: str | None = None            # a known product defect: the test is xfail(strict) with this reason


_PY_TAG = "train: !!python/object/apply:os.system ['touch PWNED']\n"
CASES: list[Case] = [
    # CSV files (kansci fit)
    Case("csv-empty", "empty file (0 bytes)", fit("empty.csv"), ("empty.csv", "empty"), {"empty.csv": ""}),
    Case("csv-header-only", "header line only", fit("h.csv"), ("h.csv", "no data rows"), {"h.csv": "x,y,f\n"}),
    Case("csv-ragged", "ragged row (2 fields under a 3-column header)", fit("r.csv"),
         ("r.csv", "line 3", "2 fields", "expected 3"), {"r.csv": "x,y,f\n1,2,3\n4,5\n" + csv()[6:]}),
    Case("csv-text-cell", "non-numeric cell `abc`", fit("t.csv"), ("t.csv", "line 22", "'y'", "'abc'"),
         {"t.csv": csv(extra="1,abc,2\n")}),
    Case("csv-nan", "a NaN cell", fit("n.csv"), ("n.csv", "'y'", "line 22"), {"n.csv": csv(extra="1,nan,2\n")}),
    Case("csv-inf", "an inf cell", fit("i.csv"), ("i.csv", "'f'", "line 22"), {"i.csv": csv(extra="1,2,-inf\n")}),
    Case("csv-overflow", "a number that overflows to inf (`1e999`)", fit("o.csv"), ("o.csv", "'x'", "line 22"),
         {"o.csv": csv(extra="1e999,1,2\n")}),
    Case("csv-constant-input", "a single distinct value in an input column", fit("c.csv"),
         ("c.csv", "'y'", "same value"),
         {"c.csv": "x,y,f\n" + "".join(f"{i},1.5,{i}\n" for i in range(20))}),
    Case("csv-constant-target", "a single distinct value in the target column", fit("c.csv"),
         ("c.csv", "'f'", "same value"), {"c.csv": "x,y,f\n" + "".join(f"{i},{i % 3},7\n" for i in range(20))}),
    Case("csv-no-target", "`--target` names a column that does not exist", fit("data.csv", "--target", "zz"),
         ("data.csv", "'zz'", "'x', 'y', 'f'"), {"data.csv": GOOD}),
    Case("csv-no-input", "`--inputs` names a column that does not exist", fit("data.csv", "--inputs", "x,q"),
         ("data.csv", "'q'"), {"data.csv": GOOD}),
    Case("csv-no-target-of-several", "`--target y,zz`: one of several targets does not exist",
         fit("data.csv", "--target", "y,zz"), ("data.csv", "'zz'", "'x', 'y', 'f'"), {"data.csv": GOOD}),
    Case("csv-target-twice", "`--target f,f` lists a target twice", fit("data.csv", "--target", "f,f"),
         ("data.csv", "'f'", "twice"), {"data.csv": GOOD}),
    Case("csv-target-is-input", "`--target y,f --inputs x,f`: a target is also an input",
         fit("data.csv", "--target", "y,f", "--inputs", "x,f"), ("data.csv", "'f'", "target"), {"data.csv": GOOD}),
    Case("csv-duplicate-header", "duplicate header names", fit("d.csv"), ("d.csv", "line 1", "'x'", "duplicate"),
         {"d.csv": csv("x,x,f")}),
    Case("csv-control-name", "a line break inside a quoted header name", fit("b.csv"),
         ("b.csv", "column 2", "'a\\nb'", "control character"), {"b.csv": csv('x,"a\nb",f')}),
    Case("csv-latin1", "non-UTF-8 file (latin-1 `é` in the header)", fit("l.csv"),
         ("l.csv", "line 1", "0xe9", "UTF-8"),
         {"l.csv": csv("x,température,f").encode("latin-1")}),
    Case("csv-utf16", "UTF-16 file", fit("u.csv"), ("u.csv", "UTF-16"), {"u.csv": GOOD.encode("utf-16")}),
    Case("csv-semicolons", "semicolon-separated file", fit("s.csv"), ("s.csv", "line 1", "';'", "data.sep=semicolon"),
         {"s.csv": csv("x;y;f", sep=";")}),
    Case("csv-tsv-ragged", "tab-separated file with a ragged row", fit("r.tsv"),
         ("r.tsv", "line 3", "2 fields", "expected 3", "tabs"),
         {"r.tsv": "x\ty\tf\n1\t2\t3\n4\t5\n" + csv(sep="\t")[6:]}),
    Case("csv-sep-mismatch", "tab-separated file read with `data.sep: comma`", fit("t.tsv", "--set", "data.sep=comma"),
         ("t.tsv", "line 1", "'\\t'", "data.sep=tab"), {"t.tsv": csv("x\ty\tf", sep="\t")}),
    Case("csv-stdin-empty", "`-` (standard input) with nothing piped in", fit("-"), ("<stdin>", "empty")),
    Case("csv-open-quote", "unterminated quote", fit("q.csv"), ("q.csv", "line 2", "malformed"),
         {"q.csv": 'x,y,f\n1,"2,3\n' + csv()[6:]}),
    Case("csv-late-comment", "`#` comment line after the header", fit("k.csv"), ("k.csv", "line 22", "comment"),
         {"k.csv": csv(extra="# note\n")}),
    Case("csv-one-column", "a single column", fit("one.csv"), ("one.csv", "'f'", "single column"),
         {"one.csv": "f\n" + "".join(f"{i}\n" for i in range(20))}),
    Case("csv-few-rows", "4 data rows", fit("few.csv"), ("few.csv", "4 data rows"), {"few.csv": csv(n=4)}),
    Case("csv-missing", "a path that does not exist", fit("nope.csv"), ("'nope.csv'", "does not exist")),
    Case("csv-directory", "a folder instead of a CSV file", fit("folder"), ("'folder'", "directory"), {"folder/": ""}),
    Case("csv-none", "no data file given", fit(None), ("data file",)),
    # YAML configs
    Case("yaml-syntax", "YAML syntax error (bad indentation)", ("config", "validate", "c.yaml"),
         ("c.yaml:3:9", "invalid YAML"), {"c.yaml": "train:\n  steps: 3\n   grids: [3]\n"}),
    Case("yaml-tab", "tab indentation", ("config", "validate", "c.yaml"), ("c.yaml:2:1", "'\\t'"),
         {"c.yaml": "train:\n\tsteps: 3\n"}),
    Case("yaml-unknown-key", "misspelt key", ("config", "validate", "c.yaml"),
         ("c.yaml:2", "train.stepz", "did you mean 'steps'"), {"c.yaml": "train:\n  stepz: 3\n"}),
    Case("yaml-type", "text where an integer is expected", ("config", "validate", "c.yaml"),
         ("c.yaml:2", "train.steps", "integer", "'many'"), {"c.yaml": "train:\n  steps: many\n"}),
    Case("yaml-range", "value out of range", ("config", "validate", "c.yaml"), ("c.yaml:2", "data.test_frac"),
         {"c.yaml": "data:\n  test_frac: 2\n"}),
    Case("yaml-python-tag", "`!!python/object/apply:os.system` tag", fit("data.csv", "--config", "evil.yaml"),
         ("evil.yaml:1", "!!python/object/apply:os.system", "not allowed"), {"data.csv": GOOD, "evil.yaml": _PY_TAG}),
    Case("yaml-top-list", "top level is a list", ("config", "validate", "c.yaml"), ("c.yaml:1", "mapping"),
         {"c.yaml": "- a\n- b\n"}),
    Case("yaml-duplicate-key", "duplicate key", ("config", "validate", "c.yaml"),
         ("c.yaml:3", "train.steps", "duplicate"), {"c.yaml": "train:\n  steps: 3\n  steps: 4\n"}),
    Case("yaml-unknown-primitive", "unknown primitive in `symbolic.lib`", ("config", "validate", "c.yaml"),
         ("c.yaml:2", "symbolic.lib", "'sine'", "'sin'"), {"c.yaml": "symbolic:\n  lib: [sin, sine]\n"}),
    Case("yaml-alias-bomb", "alias bomb (9^6 values)", ("config", "validate", "c.yaml"), ("c.yaml", "aliases"),
         {"c.yaml": "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
             f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcde", "bcdef", strict=True))}),
    Case("yaml-missing", "config path that does not exist", ("run", "nope.yaml"), ("nope.yaml", "not found")),
    Case("yaml-latin1", "non-UTF-8 config", ("config", "validate", "c.yaml"), ("c.yaml", "UTF-8"),
         {"c.yaml": "# température\ntrain:\n  steps: 3\n".encode("latin-1")}),
    Case("yaml-data-target", "config whose `data.target` is not a column", ("config", "validate", "c.yaml"),
         ("c.yaml:3", "data.target", "'zz'"), {"c.yaml": "data:\n  path: data.csv\n  target: zz\n", "data.csv": GOOD}),
    Case("yaml-data-target-twice", "config whose `data.target` list names a column twice",
         ("config", "validate", "c.yaml"), ("c.yaml:3", "data.target", "'f'", "twice"),
         {"c.yaml": "data:\n  path: data.csv\n  target: [f, f]\n", "data.csv": GOOD}),
    # run directories
    Case("run-missing", "RUN that does not exist", ("symbolify", "nope"), ("nope", "not found")),
    Case("run-latest-empty", "`latest` with an empty runs folder", ("symbolify", "latest", "--out", "runs"),
         ("runs", "no runs found"), {"runs/": ""}),
    Case("run-latest-no-folder", "`latest` with no runs folder", ("show", "latest", "--out", "runs"),
         ("runs", "no runs found")),
    *[Case(f"run-{d.replace('.', '-').replace(' ', '-')}", f"run directory: {what}", ("symbolify", "run"), names,
           damage=d, defect=defect[0] if defect else None) for d, what, names, *defect in [
        ("model.pt deleted", "`model.pt` missing", ("run/model.pt", "missing")),
        ("model.pt truncated", "`model.pt` truncated to half", ("run/model.pt", "refused")),
        ("model.pt garbage", "`model.pt` replaced by text", ("run/model.pt", "refused")),
        ("model.pt pickle", "`model.pt` holds a pickle that would run code", ("run/model.pt", "refused",
                                                                              "Python objects other than tensors")),
        ("model.json other architecture", "`model.json` of a different architecture ([2, 2, 1])",
         ("run/model.pt", "do not match model.json")),
        ("model.json deleted", "`model.json` missing", ("run", "model.json")),
        ("model.json garbage", "`model.json` cut off mid-file", ("run/model.json", "not valid JSON")),
        ("config.yaml deleted", "`config.yaml` missing", ("run/config.yaml", "missing")),
        ("data.npz deleted", "`data.npz` missing", ("run/data.npz", "missing")),
    ]],
    Case("run-metrics-garbage", "run directory: `metrics.json` not JSON (`kansci show`)", ("show", "run"),
         ("run/metrics.json", "not valid JSON"), damage="metrics.json garbage"),
    Case("run-plot-what", "`kansci plot --what` with an unknown figure", ("plot", "run", "--what", "bogus"),
         ("plot.what", "'bogus'"), damage="none"),
    Case("run-unknown-primitive", "`kansci symbolify --lib` with an unknown primitive",
         ("symbolify", "run", "--lib", "sin,foo"), ("symbolic.lib", "'foo'"), damage="none"),
    # CLI arguments
    Case("cli-width-text", "`--width` that is not a list", fit("data.csv", "--width", "2,x,1"),
         ("--width", "'2,x,1'"), {"data.csv": GOOD}),
    Case("cli-width-mismatch", "`--width` that does not match the data", fit("data.csv", "--width", "3,1,1"),
         ("model.width", "[3, 1, 1]", "2 inputs"), {"data.csv": GOOD}),
    Case("cli-steps", "`--steps -1`", fit("data.csv", "--steps", "-1"), ("train.steps", "-1"), {"data.csv": GOOD}),
    Case("cli-seed", "`--seed -3`", fit("data.csv", "--seed", "-3"), ("seed", "-3"), {"data.csv": GOOD}),
    Case("cli-test-frac", "`--test-frac 1.5`", fit("data.csv", "--test-frac", "1.5"), ("data.test_frac", "1.5"),
         {"data.csv": GOOD}),
    Case("cli-sep", "`--set data.sep=ab` (not one character)", fit("data.csv", "--set", "data.sep=ab"),
         ("data.sep", "'ab'"), {"data.csv": GOOD}),
    Case("cli-device", "`--device tpu`", fit("data.csv", "--device", "tpu"), ("model.device", "'tpu'"),
         {"data.csv": GOOD}),
    Case("cli-set-no-value", "`--set` without `=`", fit("data.csv", "--set", "train.steps"),
         ("--set train.steps", "KEY=VALUE"), {"data.csv": GOOD}),
    Case("cli-set-unknown", "`--set` with a misspelt key", fit("data.csv", "--set", "train.stepz=3"),
         ("train.stepz", "did you mean 'steps'"), {"data.csv": GOOD}),
    Case("cli-set-yaml", "`--set` with broken YAML", fit("data.csv", "--set", "train.grids=[3"),
         ("--set train.grids=[3", "invalid YAML"), {"data.csv": GOOD}),
    Case("cli-set-python-tag", "`--set` with a `!!python` tag",
         fit("data.csv", "--set", "train.steps=!!python/object/apply:os.system ['touch PWNED']"),
         ("!!python/object/apply:os.system", "not allowed"), {"data.csv": GOOD}),
    Case("cli-name-traversal", "`--name ../../x`", fit("data.csv", "--name", "../../x"), ("output.name", "'../../x'"),
         {"data.csv": GOOD}),
    Case("cli-unknown-option", "unknown option", fit("data.csv", "--bogus"), ("--bogus",), {"data.csv": GOOD},
         click=True),
    Case("cli-out-is-file", "`--out` names an existing file", fit("data.csv", "--out", "afile"), ("afile",),
         {"data.csv": GOOD, "afile": "not a folder\n"}),
    # units (issue 13)
    Case("units-unknown-string", "`--units` with an unknown unit string", fit("data.csv", "--units", "x=m,y=kgg,f=N"),
         ("--units", "unknown unit 'kgg'", "did you mean 'kg'"), {"data.csv": GOOD}),
    Case("units-row-no-column", "a units file row for a column that does not exist",
         fit("data.csv", "--units", "units.csv"), ("units.csv", "line 5", "'q'", "not a column"),
         {"data.csv": GOOD, "units.csv": "Variable,Units,m,s,kg\nx,Length,1,0,0\ny,Time,0,1,0\nf,Mass,0,0,1\n"
                                          "q,Charge,0,0,0\n"}),
    Case("units-missing-input", "units declared for some columns but not an input", fit("data.csv", "--units",
         "x=m,f=N"), ("no units declared", "'y'"), {"data.csv": GOOD}),
    # formula strings (kansci dataset make)
    Case("formula-import", "`__import__('os').system(...)`", make("__import__('os').system('touch PWNED')"),
         ("formula", "attribute access", "column 1")),
    Case("formula-dunder-call", "`__import__('os')`", make("__import__('os')"), ("formula", "'__import__'")),
    Case("formula-lambda", "a lambda", make("lambda: 1"), ("formula", "lambda", "column 1")),
    Case("formula-attribute", "attribute access `x.__class__`", make("x.__class__"), ("formula", "attribute access")),
    Case("formula-index", "indexing `x[0]`", make("x[0]"), ("formula", "indexing")),
    Case("formula-unknown-function", "unknown function `open('f')`", make("open('f')"), ("formula", "'open'")),
    Case("formula-syntax", "unbalanced parenthesis", make("sin(x"), ("formula", "column 4")),
    Case("formula-undeclared", "a variable without a range", make("x*y"), ("undeclared", "y")),
    Case("formula-range", "`--var x=1:-1` (empty range)", ("dataset", "make", "x", "--var", "x=1:-1", "-o", "out.csv"),
         ("'x=1:-1'", "low < high")),
    Case("formula-none", "neither FORMULA nor `--feynman`", ("dataset", "make", "-o", "out.csv"), ("FORMULA",),
         click=True),
]


# ------------------------------------------------------------------------------------------------ running
@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    changed: list[str]      # paths created, modified or removed in the case's folder
    error: str              # the error text as the doc shows it (lines joined with ⏎, folder paths normalized)


def _tree(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` -> sha256 of its bytes ("dir" for folders)."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*")}


def _error_lines(stderr: str, click: bool) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if click:
        return lines
    first = next((i for i, line in enumerate(lines) if line.lower().startswith(("error", "hint"))), len(lines))
    return lines[first:]


class Corpus:
    """Runs cases (each once) in folders under ``root``; the real run that damaged copies start from is made once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._run: Path | None = None
        self._done: dict[str, Outcome] = {}

    def source_run(self) -> Path:
        if self._run is None:
            src = self.root / "_source"
            src.mkdir()
            (src / "data.csv").write_text(GOOD, encoding="utf-8")
            res = invoke_in(src, fit("data.csv"))
            assert res.exit_code == 0, res.output
            self._run = src / re.search(r"^run: (.+)$", res.stdout, re.M).group(1)
        return self._run

    def run(self, case: Case) -> Outcome:
        if case.id not in self._done:
            ws = self.root / case.id
            ws.mkdir()
            for name, content in case.files.items():
                path = ws / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if name.endswith("/"):
                    path.mkdir(exist_ok=True)
                else:
                    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
            if case.damage is not None:
                shutil.copytree(self.source_run(), ws / "run")
                DAMAGE[case.damage](ws / "run")
            before = _tree(ws)
            res = invoke_in(ws, case.argv)
            after = _tree(ws)
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            text = hide_folder(" ⏎ ".join(_error_lines(res.stderr, case.click)), ws)
            self._done[case.id] = Outcome(res.exit_code, res.stdout, res.stderr, res.exception, changed, text)
        return self._done[case.id]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.defect)] if case.defect else []
    return pytest.param(case, id=case.id, marks=marks)


# ------------------------------------------------------------------------------------------------ tests
def test_corpus_is_large_and_ids_are_unique() -> None:
    kinds = {c.id.split("-")[0] for c in CASES}
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
    assert kinds == {"csv", "yaml", "run", "cli", "units", "formula"}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, corpus: Corpus) -> None:
    o = corpus.run(case)
    assert o.exception is None or isinstance(o.exception, SystemExit), repr(o.exception)  # nothing escaped the CLI
    assert o.code == case.code, o.stderr
    assert "Traceback" not in o.stderr + o.stdout
    assert o.stdout == "", "a failed command must not print results"
    lines = _error_lines(o.stderr, case.click)
    if case.click:  # click's usage error: "Usage: ...", "Try 'kansci ... --help' for help.", "Error: ..."
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1 and any("--help" in line for line in lines), o.stderr
        line = errors[0]
    else:
        assert len(lines) == 1 and o.stderr.rstrip("\n").endswith(lines[0]), f"not one last error line: {o.stderr!r}"
        line = lines[0]
        assert line.isprintable(), f"control characters in {line!r}"
        match = re.fullmatch(r"error: (.+) \(hint: (.+)\)", line)
        assert match and len(match.group(2)) > 5, f"no hint: {line!r}"
    for name in case.names:
        assert name in line, f"{name!r} not named in {line!r}"
    assert o.changed == [], f"files left behind or changed: {o.changed}"


def test_debug_shows_the_traceback(corpus: Corpus, tmp_path: Path) -> None:
    """The contrast that makes "no traceback" meaningful: with --debug the same error shows one."""
    (tmp_path / "empty.csv").write_text("")
    res = invoke_in(tmp_path, ["--debug", *fit("empty.csv")])
    assert res.exit_code == 2 and "Traceback" in res.stderr and "DataError" in res.stderr
    assert res.stderr.rstrip().splitlines()[-1] == corpus.run(CASES[0]).error


def test_console_script_matches_cli_runner(corpus: Corpus, tmp_path: Path) -> None:
    """The real entry point (``python -m kansci``, a separate process) prints the same line and exit code."""
    case = next(c for c in CASES if c.id == "csv-ragged")
    expected = corpus.run(case)
    for name, content in case.files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "kansci", *case.argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (expected.code, "", expected.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(case.files)


#: Column names the corpus once refused ("clashes with a Python or sympy name", "not a valid name"); issue 14 made
#: every name a CSV header can hold valid. Each is fitted for real and must come back in the printed formula.
ACCEPTED = ("I", "N", "S", "beta", "x 1", "lambda", "Temp (K)", "\u03b8", "E")


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_column_name(name: str, tmp_path: Path) -> None:
    """A tiny fit and symbolify on f = 2*x + <name>: exit 0, and the printed formula, formula.json (reloaded) and
    formula.py use the user's own name (formula text quotes it in backticks where the parser needs that)."""
    from kansci import load_run
    from kansci.expr.names import quote
    from kansci.expr.text import parse_formula

    (tmp_path / "d.csv").write_text(csv(f"x,{name},f"), encoding="utf-8")
    res = invoke_in(tmp_path, fit("d.csv"))
    assert res.exit_code == 0 and "Traceback" not in res.stderr, res.stderr
    run = re.search(r"^run: (.+)$", res.stdout, re.M).group(1)
    res = invoke_in(tmp_path, ["symbolify", run, "--set", "symbolic.time_limit_s=5"])
    assert res.exit_code == 0, res.stderr
    text = re.search(r"^formula: (.+)$", res.stdout, re.M).group(1)
    assert quote(name) in text, text
    expr = parse_formula(text, ["x", name])
    assert sympy.Symbol(name) in expr.free_symbols
    formula = load_run(tmp_path / run).formula
    assert formula.input_names == ["x", name] and formula.text == text
    assert repr(name) in (tmp_path / run / "symbolic" / "formula.py").read_text(encoding="utf-8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here, so --device cuda is not an error")
def test_cuda_requested_without_cuda(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(GOOD)
    res = invoke_in(tmp_path, fit("data.csv", "--device", "cuda"))
    assert res.exit_code == 2 and re.fullmatch(r"error: .*model\.device.*\(hint: .+\)\n", res.stderr), res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


# ------------------------------------------------------------------------------------------------ the doc
def _quote(arg: str) -> str:
    """Shell quoting that reads well: as is, in '...', or in "..." when the argument holds single quotes."""
    if shlex.quote(arg) == arg:
        return arg
    if "'" not in arg:
        return f"'{arg}'"
    return f'"{arg}"' if not any(c in arg for c in '"$`\\') else shlex.quote(arg)


def _cell(text: str) -> str:
    """Markdown table cell holding ``text`` as inline code (backticks, pipes and control characters made safe)."""
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)
    ticks = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{ticks}{pad}{text.replace('|', chr(92) + '|')}{pad}{ticks}"


def render_doc(corpus: Corpus) -> str:
    tiny = " ".join(map(_quote, TINY))
    out = [
        "# Bad-input corpus",
        "",
        "Generated from the case list in `tests/test_bad_inputs.py` (`python -m tests.test_bad_inputs` rewrites this "
        "file; `test_doc_is_current` fails when it is stale). Each case runs `kansci` in a fresh folder holding only "
        "its input files; `run/` is a copy of a real tiny run, damaged as the input says. In commands, `…` stands "
        f"for the tiny training flags `{tiny}`. The last column is the exit code (2 = bad input or usage, "
        "1 = runtime failure). Every case also checks: no traceback, nothing on stdout, and no file created or "
        "changed. Rows marked *known defect* show today's behaviour (see the list below the table); their "
        "tests are strict xfails.",
        "",
        "| # | kind | input | command | error (stderr) | exit |",
        "|---|---|---|---|---|---|",
    ]
    defects: list[str] = []
    for i, case in enumerate(CASES, 1):
        o = corpus.run(case)
        cmd = "kansci " + " ".join(map(_quote, case.argv)).replace(tiny, "…")
        code = f"{o.code} (known defect {len(defects) + 1})" if case.defect else str(o.code)
        if case.defect:
            defects.append(f"{len(defects) + 1}. Row {i} (`{case.id}`), expected exit {case.code} and one error "
                           f"line: {case.defect}.")
        what = case.what.replace("|", "\\|")
        out.append(f"| {i} | {case.id.split('-')[0]} | {what} | {_cell(cmd)} | {_cell(o.error)} | {code} |")
    if defects:
        out += ["", "## Known defects", "", *defects]
    return "\n".join(out) + "\n"


def test_doc_is_current(corpus: Corpus) -> None:
    text = render_doc(corpus)
    if os.environ.get("KANSCI_REGEN_DOCS"):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text, encoding="utf-8")
    assert DOC.is_file() and DOC.read_text(encoding="utf-8") == text, \
        "docs/bad_inputs.md is stale: run `python -m tests.test_bad_inputs` from the repository root"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(render_doc(Corpus(Path(tmp))), encoding="utf-8")
    print(f"wrote {DOC}")
