"""Shared test set-up (as in py-pde): headless matplotlib, figures closed, a seeded rng.

* matplotlib uses the Agg backend, also in subprocesses and notebook kernels
  started by the tests (``MPLBACKEND``);
* every figure a test leaves open is closed after it;
* ``rng``: a seeded :class:`numpy.random.Generator`; the legacy global
  ``numpy.random`` state is seeded too, so a test is repeatable whichever it uses;
* tests longer than about 20 s carry ``@pytest.mark.slow`` (the marker is
  registered in ``pyproject.toml``; deselect them with ``-m "not slow"``);
* tests that run a solver, a subprocess or a study (about 0.5 s and more) carry
  ``@pytest.mark.integration``, and every test under ``tests/integration/`` gets it here: the unit tier,
  ``-m "not slow and not integration"``, runs in seconds.
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


INTEGRATION_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.path).startswith(INTEGRATION_DIR + os.sep):
            item.add_marker(pytest.mark.integration)
