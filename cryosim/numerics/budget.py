r"""The work of a run, estimated before it starts, and the limits it must fit (issue 16, "bounded work").

Before any meshing :func:`check_work` estimates what a scenario asks for and
refuses, with a :class:`~cryosim.checks.ScenarioError` naming the key that
raises the work and the value that would fit, a run whose estimated memory
exceeds ``numerics.max_memory_GiB`` (default: the machine's memory,
:func:`machine_memory_bytes`) or whose estimated computing time exceeds
``numerics.max_work_s`` (default :data:`DEFAULT_MAX_WORK_S`). Raising either
key lifts the limit on purpose. During the run :class:`RunLimits` holds the
wall-clock and memory limits after every step attempt (and, in the FE solver,
after every factorisation), on every MPI rank together.

The estimate (:class:`WorkEstimate`):

* **unknowns**: the mesh nodes (both solvers' unknowns are the nodes), the
  integral over the medium of the node density :math:`\kappa_d / h(x)^d` of
  the mesher's size field :math:`h(x)`, rebuilt here from the same constants
  and rules the meshers use (:mod:`cryosim.fast.solver` ``CV_*``,
  :mod:`cryosim.meshing.cvfem`, :mod:`cryosim.fem.geometry`) and integrated on
  a graded (r, z) grid (3D: with the weight :math:`2\pi r`; vessels, the
  shaft field and extra probes added as the excess of their own fields over
  the far size). :math:`\kappa_d` is fitted to gmsh's meshes
  (:data:`NODES_PER_H2`, :data:`NODES_PER_H3`). Measured accuracy, actual
  over estimated nodes (2026-12-04, 2-core container; default scenario, 20 s
  and 600 s freezes, a 10 mm active length, a 60 mm medium, a rounded tip, at
  resolutions 0.5-4): fast 2D 0.985-1.13 (15 meshes; 130,393 / 135 k at
  resolution 16), FE 2D 0.99-1.16 (18), FE 3D 0.97-1.13 on one probe with or
  without a vessel (8, resolution 0.5 and 0.8) and 0.84-0.87 with a second
  probe 8 mm away (its ice zone overlapping: counted twice).
  ``tests/numerics/test_budget.py`` holds a few within :data:`UNKNOWNS_ACCURACY`.
* **steps**: a lower bound, every interval between milestones (protocol
  breakpoints, output times, the end) cut by ``max_step_s`` or ``fixed_step_s``;
  and a typical adaptive count, that bound plus :data:`STEPS_PER_BREAKPOINT`
  steps after each breakpoint (where the step restarts small).
* **memory** and **computing time**: ``base + per_unknown * N`` and
  ``per_unknown_step * N^(1 + p) * steps`` with figures fitted per solver and
  dimension (:data:`COSTS`).

The node estimate is within 20 %; the cost figures are fits over 700-51,000
nodes (2D) and 4,900-10,000 (3D), extrapolated beyond (a factor of two or
three either way there). The limits they are held against are far from every
example and validation case (the heaviest example, bone_and_vessel.toml in 3D:
~12 k nodes, ~100 s), so they stop only runs that would not end in reasonable
time, not runs that would merely be slow.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import ScenarioError
from .stepsize import WorkLimitError

__all__ = ["WorkEstimate", "Costs", "COSTS", "estimate_work", "estimate_unknowns", "estimate_steps", "check_work",
           "machine_memory_bytes", "resident_memory_bytes", "RunLimits", "WorkLimitError", "DEFAULT_MAX_WORK_S",
           "GiB"]

GiB = 1024.0**3

#: Largest estimated computing time of a run by default (s): 2 h, several times the longest example or
#: validation case (a 3D run of the bone-and-vessel example); ``numerics.max_work_s`` raises it.
DEFAULT_MAX_WORK_S = 7200.0

#: Nodes per h^2 of area in gmsh's triangle meshes (2D) and per h^3 of volume in its tetrahedral meshes (3D),
#: h the size field: an equilateral triangle mesh has 2/sqrt(3) = 1.155; fitted to the meshers' actual node
#: counts (2026-12-04, 2-core container; the fit's scenarios in tests/numerics/test_budget.py).
NODES_PER_H2 = {"fast": 1.2, "fem": 1.2}
NODES_PER_H3 = 0.85
#: Accuracy held by the tests of :func:`estimate_unknowns`: a factor of 1.5 either way (measured: within 0.84-1.16,
#: module docstring; the margin leaves room for gmsh versions).
UNKNOWNS_ACCURACY = 1.5

#: Adaptive steps after each breakpoint (t = 0 included) on top of the max_step_s bound: the step restarts at
#: FIRST_STEP_S and grows by at most MAX_GROWTH a step; measured on the default scenario (120 s freeze: 49
#: steps, 1 breakpoint) and a 20 s freeze (39 steps) with the fast solver, 2026-12-04.
STEPS_PER_BREAKPOINT = 45


@dataclass(frozen=True)
class Costs:
    """Fitted cost of a solver in one dimension (2026-12-04, 2-core container).

    Memory (bytes): ``base_bytes + bytes_per_unknown * N * (N / 1e4)^memory_exponent``;
    computing time of the run (s): ``cpu_s_per_unknown_step * N * (N / 1e4)^cpu_exponent * steps``
    (the exponents carry the fill-in of a direct factorisation, which grows
    faster than N).
    """

    base_bytes: float
    bytes_per_unknown: float
    cpu_s_per_unknown_step: float
    cpu_exponent: float
    memory_exponent: float = 0.0


#: (solver, dimension) -> fitted costs. Measured 2026-12-04 on the 2-core container (shared: wall times were
#: 1.5-5x the CPU times, so the CPU time of the whole run, meshing included, is fitted), one run per process,
#: ``ru_maxrss`` for the peak memory, the default scenario (gauge 18, 5 mm, -70 °C):
#:
#: * fast 2D, 120 s freeze, resolution 0.5 / 1 / 2 / 3 / 3.5: 703 / 2,217 / 7,621 / 16,298 / 21,831 nodes,
#:   36 / 49 / 59 / 68 / 72 steps, 0.60 / 1.1 / 4.6 / 20.7 / 30.1 s of CPU, 239 / 241 / 253 / 270 / 285 MiB peak;
#:   resolution 3.5 on a 600 s freeze: 51,282 nodes, 89 steps, 141 s of CPU (fit: 146 s), 365 MiB (fit: 364);
#:   resolution 16 on a 20 s freeze: 130,393 nodes (estimate 135 k), 650 MiB peak (estimate 0.53 GiB), and
#:   the run fails at t = 0 (Newton, 9 step cuts) after 68 s of CPU;
#: * FE 2D, 120 s freeze, resolution 1 / 2 / 3: 1,471 / 5,115 / 10,987 nodes, 44 / 58 / 67 steps,
#:   3.9 / 8.4 / 45 s of CPU, 304 / 286 / 300 MiB peak (the memory per node is below the noise here);
#: * FE 3D (force_3d), 20 s freeze, resolution 0.5 / 0.7 / 1: 4,867 / 6,247 / 9,709 nodes, 27 / 33 / 37 steps,
#:   22 / 24 / 57 s of CPU (fit at resolution 1: 53 s), 372 / 338 / 372 MiB peak; validation/bone3d: 10,167
#:   nodes, 120 s, 88 s of CPU.
#:
#: The fast solver's CPU per node-step doubles from 7.6 k to 21.8 k nodes (exponent 0.6); FE 2D is taken with
#: 0.5, FE 3D with 0.5 (its exact-Newton factorisations grow as N^2 in the limit: an under-estimate far above
#: the measured sizes). Memory per node is below the noise of these sizes; the figures taken (fast: the 2.2 kB
#: of the fit; FE: 3 kB in 2D, 15 kB growing as N^(1/3) in 3D, the fill of a 3D factorisation) are upper
#: readings, and the 3D one puts the reviewer's 3D run with a vessel (3.9 GiB) near 1e5 nodes.
COSTS = {
    ("fast", 2): Costs(base_bytes=0.25 * GiB, bytes_per_unknown=2.2e3, cpu_s_per_unknown_step=1.2e-5, cpu_exponent=0.6),
    ("fem", 2): Costs(base_bytes=0.3 * GiB, bytes_per_unknown=3e3, cpu_s_per_unknown_step=6e-5, cpu_exponent=0.5),
    ("fem", 3): Costs(base_bytes=0.35 * GiB, bytes_per_unknown=1.5e4, cpu_s_per_unknown_step=1.5e-4, cpu_exponent=0.5,
                      memory_exponent=1.0 / 3.0),
}


@dataclass(frozen=True)
class WorkEstimate:
    """What a run is estimated to ask for (module docstring)."""

    solver: str
    dimension: int
    unknowns: float
    steps_min: int
    steps_typical: float
    memory_bytes: float
    cpu_s: float

    @property
    def memory_GiB(self) -> float:
        return self.memory_bytes / GiB

    def as_dict(self) -> dict[str, Any]:
        return {"solver": self.solver, "dimension": self.dimension, "unknowns": self.unknowns,
                "steps_min": self.steps_min, "steps_typical": self.steps_typical, "memory_GiB": self.memory_GiB,
                "cpu_s": self.cpu_s}

    def describe(self) -> str:
        return (f"~{_count(self.unknowns)} unknowns ({self.solver}, {self.dimension}D), ~{_count(self.steps_typical)} "
                f"steps (at least {self.steps_min}), ~{self.memory_GiB:.2g} GiB, ~{_duration(self.cpu_s)} of computing")


def _count(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.3g} M"
    if x >= 1e4:
        return f"{x / 1e3:.3g} k"
    return f"{x:.0f}"


def _duration(s: float) -> str:
    if s >= 2 * 86400:
        return f"{s / 86400:.3g} days"
    if s >= 7200:
        return f"{s / 3600:.3g} h"
    if s >= 120:
        return f"{s / 60:.3g} min"
    return f"{s:.2g} s"


# --- the size fields ---------------------------------------------------------------------------------------
def _threshold(d: np.ndarray, smin: float, smax: float, dmin: float, dmax: float) -> np.ndarray:
    """gmsh's Threshold field: ``smin`` up to ``dmin``, linear to ``smax`` at ``dmax``, ``smax`` beyond."""
    if dmax <= dmin:
        return np.where(d <= dmin, smin, smax)
    u = np.clip((d - dmin) / (dmax - dmin), 0.0, 1.0)
    return smin + (smax - smin) * u


def _dist_segment(r: np.ndarray, z: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """Distance in the (r, z) half-plane from (r, z) to the segment a-b (the 3D distance to the surface of
    revolution it sweeps, for a point at distance r from the axis)."""
    ar, az = a
    dr, dz = b[0] - ar, b[1] - az
    L2 = dr * dr + dz * dz
    t = np.zeros_like(r) if L2 == 0.0 else np.clip(((r - ar) * dr + (z - az) * dz) / L2, 0.0, 1.0)
    return np.hypot(r - ar - t * dr, z - az - t * dz)


def _graded_axis(lo: float, hi: float, anchors: list[float], h0: float, ratio: float = 1.08) -> np.ndarray:
    """Nodes on [lo, hi], geometrically graded away from each anchor from a first spacing ``h0``.

    The integrand varies on the scale of the local cell size h, which grows at most linearly with the
    distance from the refined features (the size fields' slopes); a spacing of ``ratio - 1`` = 8 % of that
    distance, from a quarter of the finest cell, integrates it to about a percent (numerical choice,
    checked against a twice finer grading).
    """
    pts = [lo, hi]
    for a in anchors:
        if not lo <= a <= hi:
            continue
        pts.append(a)
        for sign in (-1.0, 1.0):
            step, x = h0, a
            while True:
                x += sign * step
                if not lo < x < hi:
                    break
                pts.append(x)
                step *= ratio
    return np.unique(np.asarray(pts, float))


def _cells(r_nodes: np.ndarray, z_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoints (r, z) and areas of the tensor grid's cells."""
    rm, zm = 0.5 * (r_nodes[1:] + r_nodes[:-1]), 0.5 * (z_nodes[1:] + z_nodes[:-1])
    R, Z = np.meshgrid(rm, zm, indexing="ij")
    A = np.outer(np.diff(r_nodes), np.diff(z_nodes))
    return R, Z, A


@dataclass(frozen=True)
class _Fields:
    """An axisymmetric size field h(r, z) of one probe and what is needed to integrate it."""

    rp: float
    La: float
    R: float
    z0: float
    z1: float
    h_min: float
    h_far: float
    anchors_r: tuple[float, ...]
    anchors_z: tuple[float, ...]
    fn: Any  # (r, z) -> h


def _fast_fields(scenario: Any) -> _Fields:
    """The CVFEM size field of :func:`cryosim.fast.solver.axisymmetric_grid_for` (:func:`cryosim.meshing.cvfem.mesh_axisymmetric`)."""
    from ..fast.solver import CV_HFAR_M, CV_HFRONT_M, CV_HTIP_M, FRONT_ZONE_FACTOR
    from ..meshing.cvfem import SIZE_SLOPE

    res = scenario.numerics.resolution
    h_tip, h_front, h_far = CV_HTIP_M / res, CV_HFRONT_M / res, CV_HFAR_M / res
    front = FRONT_ZONE_FACTOR * scenario.mesh_front_distance_m()
    rp, La, R, z0, z1 = _box(scenario)
    slope = SIZE_SLOPE

    def fn(r: np.ndarray, z: np.ndarray) -> np.ndarray:
        d = np.minimum(_dist_segment(r, z, (rp, La), (rp, 0.0)), _dist_segment(r, z, (rp, 0.0), (0.0, 0.0)))
        dc = np.minimum(np.hypot(r - rp, z), np.hypot(r - rp, z - La))
        return np.minimum.reduce([_threshold(d, h_tip, h_far, 0.0, (h_far - h_tip) / slope),
                                  _threshold(d, h_front, h_far, front, front + (h_far - h_front) / slope),
                                  _threshold(dc, h_tip, h_far, 0.0, (h_far - h_tip) / slope)])

    return _Fields(rp, La, R, z0, z1, h_tip, h_far, (rp,), (0.0, La), fn)


def _box(scenario: Any) -> tuple[float, float, float, float, float]:
    """Probe radius, active length, medium radius and axial extent (m), as both meshers build them."""
    n = scenario.numerics
    R = scenario.domain_radius_m()
    La = scenario.probe.active_length_m
    z0 = -(R if n.axial_below_m is None else n.axial_below_m)
    z1 = La + (R if n.axial_above_m is None else n.axial_above_m)
    return scenario.probe.radius_m, La, R, z0, z1


def _fem_fields(scenario: Any, three_d: bool) -> tuple[_Fields, Any]:
    """The FE size field of :func:`cryosim.fem.geometry._size_fields` around the main probe (the tip drawn flat:
    a rounded or sharp cap changes the active surface by less than a probe radius), and the mesh sizes."""
    from ..fem import geometry as geo

    sizes = geo.mesh_sizes(scenario, three_d)
    rp, La, R, z0, z1 = _box(scenario)
    grade = geo.PROBE_GRADING_RADII * rp * (sizes.far_m - sizes.probe_m) / max(sizes.front_m - sizes.probe_m, 1e-12)
    zone = geo.ICE_ZONE_MARGIN * scenario.mesh_front_distance_m()
    reach = 2.0 * sizes.probe_m * (sizes.far_m - sizes.edge_m) / max(sizes.probe_m - sizes.edge_m, 1e-12)
    corners = geo._corners(scenario, 3 if three_d else 2)
    h_shaft = min(sizes.front_m, 2.0 * math.pi * rp / geo.CIRCLE_SEGMENTS)
    G = geo.SIZE_GROWTH

    def fn(r: np.ndarray, z: np.ndarray) -> np.ndarray:
        d = np.minimum(_dist_segment(r, z, (rp, La), (rp, 0.0)), _dist_segment(r, z, (rp, 0.0), (0.0, 0.0)))
        hs = [_threshold(d, sizes.probe_m, sizes.far_m, 0.0, grade),
              _threshold(d, sizes.front_m, sizes.far_m, zone, zone + (sizes.far_m - sizes.front_m) / G)]
        for r0, zc in corners:
            hs.append(_threshold(np.hypot(r - r0, z - zc), sizes.edge_m, sizes.far_m, 0.0, reach))
        if three_d:
            ds = _dist_segment(r, z, (rp, La), (rp, z1))
            hs.append(_threshold(ds, h_shaft, sizes.far_m, 0.0, (sizes.far_m - h_shaft) / G))
        return np.minimum.reduce(hs)

    f = _Fields(rp, La, R, z0, z1, min(sizes.edge_m, sizes.probe_m), sizes.far_m, (rp,),
                tuple(sorted({0.0, La, *(zc for _, zc in corners)})), fn)
    return f, sizes


def _integrate_nodes(f: _Fields, dim: int, kappa: float) -> tuple[float, float]:
    """(nodes over the medium, nodes of the far size alone over it): the integral of kappa / h^dim, and in 2D
    half the nodes along the outline, the integral of 1 / h over it (the area integral gives each boundary node
    half the share of an interior one)."""
    r_nodes = _graded_axis(0.0, f.R, [*f.anchors_r, 0.0], f.h_min / 4.0)
    z_nodes = _graded_axis(f.z0, f.z1, list(f.anchors_z), f.h_min / 4.0)
    r, z, A = _cells(r_nodes, z_nodes)
    inside = ~((r < f.rp) & (z > 0.0))  # the probe slot is not medium
    w = A * inside * (2.0 * math.pi * r if dim == 3 else 1.0)
    h = f.fn(r, z)
    n, far = float(kappa * np.sum(w / h**dim)), float(kappa * np.sum(w) / f.h_far**dim)
    if dim == 2:
        rm, dr = 0.5 * (r_nodes[1:] + r_nodes[:-1]), np.diff(r_nodes)
        zm, dz = 0.5 * (z_nodes[1:] + z_nodes[:-1]), np.diff(z_nodes)
        edges = 0.0
        for rr, zz, ds, keep in ((np.zeros_like(zm), zm, dz, zm < 0.0),  # axis below the tip
                                 (np.full_like(zm, f.R), zm, dz, zm == zm),  # far side
                                 (np.full_like(zm, f.rp), zm, dz, zm > 0.0),  # probe wall
                                 (rm, np.full_like(rm, f.z0), dr, rm == rm),  # far bottom
                                 (rm, np.full_like(rm, f.z1), dr, rm > f.rp),  # far top
                                 (rm, np.zeros_like(rm), dr, rm < f.rp)):  # distal end
            edges += float(np.sum(ds[keep] / f.fn(rr[keep], zz[keep])))
        n += 0.5 * edges
    return n, far


def _line_excess_3d(kappa: float, wall_radius_m: float, h_wall: float, h_far: float, growth: float,
                    length_m: float) -> float:
    """Extra nodes (beyond the far size) of a field h_wall at a cylinder wall growing by ``growth`` per metre
    of distance, over ``length_m`` of the cylinder."""
    reach = (h_far - h_wall) / growth
    if reach <= 0.0 or length_m <= 0.0:
        return 0.0
    s = np.linspace(0.0, reach, 401)
    h = h_wall + (h_far - h_wall) * s / reach
    integrand = (1.0 / h**3 - 1.0 / h_far**3) * 2.0 * math.pi * (wall_radius_m + s)
    return float(kappa * length_m * np.trapezoid(integrand, s))


def _chord_in_cylinder(c: np.ndarray, d: np.ndarray, R: float, z0: float, z1: float) -> float:
    """Length of the line c + t d (|d| = 1) inside the cylinder r <= R, z0 <= z <= z1 (m)."""
    lo, hi = -math.inf, math.inf
    a = d[0] ** 2 + d[1] ** 2
    if a > 1e-12:
        b = 2.0 * (c[0] * d[0] + c[1] * d[1])
        cc = c[0] ** 2 + c[1] ** 2 - R * R
        disc = b * b - 4.0 * a * cc
        if disc <= 0.0:
            return 0.0
        q = math.sqrt(disc)
        lo, hi = (-b - q) / (2 * a), (-b + q) / (2 * a)
    elif c[0] ** 2 + c[1] ** 2 > R * R:
        return 0.0
    if abs(d[2]) > 1e-12:
        t0, t1 = sorted(((z0 - c[2]) / d[2], (z1 - c[2]) / d[2]))
        lo, hi = max(lo, t0), min(hi, t1)
    elif not z0 <= c[2] <= z1:
        return 0.0
    return max(0.0, hi - lo)


#: Fast-grid estimates kept per process (by :func:`cryosim.fast.solver.grid_key`), see :func:`estimate_unknowns`.
FAST_ESTIMATE_CACHE_SIZE = 256
_FAST_UNKNOWNS: dict[tuple, float] = {}


def estimate_unknowns(scenario: Any, solver: str, three_d: bool = False) -> float:
    """Estimated mesh nodes (the unknowns) of ``scenario`` on ``solver`` ("fast" or "fem"), before meshing.

    Accuracy: :data:`UNKNOWNS_ACCURACY` (module docstring). In 3D the extra probes add their own fields' excess
    over the far size in full (overlapping ice zones are counted twice: an over-estimate), vessels the excess of
    their wall fields over their chord through the medium.
    """
    if solver == "fast":
        # the fast grid follows the geometry and the protocol's mesh class only: one estimate per grid
        # (cryosim.fast.solver.grid_key; sweeps check every point)
        from ..fast.solver import grid_key

        key = grid_key(scenario)
        if key not in _FAST_UNKNOWNS:
            if len(_FAST_UNKNOWNS) >= FAST_ESTIMATE_CACHE_SIZE:
                _FAST_UNKNOWNS.clear()
            _FAST_UNKNOWNS[key] = _integrate_nodes(_fast_fields(scenario), 2, NODES_PER_H2["fast"])[0]
        return _FAST_UNKNOWNS[key]
    f, sizes = _fem_fields(scenario, three_d)
    if not three_d:
        n, _ = _integrate_nodes(f, 2, NODES_PER_H2["fem"])
        return n
    from ..fem import geometry as geo

    n, background = _integrate_nodes(f, 3, NODES_PER_H3)
    n += len(scenario.extra_probes) * max(n - background, 0.0)
    for v in scenario.vessels:
        h_v = min(sizes.front_m, math.pi * v.diameter_m / geo.CIRCLE_SEGMENTS)
        chord = _chord_in_cylinder(np.asarray(v.center_m, float), np.asarray(v.direction, float), f.R, f.z0, f.z1)
        n += _line_excess_3d(NODES_PER_H3, 0.5 * v.diameter_m, h_v, sizes.far_m, geo.SIZE_GROWTH, chord)
    return n


# --- steps, memory, time -------------------------------------------------------------------------------------
def estimate_steps(scenario: Any) -> tuple[int, float]:
    """(the fewest steps the controller can take, a typical adaptive count) for ``scenario``'s protocol and
    ``numerics.max_step_s`` / ``fixed_step_s`` (module docstring)."""
    n = scenario.numerics
    end = scenario.protocol.duration_s
    breaks = [float(b) for b in scenario.protocol.breakpoints_s() if 0.0 < b < end]
    marks = np.unique(np.asarray([0.0, *breaks, *(t for t in n.output_times_s if t < end), end], float))
    step = n.fixed_step_s if n.fixed_step_s is not None else n.max_step_s
    least = int(sum(math.ceil(span / step * (1.0 - 1e-9)) for span in np.diff(marks) if span > 0.0))
    if n.fixed_step_s is not None:
        return least, float(least)
    return least, float(least + STEPS_PER_BREAKPOINT * (1 + len(breaks)))


def _dimension(scenario: Any, solver: str) -> int:
    return 3 if solver == "fem" and (scenario.numerics.force_3d or not scenario.axisymmetric) else 2


def estimate_work(scenario: Any, solver: str) -> WorkEstimate:
    """The :class:`WorkEstimate` of ``scenario`` on ``solver`` (as :func:`cryosim.api.choose_solver` picks it)."""
    dim = _dimension(scenario, solver)
    N = estimate_unknowns(scenario, solver, dim == 3)
    least, typical = estimate_steps(scenario)
    c = COSTS[(solver, dim)]
    mem = c.base_bytes + c.bytes_per_unknown * N * (N / 1e4) ** c.memory_exponent
    cpu = c.cpu_s_per_unknown_step * N * (N / 1e4) ** c.cpu_exponent * typical
    return WorkEstimate(solver, dim, N, least, typical, mem, cpu)


# --- the limits --------------------------------------------------------------------------------------------
def machine_memory_bytes() -> float:
    """Physical memory of this machine (bytes), the lower of the container's limit (cgroup) when it has one."""
    total = None
    try:
        import psutil

        total = float(psutil.virtual_memory().total)
    except ImportError:
        try:
            total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            total = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = float(text)
    return math.inf if total is None else total


def resident_memory_bytes() -> float:
    """This process's resident memory now (bytes): /proc/self/statm, else its peak (``ru_maxrss``)."""
    try:
        with open("/proc/self/statm") as fh:
            return float(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak) * (1.0 if sys.platform == "darwin" else 1024.0)


def memory_limit_bytes(numerics: Any) -> float:
    """``numerics.max_memory_GiB`` (bytes), else the machine's memory."""
    given = getattr(numerics, "max_memory_GiB", None)
    return machine_memory_bytes() if given is None else given * GiB


def work_limit_s(numerics: Any) -> float:
    given = getattr(numerics, "max_work_s", None)
    return DEFAULT_MAX_WORK_S if given is None else float(given)


#: What may be lowered to fit, in the order tried: (key, how it enters the work); a key is named when the
#: scenario sets it above its default, or always for the dimension.
def _culprit(scenario: Any, solver: str, fits: Any) -> tuple[str, Any, str] | None:
    """(key, value, what would fit) for a scenario whose estimate does not ``fits(estimate)``: the first of
    resolution (when above 1), the step keys (when set), the domain radius (when set), force_3d, and
    resolution again (down to its least), whose change alone makes it fit; None when none does."""
    n = scenario.numerics
    dim = _dimension(scenario, solver)

    def search(make: Any, lo: float, hi: float, up: bool) -> float | None:
        """The largest (``up``) or smallest value in [lo, hi] of a key for which the estimate fits (bisection)."""
        try:
            if not fits(estimate_work(make(lo if up else hi), solver)):
                return None
        except ScenarioError:
            return None
        a, b = (lo, hi) if up else (hi, lo)  # a fits, b does not
        for _ in range(30):
            m = 0.5 * (a + b)
            try:
                ok = fits(estimate_work(make(m), solver))
            except ScenarioError:
                ok = False
            a, b = (m, b) if ok else (a, m)
            if abs(b - a) <= 1e-3 * abs(a):
                break
        return a

    if n.resolution > 1.0:
        best = search(lambda x: scenario.with_(resolution=x), 0.25, n.resolution, True)
        if best is not None:
            return "numerics.resolution", n.resolution, f"lower numerics.resolution to at most {best:.3g}"
    if n.fixed_step_s is not None:
        best = search(lambda x: scenario.with_(fixed_step_s=x), n.fixed_step_s, 600.0, False)
        if best is not None:
            return "numerics.fixed_step_s", n.fixed_step_s, f"raise numerics.fixed_step_s to at least {best:.3g} s"
    elif n.max_step_s < 30.0:
        best = search(lambda x: scenario.with_(max_step_s=x), n.max_step_s, 600.0, False)
        if best is not None:
            return "numerics.max_step_s", n.max_step_s, f"raise numerics.max_step_s to at least {best:.3g} s"
    if n.domain_radius_m is not None:
        best = search(lambda x: scenario.with_(domain_radius_m=x), 2e-3, n.domain_radius_m, True)
        if best is not None:
            return ("numerics.domain_radius_m", n.domain_radius_m,
                    f"lower numerics.domain_radius_m to at most {best:.3g} m")
    if dim == 3 and n.force_3d:
        return "numerics.force_3d", True, "an axisymmetric run (false)"
    if n.resolution > 0.25:
        best = search(lambda x: scenario.with_(resolution=x), 0.25, n.resolution, True)
        if best is not None:
            return "numerics.resolution", n.resolution, f"lower numerics.resolution to at most {best:.3g}"
    return None


def check_work(scenario: Any, solver: str) -> WorkEstimate:
    """Refuse ``scenario`` on ``solver`` when its :class:`WorkEstimate` exceeds the memory or the computing-time
    limit (module docstring); return the estimate otherwise. No meshing: milliseconds."""
    n = scenario.numerics
    est = estimate_work(scenario, solver)
    mem_limit = memory_limit_bytes(n)
    cpu_limit = work_limit_s(n)
    mem_key = "numerics.max_memory_GiB"
    given_mem = getattr(n, "max_memory_GiB", None)
    if est.memory_bytes > mem_limit:
        where = f"numerics.max_memory_GiB = {given_mem:g}" if given_mem is not None else "this machine's memory"
        found = _culprit(scenario, solver, lambda e: e.memory_bytes <= mem_limit)
        need = f"a run that fits in {mem_limit / GiB:.3g} GiB ({where}; this one needs {est.describe()})"
        if found is None:
            raise ScenarioError(mem_key, given_mem, f"{need}: raise numerics.max_memory_GiB to at least "
                                f"{est.memory_GiB:.2g}, or shorten the protocol")
        key, value, fix = found
        raise ScenarioError(key, value, f"{need}; {fix}, or raise {mem_key}")
    if est.cpu_s > cpu_limit:
        need = (f"a run estimated within numerics.max_work_s = {cpu_limit:g} s of computing (this one needs "
                f"{est.describe()})")
        found = _culprit(scenario, solver, lambda e: e.cpu_s <= cpu_limit)
        if found is None:
            raise ScenarioError("numerics.max_work_s", getattr(n, "max_work_s", None),
                                f"{need}: raise numerics.max_work_s to at least {est.cpu_s:.2g} s, or shorten the "
                                "protocol")
        key, value, fix = found
        raise ScenarioError(key, value, f"{need}; {fix}, or raise numerics.max_work_s")
    return est


# --- during the run ----------------------------------------------------------------------------------------
@dataclass
class RunLimits:
    """The wall-clock and memory limits of one run, checked on every MPI rank together.

    ``max_wall_s`` (None: none) counts from :meth:`start`; ``max_memory_bytes``
    (None: none) is held against the resident memory of all ranks together
    (each measures its own, the sum is reduced). ``comm``: an MPI communicator
    (None: one process); every rank takes the same decision, so all stop
    together.
    """

    max_wall_s: float | None = None
    max_memory_bytes: float | None = None
    comm: Any = None
    t0: float = 0.0

    def __post_init__(self) -> None:
        self.t0 = time.perf_counter()

    @classmethod
    def of(cls, numerics: Any, comm: Any = None) -> "RunLimits":
        """The limits of a run with ``numerics`` (``max_wall_s``; ``max_memory_GiB``, else the machine's
        memory), the clock started now."""
        memory = memory_limit_bytes(numerics)
        return cls(getattr(numerics, "max_wall_s", None), None if math.isinf(memory) else memory, comm)

    @property
    def active(self) -> bool:
        return self.max_wall_s is not None or self.max_memory_bytes is not None

    def check(self, where: str) -> None:
        """Raise a :class:`WorkLimitError` (a ConvergenceError) naming the limit reached, ``where`` said in it."""
        if not self.active:
            return
        wall = time.perf_counter() - self.t0
        mem = resident_memory_bytes() if self.max_memory_bytes is not None else 0.0
        if self.comm is not None and self.comm.size > 1:
            from mpi4py import MPI

            wall = self.comm.allreduce(wall, op=MPI.MAX)
            mem = self.comm.allreduce(mem, op=MPI.SUM)
        if self.max_wall_s is not None and wall > self.max_wall_s:
            raise WorkLimitError(f"numerics.max_wall_s = {self.max_wall_s:g} s reached {where} (after {wall:.3g} s): "
                                 "stopped; raise the limit, or lower numerics.resolution")
        if self.max_memory_bytes is not None and mem > self.max_memory_bytes:
            ranks = "" if self.comm is None or self.comm.size == 1 else f" over {self.comm.size} ranks"
            raise WorkLimitError(f"numerics.max_memory_GiB = {self.max_memory_bytes / GiB:.3g} GiB reached {where} "
                                 f"(resident memory {mem / GiB:.3g} GiB{ranks}): stopped; raise the limit, or lower "
                                 "numerics.resolution")

