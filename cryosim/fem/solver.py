r"""Finite-element solver: Pennes bioheat with phase change, enthalpy form, on DOLFINx.

Strong form (temperatures in °C, SI units), on the medium :math:`\Omega`
around the probe(s):

.. math::

    \frac{\partial H(T)}{\partial t} = \nabla\cdot(k(T)\nabla T)
        + f_u(T)\,\beta\,(T_a - T) + f_u(T)\,q_m,
    \qquad \beta = w_b (\rho c)_{blood},

with :math:`H, f_u, k` from :func:`cryosim.physics.phase_change.ufl_formulas` (the same
formulas the fast solver compiles with numba), one set per material region.

Weak form, P1 Lagrange :math:`T^{n+1}` (primary unknown), backward Euler on
the *enthalpy* so latent heat is conserved however far a step jumps across the
freezing interval; for every test function :math:`v`,

.. math::

    \int_\Omega \Big[\frac{H(T^{n+1}) - H(T^n)}{\Delta t} v
        + k(T^{n+1}) \nabla T^{n+1}\cdot\nabla v
        - f_u(T^{n+1}) \big(\beta (T_a - T^{n+1}) + q_m\big) v \Big]\, w\, dx
    - \int_{\Gamma_R} h (T_\infty - T^{n+1})\, v\, w\, ds
    + \int_{\Gamma_P} q_{probe}\, v\, w\, ds = 0,

where :math:`w = r = x_0` for axisymmetric (r, z) meshes and 1 in 3D. Boundary
conditions (:mod:`cryosim.physics.protocol`, evaluated at the end of each step):

* active tip: TEMPERATURE -> Dirichlet; CONVECTIVE -> Robin to the coolant;
  POWER -> Neumann, :math:`q_{probe} = P / A_{active}` (W/m^2) extracted;
  ADIABATIC -> nothing;
* shaft: insulated, or Robin with ``probe.shaft_heat_transfer_W_per_m2_K`` to
  the tip temperature while the tip cools;
* vessel walls: Robin :math:`h (T_{blood} - T)`,
  ``h = vessel.heat_transfer_W_per_m2_K``;
* far boundary: Dirichlet at the initial temperature; axis: natural (zero flux).

Every volume integral uses the fixed quadrature degree
:data:`QUADRATURE_DEGREE`, and the forms are compiled once per run (time
step, tip temperature, coefficients are :class:`dolfinx.fem.Constant`).

Heat through each boundary is the *reaction*: the interior residual
:math:`G_i(T^{n+1})` (the volume terms above) summed over the boundary's
nodes. Since :math:`\sum_i v_i = 1`, the sum of all :math:`G_i` is exactly the
enthalpy change rate minus perfusion and metabolic heat, so the recorded
energy balance closes to the Newton tolerance (report it with
``Results.energy_imbalance_relative``).

Newton: PETSc SNES ``newtonls`` with a backtracking line search and a direct
LU solve (MUMPS when PETSc has it). Time step: a step SNES cannot solve is
cut by four (its converged reason is checked; nothing unconverged is
accepted); a step is also rejected when the local error estimate (implicit
solution against the linear extrapolation of the two previous steps, as in
:mod:`cryosim.fast.stepper`) exceeds three times ``numerics.temperature_tolerance_K``;
steps grow up to twice when Newton converges in at most
:data:`EASY_NEWTON_ITERATIONS` iterations and the error allows it; they are
capped by ``numerics.max_step_s`` and land on every protocol breakpoint.

What the solver leaves out: the probe's own heat capacity, blood flow inside
vessels (blood temperature is fixed), supercooling, the density change on
freezing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..physics.materials import Material, get_material
from ..physics.phase_change import CURVES, P_BETA, ufl_formulas
from ..physics.boundary import FLOOR_RAMP_K, BCKind, Surface, probe_boundaries
from ..post.results import Results
from ..post.trackers import NodalField, StepView, Tracker, TrackerList
from ..scenario import Scenario
from ..numerics.stepsize import ConvergenceError
from . import geometry as geo

__all__ = ["run_fem", "FEMSettings", "QUADRATURE_DEGREE", "pennes_terms"]

#: Quadrature degree of every integral (the residual, the enthalpy and the
#: source integrals must share it for the energy balance to close exactly).
#: Degree 2 integrates the P1 mass matrix exactly; H(T) is piecewise smooth.
QUADRATURE_DEGREE = 2
#: Newton converged in at most this many iterations: the step may grow.
EASY_NEWTON_ITERATIONS = 4
#: Growth factor of an easy step (capped further by the error estimate).
MAX_GROWTH = 2.0
#: Cut factor after a failed Newton solve (from the task statement).
FAILURE_CUT = 0.25
#: Reject a step whose error estimate exceeds this multiple of the tolerance
#: (as cryosim.fast.stepper).
REJECT_FACTOR = 3.0


@dataclass(frozen=True)
class FEMSettings:
    """Numerical controls of the FE solver (defaults from ``scenario.numerics``)."""

    first_step_s: float = 1e-2
    min_step_s: float = 1e-6
    #: SNES tolerances: relative residual, relative step (||dT|| < stol ||T||),
    #: absolute residual (W; tiny, the relative tests decide).
    snes_rtol: float = 1e-9
    snes_stol: float = 1e-10
    snes_atol: float = 1e-13
    snes_max_it: int = 25
    #: write the field for ParaView every this many seconds of simulated time
    output_interval_s: float = 10.0


def _petsc_options(s: FEMSettings) -> dict[str, Any]:
    from petsc4py import PETSc

    opts: dict[str, Any] = {
        "snes_type": "newtonls",
        "snes_linesearch_type": "bt",
        "snes_rtol": s.snes_rtol,
        "snes_stol": s.snes_stol,
        "snes_atol": s.snes_atol,
        "snes_max_it": s.snes_max_it,
        "snes_error_if_not_converged": False,
        "ksp_type": "preonly",
        "pc_type": "lu",
        "ksp_error_if_not_converged": False,
    }
    if PETSc.Sys.hasExternalPackage("mumps"):
        opts["pc_factor_mat_solver_type"] = "mumps"
    return opts


def _import_dolfinx() -> Any:
    try:
        import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
    except ImportError:
        pass
    try:
        import dolfinx
        import dolfinx.fem.petsc  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise ImportError("the finite-element solver needs DOLFINx 0.11: pip install 'cryosim[fem]' "
                          "(or conda install -c conda-forge fenics-dolfinx and pip install 'cryosim[fem-conda]')") from e
    return dolfinx


def pennes_terms(T: Any, T_n: Any, v: Any, dt: Any, mat: Material, arterial_C: Any, w: Any, dx: Any) -> dict[str, Any]:
    r"""UFL forms of the Pennes enthalpy equation for one material on the measure ``dx``.

    ``residual``: :math:`\int [(H(T) - H(T_n))/\Delta t\, v + k(T)\nabla T\cdot\nabla v
    - f_u(T)(\beta (T_a - T) + q_m) v]\, w\, dx` (W, per radian when
    ``w = r``); ``enthalpy``: :math:`\int H(T) w\, dx` (J); ``perfusion`` and
    ``metabolic``: the source integrals (W). Properties from ``mat``
    (:meth:`cryosim.physics.materials.Material.property_row` for :math:`\beta`); the
    formulas are :func:`cryosim.physics.phase_change.ufl_formulas`.
    """
    import ufl

    f = ufl_formulas()
    Cf, Cu, L = mat.heat_capacity_frozen_J_per_m3_K, mat.heat_capacity_unfrozen_J_per_m3_K, mat.latent_heat_J_per_m3
    Ts, Tl, curve = mat.solidus_C, mat.liquidus_C, CURVES[mat.freezing_curve]
    kf, ku, kexp = mat.conductivity_frozen_W_per_m_K, mat.conductivity_unfrozen_W_per_m_K, mat.frozen_conductivity_exponent
    beta, qm = float(mat.property_row()[P_BETA]), mat.metabolic_heat_W_per_m3

    def H(u: Any) -> Any:
        return f["enthalpy"](u, Cf, Cu, L, Ts, Tl, curve)

    fu = f["unfrozen_fraction"](T, Ts, Tl, curve)
    k = f["conductivity"](T, kf, ku, kexp, Ts, Tl, curve)
    perf = fu * beta * (arterial_C - T)
    meta = fu * qm
    return {
        "residual": ((H(T) - H(T_n)) / dt * v + k * ufl.dot(ufl.grad(T), ufl.grad(v)) - (perf + meta) * v) * w * dx,
        "enthalpy": H(T) * w * dx,
        "perfusion": perf * w * dx,
        "metabolic": meta * w * dx,
    }


class _Physics:
    """The weak form and the energy functionals of one scenario on one mesh."""

    def __init__(self, scenario: Scenario, fm: geo.FEMesh) -> None:
        dolfinx = _import_dolfinx()
        import ufl

        self.scenario = scenario
        self.fm = fm
        msh = fm.mesh
        self.V = V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
        self.T = dolfinx.fem.Function(V, name="temperature_C")
        self.T_n = dolfinx.fem.Function(V)
        T, T_n = self.T, self.T_n
        v = ufl.TestFunction(V)
        sc = dolfinx.default_scalar_type

        def const(x: float) -> Any:
            return dolfinx.fem.Constant(msh, sc(x))

        self.dt = const(1.0)
        self.T_tip = const(0.0)  # Dirichlet value
        self.h_tip = const(0.0)  # Robin coefficient on ACTIVE (W/m^2/K)
        self.T_cool = const(0.0)  # coolant temperature seen through h_tip
        self.q_tip = const(0.0)  # extracted flux on ACTIVE (W/m^2), delivered down to T_floor
        self.T_floor = const(-273.15)
        self.h_shaft = const(0.0)
        self.T_shaft = const(0.0)
        Ta = const(scenario.arterial_temperature_C)
        x = ufl.SpatialCoordinate(msh)
        w = x[0] if fm.axisymmetric else 1.0
        md = {"quadrature_degree": QUADRATURE_DEGREE}
        dx = ufl.Measure("dx", domain=msh, subdomain_data=fm.cell_tags, metadata=md)
        ds = ufl.Measure("ds", domain=msh, subdomain_data=fm.facet_tags, metadata=md)
        self.ds, self.w = ds, w

        present = set(np.unique(fm.cell_tags.values).tolist())
        present = set().union(*msh.comm.allgather(present))
        self.materials: dict[int, Material] = {}
        interior = enthalpy = perfusion = metabolic = 0
        for tag, name in fm.materials.items():
            if tag not in present:
                continue
            mat = scenario.medium if name == "medium" else get_material(name)
            self.materials[tag] = mat
            terms = pennes_terms(T, T_n, v, self.dt, mat, Ta, w, dx(tag))
            interior += terms["residual"]
            enthalpy += terms["enthalpy"]
            perfusion += terms["perfusion"]
            metabolic += terms["metabolic"]
        ramp = ufl.min_value(1.0, ufl.max_value(0.0, (T - self.T_floor) / FLOOR_RAMP_K))
        boundary = (-self.h_tip * (self.T_cool - T) * v + self.q_tip * ramp * v) * w * ds(geo.ACTIVE)
        boundary += -self.h_shaft * (self.T_shaft - T) * v * w * ds(geo.SHAFT)
        for tag, i in fm.vessel_tags.items():
            vs = scenario.vessels[i]
            boundary += -const(vs.heat_transfer_W_per_m2_K) * (const(vs.blood_temperature_C) - T) * v * w * ds(tag)
        self.F = interior + boundary
        self.G = dolfinx.fem.form(interior)
        self.E = dolfinx.fem.form(enthalpy)
        self.P = dolfinx.fem.form(perfusion)
        self.M = dolfinx.fem.form(metabolic)
        #: 2 pi for (r, z) meshes: integrals of w dx are per radian
        self.revolve = 2.0 * math.pi if fm.axisymmetric else 1.0
        self.active_area_m2 = self.revolve * self.scalar(dolfinx.fem.form(w * ds(geo.ACTIVE)) if fm.axisymmetric
                                                         else dolfinx.fem.form(const(1.0) * ds(geo.ACTIVE)))

        # boundary dofs
        tdim = msh.topology.dim
        msh.topology.create_connectivity(tdim - 1, tdim)

        def dofs(tags: list[int]) -> np.ndarray:
            facets = np.concatenate([fm.facet_tags.find(t) for t in tags]) if tags else np.array([], np.int32)
            return dolfinx.fem.locate_dofs_topological(V, tdim - 1, facets)

        self.active_dofs = dofs([geo.ACTIVE])
        self.far_dofs = dofs([geo.FAR])
        self.vessel_dofs = dofs(list(fm.vessel_tags))
        n_owned = V.dofmap.index_map.size_local
        probe = np.setdiff1d(np.union1d(self.active_dofs, dofs([geo.SHAFT])), self.far_dofs)
        other = np.union1d(self.far_dofs, self.vessel_dofs)
        self.probe_owned = probe[probe < n_owned]
        self.other_owned = other[other < n_owned]
        self.active_owned = self.active_dofs[self.active_dofs < n_owned]
        self.T_far = dolfinx.fem.Constant(msh, sc(scenario.initial_temperature_C))
        self.bc_far = dolfinx.fem.dirichletbc(self.T_far, self.far_dofs, V)
        self.bc_tip = dolfinx.fem.dirichletbc(self.T_tip, self.active_dofs, V)

    def scalar(self, form: Any) -> float:
        import dolfinx
        from mpi4py import MPI

        return float(self.fm.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM))

    def boundary_rates_W(self) -> tuple[float, float]:
        """Heat entering the medium through (probes, far boundary + vessels) (W), from the reactions."""
        import dolfinx
        from mpi4py import MPI

        b = dolfinx.fem.assemble_vector(self.G)
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        a = b.array
        loc = np.array([a[self.probe_owned].sum(), a[self.other_owned].sum()])
        out = np.empty(2)
        self.fm.mesh.comm.Allreduce(loc, out, op=MPI.SUM)
        return float(self.revolve * out[0]), float(self.revolve * out[1])


class _Measures:
    """The current P1 field as the trackers see it: owned cells, their nodes, the probe-surface temperature."""

    def __init__(self, ph: _Physics) -> None:
        self.ph = ph
        V = ph.V
        msh = V.mesh
        self.comm = msh.comm
        tdim = msh.topology.dim
        n_cells = msh.topology.index_map(tdim).size_local
        self.cells = np.asarray(V.dofmap.list[:n_cells], np.int64)
        X = V.tabulate_dof_coordinates()
        self.X = X[:, :2].copy() if ph.fm.axisymmetric else X.copy()

    def surface_min_C(self, T: np.ndarray) -> float:
        from mpi4py import MPI

        loc = float(T[self.ph.active_owned].min()) if self.ph.active_owned.size else math.inf
        return float(self.comm.allreduce(loc, op=MPI.MIN))


def run_fem(scenario: Scenario, output_dir: str | Path | None = None,
            progress: Callable[[float, float], None] | None = None, *, force_3d: bool = False,
            settings: FEMSettings | None = None, comm: Any = None, write_fields: bool = True,
            trackers: Iterable[Tracker] | None = None) -> Results:
    """Run ``scenario`` with finite elements; axisymmetric when the scene allows it, else 3D.

    ``force_3d`` meshes an axisymmetric scene in 3D (verification). With
    ``output_dir`` the time series streams to ``timeseries.csv`` there and the
    temperature field (VTX, ``temperature.bp``) and the 0 °C surface
    (``ice_ball_0C.png``) are written at the end. ``trackers``: extra
    :class:`~cryosim.post.trackers.Tracker` objects fed with every step. Runs
    under MPI (``mpirun -n N``): every rank returns the same :class:`Results`.
    """
    dolfinx = _import_dolfinx()
    from dolfinx.fem.petsc import NonlinearProblem
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    s = settings or FEMSettings()
    num = scenario.numerics
    wall0 = time.perf_counter()
    fm = geo.build_mesh(scenario, comm, force_3d=force_3d)
    mesh_s = time.perf_counter() - wall0
    ph = _Physics(scenario, fm)
    T, T_n = ph.T, ph.T_n
    T0 = scenario.initial_temperature_C
    T.x.array[:] = T0
    T_n.x.array[:] = T0
    bcs = [ph.bc_far]  # mutated in place when the tip condition changes kind (the problem keeps this list)
    prefix = f"cryosim_fem_{id(ph)}_"
    problem = NonlinearProblem(ph.F, T, bcs=bcs, petsc_options=_petsc_options(s), petsc_options_prefix=prefix)
    snes = problem.solver
    meas = _Measures(ph)
    out = None if output_dir is None else Path(output_dir)
    if out is not None and comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    rec = TrackerList(scenario, "fem", "axisymmetric" if fm.axisymmetric else "3d",
                      stream_to=(out / "timeseries.csv") if (out is not None and comm.rank == 0) else None,
                      trackers=trackers or ())
    writer = None
    if out is not None and write_fields:
        from .output import FieldWriter

        writer = FieldWriter(comm, out / "temperature.bp", T)

    E0 = ph.scalar(ph.E)
    energy = {"probe_J": 0.0, "far_boundary_J": 0.0, "perfusion_J": 0.0, "metabolic_J": 0.0}
    stats = {"steps": 0, "rejected_error": 0, "rejected_newton": 0, "newton_iterations": 0}
    rates = (0.0, 0.0)

    boundaries = probe_boundaries(scenario.probe, scenario.protocol, ph.active_area_m2, T0)

    def set_condition(t: float) -> None:
        now = boundaries.at(t)
        c = now[Surface.ACTIVE]
        ph.h_tip.value, ph.q_tip.value, ph.h_shaft.value = 0.0, 0.0, 0.0
        bcs[:] = [ph.bc_far]
        if c.kind == BCKind.TEMPERATURE:
            ph.T_tip.value = c.temperature_C
            bcs.append(ph.bc_tip)
        elif c.kind == BCKind.CONVECTIVE:
            ph.h_tip.value, ph.T_cool.value = c.heat_transfer_W_per_m2_K, c.temperature_C
        elif c.kind == BCKind.LIMITED_FLUX:
            ph.q_tip.value, ph.T_floor.value = -c.flux_W_per_m2, c.temperature_C
        else:
            assert c.kind == BCKind.ADIABATIC, c.kind
        sh = now[Surface.SHAFT]
        if sh.kind == BCKind.CONVECTIVE:
            ph.h_shaft.value, ph.T_shaft.value = sh.heat_transfer_W_per_m2_K, sh.temperature_C

    def view(t: float, is_output: bool = False) -> StepView:
        Tl = T.x.array
        return StepView(t_s=t, is_output=is_output, t_end_s=scenario.protocol.duration_s, geometry=rec.geometry,
                        probe_surface_C=meas.surface_min_C(Tl), probe_heat_W=-rates[0],
                        energy_J=dict(energy, enthalpy_change_J=ph.revolve * (ph.scalar(ph.E) - E0)),
                        field_fn=lambda: NodalField(meas.X, meas.cells, Tl), comm=comm)

    def record(t: float, is_output: bool = False) -> None:
        rec.record(view(t, is_output))

    def global_max_abs(a: np.ndarray) -> float:
        n = V_owned
        return float(comm.allreduce(float(np.max(np.abs(a[:n]))) if n else 0.0, op=MPI.MAX))

    V_owned = ph.V.dofmap.index_map.size_local
    t = 0.0
    t_end = scenario.protocol.duration_s
    set_condition(0.0)
    record(0.0)
    next_output = 0.0
    if writer is not None:
        writer.write(0.0)
        next_output = s.output_interval_s
    bps = scenario.protocol.breakpoints_s()
    bps = np.append(bps[(bps > 0.0) & (bps < t_end)], t_end)
    tol = num.fem_temperature_tolerance_K
    try:
        for bp in bps:
            dt = min(s.first_step_s, bp - t)
            prev: tuple[np.ndarray, float] | None = None
            while t < bp - 1e-12 * max(1.0, bp):
                dt = min(dt, num.max_step_s)
                remaining = bp - t
                if remaining <= 1.2 * dt:
                    dt = remaining
                elif remaining < 2.0 * dt:
                    dt = 0.5 * remaining
                t_new = bp if dt == remaining else t + dt
                set_condition(t_new)
                ph.dt.value = dt
                T_old = T_n.x.array.copy()
                if prev is not None:
                    T_pred = T_old + (dt / prev[1]) * (T_old - prev[0])
                    lo = min(float(T_old.min()), float(ph.T_tip.value), float(ph.T_cool.value))
                    hi = max(float(T_old.max()), T0, scenario.arterial_temperature_C)
                    T.x.array[:] = np.clip(T_pred, lo, hi)
                else:
                    T_pred = T_old
                    T.x.array[:] = T_old
                problem.solve()
                reason = snes.getConvergedReason()
                its = snes.getIterationNumber()
                stats["newton_iterations"] += its
                finite = bool(comm.allreduce(bool(np.all(np.isfinite(T.x.array))), op=MPI.LAND))
                if reason <= 0 or not finite:
                    stats["rejected_newton"] += 1
                    T.x.array[:] = T_old
                    dt *= FAILURE_CUT
                    if dt < s.min_step_s:
                        raise ConvergenceError(f"SNES failed at t = {t:.6g} s (reason {reason}) even with a "
                                               f"step of {dt:.3g} s")
                    continue
                factor = MAX_GROWTH
                if prev is not None:
                    err = dt / (dt + prev[1]) * global_max_abs(T.x.array - T_pred)
                    if err > REJECT_FACTOR * tol and dt > 16 * s.min_step_s:
                        stats["rejected_error"] += 1
                        T.x.array[:] = T_old
                        dt *= max(0.2, 0.9 * math.sqrt(tol / err))
                        continue
                    factor = MAX_GROWTH if err == 0.0 else min(MAX_GROWTH, max(0.2, 0.9 * math.sqrt(tol / err)))
                if its > EASY_NEWTON_ITERATIONS:
                    factor = min(factor, 1.0)
                # accept: reactions and sources at T^{n+1} (T_n still holds T^n for G)
                rates = ph.boundary_rates_W()
                perf, meta = ph.revolve * ph.scalar(ph.P), ph.revolve * ph.scalar(ph.M)
                energy["probe_J"] += dt * rates[0]
                energy["far_boundary_J"] += dt * rates[1]
                energy["perfusion_J"] += dt * perf
                energy["metabolic_J"] += dt * meta
                prev = (T_old, dt)
                T_n.x.array[:] = T.x.array
                t = t_new
                stats["steps"] += 1
                record(t)
                if writer is not None and t >= next_output - 1e-9:
                    writer.write(t)
                    next_output = t + s.output_interval_s
                if progress is not None:
                    progress(t, t_end)
                dt *= factor
    finally:
        rec.close()
        if writer is not None:
            if t > writer.last_time_s:
                writer.write(t)
            writer.close()
        snes.destroy()
    stats.update(
        wall_s=time.perf_counter() - wall0, mesh_s=mesh_s, dofs=int(ph.V.dofmap.index_map.size_global),
        cells=int(fm.mesh.topology.index_map(fm.mesh.topology.dim).size_global), ranks=comm.size,
        domain_radius_m=fm.domain_radius_m, mesh_sizes_m=[fm.sizes.edge_m, fm.sizes.probe_m, fm.sizes.front_m,
                                                          fm.sizes.far_m],
        active_area_m2=ph.active_area_m2,
        far_field_max_disturbance_K=float(comm.allreduce(
            float(np.max(np.abs(T.x.array[ph.far_dofs] - T0))) if ph.far_dofs.size else 0.0, op=MPI.MAX)),
    )
    results = rec.finish(view(t), stats)
    if out is not None and comm.rank == 0:
        from .output import render_ice_ball

        try:
            render_ice_ball(results.final_field, out / "ice_ball_0C.png", iso_C=0.0)
        except ImportError as e:  # pyvista missing: keep the run, say what is lacking
            results.diagnostics["render_error"] = str(e)
    return results
