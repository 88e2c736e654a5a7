"""Physical guards (cryosim.post.guards): impossible states stop the run or mark it suspect."""

import numpy as np
import pytest

import cryosim
from cryosim import Freeze, Probe, Protocol, Thaw
from cryosim.post.guards import GuardLimits, GuardTracker, PhysicalGuardError, check_final, limits_for
from cryosim.post.trackers import NodalField, StepView


def _view(T, energy=None, t=1.0):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    return StepView(t_s=t, is_output=False, t_end_s=2.0, geometry="axisymmetric", probe_surface_C=0.0,
                    probe_heat_W=0.0, energy_J=energy or {}, field_fn=lambda: NodalField(X, np.array([[0, 1, 2]]),
                                                                                         np.asarray(T, float)))


def test_limits_of_a_scenario():
    s = cryosim.default_scenario().with_(protocol=Protocol((Freeze(60, -70.0), Thaw(30, "active", 42.0))))
    lim = limits_for(s)
    assert lim.coldest_C == -70.0 and lim.warmest_C == 42.0
    assert lim.temperature_tolerance_K == 0.5  # issue 16: 0.5 K on both sides, no allowance growing with the span
    power = s.with_(probe=Probe.from_gauge(18, 5e-3, coolant="N2O"), protocol=Protocol((Freeze(30, power_W=1.0),)))
    assert limits_for(power).coldest_C == -88.0  # the coolant floor bounds a power-driven freeze


def _boundary_bounds_C(scenario):
    """Coldest and warmest temperature the run's own boundary conditions impose or floor (sampled at every
    breakpoint and between them), with the initial and arterial temperatures: what limits_for must match."""
    from cryosim.physics.boundary import BCKind, probe_boundaries

    bcs = probe_boundaries(scenario.probe, scenario.protocol, 1e-5, scenario.initial_temperature_C, device_tip=True)
    cold, warm = [scenario.initial_temperature_C], [scenario.initial_temperature_C, scenario.arterial_temperature_C]
    for t in bcs._sample_times() + [scenario.protocol.duration_s]:
        for c in bcs.at(min(t, scenario.protocol.duration_s)).values():
            if c.kind in (BCKind.TEMPERATURE, BCKind.CONVECTIVE):
                cold.append(c.temperature_C)
                warm.append(c.temperature_C)
            elif c.kind in (BCKind.LIMITED_FLUX, BCKind.TABULATED_FLUX):  # flux stops at the floor
                cold.append(c.temperature_C)
    return min(cold), max(warm)


@pytest.mark.parametrize("mode", ["prescribed", "series", "coolant", "power LN2", "power N2O", "gas N2O", "gas argon",
                                  "power on a design", "active thaw"])
def test_limits_are_the_bounds_of_every_freeze_mode(mode):
    """Issue 16: the coolant floor is in the limits for every freeze mode, and it is the floor the boundary
    condition itself applies (prescribed, coolant through a coefficient, power, Joule-Thomson gas)."""
    from cryosim.physics.boundary import LN2_BOILING_POINT_C
    from cryosim.physics.catalogue import probe_from_design

    s = cryosim.default_scenario()
    p27 = Probe.from_gauge(27, 5e-3)
    n2o = probe_from_design("cryoneurolysis-N2O-1.3mm")
    steps, probe, coldest, warmest = {
        "prescribed": ((Freeze(60, -70.0),), p27, -70.0, 37.0),
        "series": ((Freeze(60, ((0.0, 20.0), (10.0, -120.0), (30.0, -60.0))),), p27, -120.0, 37.0),
        "coolant": ((Freeze(60, -150.0, heat_transfer_W_per_m2_K=2000.0),), p27, -150.0, 37.0),
        "power LN2": ((Freeze(60, power_W=5.0),), p27, LN2_BOILING_POINT_C, 37.0),
        "power N2O": ((Freeze(60, power_W=5.0),), Probe.from_gauge(18, 5e-3, coolant="N2O"), -88.0, 37.0),
        "gas N2O": ((Freeze(60, gas="on"), Thaw(30)), n2o, n2o.min_tip_temperature_C, 37.0),
        "gas argon": ((Freeze(60, gas="on"),), probe_from_design("argon-2.4mm"), None, 37.0),
        "power on a design": ((Freeze(60, gas="on"), Freeze(30, power_W=2.0)), n2o, n2o.min_tip_temperature_C, 37.0),
        "active thaw": ((Freeze(60, -70.0), Thaw(30, "active", 42.0)), p27, -70.0, 42.0),
    }[mode]
    sc = s.with_(probe=probe, protocol=Protocol(steps), thermocouples=())
    lim = limits_for(sc)
    if coldest is not None:
        assert lim.coldest_C == pytest.approx(coldest, abs=0.5)
    assert lim.warmest_C == pytest.approx(max(warmest, sc.initial_temperature_C))
    assert (lim.coldest_C, lim.warmest_C) == pytest.approx(_boundary_bounds_C(sc))
    assert lim.temperature_tolerance_K == 0.5


def test_vessel_blood_and_unperfused_metabolism_bound_the_warm_side():
    from cryosim.physics.scene import Vessel

    s = cryosim.default_scenario().with_(vessels=(Vessel(diameter_m=2e-3, distance_m=4e-3, blood_temperature_C=39.0),))
    assert limits_for(s).warmest_C == 39.0


def test_undershoot_stops_the_run_and_flag_records_it():
    g = GuardTracker(GuardLimits(-70.0, 37.5))
    g.update(_view([-70.4, 0.0, 37.0]))  # within 0.5 K
    with pytest.raises(PhysicalGuardError, match=r"-71.000 °C, colder than the coldest .* -70.000 °C"):
        g.update(_view([-71.0, 0.0, 37.0]))
    with pytest.raises(PhysicalGuardError, match="warmer than any source"):
        g.update(_view([-70.0, 0.0, 38.5]))
    flag = GuardTracker(GuardLimits(-70.0, 37.5), mode="flag")
    flag.update(_view([-71.0, 0.0, 37.0]))
    d = {}
    check_final(flag, d)
    assert len(d["suspect"]) == 1 and "colder" in d["suspect"][0]
    assert d["temperature_excursion_K"] == pytest.approx(1.0)


def test_energy_imbalance_is_caught():
    e = {"enthalpy_change_J": -100.0, "probe_J": -100.0, "far_boundary_J": 0.0, "perfusion_J": 0.0, "metabolic_J": 0.0}
    g = GuardTracker(GuardLimits(-70.0, 37.5))
    g.update(_view([0.0, 0.0, 0.0], e))
    e["enthalpy_change_J"] = -100.02  # 2e-4 of the largest term
    with pytest.raises(PhysicalGuardError, match="energy balance is off"):
        g.update(_view([0.0, 0.0, 0.0], e))


def test_far_field_disturbance_is_caught():
    g = GuardTracker(GuardLimits(-70.0, 37.5))
    check_final(g, {"far_field_max_disturbance_K": 0.1})
    with pytest.raises(PhysicalGuardError, match="far boundary moved 2"):
        check_final(g, {"far_field_max_disturbance_K": 2.0})


def test_too_small_a_medium_is_stopped_by_the_far_field_guard():
    """Issue 11: a medium barely larger than the ice ball lets the far boundary feed it; this is not a result."""
    s = cryosim.default_scenario().with_(thermocouples=(), resolution=0.35,
                                         protocol=Protocol.single_freeze(60.0, -70.0))
    ice = s.probe.radius_m + s.expected_ice_distance_m()
    small = s.with_(domain_radius_m=1.02 * ice, axial_below_m=1.02 * ice)
    with pytest.raises(PhysicalGuardError, match="far boundary moved"):
        cryosim.run(small)
    r = cryosim.run(small, guards="flag")
    assert r.diagnostics["suspect"] and "SUSPECT" in r.table()


@pytest.mark.integration
def test_issue11_refreeze_reproducer_has_no_undershoot():
    """16 G in water, -30.95 °C freeze, thaw, refreeze: no cell colder than the tip, no -40 °C isotherm."""
    s = cryosim.default_scenario().with_(
        probe=Probe.from_gauge(16, 5e-3), medium=cryosim.get_material("water"), thermocouples=(), resolution=0.5,
        protocol=Protocol((Freeze(60, -30.95), Thaw(30), Freeze(60, -30.95))))
    r = cryosim.run(s)  # the guard would stop it on an undershoot beyond 0.5 K
    assert r.final_field["temperature_C"].min() >= -30.95 - 0.5
    assert r.maximum(-40.0, "volume_m3") == 0.0


def test_fem_temperature_breaches_are_flagged_not_stopped():
    """P1 tetrahedra have no discrete maximum principle: an FE overshoot is recorded, the run goes on."""
    g = GuardTracker(GuardLimits(-70.0, 37.5), mode="stop", temperature_mode="flag")
    g.update(_view([-70.0, 0.0, 41.2]))
    d = {}
    check_final(g, d)
    assert "warmer than any source" in d["suspect"][0] and d["temperature_excursion_K"] == pytest.approx(3.7)
    e = {"enthalpy_change_J": -100.02, "probe_J": -100.0, "far_boundary_J": 0.0, "perfusion_J": 0.0, "metabolic_J": 0.0}
    with pytest.raises(PhysicalGuardError, match="energy balance"):  # the other guards still stop
        g.update(_view([0.0, 0.0, 0.0], e))


def test_far_field_disturbance_reads_next_to_the_held_boundary():
    from cryosim.post.guards import far_field_disturbance_K

    # a chain 0-1-2-3 with node 3 on the far boundary (held at 37 °C), node 2 next to it
    T = np.array([-40.0, 10.0, 36.5, 37.0])
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    assert far_field_disturbance_K(T, np.array([3]), 37.0, edges) == pytest.approx(0.5)  # vertex-centred / FE
    assert far_field_disturbance_K(T, np.array([2, 2]), 37.0) == pytest.approx(0.5)  # cell-centred: the far cells
    assert far_field_disturbance_K(T, np.array([], int), 37.0) == 0.0
    # triangles touching the held nodes {3, 4}: every other node of theirs counts, the held ones do not
    T = np.array([30.0, 36.0, 35.0, 37.0, 37.0])
    cells = np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    assert far_field_disturbance_K(T, np.array([3, 4]), 37.0, cells) == pytest.approx(2.0)


@pytest.mark.integration
def test_power_driven_27g_probe_keeps_the_ln2_floor():
    """Issue 16 (reviewer): 50 W through a 27 G tip with no coolant named went 0.64 K below the liquid-nitrogen
    floor with no flag (the old tolerance was 3 % of the span, 7 K). The explicit part of SDIRK2's second stage
    applies stage 1's full power for (1 - gamma) dt past the floor ramp: the step controller now retries such a
    step shorter, and the run keeps the floor within 0.5 K."""
    from cryosim.physics.boundary import LN2_BOILING_POINT_C

    s = cryosim.default_scenario().with_(probe=Probe.from_gauge(27, 5e-3), thermocouples=(), resolution=1.0,
                                         protocol=Protocol((Freeze(60, power_W=50.0),)))
    r = cryosim.run(s, solver="fast")  # guards = "stop": a breach beyond 0.5 K would raise
    assert np.min(r.probe_surface_C) >= LN2_BOILING_POINT_C - 0.5
    assert r.diagnostics["temperature_excursion_K"] <= 0.5
    assert "suspect" not in r.diagnostics


def test_an_fe_excursion_beyond_half_a_kelvin_is_flagged():
    """Issue 16: a 1 K overshoot of an FE run (the default scenario's bounds) is flagged with its size, not
    allowed by a span-based tolerance (3.4 K there before)."""
    lim = limits_for(cryosim.default_scenario())
    g = GuardTracker(lim, mode="stop", temperature_mode="flag")
    g.update(_view([-70.0, 0.0, lim.warmest_C + 1.0]))
    d = {}
    check_final(g, d)
    assert d["temperature_excursion_K"] == pytest.approx(1.0)
    assert len(d["suspect"]) == 1 and "warmer than any source" in d["suspect"][0] and "by 1 K" in d["suspect"][0]

