"""Shared test set-up (as in py-pde): headless matplotlib, figures closed, a seeded rng.

* matplotlib uses the Agg backend, also in subprocesses and notebook kernels
  started by the tests (``MPLBACKEND``);
* every figure a test leaves open is closed after it;
* ``rng``: a seeded :class:`numpy.random.Generator`; the legacy global
  ``numpy.random`` state is seeded too, so a test is repeatable whichever it uses;
* tests longer than about 20 s carry ``@pytest.mark.slow`` (the marker is
  registered in ``pyproject.toml``; deselect them with ``-m "not slow"``).
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SEED = 20261121


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    np.random.seed(SEED)
    return np.random.default_rng(SEED)


def grid_rz(n: int = 10, size_m: float = 10e-3) -> tuple[np.ndarray, np.ndarray]:
    """A structured triangle mesh of the (r, z) rectangle [0, size] x [-size, size]: points and triangles."""
    r, z = np.meshgrid(np.linspace(0.0, size_m, n + 1), np.linspace(-size_m, size_m, 2 * n + 1), indexing="ij")
    points = np.column_stack([r.ravel(), z.ravel()])
    idx = np.arange(points.shape[0]).reshape(r.shape)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return points, np.vstack([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
