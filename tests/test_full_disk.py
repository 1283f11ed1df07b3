"""A full disk while ``kansci fit``, ``kansci symbolify`` and ``kansci plot`` write: a one-line error (exit 2) naming
the file and the reason with a hint, no partial or temporary file left behind, and the run directory as it was.

The disk is simulated: :class:`FullDisk` makes the temporary-file writes of :mod:`kansci.atomic` fail with
``ENOSPC`` after writing half their bytes, as a disk that fills up mid-write does."""
from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from kansci import atomic
from kansci.cli import app
from kansci.errors import KansciError
from kansci.pipeline import fit as fit_module
from kansci.rundir.state import read_state
from tests.sample_tables import run_path

TINY = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=3", "--set", "train.grids=[3]",
        "--set", "train.patience=0"]
NO_SPACE = "no space left on device"


# ------------------------------------------------------------------------------------------------- the fake disk
class _Proxy:
    """A module with some attributes replaced."""

    def __init__(self, module: Any, **replaced: Any) -> None:
        self._module, self._replaced = module, replaced

    def __getattr__(self, name: str) -> Any:
        return self._replaced[name] if name in self._replaced else getattr(self._module, name)


class _FailingFile:
    """A binary file whose ``write`` stores half the bytes and then fails with ENOSPC."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    def write(self, data: bytes) -> int:
        self._fh.write(bytes(data[: len(data) // 2]))
        self._fh.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


class FullDisk:
    """Once ``full`` is set, writes through :mod:`kansci.atomic` fail (after ``allow`` more succeed; only for files
    named ``only`` when that is set). ``failed`` and ``written`` name the files that failed and succeeded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full, self.allow, self.only = False, 0, None
        self.failed: list[str] = []
        self.written: list[str] = []
        self._names: dict[int, str] = {}
        monkeypatch.setattr(atomic, "tempfile", _Proxy(tempfile, mkstemp=self._mkstemp))
        monkeypatch.setattr(atomic, "os", _Proxy(os, fdopen=self._fdopen))

    def _mkstemp(self, *args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, name = tempfile.mkstemp(*args, **kwargs)
        self._names[fd] = str(kwargs.get("prefix", ""))[1:-1]  # atomic's prefix is ".<target name>."
        return fd, name

    def _fdopen(self, fd: int, *args: Any, **kwargs: Any) -> Any:
        fh = os.fdopen(fd, *args, **kwargs)
        name = self._names.pop(fd, "?")
        if self.full and self.only in (None, name):
            if self.allow > 0:
                self.allow -= 1
            else:
                self.failed.append(name)
                return _FailingFile(fh)
        self.written.append(name)
        return fh


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    return FullDisk(monkeypatch)


# ----------------------------------------------------------------------------------------------------- helpers
def invoke(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def write_data(folder: Path) -> Path:
    X = np.random.default_rng(0).uniform(-1, 1, size=(60, 2))
    path = folder / "xy.csv"
    path.write_text("x,y,f\n" + "".join(f"{a!r},{b!r},{2 * a + b!r}\n" for a, b in X.tolist()), encoding="utf-8")
    return path



def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` with its inode and bytes (an atomic replace gives a file a new inode)."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


def assert_one_line_error(res: Any, name: str) -> str:
    """Exit 2 and a last stderr line ``error: ...<name>: could not write: no space left on device (hint: ...)``."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and re.search(rf"{re.escape(name)}: could not write: {NO_SPACE} \(hint: ",
                                                    line), line
    assert [text for text in res.stderr.splitlines() if text.startswith(("error:", "hint:"))] == [line]
    return line


def copy_run(run: Path, dest: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, dest))


@pytest.fixture(scope="module")
def symbolified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run, symbolified and plotted once: the earlier state a failed re-run must leave alone."""
    tmp = tmp_path_factory.mktemp("full-disk")
    res = invoke("fit", write_data(tmp), "--out", tmp / "runs", *TINY)
    assert res.exit_code == 0, res.output
    run = run_path(res.stdout)
    res = invoke("symbolify", run, "--set", "symbolic.time_limit_s=5")
    assert res.exit_code == 0, res.output
    res = invoke("plot", run, "--what", "loss,parity", "--format", "png,svg", "--dpi", "60")
    assert res.exit_code == 0, res.output
    return run


# ------------------------------------------------------------------------------------------------ kansci.atomic
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path, disk: FullDisk) -> None:
    path = atomic.write_text(tmp_path / "a.json", "old\n")
    inode = path.stat().st_ino
    disk.full = True
    with pytest.raises(atomic.FileWriteError) as info:
        atomic.write_text(path, "new, and longer than the old text\n")
    err = info.value
    assert isinstance(err, KansciError) and isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert err.exit_code == 2 and err.path == str(path) and err.fields() == {"path": str(path)}
    assert err.one_line() == (f"{path}: could not write: {NO_SPACE} "
                              "(hint: free some disk space or write to another folder, then run the command again)")
    assert path.read_text() == "old\n" and path.stat().st_ino == inode
    assert leftovers(tmp_path) == [] and disk.failed == ["a.json"]


def test_a_failed_write_removes_the_folders_it_created(tmp_path: Path, disk: FullDisk) -> None:
    disk.full = True
    with pytest.raises(atomic.FileWriteError):
        atomic.write_bytes(tmp_path / "new" / "deeper" / "x.bin", b"123456")
    assert list(tmp_path.iterdir()) == []


def test_all_or_nothing_writes_a_group_only_when_every_file_is_written(tmp_path: Path, disk: FullDisk) -> None:
    old = {name: atomic.write_text(tmp_path / "g" / name, f"old {name}\n") for name in ("a", "b", "c")}
    before = snapshot(tmp_path)
    disk.full, disk.allow = True, 2  # a and b are written, c fails
    with pytest.raises(atomic.FileWriteError, match=NO_SPACE), atomic.all_or_nothing():
        for name, path in old.items():
            atomic.write_text(path, f"new {name}\n")
    assert disk.written[-2:] == ["a", "b"] and disk.failed == ["c"]
    assert snapshot(tmp_path) == before and leftovers(tmp_path) == []
    disk.full = False
    with atomic.all_or_nothing():
        for name, path in old.items():
            atomic.write_text(path, f"new {name}\n")
        assert (tmp_path / "g" / "a").read_text() == "old a\n"  # nothing is renamed before the block ends
    assert [p.read_text() for p in old.values()] == ["new a\n", "new b\n", "new c\n"] and leftovers(tmp_path) == []


def test_all_or_nothing_discards_its_writes_on_any_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic.all_or_nothing():
        atomic.write_text(tmp_path / "sub" / "a.txt", "a")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- kansci fit
def test_fit_on_a_full_disk_leaves_nothing(tmp_path: Path, disk: FullDisk) -> None:
    data, out = write_data(tmp_path), tmp_path / "runs"
    disk.full = True
    assert_one_line_error(invoke("fit", data, "--out", out, *TINY), "state.json")
    assert [p for p in out.iterdir()] == [] and leftovers(tmp_path) == []


def test_a_disk_that_fills_while_the_results_are_written(tmp_path: Path, disk: FullDisk,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data, out = write_data(tmp_path), tmp_path / "runs"
    res = invoke("fit", data, "--out", out, *TINY)
    assert res.exit_code == 0, res.output
    earlier = run_path(res.stdout)
    before = snapshot(out)
    write_result = fit_module._write_result

    def filling(*args: Any, **kwargs: Any) -> None:
        disk.full, disk.allow = True, 1  # model.pt is written, model.json is not
        write_result(*args, **kwargs)

    monkeypatch.setattr(fit_module, "_write_result", filling)
    assert_one_line_error(invoke("fit", data, "--out", out, *TINY), "model.json")
    assert disk.failed == ["model.json"]
    assert sorted(out.iterdir()) == [earlier] and snapshot(out) == before  # the failed run is gone, the earlier intact
    assert leftovers(tmp_path) == []


def test_a_checkpoint_that_cannot_be_saved_is_a_warning(tmp_path: Path, disk: FullDisk) -> None:
    data, out = write_data(tmp_path), tmp_path / "runs"
    disk.full, disk.only = True, "checkpoint.pt"
    res = invoke("fit", data, "--out", out, *TINY, "--set", "train.checkpoint_every_s=1e-9",
                 "--set", "train.log_every=1")
    assert res.exit_code == 0, res.output
    assert disk.failed and "could not save a checkpoint" in res.stderr and "No space left on device" in res.stderr
    run = run_path(res.stdout)
    assert read_state(run).complete and not (run / "checkpoint.pt").exists() and leftovers(tmp_path) == []


def test_an_unwritable_output_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kansci import pipeline

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "elsewhere"))

    monkeypatch.setattr(pipeline, "fit_run", refused)
    res = invoke("fit", write_data(tmp_path), "--out", tmp_path / "runs", *TINY)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'elsewhere'}: permission denied "
        "(hint: check the folder's permissions, or write to another folder)")


# ---------------------------------------------------------------------------------------------- kansci symbolify
def test_symbolify_on_a_full_disk_keeps_the_earlier_formula(symbolified: Path, tmp_path: Path,
                                                            disk: FullDisk) -> None:
    run = copy_run(symbolified, tmp_path / "run")
    before = snapshot(run)
    assert "symbolic/formula.json" in before
    disk.full = True
    assert_one_line_error(invoke("symbolify", run, "--set", "symbolic.time_limit_s=5"), "formula.txt")
    assert snapshot(run) == before and leftovers(tmp_path) == []


def test_a_disk_that_fills_during_symbolify_keeps_every_earlier_file(symbolified: Path, tmp_path: Path,
                                                                     disk: FullDisk) -> None:
    run = copy_run(symbolified, tmp_path / "run")
    before = snapshot(run)
    disk.full, disk.allow = True, 2  # formula.txt and formula.tex are written, formula.json is not
    assert_one_line_error(invoke("symbolify", run, "--set", "symbolic.time_limit_s=5"), "formula.json")
    assert leftovers(tmp_path) == []
    assert snapshot(run) == before


# --------------------------------------------------------------------------------------------------- kansci plot
def test_plot_on_a_full_disk_keeps_the_earlier_figures(symbolified: Path, tmp_path: Path, disk: FullDisk) -> None:
    run = copy_run(symbolified, tmp_path / "run")
    before = snapshot(run)
    assert "figures/loss.png" in before
    disk.full = True
    assert_one_line_error(invoke("plot", run, "--what", "loss,parity", "--format", "png,svg", "--dpi", "60"),
                          "loss.png")
    assert snapshot(run) == before and leftovers(tmp_path) == []


def test_plot_into_a_new_folder_on_a_full_disk_leaves_no_folder(symbolified: Path, tmp_path: Path,
                                                                disk: FullDisk) -> None:
    disk.full = True
    figures = tmp_path / "new" / "figures"
    assert_one_line_error(invoke("plot", symbolified, "--what", "loss", "--figures", figures), "loss.png")
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_during_plot_keeps_every_earlier_figure(symbolified: Path, tmp_path: Path,
                                                                  disk: FullDisk) -> None:
    run = copy_run(symbolified, tmp_path / "run")
    before = snapshot(run)
    disk.full, disk.allow = True, 1  # loss.png is written, loss.svg is not
    assert_one_line_error(invoke("plot", run, "--what", "loss,parity", "--format", "png,svg", "--dpi", "60"),
                          "loss.svg")
    assert leftovers(tmp_path) == []
    assert snapshot(run) == before
