"""Bad experiment configs (issue 5): the exact error text of ``kansci config validate`` and ``kansci run``.

Each case is one YAML file, written as ``config.yaml`` in a fresh folder next to a small valid ``data.csv``
(columns x, y, f), so that every case has exactly one thing wrong. Both commands must exit with code 2, print exactly
the recorded text on stderr (the folder's path shown as ``<cwd>``), print nothing on stdout, and leave no run directory.

The case list is data (:data:`CASES`); ``docs/bad_configs.md`` is generated from it and checked by
:func:`test_doc_is_current`. Regenerate it with ``python -m tests.test_bad_configs`` (from the repository root) or
``KANSCI_REGEN_DOCS=1 pytest tests/test_bad_configs.py``. When a message changes on purpose, update the case's text
(``python -m tests.test_bad_configs --actual`` prints what each command says now) and regenerate the doc.
Cases with ``defect`` set record today's text for a message that should improve; the doc lists them.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_support import hide_folder, invoke_in

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad_configs.md"
DATA = "x,y,f\n" + "".join(f"{i / 10},{(i * 7) % 11 / 10},{i / 10 + ((i * 7) % 11 / 10) ** 2}\n" for i in range(30))
HINT = "(hint: see configs/full_reference.yaml (or `kansci config show`) for every key, its default and allowed values)"
SEP = " ⏎ "   # joins the lines of a multi-line error in this file and in the doc


@dataclass(frozen=True)
class Case:
    """One bad config. ``validate`` is the exact stderr of ``kansci config validate config.yaml`` (lines joined by
    :data:`SEP`); ``run`` that of ``kansci run config.yaml --out runs``, or None when it is the same text."""

    id: str
    what: str
    yaml: str
    validate: str
    run: str | None = None
    defect: str | None = None       # what is wrong with today's message, and which module should change
    validate_exit: int = 2          # 0 only for a defect: validate prints ok (stdout) and ``validate`` is ""


GOOD_DATA = "data:\n  path: data.csv\n  target: f\n"
CASES: list[Case] = [
    # the eight kinds the issue asks for
    Case("typo-key", "a typo'd key (`setps`)", GOOD_DATA + "train:\n  setps: 50\n",
         f"error: config.yaml:5: train.setps: unknown key (did you mean 'steps'?) {HINT}"),
    Case("wrong-type", "a wrong type (text for an integer)", GOOD_DATA + "train:\n  steps: fifty\n",
         f"error: config.yaml:5: train.steps: must be an integer (got 'fifty') {HINT}"),
    Case("negative-grid", "a negative grid size", GOOD_DATA + "train:\n  grids: [3, -5, 10]\n",
         f"error: config.yaml:5: train.grids.1: must be >= 1 (got -5) {HINT}"),
    Case("empty-width", "an empty width", GOOD_DATA + "model:\n  width: []\n",
         "error: config.yaml:5: model.width: needs at least an input and an output layer, e.g. [2, 5, 1] (got []) "
         + HINT),
    Case("yaml-syntax", "a bad YAML syntax line (over-indented key)", "data:\n  path: data.csv\n   target: f\n",
         "error: config.yaml:3:10: invalid YAML: mapping values are not allowed here "
         "(hint: check indentation, colons and quoting there)"),
    Case("unknown-primitive", "an unknown primitive in `symbolic.lib`",
         GOOD_DATA + "symbolic:\n  lib: [sin, cos, sinc]\n",
         "error: config.yaml:5: symbolic.lib: unknown primitive 'sinc' "
         "(hint: did you mean 'sin'? (or define it under custom primitives))"),
    Case("missing-data", "a data file that does not exist", "data:\n  path: nowhere.csv\n  target: f\n",
         "error: config.yaml:2: data.path: data file 'nowhere.csv' does not exist "
         "(hint: check the path; relative paths start from <cwd>)"),
    Case("unknown-target", "a target that is not a column of the CSV", "data:\n  path: data.csv\n  target: z\n",
         "error: config.yaml:3: data.target: data.csv: no target column 'z'; available columns: 'x', 'y', 'f' "
         "(hint: choose one of the available columns)"),
    # more mistakes scientists make
    Case("wrong-section", "a key in the wrong section", GOOD_DATA + "steps: 50\n",
         f"error: config.yaml:4: steps: unknown key here (did you mean 'train.steps'?) {HINT}"),
    Case("bad-choice", "a misspelt choice", GOOD_DATA + "train:\n  optimizer: lbgfs\n",
         "error: config.yaml:5: train.optimizer: must be one of 'lbfgs', 'adam' (got 'lbgfs'; did you mean 'lbfgs'?) "
         + HINT),
    Case("width-text", "a width written as text", GOOD_DATA + "model:\n  width: 2,5,1\n",
         "error: config.yaml:5: model.width: must be 'auto' or a list of layer sizes like [2, 5, 1] (got '2,5,1') "
         + HINT),
    Case("grids-decreasing", "a grid schedule that shrinks", GOOD_DATA + "train:\n  grids: [10, 5]\n",
         f"error: config.yaml:5: train.grids: must be non-decreasing, e.g. [3, 5, 10] (got [10, 5]) {HINT}"),
    Case("out-of-range", "a fraction outside (0, 1)", GOOD_DATA + "  test_frac: 1.5\n",
         f"error: config.yaml:4: data.test_frac: must be < 1 (got 1.5) {HINT}"),
    Case("several", "three mistakes at once (all reported, in file order)",
         GOOD_DATA + "seed: -1\nmodel:\n  k: 9\ntrain:\n  lr: 0\n",
         "error: 3 errors in config.yaml" + SEP + "config.yaml:4: seed: must be >= 0 (got -1)" + SEP
         + "config.yaml:6: model.k: must be <= 7 (got 9)" + SEP + "config.yaml:8: train.lr: must be > 0 (got 0)" + SEP
         + HINT[1:-1]),
    Case("duplicate-key", "the same key twice", GOOD_DATA + "train:\n  steps: 50\n  steps: 80\n",
         f"error: config.yaml:6: train.steps: duplicate key (first set on line 5) {HINT}"),
    Case("tab-indent", "a tab used for indentation", "data:\n\tpath: data.csv\n",
         "error: config.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token "
         "(while scanning for the next token) (hint: check indentation, colons and quoting there)"),
    Case("unclosed-list", "an unclosed `[` (YAML notices it on the next line)",
         GOOD_DATA + "train:\n  grids: [3, 5, 10\n  steps: 50\n",
         "error: config.yaml:6:8: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence) "
         "(hint: check indentation, colons and quoting there)"),
    Case("python-tag", "a `!!python` tag (never executed)",
         GOOD_DATA + "seed: !!python/object/apply:os.system ['touch PWNED']\n",
         "error: config.yaml:4: seed: YAML tag '!!python/object/apply:os.system' is not allowed "
         "(hint: use plain values only: strings, numbers, true/false, null, lists and mappings)"),
    Case("version", "an unsupported config version", "version: 2\n" + GOOD_DATA,
         f"error: config.yaml:1: version: unsupported config format version 2; only 1 is accepted {HINT}"),
    Case("unknown-input", "an input column that is not in the CSV", GOOD_DATA + "  inputs: [x, q]\n",
         "error: config.yaml:4: data.inputs: data.csv: no input column 'q'; available columns: 'x', 'y', 'f' "
         "(hint: choose one of the available columns)"),
    Case("unsafe-custom", "a custom primitive whose `expr` is not a formula",
         GOOD_DATA + "symbolic:\n  custom:\n    - name: cube\n      expr: __import__('os').system('x')\n",
         "error: config.yaml:7: symbolic.custom.0.expr: primitive 'cube': attribute access is not allowed in a formula "
         "at column 1 in \"__import__('os').system('x')\" (hint: call a listed function by name, e.g. sin(x))"),
    Case("width-mismatch", "a width whose input layer does not match the CSV (2 inputs)",
         GOOD_DATA + "model:\n  width: [3, 5, 1]\n  device: cpu\n",
         "error: config.yaml:5: model.width: model.width [3, 5, 1] does not match the data: 2 inputs and 1 target "
         "(hint: use width [2, ..., 1], or width: auto)"),
]


# ------------------------------------------------------------------------------------------------ running
@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str          # lines joined with SEP, the case folder shown as <cwd>
    leftovers: list[str]  # files in the case folder besides config.yaml and data.csv


def run_case(case: Case, folder: Path, command: str) -> Outcome:
    """Run ``kansci config validate`` (command ``validate``) or ``kansci run`` (``run``) on the case in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(case.yaml, encoding="utf-8")
    (folder / "data.csv").write_text(DATA, encoding="utf-8")
    argv = ["config", "validate", "config.yaml"] if command == "validate" else ["run", "config.yaml", "--out", "runs"]
    res = invoke_in(folder, argv)
    text = hide_folder(SEP.join(line for line in res.stderr.splitlines() if line.strip()), folder)
    leftovers = sorted(p.name for p in folder.iterdir() if p.name not in ("config.yaml", "data.csv"))
    return Outcome(res.exit_code, res.stdout, text, leftovers)


# ------------------------------------------------------------------------------------------------ tests
def test_the_issue_kinds_are_all_covered() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(CASES) >= 8
    assert {"typo-key", "wrong-type", "negative-grid", "empty-width", "yaml-syntax", "unknown-primitive",
            "missing-data", "unknown-target"} <= set(ids)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_exact_error(case: Case, command: str, tmp_path: Path) -> None:
    o = run_case(case, tmp_path, command)
    expected = case.validate if command == "validate" or case.run is None else case.run
    code = case.validate_exit if command == "validate" else 2
    assert o.code == code, o.stderr
    assert o.stderr == expected
    assert o.stdout == ("ok\n" if code == 0 else "")
    assert o.leftovers == [], "a failed command must not leave a run directory or files behind"


# ------------------------------------------------------------------------------------------------ the doc
def _code(text: str) -> str:
    """Inline code for a markdown table cell (backticks and pipes made safe)."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _cell(text: str) -> str:
    return "<br>".join(_code(line) for line in text.split(SEP))


def _yaml_cell(case: Case) -> str:
    return "<br>".join(_code(line) for line in case.yaml.rstrip("\n").split("\n"))


def render_doc() -> str:
    out = [
        "# Bad configs: what kansci says",
        "",
        "Generated from the case list in `tests/test_bad_configs.py` (`python -m tests.test_bad_configs` rewrites this "
        "file; `test_doc_is_current` fails when it is stale, and `test_bad_config_exact_error` checks every text "
        "below against the real CLI). Each config is saved as `config.yaml` in a folder with a valid `data.csv` "
        "(columns `x`, `y`, `f`), then checked with `kansci config validate config.yaml` and run with "
        "`kansci run config.yaml`. Both exit with code 2 (except where noted), print nothing on stdout, and create no "
        "run directory. "
        "The error column is the exact stderr (one `code` span per line; `<cwd>` stands for the folder). "
        "The last column is what `kansci run` prints when it differs.",
        "",
        "| # | mistake | config.yaml | `kansci config validate` | `kansci run` |",
        "|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for i, case in enumerate(CASES, 1):
        run = "same" if case.run is None else _cell(case.run)
        validate = _cell(case.validate) if case.validate_exit else f"exit {case.validate_exit}, prints `ok`"
        mark = ""
        if case.defect:
            notes.append(f"{len(notes) + 1}. Row {i} (`{case.id}`): {case.defect}.")
            mark = f" (to improve: note {len(notes)})"
        out.append(f"| {i} | {case.what.replace('|', chr(92) + '|')}{mark} | {_yaml_cell(case)} | "
                   f"{validate} | {run} |")
    if notes:
        out += ["", "## Messages to improve", "", *notes]
    return "\n".join(out) + "\n"


def test_doc_is_current() -> None:
    text = render_doc()
    if os.environ.get("KANSCI_REGEN_DOCS"):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text, encoding="utf-8")
    assert DOC.is_file() and DOC.read_text(encoding="utf-8") == text, \
        "docs/bad_configs.md is stale: run `python -m tests.test_bad_configs` from the repository root"


if __name__ == "__main__":
    if "--actual" in sys.argv[1:]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            for case in CASES:
                for command in ("validate", "run"):
                    o = run_case(case, Path(tmp) / case.id / command, command)
                    print(f"{case.id} {command} exit {o.code}: {o.stderr}")
    else:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(render_doc(), encoding="utf-8")
        print(f"wrote {DOC}")
