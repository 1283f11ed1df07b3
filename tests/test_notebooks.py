"""The example notebooks (issue 5): committed clean, and they execute end to end with their small default settings.

Fast: each notebook is valid nbformat 4, has no outputs or execution counts, and starts with a ``parameters`` cell.
Slow (CI runs them): each notebook executes in a fresh ``python3`` kernel through nbclient, with its run directory
under pytest's tmp_path (``KANSCI_NOTEBOOK_RUNS``), and its printed results show the recovered formula.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_feynman.ipynb"]


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=nbformat.NO_CONVERT)


def test_the_notebooks_are_all_listed() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean(name: str) -> None:
    nb = read(name)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear outputs before committing"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []) and "KANSCI_NOTEBOOK_FULL" in first.source
    assert all(c.source.strip() for c in nb.cells), f"{name}: empty cell"


def _execute(name: str, runs: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """Execute ``name`` in a fresh kernel (cwd = notebooks/). Returns (all stream text, MIME types displayed)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("KANSCI_NOTEBOOK_RUNS", str(runs))
    monkeypatch.delenv("KANSCI_NOTEBOOK_FULL", raising=False)
    nb = read(name)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text, mimes = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{name}: {out.get('ename')}: {out.get('evalue')}"
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                mimes += list(out.data)
    return "".join(text), mimes


@pytest.mark.slow
def test_quickstart_notebook_executes_and_recovers_the_formula(tmp_path, monkeypatch) -> None:
    text, mimes = _execute("01_quickstart.ipynb", tmp_path, monkeypatch)
    assert "f = exp(y**2 + sin(pi*x))" in text, text
    r2 = re.search(r"^R² on fresh data: (\S+)$", text, re.M)
    assert r2 and float(r2.group(1)) > 0.9999, text
    # the five figures, plus the decomposition tree when the structure search found the formula; the formula as LaTeX
    assert mimes.count("image/png") in (5, 6) and "text/latex" in mimes
    assert len(list(tmp_path.iterdir())) == 1                           # one run directory, under tmp_path


@pytest.mark.slow
def test_feynman_notebook_executes_and_matches_the_truth(tmp_path, monkeypatch) -> None:
    text, mimes = _execute("02_feynman.ipynb", tmp_path, monkeypatch)
    assert "I.12.1: F = mu*Nn" in text and "exact match: True" in text, text
    assert mimes.count("image/png") == 1
    assert len(list(tmp_path.iterdir())) == 1
