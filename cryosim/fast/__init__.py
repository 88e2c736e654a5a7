"""The fast solver: vertex- and cell-centred finite volumes compiled with numba.

``run_axisymmetric`` (probe in (r, z)) and ``run_radial`` (1D problems).
"""

from .solver import RadialProblem, axisymmetric_grid_for, run_axisymmetric, run_radial

__all__ = ["RadialProblem", "axisymmetric_grid_for", "run_axisymmetric", "run_radial"]
