"""Verification of the fast solver against exact solutions (issue #2, item 7)."""

import math

import numpy as np
import pytest

from cryosim import Numerics
from cryosim.physics import exact
from cryosim.fast import RadialProblem, run_axisymmetric, run_radial
from cryosim.physics.materials import get_material
from cryosim.physics.protocol import Freeze, Protocol
from cryosim.scenario import default_scenario

# Water with constant frozen conductivity and a narrow (0.5 K) smooth freezing
# interval: the closest the enthalpy model gets to the sharp-front exact
# solutions; the front is read at the interval's midpoint.
WATER = get_material("water").with_(frozen_conductivity_exponent=0.0)
T_MID = 0.5 * (WATER.solidus_C + WATER.liquidus_C)
PROPS = dict(k_s=WATER.conductivity_frozen_W_per_m_K, k_l=WATER.conductivity_unfrozen_W_per_m_K,
             C_s=WATER.heat_capacity_frozen_J_per_m3_K, C_l=WATER.heat_capacity_unfrozen_J_per_m3_K,
             L_v=WATER.latent_heat_J_per_m3)


def _neumann(first_cell_m=20e-6, growth=1.03, max_cell_m=None, numerics=Numerics(enthalpy_rtol=1e-3)):
    p = RadialProblem(geometry="planar", medium=WATER, protocol=Protocol.single_freeze(1000.0, -20.0),
                      inner_radius_m=0.0, outer_radius_m=0.1, initial_temperature_C=10.0,
                      arterial_temperature_C=10.0, isotherms_C=(T_MID,), first_cell_m=first_cell_m,
                      growth=growth, max_cell_m=max_cell_m, numerics=numerics)
    return run_radial(p)


@pytest.mark.integration
def test_neumann_planar_front_within_1_percent():
    r = _neumann()
    t = r.time_s[r.time_s > 100.0]
    s_num = np.interp(t, r.time_s, r.extents[T_MID]["radius_m"])
    s_ex = exact.neumann_front_m(t, T_s=-20.0, T_f=T_MID, T_0=10.0, **PROPS)
    assert np.max(np.abs(s_num / s_ex - 1.0)) < 0.01
    assert r.energy_imbalance_relative < 1e-6


@pytest.mark.integration
def test_paterson_line_sink_cylindrical():
    Q = 100.0  # W per metre of line sink
    p = RadialProblem(geometry="cylindrical", medium=WATER, protocol=Protocol((Freeze(600.0, power_W=Q),)),
                      inner_radius_m=1e-5, outer_radius_m=0.1, initial_temperature_C=10.0,
                      arterial_temperature_C=10.0, isotherms_C=(T_MID,), first_cell_m=2e-6, growth=1.04,
                      numerics=Numerics(enthalpy_rtol=1e-3))
    r = run_radial(p)
    t = r.time_s[r.time_s > 60.0]
    R_num = np.interp(t, r.time_s, r.extents[T_MID]["radius_m"])
    R_ex = exact.paterson_front_m(t, Q, T_f=T_MID, T_0=10.0, **PROPS)
    assert np.max(np.abs(R_num / R_ex - 1.0)) < 0.01
    # the heat drawn is exactly what the sink extracts
    assert r.heat_drawn_J == pytest.approx(Q * 600.0, rel=1e-9)


@pytest.mark.integration
def test_steady_perfused_sphere():
    tissue = get_material("soft_tissue").with_(solidus_C=-0.5, liquidus_C=0.0, freezing_curve="smooth",
                                               metabolic_heat_W_per_m3=0.0)
    beta = tissue.property_row()[9]
    r_p = 1e-3
    # the perfusion time constant C_u / beta is ~1900 s: freeze for 10 of them
    p = RadialProblem(geometry="spherical", medium=tissue, protocol=Protocol.single_freeze(20000.0, -70.0),
                      inner_radius_m=r_p, outer_radius_m=0.1, isotherms_C=(-0.25,), first_cell_m=10e-6,
                      growth=1.03, numerics=Numerics(enthalpy_rtol=1e-3, max_step_s=600.0))
    r = run_radial(p)
    R_ex = exact.steady_sphere_radius_m(r_p, -70.0, -0.25, 37.0, tissue.conductivity_frozen_W_per_m_K,
                                        tissue.conductivity_unfrozen_W_per_m_K, beta)
    R_num = r.final(-0.25, "radius_m")
    assert R_num == pytest.approx(R_ex, rel=0.01)
    # steady: the front no longer moves over the last hour
    assert abs(r.at(16400.0, -0.25) / R_num - 1.0) < 1e-3


def _observed_order(values, ratio=2.0):
    f1, f2, f3 = values
    return math.log(abs(f1 - f2) / abs(f2 - f3)) / math.log(ratio)


@pytest.mark.integration
def test_grid_convergence_order():
    """Front position at 600 s on uniform grids h, h/2, h/4 (Richardson)."""
    fronts = []
    for h in (0.4e-3, 0.2e-3, 0.1e-3):
        tissue = get_material("soft_tissue").with_(perfusion_per_s=0.0, metabolic_heat_W_per_m3=0.0)
        p = RadialProblem(geometry="planar", medium=tissue, protocol=Protocol.single_freeze(600.0, -70.0),
                          inner_radius_m=0.0, outer_radius_m=0.05, isotherms_C=(0.0,), first_cell_m=h,
                          growth=1.0, numerics=Numerics(enthalpy_rtol=1e-5))
        fronts.append(run_radial(p).final(0.0, "radius_m"))
    order = _observed_order(fronts)
    assert order > 1.7, (fronts, order)


def test_time_convergence_order():
    """Front position at 600 s with fixed steps dt, dt/2, dt/4 (SDIRK2: second order)."""
    fronts = []
    tissue = get_material("soft_tissue").with_(perfusion_per_s=0.0, metabolic_heat_W_per_m3=0.0)
    for dt in (20.0, 10.0, 5.0):
        p = RadialProblem(geometry="planar", medium=tissue,
                          protocol=Protocol((Freeze(600.0, ((0.0, 37.0), (60.0, -70.0))),)),
                          inner_radius_m=0.0, outer_radius_m=0.05, isotherms_C=(0.0,), first_cell_m=0.1e-3,
                          growth=1.0, numerics=Numerics(fixed_step_s=dt))
        fronts.append(run_radial(p).final(0.0, "radius_m"))
    order = _observed_order(fronts)
    assert order > 1.7, (fronts, order)


def test_energy_balance_closes():
    s = default_scenario().with_(numerics=Numerics(resolution=0.35))
    r = run_axisymmetric(s)
    assert r.energy_imbalance_relative < 1e-4
    assert r.heat_drawn_J > 0


def _long_tip_front_error(resolution: float) -> float:
    """Relative error of the 2D (r, z) fast solver's mid-length 0 °C radius of a 40 mm active tip after 60 s
    against the 1D cylindrical solver (an independent discretisation of the same equations)."""
    from matplotlib.tri import LinearTriInterpolator, Triangulation

    base = default_scenario()
    probe = base.probe.__class__.from_gauge(18, active_length_m=40e-3)
    s = base.with_(probe=probe, protocol=Protocol.single_freeze(60.0, -70.0), thermocouples=(),
                   numerics=Numerics(resolution=resolution))
    f = run_axisymmetric(s).final_field
    tri = Triangulation(f["points_m"][:, 0], f["points_m"][:, 1], f["cells"])
    rr = np.linspace(probe.radius_m, 10e-3, 4001)
    TT = np.asarray(LinearTriInterpolator(tri, f["temperature_C"])(rr, np.full_like(rr, 20e-3)))
    j = np.nonzero(TT > 0.0)[0][0]
    R2 = rr[j - 1] + (0.0 - TT[j - 1]) / (TT[j] - TT[j - 1]) * (rr[j] - rr[j - 1])
    p1 = RadialProblem(geometry="cylindrical", medium=s.medium, protocol=s.protocol,
                       inner_radius_m=probe.radius_m, outer_radius_m=0.03, first_cell_m=10e-6, growth=1.03,
                       numerics=Numerics(enthalpy_rtol=1e-3))
    return R2 / run_radial(p1).final(0.0, "radius_m") - 1.0


@pytest.mark.integration
def test_fast_2d_error_against_the_1d_solver_is_pinned():
    """The 2D fast solver's error against the independent 1D cylindrical solution, at resolutions 0.5 and 1:
    measured -3.09 % and -1.74 % on 2026-12-04 (and -0.96 % at 1.5, the slow test below), converging. The
    bands (±0.4 percentage points) are the run-to-run reproducibility plus margin; a 2 % change of any 2D
    physics term (conductivity, heat capacity, latent heat) moves the radius by about 1 % and fails them
    (issue 17: a 1.02 factor on the 2D physics used to pass every fast-solver test)."""
    e05, e10 = _long_tip_front_error(0.5), _long_tip_front_error(1.0)
    assert e05 == pytest.approx(-0.0309, abs=0.004) and e10 == pytest.approx(-0.0174, abs=0.004)
    assert abs(e10) < abs(e05)


@pytest.mark.slow
def test_axisymmetric_long_tip_matches_cylindrical():
    """Mid-length radius of a 40 mm active tip equals the infinite-cylinder front within 1 % (resolution 1.5)."""
    assert abs(_long_tip_front_error(1.5)) < 0.01
