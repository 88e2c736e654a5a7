"""Verification of the finite-element solver (DOLFINx).

* the heat operator (conduction + perfusion, axisymmetric weighting) converges
  at order 2 in L2 on a manufactured solution;
* a planar two-phase front matches Neumann's exact solution within 1 %;
* the default scenario, axisymmetric FE, matches the fast finite-volume solver
  within 2 % and closes its energy balance to 1e-6;
* the SDIRK2 time integration is second order (fixed steps, smooth problem);
  ``fixed_step_s``, ``output_times_s``, ``max_step_s`` and ``domain_radius_m``
  are honoured; a power-limited freeze never goes below the coolant floor;
  Ctrl-C inside a Newton solve leaves as KeyboardInterrupt;
* Newton converges on water (sharp freezing) without a failed solve; the
  safeguarded correction reads the enthalpy across the freezing interval;
* a Joule-Thomson device probe (tabulated flux, probe wall) runs on the FE
  solver and agrees with the fast solver; the table's UFL form equals numpy's;
* 3D meshes of the axisymmetric scene agree with the (r, z) mesh within 3 %
  (slow);
* isotherm measures on tetrahedra are exact for P1 fields, geometry tags,
  non-flat tips.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

try:
    import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
except ImportError:
    pass

dolfinx = pytest.importorskip("dolfinx")
pytest.importorskip("gmsh")

import dolfinx.fem.petsc  # noqa: E402
import ufl  # noqa: E402
from mpi4py import MPI  # noqa: E402

import cryosim  # noqa: E402
from cryosim.fem import run_fem  # noqa: E402
from cryosim.fem.solver import QUADRATURE_DEGREE, pennes_terms  # noqa: E402
from cryosim.physics.catalogue import list_designs  # noqa: E402

pytestmark = pytest.mark.fem

#: Coarse resolution for the quick tests (858 dofs on the default scenario):
#: its 0 °C radius, length and volume are within 0.5 % of the refined run
#: (benchmarks/RESULTS.md, FE section).
QUICK_RESOLUTION = 0.7
#: The catalogue design run on the FE solver in the quick tier (the others are slow tests).
QUICK_DESIGN = "cryoneurolysis-CO2-2.0mm"

SNES_OPTS = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10, "snes_atol": 1e-12,
             "snes_stol": 1e-12, "ksp_type": "preonly", "pc_type": "lu"}


def _solve(F, u, bcs, prefix):
    problem = dolfinx.fem.petsc.NonlinearProblem(F, u, bcs=bcs, petsc_options=SNES_OPTS, petsc_options_prefix=prefix)
    problem.solve()
    reason = problem.solver.getConvergedReason()
    problem.solver.destroy()
    assert reason > 0, f"SNES did not converge (reason {reason})"


def _mms_error(n: int) -> tuple[float, float]:
    """Steady axisymmetric Pennes problem with an exact solution; return (h, L2 error)."""
    medium = cryosim.get_material("muscle")  # unfrozen throughout: T >= 20 °C above the liquidus
    msh = dolfinx.mesh.create_rectangle(MPI.COMM_WORLD, [np.array([0.0, 0.0]), np.array([0.01, 0.01])], [n, n])
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    x = ufl.SpatialCoordinate(msh)
    L_m = 0.01
    T_exact = 30.0 + 10.0 * ufl.cos(math.pi * x[0] / L_m) * ufl.sin(math.pi * x[1] / L_m)
    T, T_n, v = dolfinx.fem.Function(V), dolfinx.fem.Function(V), ufl.TestFunction(V)
    expr = dolfinx.fem.Expression(T_exact, V.element.interpolation_points)
    T_n.interpolate(expr)
    T.interpolate(expr)
    dt = dolfinx.fem.Constant(msh, 1e30)  # steady: the enthalpy term vanishes
    Ta = 37.0
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": QUADRATURE_DEGREE + 2})
    r = x[0]
    F = pennes_terms(T, T_n, v, dt, medium, Ta, r, dx)["residual"]
    k = medium.conductivity_unfrozen_W_per_m_K
    beta = float(medium.property_row()[cryosim.physics.phase_change.P_BETA])
    # -(1/r) div(r k grad T) - beta (Ta - T) - q_m = f
    src = (-ufl.div(r * k * ufl.grad(T_exact)) / r - beta * (Ta - T_exact) - medium.metabolic_heat_W_per_m3)
    F -= src * v * r * dx
    msh.topology.create_connectivity(1, 2)
    facets = dolfinx.mesh.exterior_facet_indices(msh.topology)
    g = dolfinx.fem.Function(V)
    g.interpolate(expr)
    bc = dolfinx.fem.dirichletbc(g, dolfinx.fem.locate_dofs_topological(V, 1, facets))
    _solve(F, T, [bc], f"mms{n}_")
    err = dolfinx.fem.form((T - T_exact) ** 2 * ufl.dx(metadata={"quadrature_degree": 6}))
    e = math.sqrt(msh.comm.allreduce(dolfinx.fem.assemble_scalar(err), op=MPI.SUM))
    return L_m / n, e


def test_heat_operator_converges_at_order_two():
    hs, errs = zip(*[_mms_error(n) for n in (8, 16, 32)])
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert 1.85 < slope < 2.2, (hs, errs, slope)


@pytest.mark.integration
def test_neumann_two_phase_front_within_one_percent():
    """Planar freezing of a slab: front position against Carslaw & Jaeger 11.2."""
    from cryosim.physics.exact import neumann_front_m, neumann_temperature_C

    # narrow freezing interval (0.2 K) stands for the sharp front of the exact solution
    med = cryosim.get_material("soft_tissue").with_(solidus_C=-0.6, liquidus_C=-0.4, perfusion_per_s=0.0,
                                                    metabolic_heat_W_per_m3=0.0)
    Tf, Ts, T0 = -0.5, -40.0, 20.0
    props = dict(k_s=med.conductivity_frozen_W_per_m_K, k_l=med.conductivity_unfrozen_W_per_m_K,
                 C_s=med.heat_capacity_frozen_J_per_m3_K, C_l=med.heat_capacity_unfrozen_J_per_m3_K,
                 L_v=med.latent_heat_J_per_m3, T_s=Ts, T_f=Tf, T_0=T0)
    Lx, nx, t0, t1, dt_s = 0.02, 400, 10.0, 100.0, 0.5
    msh = dolfinx.mesh.create_rectangle(MPI.COMM_WORLD, [np.array([0.0, 0.0]), np.array([Lx, Lx / nx])], [nx, 1])
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    T, T_n, v = dolfinx.fem.Function(V), dolfinx.fem.Function(V), ufl.TestFunction(V)
    xdof = V.tabulate_dof_coordinates()[:, 0]
    T_n.x.array[:] = neumann_temperature_C(xdof, t0, **props)
    T.x.array[:] = T_n.x.array
    dt = dolfinx.fem.Constant(msh, dt_s)
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": QUADRATURE_DEGREE})
    F = pennes_terms(T, T_n, v, dt, med, 37.0, 1.0, dx)["residual"]
    left = dolfinx.fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], 0.0))
    right = dolfinx.fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], Lx))
    bcs = [dolfinx.fem.dirichletbc(dolfinx.default_scalar_type(Ts), left, V),
           dolfinx.fem.dirichletbc(dolfinx.default_scalar_type(T0), right, V)]
    problem = dolfinx.fem.petsc.NonlinearProblem(F, T, bcs=bcs, petsc_options=SNES_OPTS, petsc_options_prefix="neu_")
    for _ in range(int(round((t1 - t0) / dt_s))):
        problem.solve()
        assert problem.solver.getConvergedReason() > 0
        T_n.x.array[:] = T.x.array
    problem.solver.destroy()
    bottom = np.isclose(V.tabulate_dof_coordinates()[:, 1], 0.0)
    order = np.argsort(xdof[bottom])
    xs, Tb = xdof[bottom][order], T.x.array[bottom][order]
    j = int(np.nonzero(Tb > Tf)[0][0])
    front = xs[j - 1] + (Tf - Tb[j - 1]) / (Tb[j] - Tb[j - 1]) * (xs[j] - xs[j - 1])
    exact = float(neumann_front_m(t1, **props))
    assert abs(front / exact - 1.0) < 0.01, (front, exact)


@pytest.fixture(scope="module")
def default_fem():
    """The default scenario as the user gets it (resolution 1, default tolerances)."""
    return run_fem(cryosim.default_scenario().with_(solver="fem"))


@pytest.fixture(scope="module")
def default_fast():
    from cryosim.fast import run_axisymmetric

    return run_axisymmetric(cryosim.default_scenario())


@pytest.mark.integration
def test_default_scenario_matches_fast_solver(default_fem, default_fast):
    assert default_fem.geometry == "axisymmetric"
    for measure in ("radius_m", "length_m"):
        fe, fv = default_fem.final(0.0, measure), default_fast.final(0.0, measure)
        assert abs(fe / fv - 1.0) < 0.02, (measure, fe, fv)
    assert abs(default_fem.final(0.0, "volume_m3") / default_fast.final(0.0, "volume_m3") - 1.0) < 0.04
    tc_fe = default_fem.thermocouples_C["tip_side_2mm"][-1]
    tc_fv = default_fast.thermocouples_C["tip_side_2mm"][-1]
    assert abs(tc_fe - tc_fv) < 1.5, (tc_fe, tc_fv)


#: Heat drawn by the probe in the default scenario (Pennes steady initial state), fast solver at resolution 1 (J);
#: 428.4 J before the tip nodes became unknowns with reaction heat; 427.7 J before the initial state was the
#: steady state (uniform 37 °C), and then resolution 2
#: gives 427.97 J, the FE solver 427.78 J at the quick settings and 428.62 J with the default 0.5 K tolerance.
DEFAULT_HEAT_DRAWN_J = 429.4


def test_default_scenario_energy_balance_and_bookkeeping(default_fem, default_fast):
    r = default_fem
    # the heat drawn agrees with the fast finite-volume solver (an independent discretisation): the spread
    # between the solvers, resolutions and time tolerances above is 0.2 %, the tolerance 0.5 %
    assert default_fast.heat_drawn_J == pytest.approx(DEFAULT_HEAT_DRAWN_J, rel=1e-3)
    # FE at resolution 0.5 against the fast solver at 1: two discretisations, 1 % apart at most (measured 0.5 %)
    assert r.heat_drawn_J == pytest.approx(default_fast.heat_drawn_J, rel=1e-2)
    assert r.energy_imbalance_relative < 1e-6
    assert np.all(np.diff(r.time_s) > 0) and r.time_s[-1] == pytest.approx(120.0)
    assert r.probe_surface_C[-1] == pytest.approx(-70.0)
    # one recorded row per accepted step (plus t = 0); no Newton failure on this smooth problem
    d = r.diagnostics
    assert d["steps"] == len(r.time_s) - 1
    assert d["rejected_newton"] == 0
    assert d["newton_iterations"] >= d["steps"]
    assert {"points_m", "cells", "temperature_C", "geometry"} <= set(r.final_field)
    assert str(r.final_field["geometry"]) == "axisymmetric" and r.final_field["points_m"].shape[1] == 2
    # colder isotherms are nested inside warmer ones
    assert r.final(-40.0, "volume_m3") < r.final(-20.0, "volume_m3") < r.final(0.0, "volume_m3")


@pytest.mark.integration
def test_outputs_written(tmp_path):
    sc = cryosim.default_scenario().with_(numerics=cryosim.Numerics(resolution=QUICK_RESOLUTION),
                                          protocol=cryosim.Protocol.single_freeze(20.0, -70.0))
    r = run_fem(sc, output_dir=tmp_path)
    assert (tmp_path / "timeseries.csv").read_text().count("\n") == len(r.time_s) + 1
    assert (tmp_path / "ice_ball_0C.png").stat().st_size > 1000
    assert (tmp_path / "temperature.pvd").exists()  # the field series: tests/post/test_series.py


@pytest.mark.integration
@pytest.mark.parametrize("shape", ["rounded", "sharp"])
def test_non_flat_tips_freeze(shape):
    from dataclasses import replace

    sc = cryosim.default_scenario()
    sc = sc.with_(probe=replace(sc.probe, tip_shape=shape), protocol=cryosim.Protocol.single_freeze(30.0, -70.0),
                  numerics=cryosim.Numerics(resolution=QUICK_RESOLUTION))
    r = run_fem(sc)
    flat = run_fem(sc.with_(probe=replace(sc.probe, tip_shape="flat")))
    # same side extent; a pointed end shortens the ice below the tip a little
    assert abs(r.final(0.0, "radius_m") / flat.final(0.0, "radius_m") - 1.0) < 0.05
    assert r.final(0.0, "length_m") <= flat.final(0.0, "length_m") * 1.01
    assert r.energy_imbalance_relative < 1e-6


def test_extent_3d_exact_for_p1_fields():
    """A P1 field linear in each tet: half-space and a slab are measured exactly."""
    from cryosim.post.isotherms import extent_3d

    msh = dolfinx.mesh.create_box(MPI.COMM_WORLD, [np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])],
                                  [6, 6, 6], dolfinx.mesh.CellType.tetrahedron)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    X = V.tabulate_dof_coordinates()
    cells = np.asarray(V.dofmap.list, np.int64)
    # T = z - 0.3 <= 0 : the slab z <= 0.3 of the cube (linear, so exact)
    e = extent_3d(X, cells, X[:, 2] - 0.3, 0.0)
    assert e.volume_m3 == pytest.approx(4.0 * 1.3, rel=1e-12)
    assert e.area_m2 == pytest.approx(2.0 * 1.3, rel=1e-6)  # section y = 0: 2 x 1.3
    assert e.length_m == pytest.approx(1.3, rel=1e-12)
    assert e.radius_m == pytest.approx(math.sqrt(2.0), rel=1e-12)
    # T = x + y + z - 0.5 (linear, so P1 is exact): the cube minus the cut corner x + y + z > 1/2.
    # With u = x + 1 etc. in [0, 2]^3 the corner is u + v + w > 7/2, by symmetry (u -> 2 - u) as large as
    # u + v + w < 5/2, i.e. s^3/6 - 3 (s - 2)^3/6 at s = 5/2 = 61/24; so V = 8 - 61/24 = 131/24 = 5.4583...
    e2 = extent_3d(X, cells, X.sum(axis=1) - 0.5, 0.0)
    assert e2.volume_m3 == pytest.approx(131.0 / 24.0, rel=1e-9)
    # section y = 0: the square minus x + z > 1/2, a triangle of legs 3/2 -> 4 - 9/8 = 23/8
    assert e2.area_m2 == pytest.approx(23.0 / 8.0, rel=1e-6)
    # z spans [-1, 1] (x = y = -1 allows z up to 1); (1, -1) keeps the far corner at sqrt(2) from the axis
    assert e2.length_m == pytest.approx(2.0, rel=1e-12)
    assert e2.radius_m == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert extent_3d(X, cells, X[:, 2] + 5.0, 0.0).volume_m3 == 0.0


@pytest.mark.integration
def test_geometry_tags_bone_and_vessel():
    from cryosim.fem.geometry import ACTIVE, CANCELLOUS, CORTICAL, FAR, SHAFT, TISSUE, VESSEL, build_mesh
    from cryosim.physics.scene import BonePlate, Vessel

    sc = cryosim.default_scenario().with_(bone=BonePlate(3e-3, 45.0), vessels=(Vessel(1.5e-3, 3.5e-3),),
                                          numerics=cryosim.Numerics(resolution=0.4))
    fm = build_mesh(sc, MPI.COMM_WORLD)
    assert not fm.axisymmetric and fm.mesh.topology.dim == 3
    assert {TISSUE, CORTICAL, CANCELLOUS} <= set(np.unique(fm.cell_tags.values))
    assert {ACTIVE, SHAFT, FAR, VESSEL} <= set(np.unique(fm.facet_tags.values))
    # bone at 90 degrees stays axisymmetric: layers below the tip
    fm2 = build_mesh(cryosim.default_scenario().with_(bone=BonePlate(3e-3, 90.0),
                                                      numerics=cryosim.Numerics(resolution=0.5)), MPI.COMM_WORLD)
    assert fm2.axisymmetric and {TISSUE, CORTICAL, CANCELLOUS} <= set(np.unique(fm2.cell_tags.values))


@pytest.mark.slow
def test_3d_matches_axisymmetric_within_three_percent(default_fem):
    sc = cryosim.default_scenario().with_(numerics=cryosim.Numerics(resolution=1.0))
    r3 = run_fem(sc, force_3d=True)
    assert r3.geometry == "3d"
    ref = run_fem(sc)
    for measure in ("radius_m", "length_m", "area_m2", "volume_m3"):
        tol = 0.03 if measure in ("radius_m", "length_m") else 0.06
        assert abs(r3.final(0.0, measure) / ref.final(0.0, measure) - 1.0) < tol, measure
    assert r3.energy_imbalance_relative < 1e-6


def _ramp_scenario(duration_s: float, end_C: float, *, unfreezing: bool = False, **numerics):
    """Tip cooled linearly from 37 °C (no jump at t = 0). ``unfreezing``: a tissue whose water freezes only
    below -30 °C (liquidus -30, solidus -40 °C), so a ramp to ``end_C`` > -30 °C has a smooth solution."""
    from cryosim.physics.protocol import Freeze, Protocol

    s = cryosim.default_scenario()
    medium = s.medium.with_(liquidus_C=-30.0, solidus_C=-40.0) if unfreezing else s.medium
    return s.with_(protocol=Protocol((Freeze(duration_s, tip_temperature_C=((0.0, 37.0), (duration_s, end_C))),)),
                   medium=medium, thermocouples=(), numerics=cryosim.Numerics(**numerics))


def test_sdirk2_is_second_order_in_time():
    """Fixed steps dt, dt/2, dt/4 on a smooth problem (tip ramped 37 -> -10 °C in 10 s, a tissue that does not freeze).

    The successive differences of the heat drawn and of the final nodal field
    shrink by 4 per halving (measured: orders 2.03 and 2.02). With freezing
    the order drops where the front crosses nodes (the enthalpy has corners),
    which is why this check uses an unfrozen problem.
    """
    runs = [run_fem(_ramp_scenario(10.0, -10.0, unfreezing=True, resolution=0.5, fixed_step_s=dt))
            for dt in (2.0, 1.0, 0.5)]
    heat = [r.heat_drawn_J for r in runs]
    fields = [r.final_field["temperature_C"] for r in runs]
    order_heat = math.log2(abs(heat[0] - heat[1]) / abs(heat[1] - heat[2]))
    order_T = math.log2(np.max(np.abs(fields[0] - fields[1])) / np.max(np.abs(fields[1] - fields[2])))
    assert order_heat > 1.7 and order_T > 1.7, (heat, order_heat, order_T)
    for r in runs:
        assert r.energy_imbalance_relative < 1e-6


def test_fixed_step_output_times_max_step_and_domain_honoured():
    fixed = run_fem(_ramp_scenario(10.0, -30.0, resolution=0.5, fixed_step_s=0.4))
    assert fixed.diagnostics["steps"] == 25 and fixed.diagnostics["rejected_error"] == 0
    assert np.allclose(np.diff(fixed.time_s), 0.4)
    times = (1.25, 3.3, 7.7)
    r = run_fem(_ramp_scenario(10.0, -30.0, resolution=0.5, output_times_s=times, max_step_s=2.0,
                               domain_radius_m=0.02))
    for t in times:
        assert np.any(r.time_s == t), (t, r.time_s)
    assert r.time_s[-1] == 10.0
    assert np.max(np.diff(r.time_s)) <= 2.0 * (1 + 1e-12)
    assert r.diagnostics["domain_radius_m"] == 0.02
    assert r.energy_imbalance_relative < 1e-6


@pytest.mark.integration
@pytest.mark.parametrize("power_W", [1.0, 10.0])
def test_power_limited_freeze_stays_above_coolant_floor(power_W):
    """Power drawn from an N2O probe: the flux fades out within a kelvin of the floor (-88 °C).

    1 W leaves the surface near -15 °C after 30 s; 10 W reaches the floor, where the ramp must hold it.
    """
    from cryosim.physics.protocol import Freeze, Protocol

    sc = cryosim.default_scenario()
    assert sc.probe.coolant == "N2O"
    floor = sc.probe.min_tip_temperature_C
    assert floor == pytest.approx(-88.0, abs=1.0)
    r = run_fem(sc.with_(protocol=Protocol((Freeze(30.0, power_W=power_W),)),
                         numerics=cryosim.Numerics(resolution=QUICK_RESOLUTION)))
    assert np.min(r.probe_surface_C) >= floor - 0.5, (floor, np.min(r.probe_surface_C))
    if power_W > 5.0:
        assert np.min(r.probe_surface_C) < floor + 1.5  # it does reach the floor
    assert r.energy_imbalance_relative < 1e-6


@pytest.mark.integration
def test_an_fe_power_freeze_past_its_floor_is_flagged_with_its_size():
    """Issue 16 (reviewer): 50 W from the default 18 G N2O probe takes FE nodes ~3.7 K below the -88 °C floor
    (measured at resolution 0.7; P1 quadrature of the floor ramp, which shorter steps do not remove): the
    guard flags it with its size (before, a 3 %-of-span tolerance of 3.75 K let it pass), the run is returned."""
    from cryosim.physics.protocol import Freeze, Protocol

    s = cryosim.default_scenario().with_(thermocouples=(), protocol=Protocol((Freeze(30.0, power_W=50.0),)),
                                         numerics=cryosim.Numerics(resolution=QUICK_RESOLUTION))
    r = run_fem(s)  # guards = "stop": an FE temperature breach is flagged, never a stop
    assert r.diagnostics["temperature_excursion_K"] > 0.5
    assert any("colder than the coldest" in m and "-88.000 °C" in m for m in r.diagnostics["suspect"])
    assert "SUSPECT" in r.table()


def test_ctrl_c_inside_newton_is_a_keyboard_interrupt(monkeypatch):
    """A Ctrl-C during a residual assembly of the Newton solve leaves run_fem as KeyboardInterrupt (the CLI's 130)."""
    import dolfinx.fem.petsc as fp

    calls = {"n": 0}
    real = fp.assemble_vector

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fp, "assemble_vector", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_fem(_ramp_scenario(2.0, -10.0, unfreezing=True, resolution=0.5))
    assert calls["n"] == 5


def test_obsolete_fem_tolerance_refused():
    """The FE shares the fast solver's tolerances; its old backward-Euler tolerance is refused, not ignored."""
    from cryosim.checks import ScenarioError
    from cryosim.scenario import scenario_from_dict

    d = {"probe": {"gauge": 18, "active_length_m": 5e-3}, "protocol": [{"type": "freeze", "duration_s": 10,
                                                                        "tip_temperature_C": -70.0}],
         "numerics": {"fem_temperature_tolerance_K": 2.0}}
    with pytest.raises(ScenarioError, match="numerics.fem_temperature_tolerance_K"):
        scenario_from_dict(d)


# --- Newton on sharp freezing, Joule-Thomson devices ----------------------------------------
@pytest.mark.integration
def test_safeguard_reads_the_correction_in_enthalpy_across_the_freezing_interval():
    """An unfrozen water node told to drop 5 K stops where its enthalpy change C dT lands (in the freezing
    interval), not 5 K below; a frozen node's correction is left alone, so is a held node's."""
    from cryosim.fem.newton import safeguard_temperature_correction
    from cryosim.physics.phase_change import enthalpy_array

    water = cryosim.get_material("water")
    props = water.property_row()[None, :]
    T = np.array([0.5, -10.0, 0.5])
    dT = np.array([-5.0, -1.0, -5.0])
    out = np.empty(3)
    n = safeguard_temperature_correction(T, dT, np.zeros(3, np.int64), props, np.array([False, False, True]), out)
    assert n == 1
    assert out[1] == dT[1] and out[2] == dT[2]
    assert water.solidus_C < T[0] + out[0] < water.liquidus_C
    dH = enthalpy_array(T[0] + out[0], water.property_row()) - enthalpy_array(T[0], water.property_row())
    assert dH == pytest.approx(water.heat_capacity_unfrozen_J_per_m3_K * dT[0], rel=1e-9)


@pytest.mark.integration
def test_newton_converges_on_water_without_failed_solves():
    """Water freezes over 0.5 K: Newton on the temperature used to fail 95 times in 20 s (PETSc SNES); the
    safeguarded iteration does not fail once, and the answer matches the converged fast solver within the coarse
    grid's error (measured 2026-12-04: FE 3.468 mm at resolution 0.5, 3.450 at 0.7; fast 3.325 mm at resolution 2:
    4.3 % at 0.5, where the medium's mesh class (a 60 s freeze at -90 °C) places the cells)."""
    from cryosim.fast.solver import run_axisymmetric

    s = cryosim.default_scenario().with_(
        medium=cryosim.get_material("water"), initial_temperature_C=20.0, arterial_temperature_C=20.0,
        protocol=cryosim.Protocol((cryosim.Freeze(20.0, -70.0),)), numerics=cryosim.Numerics(resolution=0.5))
    r = run_fem(s, write_fields=False)
    assert r.diagnostics["rejected_newton"] == 0
    assert r.energy_imbalance_relative < 1e-6
    fast = run_axisymmetric(s.with_(numerics=cryosim.Numerics(resolution=2.0)))
    assert r.final(0.0, "radius_m") == pytest.approx(fast.final(0.0, "radius_m"), rel=0.05)


def test_table_flux_form_equals_numpy_interp():
    """The hinge form of a TABULATED_FLUX law equals np.interp(left=0) at any temperature, including off the table."""
    from cryosim.fem.solver import _table_flux_ufl

    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    T = dolfinx.fem.Function(V)
    table_T = (-80.0, -60.0, -30.0, 0.0, 20.0)
    table_q = (0.0, -4e4, -5e4, -5.5e4, -5.6e4)
    form = dolfinx.fem.form(_table_flux_ufl(msh, T, table_T, table_q) * ufl.dx)
    for c in (-95.0, -80.0, -70.0, -60.0, -45.5, -1.0, 10.0, 20.0, 35.0):
        T.x.array[:] = c
        assert dolfinx.fem.assemble_scalar(form) == pytest.approx(np.interp(c, table_T, table_q, left=0.0),
                                                                  rel=1e-12, abs=1e-9), c


@pytest.mark.integration
def test_device_probe_on_fem_agrees_with_the_fast_solver(tmp_path):
    """A catalogue N2O probe, gas on: the FE solver (tabulated flux, lumped probe wall) and the fast solver agree
    on the tip temperature (1 K), the cooling power (2 %) and the ice radius (3 %); the FE balance closes with
    the wall's heat; the device series are written."""
    from cryosim.fast.solver import run_axisymmetric
    from cryosim.physics.catalogue import probe_from_design
    from cryosim.post.trackers import DEVICE_COLUMNS

    s = cryosim.default_scenario().with_(probe=probe_from_design("cryoneurolysis-N2O-1.3mm"), thermocouples=(),
                                         protocol=cryosim.Protocol((cryosim.Freeze(30.0, gas="on"),)),
                                         numerics=cryosim.Numerics(resolution=QUICK_RESOLUTION))
    fe = run_fem(s, output_dir=tmp_path, write_fields=False)
    # the fast solver's tip temperature moves by 0.5 K from resolution 1 to 2: compare with the finer one
    fv = run_axisymmetric(s.with_(numerics=cryosim.Numerics(resolution=2.0)))
    assert set(fe.device) == set(DEVICE_COLUMNS)
    header = (tmp_path / "timeseries.csv").read_text().splitlines()[0].split(",")
    assert set(DEVICE_COLUMNS) <= set(header)
    assert fe.energy_imbalance_relative < 1e-6
    assert fe.device["probe_wall_J"][-1] < 0.0
    assert fe.diagnostics["probe_wall_heat_capacity_J_per_K"] == pytest.approx(
        fv.diagnostics["probe_wall_heat_capacity_J_per_K"], rel=0.02)
    assert fe.device["tip_mean_C"][-1] == pytest.approx(fv.device["tip_mean_C"][-1], abs=1.0)
    assert fe.device["cooling_power_W"][-1] == pytest.approx(fv.device["cooling_power_W"][-1], rel=0.02)
    assert fe.final(0.0, "radius_m") == pytest.approx(fv.final(0.0, "radius_m"), rel=0.03)
    assert np.min(fe.device["tip_min_C"]) >= fe.diagnostics["device_floor_C"] - 0.5


@pytest.mark.parametrize("design", [pytest.param(d, marks=() if d == QUICK_DESIGN else pytest.mark.slow)
                                    for d in list_designs()])
@pytest.mark.integration
def test_every_catalogue_design_runs_on_the_fem_solver(design):
    """Every catalogue design runs on the FE solver (gas on): the floor holds, the wall cools, the balance closes."""
    from cryosim.physics.catalogue import probe_from_design

    s = cryosim.default_scenario().with_(probe=probe_from_design(design), thermocouples=(),
                                         protocol=cryosim.Protocol((cryosim.Freeze(20.0, gas="on"),)),
                                         numerics=cryosim.Numerics(resolution=0.5))
    r = run_fem(s, write_fields=False)  # 20 s: one 27 G needle of the iovera handpiece starts to freeze at ~18 s
    d = r.device
    assert r.energy_imbalance_relative < 1e-6
    assert d["probe_wall_J"][-1] < 0.0 and d["cooling_power_W"][-1] > 0.0
    assert np.min(d["tip_min_C"]) >= r.diagnostics["device_floor_C"] - 0.5
    assert r.final(0.0, "volume_m3") > 0.0
