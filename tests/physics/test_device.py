"""Joule–Thomson device model: coolant thermodynamics, flux law, catalogue (fast: a few CoolProp calls each)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

CP = pytest.importorskip("CoolProp.CoolProp")

from cryosim.physics import coolant as cl  # noqa: E402
from cryosim.physics.boundary import BCKind, DeviceTip, Surface, probe_boundaries  # noqa: E402
from cryosim.physics.catalogue import list_designs, load_probe_design, probe_from_design  # noqa: E402
from cryosim.physics.device import ProbeDesign, jt_device, thermistor_reading_C  # noqa: E402
from cryosim.physics.protocol import Freeze, Protocol, Thaw  # noqa: E402

ATM = 101325.0


def _design(**kw) -> ProbeDesign:
    base = dict(name="test", gas="N2O", outer_diameter_m=1.3e-3, wall_thickness_m=0.15e-3, active_length_m=5e-3,
                supply_pressure_Pa=55e5, supply_temperature_C=20.0, exhaust_pressure_Pa=ATM,
                boiling_heat_transfer_W_per_m2_K=1e4, mass_flow_kg_per_s=1e-4)
    base.update(kw)
    return ProbeDesign(**base)


def test_floors_n2o_boiling_and_co2_sublimation_at_one_atmosphere():
    assert cl.saturation_temperature_C("N2O", ATM) == pytest.approx(-88.47, abs=0.1)  # NIST: Tb 184.67 K
    assert cl.saturation_temperature_C("CO2", ATM) == pytest.approx(-78.46, abs=0.05)  # NIST: Tsub 194.69 K
    # the sublimation equation meets the triple point
    assert cl.co2_sublimation_pressure_Pa(cl.CO2_TRIPLE_T_K) == pytest.approx(cl.CO2_TRIPLE_P_PA)


def test_capacity_matches_hand_calculation_from_coolprop_enthalpies():
    P_s, T_s, mdot, T_out = 55e5, 293.15, 1e-4, 250.0
    h_in = CP.PropsSI("H", "P", P_s, "T", T_s, "NitrousOxide")
    h_out = CP.PropsSI("H", "P", ATM, "T", T_out, "NitrousOxide")
    st = cl.expansion_state("N2O", P_s, 20.0, ATM)
    assert cl.cooling_capacity_W(st, mdot, T_out - 273.15) == pytest.approx(mdot * (h_out - h_in), rel=1e-9)
    # liquid supply expands into the dome: quality from the lever rule
    hl, hv = (CP.PropsSI("H", "P", ATM, "Q", q, "NitrousOxide") for q in (0, 1))
    assert st.quality == pytest.approx((h_in - hl) / (hv - hl), rel=1e-9)
    assert st.temperature_C == pytest.approx(st.floor_C)


def test_single_pass_device_capacity_is_mdot_times_enthalpy_rise():
    d = _design(mass_flow_kg_per_s=2e-4, boiling_heat_transfer_W_per_m2_K=1e6)  # evaporation not limiting at 37 °C
    dev = jt_device(d, 37.0)
    T_out = dev.coldest_C + dev.effectiveness * (37.0 - dev.coldest_C)
    h_in = CP.PropsSI("H", "P", 55e5, "T", 293.15, "NitrousOxide")
    h_out = CP.PropsSI("H", "P", ATM, "T", T_out + 273.15, "NitrousOxide")
    assert dev.heat_drawn_W(37.0) == pytest.approx(2e-4 * (h_out - h_in), rel=1e-3)


@pytest.mark.parametrize("name", ["cryoneurolysis-N2O-1.3mm", "cryoneurolysis-CO2-2.0mm", "argon-1.7mm"])
def test_flux_law_never_crosses_the_floor(name):
    dev = jt_device(load_probe_design(name))
    T = np.asarray(dev.table_T_C)
    Q = np.asarray(dev.table_heat_W)
    assert T[0] == dev.coldest_C >= dev.floor_C - 1e-9
    assert Q[0] == 0.0 and np.all(np.diff(Q) >= 0.0) and np.all(np.diff(T) > 0.0)
    below = np.linspace(dev.coldest_C - 50.0, dev.coldest_C, 11)
    assert np.all(dev.heat_drawn_W(below) == 0.0)
    tip = DeviceTip(Protocol((Freeze(60.0, gas="on"),)), dev, 2e-5)
    c = tip.at(1.0)
    assert c.kind == BCKind.TABULATED_FLUX and c.temperature_C == dev.coldest_C
    assert np.all(c.flux_into_medium_W_per_m2(below) == 0.0)
    assert c.flux_into_medium_W_per_m2(0.0) < 0.0


def test_argon_without_recuperator_stops_at_its_expansion_temperature():
    d = _design(gas="Argon", supply_pressure_Pa=200e5, recuperator_effectiveness=0.0)
    dev = jt_device(d)
    st = cl.expansion_state("Argon", 200e5, 20.0, ATM)
    assert st.quality is None and st.temperature_C > st.floor_C + 100.0
    assert not dev.liquid_at_tip and dev.coldest_C == pytest.approx(st.temperature_C)


def test_more_mass_flow_never_gives_less_capacity():
    T = np.linspace(-100.0, 37.0, 60)
    for gas, er in (("N2O", 0.0), ("N2O", 0.5), ("CO2", 0.5)):
        prev = np.zeros_like(T)
        for m in (2e-5, 5e-5, 1e-4, 3e-4):
            q = jt_device(_design(gas=gas, mass_flow_kg_per_s=m, recuperator_effectiveness=er,
                                  supply_pressure_Pa=48e5)).heat_drawn_W(T)
            assert np.all(q >= prev - 1e-9), (gas, er, m)
            prev = q


def test_thermistor_reads_surface_with_zero_resistance_and_colder_while_cooling():
    assert thermistor_reading_C(-60.0, -1e5, 0.0) == -60.0
    assert thermistor_reading_C(-60.0, -1e5, 1e-5) == pytest.approx(-61.0)
    dev = jt_device(_design(thermistor_resistance_m2_K_per_W=0.0))
    tip = DeviceTip(Protocol((Freeze(10.0, gas="on"),)), dev, 2e-5)
    assert tip.thermistor_C(-42.0, -3e4) == -42.0


def test_choked_flow_scales_with_area_and_supply_pressure():
    m1 = cl.choked_mass_flow_kg_per_s("Argon", 5e5, 20.0, ATM, 0.1e-3)
    m2 = cl.choked_mass_flow_kg_per_s("Argon", 5e5, 20.0, ATM, 0.2e-3)
    assert m2 / m1 == pytest.approx(4.0, rel=1e-9)  # proportional to the orifice area
    # a nearly ideal gas: the flux is proportional to P0 at fixed T0 and equals the ideal-gas critical flux
    g1 = cl.choked_mass_flux_kg_per_m2_s("Argon", 5e5, 20.0, ATM)
    g2 = cl.choked_mass_flux_kg_per_m2_s("Argon", 10e5, 20.0, ATM)
    assert g2 / g1 == pytest.approx(2.0, rel=5e-3)
    assert g1 == pytest.approx(cl.ideal_gas_choked_mass_flux_kg_per_m2_s("Argon", 5e5, 20.0), rel=5e-3)
    # not choked when the pressure ratio is small: less than the choked flux
    assert cl.choked_mass_flux_kg_per_m2_s("Argon", 1.5e5, 20.0, ATM) < 1.5 / 5.0 * g1


def test_every_catalogue_probe_loads_with_a_source_for_every_number():
    names = list_designs()
    assert len(names) >= 6
    for name in names:
        d = load_probe_design(name)
        given = {f.name for f in dataclasses.fields(ProbeDesign)
                 if f.name not in ("name", "description", "sources", "ranges") and getattr(d, f.name) is not None}
        assert given <= set(d.sources), (name, given - set(d.sources))
        assert all(s.strip() for s in d.sources.values())
        p = probe_from_design(name)
        assert p.design == name and p.outer_diameter_m == d.outer_diameter_m
        assert math.isfinite(p.min_tip_temperature_C)


def test_probe_boundaries_gives_device_tip_only_to_solvers_that_ask():
    probe = probe_from_design("cryoneurolysis-N2O-1.3mm")
    prot = Protocol((Freeze(60.0, gas="on"), Thaw(30.0), Freeze(60.0, tip_temperature_C=-60.0)))
    with pytest.raises(NotImplementedError):
        probe_boundaries(probe, prot, 2e-5, 37.0)
    b = probe_boundaries(probe, prot, 2e-5, 37.0, device_tip=True)
    tip = b[Surface.ACTIVE]
    assert tip.at(10.0).kind == BCKind.TABULATED_FLUX
    assert tip.at(70.0).kind == BCKind.ADIABATIC and tip.at(70.0).wall_heat_capacity_J_per_m2_K > 0.0
    assert tip.at(100.0).kind == BCKind.TEMPERATURE
    dev = tip.device
    assert tip.gas_used_kg(150.0) == pytest.approx(60.0 * dev.mass_flow_kg_per_s)
    assert tip.heat_drawn_W(10.0, -50.0) == pytest.approx(float(dev.heat_drawn_W(-50.0)), rel=1e-9)


def test_gas_freeze_step_is_exclusive():
    with pytest.raises(Exception):
        Freeze(60.0, tip_temperature_C=-60.0, gas="on")
    assert Freeze(60.0, gas="on").temperatures_C() == []


# --- stated ranges of uncertain design values (catalogue `range = [low, high]`) --------------------
def test_catalogue_ranges_are_parsed_hold_their_value_and_are_read_only():
    from cryosim.physics.catalogue import design_ranges

    for name in list_designs():
        d = load_probe_design(name)
        rng = design_ranges(name)
        assert rng == dict(d.ranges) and rng  # every catalogue design states some
        for key, (lo, hi) in rng.items():
            assert lo < hi and lo <= getattr(d, key) <= hi, (name, key)
        with pytest.raises(TypeError):
            d.ranges["orifice_diameter_m"] = (0.0, 1.0)  # type: ignore[index]
    lo, hi = design_ranges("argon-2.4mm")["orifice_diameter_m"]
    assert lo < load_probe_design("argon-2.4mm").orifice_diameter_m < hi


def test_a_range_that_excludes_its_value_or_is_malformed_is_refused():
    import tomllib

    from cryosim.checks import ScenarioError
    from cryosim.physics.catalogue import design_from_dict

    text = (__import__("importlib").resources.files("cryosim") / "data" / "probes" / "argon-2.4mm.toml").read_text()
    d = tomllib.loads(text)
    bad = dict(d, orifice_diameter_m={"value": 0.25e-3, "range": [0.3e-3, 0.4e-3], "source": "x"})
    with pytest.raises(ScenarioError, match=r"orifice_diameter_m.*0\.00025.*\[0\.0003, 0\.0004\]"):
        design_from_dict(bad, "design 'argon-2.4mm'")
    for rng in ([0.3e-3], [0.3e-3, 0.2e-3], ["a", "b"]):
        with pytest.raises(ScenarioError, match=r"orifice_diameter_m\.range"):
            design_from_dict(dict(d, orifice_diameter_m={"value": 0.25e-3, "range": rng, "source": "x"}))
    with pytest.raises(ScenarioError, match=r"discharge_coefficient\.range"):  # an end the field itself refuses
        design_from_dict(dict(d, discharge_coefficient={"value": 0.8, "range": [0.5, 1.2], "source": "x"}))
    with pytest.raises(ScenarioError, match=r"gas\.range"):  # no range on a name
        design_from_dict(dict(d, gas={"value": "Argon", "range": [0, 1], "source": "x"}))
    with pytest.raises(ScenarioError, match="recuperator_effectiveness"):
        _design(recuperator_effectiveness=0.5, ranges={"recuperator_effectiveness": (0.6, 0.9)})


def test_gas_side_multiplier_scales_the_coefficient_and_never_lowers_the_heat_drawn():
    d = load_probe_design("argon-2.4mm")
    devs = [jt_device(dataclasses.replace(d, gas_heat_transfer_multiplier=m)) for m in (0.5, 1.0, 2.0)]
    assert devs[2].vapour_heat_transfer_W_per_m2_K == pytest.approx(4 * devs[0].vapour_heat_transfer_W_per_m2_K)
    T = np.linspace(-100.0, 37.0, 12)
    q = [dev.heat_drawn_W(T) for dev in devs]
    assert np.all(q[0] <= q[1] + 1e-9) and np.all(q[1] <= q[2] + 1e-9) and q[2][-1] > q[0][-1]


def test_overriding_a_ranged_value_drops_its_range_and_keeps_the_others():
    from cryosim.physics.catalogue import design_of, design_ranges

    p = probe_from_design("argon-2.4mm", recuperator_effectiveness=0.7, orifice_diameter_m=0.2e-3)
    d = design_of(p)
    assert d.recuperator_effectiveness == 0.7 and "scenario" in d.sources["recuperator_effectiveness"]
    assert "recuperator_effectiveness" not in d.ranges and "orifice_diameter_m" not in d.ranges
    assert d.ranges["discharge_coefficient"] == design_ranges("argon-2.4mm")["discharge_coefficient"]
    # outside the stated range but physically valid: a new design, accepted, its range dropped
    d2 = design_of(probe_from_design("argon-2.4mm", recuperator_effectiveness=0.3))
    assert d2.recuperator_effectiveness == 0.3 and "recuperator_effectiveness" not in d2.ranges


def test_band_corners_of_the_argon_design_bracket_its_nominal_heat():
    """The littrup2009 band runs the warm and cold corners of the stated ranges: at every wall temperature the
    warm corner's device draws no more heat than the catalogue design and the cold corner's no less."""
    from cryosim.physics.catalogue import design_ranges, with_overrides
    from cryosim.validation.cases import _littrup_corners

    name = "argon-2.4mm"
    warm, cold = _littrup_corners(name, 39.0)
    assert set(warm) == set(cold) == set(design_ranges(name))
    assert warm["recuperator_effectiveness"] < cold["recuperator_effectiveness"]
    assert warm["exhaust_pressure_Pa"] > cold["exhaust_pressure_Pa"]  # a back-pressure raises the floor
    d = load_probe_design(name)
    T = np.linspace(-150.0, 39.0, 20)
    q = {k: jt_device(with_overrides(d, v) if v else d, 39.0).heat_drawn_W(T) for k, v in
         (("warm", warm), ("nominal", {}), ("cold", cold))}
    assert np.all(q["warm"] <= q["nominal"] + 1e-9) and np.all(q["nominal"] <= q["cold"] + 1e-9)
    assert q["cold"][-1] > 2.0 * q["warm"][-1]


def test_gas_side_coefficient_against_the_textbook_directly():
    """The vapour-side coefficient from CoolProp's properties and Incropera's correlations written out here,
    not read from the code under test: laminar Nu = 4.36 (eq. 8.53) and Gnielinski (eq. 8.62) with Petukhov's
    friction factor; a 30 % change of the coefficient (issue 17: it passed every test) fails at once."""
    import math

    import CoolProp.CoolProp as CP

    from cryosim.physics.device import gas_heat_transfer_W_per_m2_K

    def textbook(fluid: str, p: float, T_C: float, mdot: float, D: float) -> float:
        T = T_C + 273.15
        mu, k = CP.PropsSI("V", "P", p, "T", T, fluid), CP.PropsSI("L", "P", p, "T", T, fluid)
        pr = CP.PropsSI("C", "P", p, "T", T, fluid) * mu / k
        re = 4.0 * mdot / (math.pi * D * mu)
        if re <= 2300.0:
            return 4.36 * k / D
        assert re >= 3000.0, re  # the cases below avoid the blended transition
        f = (0.790 * math.log(re) - 1.64) ** -2
        return (f / 8) * (re - 1000) * pr / (1 + 12.7 * math.sqrt(f / 8) * (pr ** (2 / 3) - 1)) * k / D

    for fluid, p, T_C, mdot, D in (("Argon", 101325.0, -150.0, 1.5e-5, 1.5e-3),   # laminar: Re about 1260
                                   ("Argon", 101325.0, -150.0, 2.0e-4, 1.5e-3),   # turbulent: Re about 16800
                                   ("CO2", 2.0e5, -40.0, 1.0e-3, 1.0e-3)):        # turbulent: Re about 108000
        want = textbook(fluid, p, T_C, mdot, D)
        assert gas_heat_transfer_W_per_m2_K(fluid, p, T_C, mdot, D) == pytest.approx(want, rel=1e-6), fluid
