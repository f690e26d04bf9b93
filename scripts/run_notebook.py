"""Execute notebooks top to bottom and save them with their outputs (the committed copies come from this).

Usage: python scripts/run_notebook.py notebooks/03_transformer.ipynb [...]   (set MOSSLITE_SMOKE=1 for a quick run)
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(path: Path, timeout: int = 1800, save: bool = True) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    if save:
        nbformat.write(nb, path)
    return time.time() - start


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {run(Path(arg)):.1f} s")
