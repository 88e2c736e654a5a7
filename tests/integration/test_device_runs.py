"""Joule-Thomson devices on the fast solver: every catalogue design runs, the energy balance closes with the
wall's heat, the floor holds, more flow never freezes less, the thermistor, the wall's cool-down lag."""

import dataclasses

import numpy as np
import pytest

import cryosim
from cryosim.fast.solver import run_axisymmetric
from cryosim.physics import catalogue
from cryosim.physics.catalogue import list_designs, load_probe_design, probe_from_design
from cryosim.physics.device import ProbeDesign, jt_device
from cryosim.physics.protocol import Freeze, Protocol
from cryosim.post.trackers import DEVICE_COLUMNS
from cryosim.scenario import Numerics

#: Coarse grid for quick tests.
QUICK = Numerics(resolution=0.35)
N2O_18G = "cryoneurolysis-N2O-1.3mm"


def _run(design, duration_s=20.0, numerics=QUICK, tmp_path=None):
    s = cryosim.default_scenario().with_(probe=probe_from_design(design), thermocouples=(), numerics=numerics,
                                         protocol=Protocol((Freeze(duration_s, gas="on"),)))
    return run_axisymmetric(s, output_dir=tmp_path)


def _with_design(monkeypatch, name, **changes):
    """The catalogue design ``name`` with ``changes``, for every loader of the run."""
    changed = dataclasses.replace(load_probe_design(name), **changes)
    original = catalogue.load_probe_design
    monkeypatch.setattr(catalogue, "load_probe_design", lambda n: changed if n == name else original(n))
    return changed


@pytest.mark.parametrize("design", list_designs())
def test_every_catalogue_design_runs_on_the_fast_solver(design):
    r = _run(design)
    d = r.device
    assert set(d) == set(DEVICE_COLUMNS)
    assert r.energy_imbalance_relative < 1e-8
    assert d["probe_wall_J"][-1] < 0.0  # the wall cooled: its heat is part of the balance
    floor_C = r.diagnostics["device_floor_C"]
    assert floor_C == pytest.approx(jt_device(load_probe_design(design), r.scenario.initial_temperature_C).coldest_C)
    assert np.min(d["tip_min_C"]) >= floor_C - 0.5
    assert np.min(r.final_field["temperature_C"]) >= floor_C - 0.5
    assert np.all(d["cooling_power_W"] >= 0.0) and d["cooling_power_W"][0] > 0.0
    spec = load_probe_design(design)
    assert d["gas_used_kg"][-1] == pytest.approx(spec.mass_flow_per_needle_kg_per_s * spec.needles * 20.0, rel=1e-12)
    assert r.final(0.0, "volume_m3") > 0.0
    if spec.needles > 1:  # the fast solver represents one needle of a multi-needle handpiece, and says so
        assert r.diagnostics["device_needles"] == spec.needles
        assert "represents one needle" in r.table()


def test_device_columns_reach_the_table_and_the_csv(tmp_path):
    r = _run(N2O_18G, 10.0, tmp_path=tmp_path)
    table = r.table()
    assert "tip surface: mean" in table and "cooling power:" in table
    streamed = np.genfromtxt(tmp_path / "timeseries.csv", delimiter=",", names=True)
    for c in DEVICE_COLUMNS:
        assert np.allclose(streamed[c], r.device[c], rtol=1e-8, atol=1e-12)
    r.save(tmp_path / "saved", plots=False)
    saved = np.genfromtxt(tmp_path / "saved" / "timeseries.csv", delimiter=",", names=True)
    assert saved.dtype.names == streamed.dtype.names
    assert set(DEVICE_COLUMNS) <= set(r.timeseries().columns)


def test_more_mass_flow_never_grows_a_smaller_ice_ball(monkeypatch):
    base = _run(N2O_18G)
    mdot = load_probe_design(N2O_18G).mass_flow_per_needle_kg_per_s
    _with_design(monkeypatch, N2O_18G, orifice_diameter_m=None, mass_flow_kg_per_s=2.0 * mdot)
    more = _run(N2O_18G)
    assert more.device["gas_used_kg"][-1] == pytest.approx(2.0 * base.device["gas_used_kg"][-1], rel=1e-12)
    assert more.final(0.0, "volume_m3") >= base.final(0.0, "volume_m3")
    assert more.final(-20.0, "volume_m3") >= base.final(-20.0, "volume_m3")
    assert more.device["tip_mean_C"][-1] <= base.device["tip_mean_C"][-1]


def test_thermistor_reads_the_surface_without_internal_resistance(monkeypatch):
    with_r = _run(N2O_18G, 10.0)
    # with a resistance it reads colder than the surface while the gas draws heat
    assert np.all(with_r.device["thermistor_C"][1:] < with_r.device["tip_mean_C"][1:])
    _with_design(monkeypatch, N2O_18G, thermistor_resistance_m2_K_per_W=0.0)
    r = _run(N2O_18G, 10.0)
    assert np.array_equal(r.device["thermistor_C"], r.device["tip_mean_C"])


#: Output times (s) of the lag test: the first seconds of the cool-down (later, on this coarse grid, the
#: latent heat of the nodes next to the wall freezing one by one makes the tip temperature step unevenly).
EARLY_S = (0.5, 1.0, 2.0)
#: Tip temperature (°C) whose first crossing times the cool-down.
CROSSING_C = -20.0


def test_wall_heat_capacity_delays_the_cool_down_but_barely_changes_the_ice_ball(monkeypatch):
    numerics = Numerics(resolution=0.35, output_times_s=EARLY_S)
    walled = _run(N2O_18G, 120.0, numerics)
    monkeypatch.setattr(ProbeDesign, "wall_heat_capacity_J_per_m2_K", property(lambda self: 0.0))
    bare = _run(N2O_18G, 120.0, numerics)
    assert bare.diagnostics["probe_wall_heat_capacity_J_per_K"] == 0.0
    assert walled.diagnostics["probe_wall_heat_capacity_J_per_K"] > 0.0
    assert np.all(bare.device["probe_wall_J"] == 0.0)
    for r in (walled, bare):
        assert r.energy_imbalance_relative < 1e-8

    def tip_at(r, t):
        return r.device["tip_mean_C"][np.nonzero(r.time_s == t)[0][0]]

    def first_crossing_s(r):
        j = int(np.nonzero(r.device["tip_mean_C"] <= CROSSING_C)[0][0])
        T0, T1 = r.device["tip_mean_C"][j - 1:j + 1]
        return r.time_s[j - 1] + (CROSSING_C - T0) / (T1 - T0) * (r.time_s[j] - r.time_s[j - 1])

    for t in EARLY_S:  # the wall's sensible heat is drawn first: the tip cools slower
        assert tip_at(walled, t) > tip_at(bare, t)
    assert first_crossing_s(walled) > first_crossing_s(bare)
    v1, v0 = walled.final(0.0, "volume_m3"), bare.final(0.0, "volume_m3")
    assert abs(v1 - v0) / v0 < 0.03


def test_structured_grid_runs_a_device_with_the_wall_on_the_cells_next_to_it(monkeypatch):
    """Cell-centred grid: the table read at the wall cells' temperature, the wall lumped onto them."""
    from cryosim.fast import solver as fast

    cv = _run(N2O_18G)
    monkeypatch.setattr(fast, "AXISYMMETRIC_GRID", "structured")
    st = _run(N2O_18G)
    assert st.energy_imbalance_relative < 1e-8
    assert st.diagnostics["probe_wall_heat_capacity_J_per_K"] == pytest.approx(
        cv.diagnostics["probe_wall_heat_capacity_J_per_K"], rel=1e-9)
    assert st.device["probe_wall_J"][-1] < 0.0
    assert st.final(0.0, "volume_m3") == pytest.approx(cv.final(0.0, "volume_m3"), rel=0.1)


# --- operating values changed by the scenario (what a device engineer sweeps) ----------------------
def test_supply_pressure_from_the_scenario_changes_the_device_and_sweeps_over_it():
    """``probe.supply_pressure_Pa`` replaces the design's value (its floor too), a higher pressure never freezes
    less, and a study path over it rebuilds the device scenario (plain data round trip)."""
    from cryosim.physics.catalogue import design_of
    from cryosim.studies.paths import check_path, plain_scenario, scenario_at

    base = cryosim.default_scenario().with_(probe=probe_from_design(N2O_18G), thermocouples=(), numerics=QUICK,
                                            protocol=Protocol((Freeze(30.0, gas="on"),)))
    plain = plain_scenario(base)
    assert cryosim.scenario.scenario_from_dict(plain).probe == base.probe
    check_path("probe.supply_pressure_Pa")
    nominal = load_probe_design(N2O_18G).supply_pressure_Pa
    powers, volumes = [], []
    for p in (0.8 * nominal, nominal, 1.2 * nominal):
        s = scenario_at(plain, {"probe.supply_pressure_Pa": p})
        assert s.probe.supply_pressure_Pa == p and design_of(s.probe).supply_pressure_Pa == p
        assert "scenario" in design_of(s.probe).sources["supply_pressure_Pa"]
        r = run_axisymmetric(s)
        powers.append(r.device["cooling_power_W"][-1])
        volumes.append(r.final(0.0, "volume_m3"))
        assert np.min(r.device["tip_min_C"]) >= r.diagnostics["device_floor_C"] - 0.5
    assert powers[0] < powers[1] < powers[2]
    assert volumes[0] <= volumes[1] <= volumes[2] and volumes[2] > volumes[0]


def test_operating_values_need_a_design_and_one_flow_law():
    from cryosim.checks import ScenarioError

    with pytest.raises(ScenarioError, match="probe.supply_pressure_Pa"):
        cryosim.Probe.from_gauge(18, 5e-3, supply_pressure_Pa=5e6)
    with pytest.raises(ScenarioError, match="probe.mass_flow_kg_per_s"):
        probe_from_design(N2O_18G, orifice_diameter_m=1e-4, mass_flow_kg_per_s=1e-4)
    with pytest.raises(ScenarioError, match=r"probe\.supply_pressure_Pa"):
        probe_from_design(N2O_18G, supply_pressure_Pa=1e9)  # beyond the design's range: named as the probe key
    # an orifice given replaces the design's flow law: a larger orifice passes more gas
    small = probe_from_design(N2O_18G, orifice_diameter_m=0.08e-3)
    large = probe_from_design(N2O_18G, orifice_diameter_m=0.12e-3)
    from cryosim.physics.catalogue import design_of

    assert design_of(small).mass_flow_per_needle_kg_per_s < design_of(large).mass_flow_per_needle_kg_per_s


@pytest.mark.parametrize("key", ["recuperator_effectiveness", "gas_heat_transfer_multiplier", "discharge_coefficient",
                                 "boiling_heat_transfer_W_per_m2_K", "supply_temperature_C"])
def test_uncertain_design_values_are_study_paths_at_their_stated_ranges_ends(key):
    """Each ranged value is a scenario key (``probe.<key>``): a study point at either end of the design's stated
    range rebuilds a scenario whose device uses that value (plain data round trip), without running it."""
    from cryosim.physics.catalogue import design_of, design_ranges
    from cryosim.physics.probe import DESIGN_OVERRIDES
    from cryosim.studies.paths import check_path, plain_scenario, scenario_at

    assert key in DESIGN_OVERRIDES
    name = "argon-2.4mm"
    base = cryosim.default_scenario().with_(probe=probe_from_design(name), thermocouples=(), numerics=QUICK,
                                            protocol=Protocol((Freeze(30.0, gas="on"),)))
    plain = plain_scenario(base)
    check_path(f"probe.{key}")
    lo, hi = design_ranges(name)[key]
    devs = []
    for v in (lo, hi):
        s = scenario_at(plain, {f"probe.{key}": v})
        d = design_of(s.probe)
        assert getattr(d, key) == v and key not in d.ranges
        assert cryosim.scenario.scenario_from_dict(plain_scenario(s)).probe == s.probe
        devs.append(jt_device(d))
    if key != "supply_temperature_C":  # more of any of these never draws less heat at a warm wall
        assert devs[1].heat_drawn_W(37.0) >= devs[0].heat_drawn_W(37.0) - 1e-9


def test_a_larger_recuperator_effectiveness_from_the_scenario_freezes_more():
    from cryosim.physics.catalogue import design_ranges

    lo, hi = design_ranges(N2O_18G)["recuperator_effectiveness"]
    vols = []
    for e in (lo, hi):
        s = cryosim.default_scenario().with_(probe=probe_from_design(N2O_18G, recuperator_effectiveness=e),
                                             thermocouples=(), numerics=QUICK,
                                             protocol=Protocol((Freeze(20.0, gas="on"),)))
        vols.append(run_axisymmetric(s).final(0.0, "volume_m3"))
    assert vols[1] > vols[0]
