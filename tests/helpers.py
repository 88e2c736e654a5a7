"""Helpers shared by several test modules (imported as ``tests.helpers``)."""

import os

import numpy as np


def grid_rz(n: int = 10, size_m: float = 10e-3) -> tuple[np.ndarray, np.ndarray]:
    """A structured triangle mesh of the (r, z) rectangle [0, size] x [-size, size]: points and triangles."""
    r, z = np.meshgrid(np.linspace(0.0, size_m, n + 1), np.linspace(-size_m, size_m, 2 * n + 1), indexing="ij")
    points = np.column_stack([r.ravel(), z.ravel()])
    idx = np.arange(points.shape[0]).reshape(r.shape)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return points, np.vstack([np.column_stack([a, b, c]), np.column_stack([a, c, d])])


def built_once(tmp_path_factory, name: str, build) -> "Path":
    """A folder that ``build(folder)`` fills once per test session, shared by every pytest-xdist worker.

    Under xdist each worker has its own module fixtures, so an expensive one (the fast validation report)
    would be built once per worker. The workers share the parent of their base temporary folders; the first
    to take the lock builds there and marks the folder done, the others wait on the lock and reuse it
    (the pattern of pytest-xdist's documentation, "Making session-scoped fixtures execute only once", with
    the standard library's ``fcntl`` lock). Without xdist, or without ``fcntl``, it just builds.
    """
    from pathlib import Path

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = base / name
        folder.mkdir()
        build(folder)
        return folder
    try:
        import fcntl
    except ImportError:  # no POSIX locks: one build per worker
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = Path(base).parent
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder.mkdir(exist_ok=True)
            build(folder)
            done.write_text("ok")
    return folder
