"""The quickstart example and notebook run as tests (they are the documentation)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_quickstart_example(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr
    assert "isotherm" in out.stdout and "released" not in out.stderr
    assert (tmp_path / "default" / "results.json").exists()
    assert (tmp_path / "two-cycles" / "extent_vs_time.png").exists()


@pytest.mark.integration
def test_quickstart_notebook():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "isotherm" in text and "volume" in text


@pytest.mark.slow
def test_design_studies_notebook():
    """Issue 9: the isotherm chart, the inverse-design answer and an uncertainty band with Sobol indices."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("SALib")
    nb = nbformat.read(ROOT / "notebooks" / "design_studies.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "freeze duration:" in text and "grid check" in text and "matters most" in text
