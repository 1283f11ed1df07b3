"""Small tables and output parsing shared by the CLI tests. Imports nothing heavy at the top: task processes of the
sweep tests import the test modules that use it."""
from __future__ import annotations

import re
from pathlib import Path


def write_xy(path: Path, n: int = 60, seed: int = 0) -> Path:
    """A CSV x,y,f with f = x + y**2 (n seeded rows, x and y uniform in [-1, 1], every digit kept)."""
    import numpy as np

    X = np.random.default_rng(seed).uniform(-1, 1, size=(n, 2))
    path.write_text("x,y,f\n" + "".join(f"{a!r},{b!r},{a + b * b!r}\n" for a, b in X.tolist()), encoding="utf-8")
    return path


def run_path(stdout: str) -> Path:
    """The run directory named by ``run: PATH`` in a command's output."""
    match = re.search(r"^run: (.+)$", stdout, re.M)
    assert match, stdout
    return Path(match.group(1).strip())
