"""What a solver shows the post-processing at every accepted step: the :class:`StepView`, and the
:class:`Tracker` interface fed with it (:mod:`cryosim.post.trackers` has the standard trackers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np

__all__ = ["GEOMETRIES", "NodalField", "StepView", "Tracker", "INSIDE_TOL", "barycentric"]

#: Geometries of a view: (r, z) triangles, 3D tetrahedra, 1D profiles.
GEOMETRIES = ("axisymmetric", "3d", "planar", "cylindrical", "spherical")


@dataclass(frozen=True)
class NodalField:
    """A P1 temperature field.

    ``points_m``: (n, 2) (r, z) for "axisymmetric", (n, 3) (x, y, z) for
    "3d", (n, 1) increasing positions from the probe surface for 1D
    geometries (m). ``cells``: triangles, tetrahedra or segments (node
    indices). ``temperature_C``: per node (°C). The arrays may be the
    solver's own: copy what you keep beyond the call.
    """

    points_m: np.ndarray
    cells: np.ndarray
    temperature_C: np.ndarray


@dataclass
class StepView:
    """The state of a run after an accepted step, the same for every solver.

    ``t_s``: time (s); ``is_output``: True at a requested output time
    (:attr:`cryosim.scenario.Numerics.output_times_s`); ``t_end_s``: end of
    the run (s); ``geometry``: one of :data:`GEOMETRIES`;
    ``probe_surface_C``: coldest active-surface temperature (°C);
    ``probe_heat_W``: heat drawn by the probe (W, positive when extracted);
    ``energy_J``: cumulative terms (J, keys of :data:`~cryosim.post.results.ENERGY_TERMS`
    but the imbalance); ``comm``: the MPI communicator of a distributed
    field, or None; ``extras``: further named scalars of the solver (a
    device's: :data:`DEVICE_COLUMNS`). :meth:`nodal_field` builds the field
    on first use.
    """

    t_s: float
    is_output: bool
    t_end_s: float
    geometry: str
    probe_surface_C: float
    probe_heat_W: float
    energy_J: Mapping[str, float]
    field_fn: Callable[[], NodalField] = dc_field(repr=False)
    comm: Any = None
    extras: Mapping[str, float] = dc_field(default_factory=dict)
    _field: NodalField | None = dc_field(default=None, init=False, repr=False)

    def nodal_field(self) -> NodalField:
        """The P1 temperature field (built once per view)."""
        if self._field is None:
            self._field = self.field_fn()
        return self._field


class Tracker:
    """Something fed with every accepted step of a run (methods do nothing by default).

    ``start`` gets the initial state, ``update`` every accepted step,
    ``finish`` the final state; ``close`` is always called, also when the
    run stops on an error.
    """

    def start(self, view: StepView) -> None:
        pass

    def update(self, view: StepView) -> None:
        pass

    def finish(self, view: StepView) -> None:
        pass

    def close(self) -> None:
        pass


#: Smallest barycentric coordinate (relative) that still counts a point inside a cell.
INSIDE_TOL = 1e-9


def barycentric(P: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (m, d+1) of point ``x`` (d,) in every simplex ``P`` (m, d+1, d)."""
    A = np.transpose(P[:, 1:, :] - P[:, :1, :], (0, 2, 1))  # (m, d, d): columns are edge vectors
    lam = np.linalg.solve(A, (x[None, :] - P[:, 0, :])[:, :, None])[:, :, 0]
    return np.concatenate([1.0 - lam.sum(axis=1, keepdims=True), lam], axis=1)
