"""Every notebook runs top to bottom in smoke mode; each asserts what it teaches inside its own cells."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# A smoke run takes seconds per notebook (the slowest ~8 s in all), so a cell silent for this long is a lost kernel
# message, not work: the notebook is run once more on a fresh kernel. A failing assertion is never retried.
CELL_TIMEOUT_S = 180


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, monkeypatch, tmp_path):
    monkeypatch.setenv("MOSSLITE_SMOKE", "1")
    for attempt in (1, 2):
        monkeypatch.setenv("MOSSLITE_CACHE", str(tmp_path / f"cache-{attempt}"))
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute(env=dict(os.environ))
            return
        except (CellTimeoutError, DeadKernelError):
            if attempt == 2:
                raise
