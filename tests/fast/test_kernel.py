"""The fast kernel: Jacobian, linear solves, Newton, node constraints and every tip condition on the CVFEM mesh."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import cryosim
from cryosim.fast import kernel as fv
from cryosim.fast import solver as fast
from cryosim.fast.newton import PETSC_ORDERING_AUTO, LinearSolverSettings, NewtonSolver, _petsc, _petsc_ordering
from cryosim.fast.stepper import BoundaryState, FVSystem, StepTolerances
from cryosim.meshing.cvfem import unstructured_axisymmetric_grid
from cryosim.meshing.grids import ACTIVE, FAR, SHAFT, axisymmetric_grid, radial_grid
from cryosim.numerics.stepsize import integrate
from cryosim.physics.boundary import BCKind, SurfaceCondition, probe_boundaries
from cryosim.physics.catalogue import load_probe_design
from cryosim.physics.device import jt_device
from cryosim.physics.probe import Probe
from cryosim.physics.protocol import Freeze, Protocol, Thaw

RP, LA, RD = 0.635e-3, 5e-3, 10e-3
PROPS = cryosim.default_scenario().medium.property_row()[None, :]
BACKENDS = ["superlu"] + (["petsc"] if _petsc() is not None else [])


@pytest.fixture(scope="module")
def cv_grid():
    return unstructured_axisymmetric_grid(RP, LA, RD, h_tip_m=0.5e-3, h_far_m=3e-3, front_m=3e-3, h_front_m=1e-3)


@pytest.fixture(scope="module")
def structured_grid():
    return axisymmetric_grid(RP, LA, RD, h0_m=0.2e-3, growth=1.4, h_max_m=3e-3)


#: A device flux table (the catalogue's 18 G N2O design over its own area): (°C, W/m^2 into the medium).
TABLE_T_C, TABLE_Q_W_PER_M2 = jt_device(load_probe_design("cryoneurolysis-N2O-1.3mm")).flux_table()
WALL_J_PER_M2_K = load_probe_design("cryoneurolysis-N2O-1.3mm").wall_heat_capacity_J_per_m2_K


def _bc(tip_kind, tip_T=-60.0, h=2000.0, q=-3e4):
    bc = BoundaryState()
    bc.kind[ACTIVE], bc.temperature_C[ACTIVE], bc.h_W_per_m2_K[ACTIVE], bc.flux_W_per_m2[ACTIVE] = (
        int(tip_kind), tip_T, h, q)
    if tip_kind == BCKind.TABULATED_FLUX:
        n = len(TABLE_T_C)
        bc.table_T_C, bc.table_flux_W_per_m2 = np.zeros((bc.kind.size, n)), np.zeros((bc.kind.size, n))
        bc.table_T_C[ACTIVE], bc.table_flux_W_per_m2[ACTIVE], bc.table_n[ACTIVE] = TABLE_T_C, TABLE_Q_W_PER_M2, n
        bc.temperature_C[ACTIVE] = TABLE_T_C[0]
    bc.kind[SHAFT], bc.temperature_C[SHAFT], bc.h_W_per_m2_K[SHAFT] = int(BCKind.CONVECTIVE), -60.0, 50.0
    bc.kind[FAR], bc.temperature_C[FAR] = int(BCKind.TEMPERATURE), 37.0
    return bc


def _state(grid, seed=0, floor_C=None):
    """Temperatures across the freezing interval (kinks avoided) and their enthalpies."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(-40.0, 30.0, grid.n_cells)
    if floor_C is not None:  # every other tip cell just above the floor (ramp of a limited power, first table segment)
        tip = np.unique(grid.bface_cell[grid.bface_group == ACTIVE])[::2]
        T[tip] = floor_C + rng.uniform(0.2, 0.8, tip.size)
    return fv.enthalpy_of(T, grid.material, PROPS), T


def _residual(solver, H, Hstar, gdt, bc, want_jac=True, Tstar=None):
    Tstar = np.zeros(H.size) if Tstar is None else Tstar
    pat = solver.pattern
    R, data, T = np.empty(H.size), np.zeros(pat.nnz), np.zeros(H.size)
    fv.evaluate(H, T, Hstar, Tstar, gdt, *solver._grid_args, *solver._bc_args(bc), solver.scale, pat.diag_slot,
                pat.face_slot, R, data, want_jac, True)
    return R, sp.csr_matrix((data, pat.indices, pat.indptr), shape=(H.size, H.size))


@pytest.mark.parametrize("grid_name", ["cv_grid", "structured_grid"])
@pytest.mark.parametrize("tip", [BCKind.TEMPERATURE, BCKind.CONVECTIVE, BCKind.LIMITED_FLUX, BCKind.FLUX,
                                 BCKind.ADIABATIC, BCKind.TABULATED_FLUX])
def test_jacobian_matches_finite_differences(request, grid_name, tip):
    """Every tip kind, with the 18 G design's probe-wall heat capacity lumped on the tip cells."""
    grid = request.getfixturevalue(grid_name)
    floor = {BCKind.LIMITED_FLUX: -45.0, BCKind.TABULATED_FLUX: TABLE_T_C[0]}.get(tip)
    bc = _bc(tip, tip_T=floor if tip == BCKind.LIMITED_FLUX else -60.0)
    H, T = _state(grid, floor_C=floor)
    rng = np.random.default_rng(1)
    Hstar = H + rng.normal(0.0, 1e6, H.size)
    Tstar = T + rng.normal(0.0, 5.0, H.size)
    tip_entries = grid.bface_group == ACTIVE
    wall = np.bincount(grid.bface_cell[tip_entries], weights=WALL_J_PER_M2_K * grid.bface_area_m2[tip_entries],
                       minlength=grid.n_cells)
    solver = NewtonSolver(grid, PROPS, 37.0, 1e-8, 25, wall_capacity_J_per_K=wall)
    gdt = 3.0
    _, J = _residual(solver, H, Hstar, gdt, bc, Tstar=Tstar)
    # central differences, step 100 J/m^3 (~2.5e-5 K): truncation and roundoff both ~1e-9 relative
    eps = 100.0
    Jfd = np.zeros((H.size, H.size))
    for j in range(H.size):
        Hp, Hm = H.copy(), H.copy()
        Hp[j] += eps
        Hm[j] -= eps
        Jfd[:, j] = (_residual(solver, Hp, Hstar, gdt, bc, False, Tstar)[0]
                     - _residual(solver, Hm, Hstar, gdt, bc, False, Tstar)[0]) / (2 * eps)
    Jd = J.toarray()
    assert np.max(np.abs(Jd - Jfd)) < 1e-6 * np.max(np.abs(Jd))
    # and the pattern holds every nonzero of the finite-difference Jacobian
    assert np.all((Jfd != 0.0) <= (Jd != 0.0) | (np.abs(Jfd) < 1e-9 * np.max(np.abs(Jd))))


def test_tabulated_flux_matches_the_surface_condition():
    """The kernel's table lookup is the condition's law: 0 at and below the floor, the slope of the right segment."""
    c = SurfaceCondition(BCKind.TABULATED_FLUX, TABLE_T_C[0], table_T_C=TABLE_T_C, table_flux_W_per_m2=TABLE_Q_W_PER_M2)
    tT, tq = np.asarray(TABLE_T_C), np.asarray(TABLE_Q_W_PER_M2)
    Ts = np.concatenate([np.linspace(tT[0] - 20.0, tT[-1] + 20.0, 997), tT])
    got = np.array([fv.tabulated_flux(T, tT, tq, tT.size) for T in Ts])
    assert np.allclose(got[:, 0], c.flux_into_medium_W_per_m2(Ts), rtol=1e-12, atol=1e-9)
    assert np.allclose(got[:, 1], c.flux_slope_W_per_m2_K(Ts), rtol=1e-12, atol=1e-9)
    assert np.all(got[Ts <= tT[0], 0] == 0.0) and np.all(got[:, 0] <= 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_solve_matches_spsolve(cv_grid, backend):
    bc = _bc(BCKind.TEMPERATURE)
    H, _ = _state(cv_grid)
    solver = NewtonSolver(cv_grid, PROPS, 37.0, 1e-8, 25, LinearSolverSettings(backend=backend))
    R, J = _residual(solver, H, H, 3.0, bc)
    solver._factorise(J.data.copy())
    x = solver._direction(R)
    ref = spsolve(J.tocsc(), -R)
    assert np.max(np.abs(x - ref)) < 1e-10 * np.max(np.abs(ref))


@pytest.mark.parametrize("refactor", ["exact", "stage", "lagged"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_stage_converges_and_holds_the_constraint(cv_grid, backend, refactor):
    bc = _bc(BCKind.TEMPERATURE, tip_T=-70.0)
    T0 = np.full(cv_grid.n_cells, 37.0)
    H0 = fv.enthalpy_of(T0, cv_grid.material, PROPS)
    solver = NewtonSolver(cv_grid, PROPS, 37.0, 1e-8, 25, LinearSolverSettings(refactor=refactor, backend=backend))
    # a 107 K jump of the tip over a 0.2 s stage (the step controller starts that small after a jump)
    ok, its, H, T = solver.solve(H0, T0, H0, T0, 0.2, bc)
    assert ok and its <= 12
    tip = cv_grid.bface_cell[cv_grid.bface_group == ACTIVE]
    far = cv_grid.bface_cell[cv_grid.bface_group == FAR]
    assert np.allclose(T[tip], -70.0, atol=1e-8) and np.allclose(T[far], 37.0, atol=1e-8)
    R, _ = _residual(solver, H, H0, 0.2, bc, False)
    assert np.max(np.abs(R) / (cv_grid.volume_m3 * solver.scale)) <= 1e-8
    # the reaction is the heat the balance of the constrained nodes needs: total energy closes
    Q = solver.reactions(H, T, H0, T0, 0.2, bc, 4)
    Qb, Qp, Qm = fv.heat_rates(T, cv_grid.material, PROPS, cv_grid.volume_m3, cv_grid.bface_cell,
                               cv_grid.bface_area_m2, cv_grid.bface_dist_m, cv_grid.bface_group, bc.kind,
                               bc.temperature_C, bc.h_W_per_m2_K, bc.flux_W_per_m2, bc.table_T_C,
                               bc.table_flux_W_per_m2, bc.table_n, 37.0, 4)
    dE = float(cv_grid.volume_m3 @ (H - H0))
    assert Q[ACTIVE] < 0.0
    assert dE == pytest.approx(0.2 * (Q.sum() + Qb.sum() + Qp + Qm), rel=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_broyden_update_solves_the_same_stages_in_no_more_iterations(cv_grid, backend):
    """Two stages on lagged factors (the second starts with the first one's): with Broyden's update
    (memory 10) and without it (plain modified Newton) the stages converge to the same enthalpies;
    the update takes no more iterations nor factorisations (here 12 against 16 iterations, 3 LU each)."""
    bc = _bc(BCKind.TEMPERATURE, tip_T=-70.0)
    T0 = np.full(cv_grid.n_cells, 37.0)
    H0 = fv.enthalpy_of(T0, cv_grid.material, PROPS)
    out = {}
    for memory in (0, 10):
        solver = NewtonSolver(cv_grid, PROPS, 37.0, 1e-8, 25,
                              LinearSolverSettings(backend=backend, broyden_memory=memory))
        ok1, its1, H1, T1 = solver.solve(H0, T0, H0, T0, 0.2, bc)
        ok2, its2, H2, T2 = solver.solve(H1, T1, H1, T1, 0.4, bc)
        assert ok1 and ok2
        out[memory] = (its1 + its2, solver.counters["factorisations"], H2)
    scale = float(np.max(np.abs(out[0][2])))
    assert np.max(np.abs(out[10][2] - out[0][2])) < 1e-8 * scale
    assert out[10][0] <= out[0][0] and out[10][1] <= out[0][1], out


def test_long_fixed_steps_switch_the_first_guess_to_the_extrapolation():
    """20 s fixed steps while the tip ramps 37 -> -70 °C (test_time_convergence_order's hardest run): the
    unextrapolated guess fails once, the extrapolation solves that stage and is tried first from then on
    (758 factorisations without the switch, 158 extrapolating from the start)."""
    tissue = cryosim.get_material("soft_tissue").with_(perfusion_per_s=0.0, metabolic_heat_W_per_m3=0.0)
    p = fast.RadialProblem(geometry="planar", medium=tissue,
                           protocol=Protocol((Freeze(600.0, ((0.0, 37.0), (60.0, -70.0))),)),
                           inner_radius_m=0.0, outer_radius_m=0.05, first_cell_m=0.1e-3, growth=1.0,
                           numerics=cryosim.Numerics(fixed_step_s=20.0))
    d = fast.run_radial(p).diagnostics
    assert 1 <= d["guess_retries"] <= 3 and d["factorisations"] < 300, d


def test_petsc_ordering_auto_prefers_metis():
    class FakePETSc:
        class Sys:
            has: set = set()

            @classmethod
            def hasExternalPackage(cls, name):
                return name in cls.has

    assert _petsc_ordering("qmd", FakePETSc) == "qmd"
    assert _petsc_ordering("auto", FakePETSc) == "qmd"
    FakePETSc.Sys.has = {"metis"}
    assert _petsc_ordering("auto", FakePETSc) == PETSC_ORDERING_AUTO[0][0] == "metisnd"


def test_line_search_never_accepts_an_increase(cv_grid, monkeypatch):
    """An ascent direction: no step size decreases the residual, so the stage fails, state untouched."""
    bc = _bc(BCKind.TEMPERATURE, tip_T=-70.0)
    T0 = np.full(cv_grid.n_cells, 37.0)
    H0 = fv.enthalpy_of(T0, cv_grid.material, PROPS)
    for refactor, tries in (("exact", 1), ("lagged", 2)):  # a failed modified Newton is retried exactly once
        solver = NewtonSolver(cv_grid, PROPS, 37.0, 1e-8, 25, LinearSolverSettings(refactor=refactor))
        good = solver._direction
        monkeypatch.setattr(solver, "_direction", lambda R, good=good: -good(R))
        ok, its, H, T = solver.solve(H0, T0, H0, T0, 2.0, bc)
        assert not ok and its == tries, refactor
        assert solver.counters["exact_retries"] == tries - 1
        assert np.array_equal(H, H0)


def test_radial_grid_face_weights():
    g = radial_grid("cylindrical", 1e-3, 5e-3, 0.2e-3, growth=1.2)
    i, j = g.face_cells[:, 0], g.face_cells[:, 1]
    d = g.centers_m[j, 0] - g.centers_m[i, 0]
    # equal k: conductance = weight = 2 pi r_f / d
    r_f = g.centers_m[i, 0] + g.face_split * d
    assert np.allclose(g.face_weight_m, 2 * math.pi * r_f / d, rtol=1e-12)


# --- every tip condition on the CVFEM mesh ------------------------------------
N2O = Probe.from_gauge(18, active_length_m=5e-3, coolant="N2O")


def _run(protocol, probe=N2O, numerics=None):
    """Run on the default grid, tracking the coldest temperature anywhere at every accepted step."""
    s = cryosim.default_scenario().with_(probe=probe, protocol=protocol, thermocouples=())
    if numerics is not None:
        s = s.with_(numerics=numerics)
    grid = fast.axisymmetric_grid_for(s)
    bcs = probe_boundaries(s.probe, s.protocol, grid.group_area_m2(ACTIVE), s.initial_temperature_C)
    system = FVSystem(grid, s.medium.property_row()[None, :], s.initial_temperature_C, s.arterial_temperature_C,
                      bcs, StepTolerances())
    coldest = [float(system.T.min())]
    integrate(system, s.protocol.duration_s, fast.step_settings(s.numerics), breaks_s=bcs.breakpoints_s(),
              on_accept=lambda t, out: coldest.append(float(system.T.min())))
    heat_in = sum(system.energy.values())
    imbalance = abs(system.enthalpy_change_J - heat_in) / abs(system.energy["probe_J"])
    return grid, system, min(coldest), imbalance


def _ice_radius_m(grid, system):
    from cryosim.post.isotherms import extent_axisymmetric

    nodal = system.T[grid.point_source]
    return extent_axisymmetric(grid.points_m[:, 0], grid.points_m[:, 1], grid.triangles, nodal, 0.0)


@pytest.mark.parametrize("protocol, floor_C", [
    (Protocol((Freeze(60.0, power_W=2.0),)), N2O.min_tip_temperature_C),
    (Protocol((Freeze(60.0, -80.0, heat_transfer_W_per_m2_K=3000.0),)), -80.0),
    (Protocol((Freeze(60.0, -70.0), Thaw(30.0), Freeze(60.0, power_W=2.0))), N2O.min_tip_temperature_C),
], ids=["power", "convective", "freeze-thaw-freeze"])
@pytest.mark.integration
def test_tip_conditions_on_cvfem(protocol, floor_C):
    grid, system, coldest, imbalance = _run(protocol)
    assert grid.kind == "cvfem"
    assert imbalance < 1e-8
    assert coldest >= min(floor_C, -70.0 if len(protocol.steps) > 1 else floor_C) - 0.5
    assert system.energy["probe_J"] < 0.0


def test_power_is_delivered_while_above_the_floor():
    grid, system, coldest, _ = _run(Protocol((Freeze(60.0, power_W=2.0),)))
    assert coldest > N2O.min_tip_temperature_C + 1.0  # 2 W never reaches the floor in 60 s
    assert system.energy["probe_J"] == pytest.approx(-2.0 * 60.0, rel=1e-9)


@pytest.mark.integration
def test_stiff_convection_matches_prescribed_temperature():
    g1, s1, _, _ = _run(Protocol((Freeze(60.0, -70.0, heat_transfer_W_per_m2_K=1e6),)))
    g2, s2, _, _ = _run(Protocol.single_freeze(60.0, -70.0))
    r1, r2 = _ice_radius_m(g1, s1).radius_m, _ice_radius_m(g2, s2).radius_m
    assert r1 == pytest.approx(r2, rel=0.01)
