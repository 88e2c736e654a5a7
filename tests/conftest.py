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
