"""The fast solver: finite volumes on graded grids, compiled with numba.

Two front-ends share :class:`~cryosim.fast.stepper.FVSystem` and the step controller:

* :func:`run_axisymmetric` -- a probe of finite active length on an insulated
  shaft, in a cylinder of medium, in (r, z);
* :func:`run_radial` -- 1D planar, cylindrical or spherical problems
  (verification against exact solutions, quick estimates).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import kernel as fv
from ..checks import check_choice, check_range
from ..meshing.grids import ACTIVE, FAR, GEOMETRIES_1D, SHAFT, FVGrid, axisymmetric_grid, radial_grid
from ..post.isotherms import Extent, extent_axisymmetric, extent_radial
from ..physics.materials import Material
from ..numerics.stepsize import StepSettings, integrate
from ..physics.boundary import probe_boundaries, tip_boundaries
from ..physics.protocol import Protocol
from ..post.results import Recorder, Results
from ..scenario import Numerics, Scenario, Thermocouple
from .stepper import FVSystem, StepTolerances

__all__ = ["run_axisymmetric", "run_radial", "RadialProblem", "axisymmetric_grid_for"]

#: Grid at resolution 1 (numerical choices, set by the convergence study in
#: benchmarks/RESULTS.md): first cell at the probe surface (m), growth ratio
#: minus one, cell size across the ice-front zone (m), largest cell (m), and
#: the front zone's extent as a multiple of the expected ice radius.
BASE_H0_M = 0.06e-3
BASE_GROWTH = 0.16
BASE_HFRONT_M = 0.2e-3
BASE_HMAX_M = 3.0e-3
FRONT_ZONE_FACTOR = 1.25
#: Growth ratio beyond the front zone, where the field is smooth and barely disturbed.
FAR_GROWTH = 1.3


def _grid_params(n: Numerics) -> tuple[float, float, float, float]:
    res = n.resolution
    return BASE_H0_M / res, 1.0 + BASE_GROWTH / res, BASE_HFRONT_M / res, BASE_HMAX_M / res


#: Axisymmetric grid: "cvfem" (unstructured vertex-centred P1 finite volumes,
#: :mod:`cryosim.meshing.cvfem`, for every tip condition) or "structured"
#: (:func:`cryosim.meshing.grids.axisymmetric_grid`: cell-centred, about 10x
#: slower at equal accuracy; kept for comparisons and tests).
AXISYMMETRIC_GRID = "cvfem"
#: CVFEM mesh sizes at resolution 1 (m): at the active tip, across the
#: ice-front zone, and far away (numerical choices, see tests/test_cvfem.py).
CV_HTIP_M = 0.14e-3
CV_HFRONT_M = 0.4e-3
CV_HFAR_M = 3.0e-3


def axisymmetric_grid_for(scenario: Scenario, kind: str | None = None) -> FVGrid:
    """Grid for ``scenario``; ``kind`` ("cvfem" or "structured") defaults to :data:`AXISYMMETRIC_GRID`."""
    h0, growth, hfront, hmax = _grid_params(scenario.numerics)
    R = scenario.domain_radius_m()
    front = FRONT_ZONE_FACTOR * scenario.expected_ice_distance_m()
    kind = AXISYMMETRIC_GRID if kind is None else check_choice("grid kind", kind, ("cvfem", "structured"))
    if kind == "cvfem":
        from ..meshing.cvfem import unstructured_axisymmetric_grid

        res = scenario.numerics.resolution
        return unstructured_axisymmetric_grid(scenario.probe.radius_m, scenario.probe.active_length_m, R,
                                              CV_HTIP_M / res, CV_HFAR_M / res, front, CV_HFRONT_M / res)
    return axisymmetric_grid(scenario.probe.radius_m, scenario.probe.active_length_m, R, h0, growth, hmax,
                             front_m=front, h_front_m=hfront, growth_far=max(growth, FAR_GROWTH))


def step_settings(n: Numerics) -> StepSettings:
    """Step-control settings of a run from its :class:`~cryosim.scenario.Numerics`."""
    return StepSettings(max_step_s=n.max_step_s, fixed_step_s=n.fixed_step_s,
                        min_step_s=min(STEP_MIN_S, n.fixed_step_s or STEP_MIN_S))


def _tolerances(n: Numerics) -> StepTolerances:
    return StepTolerances(temperature_tolerance_K=n.temperature_tolerance_K, enthalpy_rtol=n.enthalpy_rtol)


#: Smallest step the controller may cut to (s) before it gives up.
STEP_MIN_S = 1e-7


def _nodal(system: FVSystem) -> np.ndarray:
    g = system.grid
    ext = np.concatenate([system.T, system.surface_temperatures()])
    return ext[g.point_source]  # type: ignore[index]


class _ThermocoupleReader:
    """Barycentric interpolation of the nodal field at fixed points."""

    def __init__(self, grid: FVGrid, tcs: tuple[Thermocouple, ...]) -> None:
        self.names = [t.name for t in tcs]
        self.idx = np.zeros((len(tcs), 3), np.int64)
        self.w = np.zeros((len(tcs), 3))
        if not tcs:
            return
        P = grid.points_m[grid.triangles]  # type: ignore[index]  # (nt, 3, 2)
        a, b, c = P[:, 0], P[:, 1], P[:, 2]
        det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
        for k, tc in enumerate(tcs):
            x, y = tc.r_m, tc.z_m
            l1 = ((x - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (y - a[:, 1])) / det
            l2 = ((b[:, 0] - a[:, 0]) * (y - a[:, 1]) - (x - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
            l0 = 1.0 - l1 - l2
            inside = np.nonzero(np.minimum(np.minimum(l0, l1), l2) >= -1e-9)[0]
            if inside.size == 0:
                from ..checks import ScenarioError

                raise ScenarioError(f"thermocouples[{tc.name}]", (tc.r_m, tc.z_m), "a point inside the simulated medium")
            e = inside[0]
            self.idx[k] = grid.triangles[e]  # type: ignore[index]
            self.w[k] = (l0[e], l1[e], l2[e])

    def read(self, nodal: np.ndarray) -> dict[str, float]:
        return {n: float(nodal[self.idx[k]] @ self.w[k]) for k, n in enumerate(self.names)}


def run_axisymmetric(scenario: Scenario, output_dir: str | Path | None = None,
                     progress: Callable[[float, float], None] | None = None) -> Results:
    """Run ``scenario`` on the fast axisymmetric solver.

    With ``output_dir``, each time step is appended to
    ``output_dir/timeseries.csv`` as it is computed.
    """
    if scenario.probe.tip_shape != "flat":
        from ..checks import ScenarioError

        raise ScenarioError("probe.tip_shape", scenario.probe.tip_shape,
                            "'flat' for the fast solver (use solver = 'fem' for rounded or sharp tips)")
    grid = axisymmetric_grid_for(scenario)
    props = scenario.medium.property_row()[None, :]
    bcs = probe_boundaries(scenario.probe, scenario.protocol, grid.group_area_m2(ACTIVE), scenario.initial_temperature_C)
    stepper = FVSystem(grid, props, scenario.initial_temperature_C, scenario.arterial_temperature_C, bcs,
                       _tolerances(scenario.numerics))
    tcs = _ThermocoupleReader(grid, scenario.thermocouples)
    stream = None if output_dir is None else Path(output_dir) / "timeseries.csv"
    rec = Recorder(scenario, "fast", "axisymmetric", stream)
    active = grid.bface_group == ACTIVE
    r, z, tri = grid.points_m[:, 0], grid.points_m[:, 1], grid.triangles  # type: ignore[index]

    def on_step(st: FVSystem) -> None:
        nodal = _nodal(st)
        ext = {iso: extent_axisymmetric(r, z, tri, nodal, iso) for iso in rec.isotherms}
        Qb = st.last_rates[0]
        energy = dict(st.energy, enthalpy_change_J=st.enthalpy_change_J)
        surf = st.surface_temperatures()[active]
        rec.record(st.t, ext, tcs.read(nodal), float(surf.min()), -float(Qb[ACTIVE] + Qb[SHAFT]), energy)

    stats = _integrate(stepper, scenario.protocol.duration_s, scenario.numerics, bcs.breakpoints_s(), on_step,
                       progress, rec)
    far_cells = grid.bface_cell[grid.bface_group == FAR]
    stats.update(cells=grid.n_cells, domain_radius_m=scenario.domain_radius_m(),
                 far_field_max_disturbance_K=float(np.max(np.abs(stepper.T[far_cells] - scenario.initial_temperature_C))))
    field = {"points_rz_m": grid.points_m, "triangles": grid.triangles, "temperature_C": _nodal(stepper),
             "cell_centers_rz_m": grid.centers_m, "cell_temperature_C": stepper.T}
    return rec.finish(field, stats)  # type: ignore[arg-type]


def _integrate(system: FVSystem, t_end_s: float, numerics: Numerics, breaks_s: np.ndarray,
               on_step: Callable[[FVSystem], None], progress: Callable[[float, float], None] | None,
               rec: Recorder) -> dict:
    """Drive ``system`` with the shared step controller, recording every accepted step."""
    def accepted(t: float, is_output: bool) -> None:
        on_step(system)
        if progress is not None:
            progress(t, t_end_s)

    on_step(system)
    try:
        st = integrate(system, t_end_s, step_settings(numerics), breaks_s=breaks_s,
                       outputs_s=numerics.output_times_s, on_accept=accepted)
    finally:
        rec.close()
    stats = st.as_dict()
    stats.update(system.counters)
    return stats


# --- 1D radial problems -----------------------------------------------------
@dataclass(frozen=True)
class RadialProblem:
    """A 1D planar, cylindrical or spherical problem around a probe surface.

    ``inner_radius_m`` is the probe surface (x = 0 in planar geometry), where
    the protocol's tip condition applies; the outer end is held at the
    initial temperature (``far_boundary=True``) or adiabatic.
    """

    geometry: str
    medium: Material
    protocol: Protocol
    inner_radius_m: float
    outer_radius_m: float
    initial_temperature_C: float = 37.0
    arterial_temperature_C: float = 37.0
    far_boundary: bool = True
    isotherms_C: tuple[float, ...] = (0.0,)
    first_cell_m: float = 5e-6
    growth: float = 1.03
    max_cell_m: float | None = None
    numerics: Numerics = field(default_factory=Numerics)
    name: str = "radial"
    thermocouples: tuple = ()

    def __post_init__(self) -> None:
        check_choice("geometry", self.geometry, GEOMETRIES_1D)
        check_range("inner_radius_m", self.inner_radius_m, 0.0, 1.0)
        check_range("outer_radius_m", self.outer_radius_m, self.inner_radius_m, 10.0, low_open=True)
        if self.geometry != "planar" and self.inner_radius_m <= 0.0:
            from ..checks import ScenarioError

            raise ScenarioError("inner_radius_m", self.inner_radius_m, "a positive radius for curved geometry")

    def to_dict(self) -> dict[str, Any]:
        return {"geometry": self.geometry, "medium": self.medium.name, "inner_radius_m": self.inner_radius_m,
                "outer_radius_m": self.outer_radius_m, "duration_s": self.protocol.duration_s}


def run_radial(problem: RadialProblem, progress: Callable[[float, float], None] | None = None) -> Results:
    """Solve a 1D radial problem; extents hold the front radius of each isotherm."""
    p = problem
    grid = radial_grid(p.geometry, p.inner_radius_m, p.outer_radius_m, p.first_cell_m, p.growth,
                       p.max_cell_m, p.far_boundary)
    props = p.medium.property_row()[None, :]
    bcs = tip_boundaries(p.protocol, grid.group_area_m2(ACTIVE), p.initial_temperature_C, floor_C=None,
                         far_field=p.far_boundary)
    stepper = FVSystem(grid, props, p.initial_temperature_C, p.arterial_temperature_C, bcs, _tolerances(p.numerics))
    rec = Recorder(p, "fast", p.geometry)  # type: ignore[arg-type]
    x = grid.centers_m[:, 0]

    def profile(st: FVSystem) -> tuple[np.ndarray, np.ndarray]:
        surf = st.surface_temperatures()
        xs = np.concatenate([[grid.bface_xy_m[0, 0]], x, grid.bface_xy_m[1:, 0]])
        Ts = np.concatenate([[surf[0]], st.T, surf[1:]])
        return xs, Ts

    def on_step(st: FVSystem) -> None:
        xs, Ts = profile(st)
        ext = {iso: extent_radial(xs, Ts, iso, p.geometry) for iso in rec.isotherms}
        Qb = st.last_rates[0]
        energy = dict(st.energy, enthalpy_change_J=st.enthalpy_change_J)
        rec.record(st.t, ext, {}, float(Ts[0]), -float(Qb[ACTIVE]), energy)

    stats = _integrate(stepper, p.protocol.duration_s, p.numerics, bcs.breakpoints_s(), on_step, progress, rec)
    xs, Ts = profile(stepper)
    stats["cells"] = grid.n_cells
    return rec.finish({"x_m": xs, "temperature_C": Ts, "cell_enthalpy_J_per_m3": stepper.H}, stats)
