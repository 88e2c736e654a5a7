"""Helpers shared by several test modules (imported as ``tests.helpers``)."""

import numpy as np


def grid_rz(n: int = 10, size_m: float = 10e-3) -> tuple[np.ndarray, np.ndarray]:
    """A structured triangle mesh of the (r, z) rectangle [0, size] x [-size, size]: points and triangles."""
    r, z = np.meshgrid(np.linspace(0.0, size_m, n + 1), np.linspace(-size_m, size_m, 2 * n + 1), indexing="ij")
    points = np.column_stack([r.ravel(), z.ravel()])
    idx = np.arange(points.shape[0]).reshape(r.shape)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return points, np.vstack([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
