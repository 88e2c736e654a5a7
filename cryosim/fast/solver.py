"""The fast solver: finite volumes on graded grids, compiled with numba.

Two front-ends share :class:`~cryosim.fast.stepper.FVSystem` and the step controller:

* :func:`run_axisymmetric` -- a probe of finite active length on an insulated
  shaft, in a cylinder of medium, in (r, z);
* :func:`run_radial` -- 1D planar, cylindrical or spherical problems
  (verification against exact solutions, quick estimates).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_choice, check_range
from ..meshing.grids import ACTIVE, FAR, GEOMETRIES_1D, SHAFT, FVGrid, axisymmetric_grid, radial_grid
from ..physics.materials import Material
from ..numerics.sdirk2 import temperature_tolerance_for
from ..numerics.budget import RunLimits
from ..numerics.stepsize import integrate, step_settings
from ..physics.boundary import DeviceTip, Surface, probe_boundaries, tip_boundaries
from ..physics.protocol import Protocol
from ..post.guards import far_field_disturbance_K as _far_field_disturbance_K
from ..post.guards import step_bounds
from ..post.results import Results
from ..post.trackers import NodalField, StepView, Tracker, TrackerList, device_extras, device_stats
from ..scenario import Numerics, Scenario
from .stepper import FVSystem, StepTolerances

__all__ = ["run_axisymmetric", "run_radial", "RadialProblem", "axisymmetric_grid_for", "grid_key"]

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
#: ice-front zone, and far away (numerical choices, see tests/meshing/test_cvfem.py).
CV_HTIP_M = 0.14e-3
CV_HFRONT_M = 0.4e-3
CV_HFAR_M = 3.0e-3


def axisymmetric_grid_for(scenario: Scenario, kind: str | None = None) -> FVGrid:
    """Grid for ``scenario``; ``kind`` ("cvfem" or "structured") defaults to :data:`AXISYMMETRIC_GRID`.

    The grid depends on the probe's geometry, the resolution, the medium and the protocol's *mesh class*
    (:func:`cryosim.physics.sizing.mesh_duration_s`, :func:`~cryosim.physics.sizing.mesh_tip_C`), not on its
    exact tip temperature or duration; grids are cached by those inputs (:func:`cached_grid`), so the runs of a
    sweep that share a geometry mesh once per process. A cached grid's arrays are read-only.
    """
    return cached_grid(grid_key(scenario, kind))


def grid_key(scenario: Scenario, kind: str | None = None) -> tuple:
    """The inputs of ``scenario``'s grid (:func:`axisymmetric_grid_for`): equal keys, one grid. Microseconds, no
    meshing: a sweep sends the points of one key to one worker, which meshes them once."""
    h0, growth, hfront, hmax = _grid_params(scenario.numerics)
    R = scenario.domain_radius_m()
    front = FRONT_ZONE_FACTOR * scenario.mesh_front_distance_m()
    kind = AXISYMMETRIC_GRID if kind is None else check_choice("grid kind", kind, ("cvfem", "structured"))
    n = scenario.numerics
    if kind == "cvfem":
        res = n.resolution
        key = ("cvfem", scenario.probe.radius_m, scenario.probe.active_length_m, R, CV_HTIP_M / res, CV_HFAR_M / res,
               front, CV_HFRONT_M / res, n.axial_below_m, n.axial_above_m)
    else:
        key = ("structured", scenario.probe.radius_m, scenario.probe.active_length_m, R, h0, growth, hmax,
               n.axial_below_m, n.axial_above_m, front, hfront, max(growth, FAR_GROWTH))
    return key


#: Grids kept per process by :func:`cached_grid` (a sweep point's grid is about 0.3 MB at resolution 1).
GRID_CACHE_SIZE = 32


@functools.lru_cache(maxsize=GRID_CACHE_SIZE)
def cached_grid(key: tuple) -> FVGrid:
    """The grid of ``key`` (built by :func:`axisymmetric_grid_for`), meshed once per process; arrays read-only."""
    if key[0] == "cvfem":
        from ..meshing.cvfem import unstructured_axisymmetric_grid

        _, rp, La, R, htip, hfar, front, hfront, below, above = key
        grid = unstructured_axisymmetric_grid(rp, La, R, htip, hfar, front, hfront, axial_below_m=below,
                                              axial_above_m=above)
    else:
        _, rp, La, R, h0, growth, hmax, below, above, front, hfront, growth_far = key
        grid = axisymmetric_grid(rp, La, R, h0, growth, hmax, axial_below_m=below, axial_above_m=above,
                                 front_m=front, h_front_m=hfront, growth_far=growth_far)
    for value in vars(grid).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return grid


def _tolerances(n: Numerics, medium: Material) -> StepTolerances:
    """The step tolerances of ``n``, the temperature one capped for a sharp-front ``medium``
    (:func:`cryosim.numerics.sdirk2.temperature_tolerance_for`)."""
    tol_K = temperature_tolerance_for(n.temperature_tolerance_K, medium.liquidus_C - medium.solidus_C)
    return StepTolerances(temperature_tolerance_K=tol_K, enthalpy_rtol=n.enthalpy_rtol)




def _nodal(system: FVSystem) -> np.ndarray:
    g = system.grid
    ext = np.concatenate([system.T, system.surface_temperatures()])
    return ext[g.point_source]  # type: ignore[index]


def run_axisymmetric(scenario: Scenario, output_dir: str | Path | None = None,
                     progress: Callable[[float, float], None] | None = None,
                     trackers: Iterable[Tracker] | None = None) -> Results:
    """Run ``scenario`` on the fast axisymmetric solver.

    With ``output_dir``, each time step is appended to
    ``output_dir/timeseries.csv`` as it is computed, and the nodal field is
    written at t = 0, every step's end and the output times
    (``temperature.pvd`` and its VTU frames, :mod:`cryosim.post.series`). ``trackers``: extra
    :class:`~cryosim.post.trackers.Tracker` objects fed with every step.

    A probe design with ``Freeze(gas="on")`` steps runs as a Joule-Thomson
    device (:class:`~cryosim.physics.boundary.DeviceTip`: the tabulated flux
    law and the wall's heat capacity on the active surface) and its series
    are recorded (:data:`~cryosim.post.trackers.DEVICE_COLUMNS`). A design of
    several needles is run as one needle (its own share of the flow; the
    needles' ice balls do not interact here): ice ball and cooling power are
    one needle's, the gas used is the handpiece's.
    """
    if scenario.probe.tip_shape != "flat":
        from ..checks import ScenarioError

        raise ScenarioError("probe.tip_shape", scenario.probe.tip_shape,
                            "'flat' for the fast solver (use solver = 'fem' for rounded or sharp tips)")
    limits = RunLimits.of(scenario.numerics)  # max_wall_s counts from here, the meshing included
    grid = axisymmetric_grid_for(scenario)
    props = scenario.medium.property_row()[None, :]
    active_area_m2 = grid.group_area_m2(ACTIVE)
    bcs = probe_boundaries(scenario.probe, scenario.protocol, active_area_m2, scenario.initial_temperature_C,
                           device_tip=True)
    tip = bcs[Surface.ACTIVE]
    device = tip if isinstance(tip, DeviceTip) else None
    stepper = FVSystem(grid, props, scenario.initial_temperature_C, scenario.arterial_temperature_C, bcs,
                       _tolerances(scenario.numerics, scenario.medium))
    stream = None if output_dir is None else Path(output_dir) / "timeseries.csv"
    tl = TrackerList(scenario, "fast", "axisymmetric", stream_to=stream, trackers=trackers or (), progress=progress,
                     device=device is not None, fields_to=output_dir)
    active = grid.bface_group == ACTIVE
    active_areas_m2 = grid.bface_area_m2[active]
    t_end = scenario.protocol.duration_s

    def extras(st: FVSystem, surface_C: np.ndarray) -> dict[str, float]:
        """The device's series (:data:`~cryosim.post.trackers.DEVICE_COLUMNS`) at the last accepted step."""
        if device is None:
            return {}
        Q_active_W = float(st.last_rates[0][ACTIVE])  # into the medium through the active surface
        mean_C = float(active_areas_m2 @ surface_C / active_area_m2)
        return device_extras(device, st.t, mean_C, float(surface_C.min()), Q_active_W, active_area_m2,
                             st.probe_wall_J)

    def view(st: FVSystem, is_output: bool) -> StepView:
        Qb = st.last_rates[0]
        surface_C = st.surface_temperatures()[active]
        return StepView(t_s=st.t, is_output=is_output, t_end_s=t_end, geometry="axisymmetric",
                        probe_surface_C=float(surface_C.min()),
                        probe_heat_W=-float(Qb[ACTIVE] + Qb[SHAFT]),
                        energy_J=dict(st.energy, enthalpy_change_J=st.enthalpy_change_J),
                        field_fn=lambda: NodalField(grid.points_m, grid.triangles, _nodal(st)),  # type: ignore[arg-type]
                        extras=extras(st, surface_C))

    stats = _integrate(stepper, t_end, scenario.numerics, bcs.breakpoints_s(), view, tl, limits)
    stats.update(cells=grid.n_cells, domain_radius_m=scenario.domain_radius_m(),
                 far_field_max_disturbance_K=far_field_disturbance_K(grid, stepper.T, scenario.initial_temperature_C))
    if device is not None:
        stats.update(device_stats(device, float(stepper.wall_capacity_J_per_K.sum())))
    return tl.finish(view(stepper, False), stats, {"cell_centers_m": grid.centers_m, "cell_temperature_C": stepper.T})


def far_field_disturbance_K(grid: FVGrid, T_C: np.ndarray, far_temperature_C: float) -> float:
    """Largest |T - T_far| next to the far boundary (K): on the cells touching it (cell-centred grids) or the
    nodes one edge inside it (CVFEM, whose far-boundary nodes are held at T_far);
    :func:`cryosim.post.guards.far_field_disturbance_K`."""
    return _far_field_disturbance_K(T_C, grid.bface_cell[grid.bface_group == FAR], far_temperature_C,
                                    grid.face_cells if grid.kind == "cvfem" else None)


def _integrate(system: FVSystem, t_end_s: float, numerics: Numerics, breaks_s: np.ndarray,
               view: Callable[[FVSystem, bool], StepView], tl: TrackerList, limits: RunLimits | None = None) -> dict:
    """Drive ``system`` with the shared step controller, feeding ``tl`` the initial state and every accepted step;
    ``limits`` (None: from ``numerics``, the clock started now) bound its wall-clock time and memory.

    A step whose cell or surface temperatures leave the guard's bounds is retried shorter
    (:func:`cryosim.post.guards.step_bounds`); one that a shorter step does not bring back is the guard's.
    """

    def extremes_C(att: Any) -> tuple[float, float]:
        (_, T, bc), *_ = att.payload
        surface = system.surface_temperatures(T, bc)
        return min(float(T.min()), float(surface.min(initial=np.inf))), max(float(T.max()),
                                                                             float(surface.max(initial=-np.inf)))

    try:
        tl.start(view(system, False))
        st = integrate(system, t_end_s, step_settings(numerics), breaks_s=breaks_s,
                       outputs_s=numerics.output_times_s,
                       on_accept=lambda t, is_output: tl.update(view(system, is_output)),
                       bounds=step_bounds(tl.guard.limits, extremes_C), limits=limits)
    finally:
        tl.close()
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


def run_radial(problem: RadialProblem, progress: Callable[[float, float], None] | None = None,
               trackers: Iterable[Tracker] | None = None) -> Results:
    """Solve a 1D radial problem; extents hold the front radius of each isotherm."""
    p = problem
    grid = radial_grid(p.geometry, p.inner_radius_m, p.outer_radius_m, p.first_cell_m, p.growth,
                       p.max_cell_m, p.far_boundary)
    props = p.medium.property_row()[None, :]
    bcs = tip_boundaries(p.protocol, grid.group_area_m2(ACTIVE), p.initial_temperature_C, floor_C=None,
                         far_field=p.far_boundary)
    stepper = FVSystem(grid, props, p.initial_temperature_C, p.arterial_temperature_C, bcs, _tolerances(p.numerics, p.medium))
    tl = TrackerList(p, "fast", p.geometry, trackers=trackers or (), progress=progress)
    # nodes: the probe surface, the cell centres, the outer boundary
    xs = np.concatenate([[grid.bface_xy_m[0, 0]], grid.centers_m[:, 0], grid.bface_xy_m[1:, 0]])
    segments = np.column_stack([np.arange(xs.size - 1), np.arange(1, xs.size)])

    def view(st: FVSystem, is_output: bool) -> StepView:
        surf = st.surface_temperatures()
        Ts = np.concatenate([[surf[0]], st.T, surf[1:]])
        Qb = st.last_rates[0]
        return StepView(t_s=st.t, is_output=is_output, t_end_s=p.protocol.duration_s, geometry=p.geometry,
                        probe_surface_C=float(Ts[0]), probe_heat_W=-float(Qb[ACTIVE]),
                        energy_J=dict(st.energy, enthalpy_change_J=st.enthalpy_change_J),
                        field_fn=lambda: NodalField(xs[:, None], segments, Ts))

    stats = _integrate(stepper, p.protocol.duration_s, p.numerics, bcs.breakpoints_s(), view, tl)
    stats["cells"] = grid.n_cells
    return tl.finish(view(stepper, False), stats, {"cell_enthalpy_J_per_m3": stepper.H})
