"""Materials, phase change, probe, protocol and scenario validation."""

import math

import numpy as np
import pytest

import cryosim
from cryosim.physics import phase_change as pc
from cryosim.checks import ScenarioError
from cryosim.physics.materials import get_material, material_names, saline_freezing_point_C
from cryosim.physics.probe import ISO_9626_OUTER_DIAMETER_MM, Probe
from cryosim.physics.boundary import BCKind, ProtocolTip
from cryosim.physics.protocol import Freeze, Protocol, Thaw
from cryosim.scenario import load_scenario, scenario_from_dict

T_GRID = np.linspace(-60.0, 40.0, 997)


@pytest.mark.integration
@pytest.mark.parametrize("name", material_names())
def test_enthalpy_inverse_and_capacity(name):
    row = get_material(name).property_row()
    H = pc.enthalpy_array(T_GRID, row)
    assert np.all(np.diff(H) > 0), "H(T) must increase"
    assert np.allclose(pc.temperature_from_enthalpy_array(H, row), T_GRID, atol=1e-9)
    # dH/dT is the analytic derivative (central differences away from kinks)
    T = T_GRID + 0.0123
    fd = (pc.enthalpy_array(T + 1e-5, row) - pc.enthalpy_array(T - 1e-5, row)) / 2e-5
    assert np.allclose(pc.heat_capacity_array(T, row), fd, rtol=1e-5)


@pytest.mark.parametrize("name", material_names())
def test_latent_heat_released_over_interval(name):
    m = get_material(name)
    row = m.property_row()
    lo, hi = m.solidus_C - 2.0, m.liquidus_C + 1.0
    dH = pc.enthalpy_array(np.array([hi]), row)[0] - pc.enthalpy_array(np.array([lo]), row)[0]
    # sensible part bounded by the two capacities
    sens_lo = m.heat_capacity_frozen_J_per_m3_K * (hi - lo)
    sens_hi = m.heat_capacity_unfrozen_J_per_m3_K * (hi - lo)
    assert sens_lo + m.latent_heat_J_per_m3 <= dH * (1 + 1e-12)
    assert dH <= sens_hi + m.latent_heat_J_per_m3


def test_unfrozen_fraction_limits_and_blending():
    m = get_material("soft_tissue")
    row = m.property_row()
    f = pc.unfrozen_fraction_array(np.array([-30.0, -8.0, -4.5, -1.0, 10.0]), row)
    assert np.allclose(f, [0, 0, 0.5, 1, 1])
    k = pc.conductivity_array(np.array([-30.0, 10.0]), row)
    assert np.allclose(k, [m.conductivity_frozen_W_per_m_K, m.conductivity_unfrozen_W_per_m_K])


def test_saline_lever_rule():
    m = get_material("saline")
    Tf = saline_freezing_point_C()
    assert -0.56 < Tf < -0.50  # 0.9 % saline, ~286 mOsm/kg x 1.86 K kg/mol
    f = pc.unfrozen_fraction_array(np.array([Tf, 2 * Tf, -21.0, -25.0]), m.property_row())
    assert np.allclose(f[:2], [1.0, 0.5])
    assert 0.0 < f[2] < 0.03 and f[3] == 0.0


def test_ufl_and_numba_share_the_formulas():
    """The numpy back-end built from the same factory agrees with numba."""
    fs = pc.make_formulas(lambda x: np.clip(x, 0, 1), np.where, np.log, np.clip)
    for name in material_names():
        m = get_material(name)
        c = pc.CURVES[m.freezing_curve]
        H = fs["enthalpy"](T_GRID, m.heat_capacity_frozen_J_per_m3_K, m.heat_capacity_unfrozen_J_per_m3_K,
                           m.latent_heat_J_per_m3, m.solidus_C, m.liquidus_C, c)
        assert np.allclose(H, pc.enthalpy_array(T_GRID, m.property_row()), rtol=1e-12)


def test_conductivity_and_slope_is_conductivity_and_its_slope():
    """The fused k, dk/dT of the fast residual (one power) equals the two separate formulas, bit for bit,
    and the slope is dk/dT (central differences away from the kinks)."""
    for name in material_names():
        m = get_material(name)
        p = m.property_row()
        args = (p[pc.P_KF], p[pc.P_KU], p[pc.P_KEXP], p[pc.P_TS], p[pc.P_TL], int(p[pc.P_CURVE]))
        for T in np.linspace(-120.0, 40.0, 161) + 0.123:
            k, dk = pc.NUMBA.conductivity_and_slope(T, *args)
            assert k == pc.NUMBA.conductivity(T, *args) and dk == pc.NUMBA.conductivity_slope(T, *args)
            h = 1e-6
            fd = (pc.NUMBA.conductivity(T + h, *args) - pc.NUMBA.conductivity(T - h, *args)) / (2 * h)
            assert dk == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_material_validation_names_field():
    with pytest.raises(ScenarioError, match=r"material\[soft_tissue\].conductivity_frozen_W_per_m_K"):
        get_material("soft_tissue").with_(conductivity_frozen_W_per_m_K=-1.0)
    with pytest.raises(ScenarioError, match="medium"):
        get_material("granite")


def test_probe_from_gauge_iso9626():
    p = Probe.from_gauge(18, active_length_m=5e-3)
    assert p.outer_diameter_m == pytest.approx(1.27e-3)
    assert len(ISO_9626_OUTER_DIAMETER_MM) == 18
    with pytest.raises(ScenarioError, match="probe.gauge"):
        Probe.from_gauge(9, active_length_m=5e-3)


def test_coolant_floor():
    probe = Probe.from_gauge(18, active_length_m=5e-3, coolant="CO2")
    with pytest.raises(ScenarioError, match=r"protocol\[0\].tip_temperature_C.*-79"):
        cryosim.Scenario(probe=probe, protocol=Protocol.single_freeze(60, -85.0), medium=get_material("muscle"))


def test_protocol_conditions_and_breakpoints():
    p = Protocol((Freeze(60, ((0, -20.0), (30, -70.0))), Thaw(30), Freeze(60, -70.0), Thaw(20, "active", 20.0)))
    assert p.duration_s == 170
    assert list(p.breakpoints_s()) == [0, 30, 60, 90, 150, 170]
    tip = ProtocolTip(p, active_area_m2=1e-5, floor_C=-88.0)
    assert tip.at(15.0).temperature_C == pytest.approx(-45.0)
    assert tip.at(60.0).kind == BCKind.TEMPERATURE  # end of the freeze belongs to it
    assert tip.at(70.0).kind == BCKind.ADIABATIC
    assert tip.at(160.0).temperature_C == 20.0
    assert p.end_of_freezing_s() == 150.0
    with pytest.raises(ScenarioError, match="thaw.mode"):
        Thaw(10, "hot")


def test_scenario_toml_roundtrip(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("""
name = "t"
medium = "muscle"
isotherms_C = [0, -20]
[probe]
gauge = 16
active_length_m = 0.004
coolant = "N2O"
[[protocol]]
type = "freeze"
duration_s = 90
tip_temperature_C = -80
[[protocol]]
type = "thaw"
duration_s = 30
[[thermocouples]]
name = "a"
r_m = 0.003
z_m = 0.001
[numerics]
resolution = 0.5
""")
    s = load_scenario(f)
    assert s.probe.outer_diameter_m == pytest.approx(1.65e-3)
    assert s.protocol.duration_s == 120 and s.isotherms_C == (0.0, -20.0)
    assert s.medium.name == "muscle" and s.numerics.resolution == 0.5


@pytest.mark.parametrize("bad, field", [
    ({"probe": {"gauge": 18, "active_length_m": 0.005, "colour": "red"}}, "probe.colour"),
    ({"probe": {"gauge": 18, "active_length_m": 5.0}}, "probe.active_length_m"),
    ({"protocol": [{"type": "freeze", "duration_s": -1, "tip_temperature_C": -70}]}, r"protocol\[0\].duration_s"),
    ({"protocol": [{"type": "cook", "duration_s": 1}]}, r"protocol\[0\].type"),
    ({"initial_temperature_C": 80}, "initial_temperature_C"),
    ({"medium": "cheese"}, "medium"),
    ({"numerics": {"resolution": 100}}, "numerics.resolution"),
    ({"frobnicate": 1}, "frobnicate"),
])
def test_bad_scenarios_name_the_key(bad, field):
    base = {"probe": {"gauge": 18, "active_length_m": 0.005},
            "protocol": [{"type": "freeze", "duration_s": 60, "tip_temperature_C": -70}]}
    base.update(bad)
    with pytest.raises(ScenarioError, match=field) as e:
        scenario_from_dict(base)
    assert "expected" in str(e.value)


def test_vessel_wall_coefficient():
    from cryosim.physics.scene import LAMINAR_NUSSELT, Vessel

    v = Vessel(diameter_m=2e-3, distance_m=4e-3)
    k_b = cryosim.get_material("blood").conductivity_unfrozen_W_per_m_K
    assert v.heat_transfer_W_per_m2_K == pytest.approx(LAMINAR_NUSSELT * k_b / 2e-3)
    fast = Vessel(diameter_m=6e-3, distance_m=4e-3, flow_rate_m3_per_s=6e-5)
    assert fast.reynolds > 2300 and fast.nusselt_number > LAMINAR_NUSSELT
    assert math.isfinite(fast.heat_transfer_W_per_m2_K)
