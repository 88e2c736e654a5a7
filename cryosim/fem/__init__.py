"""Finite-element solver (DOLFINx 0.11 + gmsh): axisymmetric or 3D, with bone, vessels and several probes.

``run_fem(scenario, output_dir=None, progress=None)`` returns the same
:class:`cryosim.post.results.Results` as the fast solver. Heavy dependencies
(dolfinx, gmsh, pyvista) are imported only when a run starts; a missing one
raises an ImportError naming what to install.
"""

from .solver import FEMSettings, run_fem

__all__ = ["run_fem", "FEMSettings"]
