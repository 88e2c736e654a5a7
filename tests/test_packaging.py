"""The conda environment file names every dependency the PyPI install brings (but the DOLFINx wheel)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name -> conda-forge name(s), where they differ.
CONDA_NAMES = {"gmsh": ["python-gmsh"], "dask": ["dask", "distributed"]}
#: PyPI-only packages the conda path replaces (dolfinx-solver-real: conda's fenics-dolfinx) or leaves out.
NOT_ON_CONDA = {"dolfinx-solver-real", "fipy"}


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_environment_file_lists_every_dependency() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in meta["dependencies"]}
    for extra in ("fem", "studies", "test"):
        wanted |= {_name(r) for r in meta["optional-dependencies"][extra]}
    env = (ROOT / "environment.yml").read_text(encoding="utf-8")
    listed = {_name(m) for m in re.findall(r"^\s+-\s+([A-Za-z0-9_.-]+)", env, flags=re.M)}
    assert "fenics-dolfinx" in listed
    missing = sorted(n for n in wanted - NOT_ON_CONDA if not set(CONDA_NAMES.get(n, [n])) <= listed)
    assert not missing, f"environment.yml lacks {missing}"
