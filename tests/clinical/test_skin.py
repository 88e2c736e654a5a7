"""Clinical answers (issue 10): nerve dose, per-cycle release, named protocols, surface cryotherapy."""

import math

import numpy as np
import pytest
from tests.helpers import grid_rz

import cryosim
from cryosim import Freeze, Numerics, Protocol, Thaw
from cryosim.checks import ScenarioError
from cryosim.clinical.skin import (ANALGESIA_SKIN_C, CO2_SUBLIMATION_C, CO2_SUBLIMATION_J_PER_KG, co2_jet, cold_air,
                                   ice_pack, rank_therapies, simulate)
from cryosim.physics.injury import GRADES, injury_grade
from cryosim.post.nerve import NerveTracker, length_below_m, time_below_s
from cryosim.post.results import Results
from cryosim.post.trackers import NodalField, StepView
from cryosim.scenario import Nerve, scenario_from_dict


POINTS, CELLS = grid_rz()


def _T(t_s):
    """Linear in r and z (exact for P1), cooling down to t = 50 s, warming after."""
    return 20.0 + 5e3 * POINTS[:, 1] - 0.8 * min(t_s, 50.0) + 0.5 * max(t_s - 50.0, 0.0) + 0.0 * POINTS[:, 0]


def _view(t_s):
    return StepView(t_s=t_s, is_output=False, t_end_s=100.0, geometry="axisymmetric", probe_surface_C=-70.0,
                    probe_heat_W=1.0, energy_J={}, field_fn=lambda: NodalField(POINTS, CELLS, _T(t_s)))


def _dose(nerve):
    tr = NerveTracker([nerve])
    tr.start(_view(0.0))
    for t in (10.0, 30.0, 50.0, 70.0, 100.0):
        tr.update(_view(t))
    return tr.doses()[nerve.name]


def test_nerve_tracker_on_a_linear_field_is_exact():
    # along r = 5 mm from z = -8 to +8 mm: T = 20 + 5000 z - 40 at its coldest (t = 50 s)
    d = _dose(Nerve("n", distance_m=5e-3, from_z_m=-8e-3, to_z_m=8e-3, spacing_m=1e-3))
    assert d.coldest_C() == pytest.approx(20.0 - 40.0 - 40.0)  # z = -8 mm, t = 50 s
    assert d.coldest_per_point_C()[-1] == pytest.approx(20.0 + 40.0 - 40.0)
    # lesion length below -20 °C: z from -8 mm to where 5000 z - 20 = -20, z = 0: 8 mm
    assert d.lesion_length_m() == pytest.approx(8e-3, abs=1e-12)
    # below 0 °C: 5000 z - 20 <= 0 -> z <= 4 mm: 12 mm
    assert d.lesion_length_m(0.0) == pytest.approx(12e-3, abs=1e-12)
    assert d.grade() == GRADES[2]
    cool, warm = d.rates_K_per_s()
    assert cool == pytest.approx(0.8) and warm == pytest.approx(0.5)
    # time below -40 at z = -8 mm (T = -20 - 0.8 t, then warming 0.5 K/s): from 25 s to 50 + 40 = 90 s
    assert d.time_below_s(-40.0)[0] == pytest.approx(65.0)
    assert d.coldest_C(until_s=10.0) == pytest.approx(-20.0 - 8.0)
    s = d.summary()
    assert s["lesion_length_m"] == pytest.approx(8e-3) and s["grade"] == "axonotmesis"


def test_a_3d_nerve_is_read_at_its_distance_from_the_axis():
    # a nerve crossing beside the probe at 3 mm, at z = 1 mm: r = hypot(3 mm, y) on the axisymmetric field
    d = _dose(Nerve("x", points_m=((3e-3, -4e-3, 1e-3), (3e-3, 4e-3, 1e-3)), spacing_m=1e-3))
    assert np.allclose(d.coldest_per_point_C(), 20.0 + 5.0 - 40.0)
    assert d.s_m[-1] == pytest.approx(8e-3)


def test_time_below_and_length_below_helpers():
    t = np.array([0.0, 10.0, 20.0])
    assert time_below_s(t, np.array([10.0, -10.0, 10.0]), 0.0)[0] == pytest.approx(10.0)
    assert length_below_m(np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, -1.0]), 0.0) == pytest.approx(1.5)


@pytest.mark.parametrize("T, grade", [(20.0, GRADES[0]), (10.0, GRADES[1]), (-19.9, GRADES[1]), (-20.0, GRADES[2]),
                                      (-60.0, GRADES[2])])
def test_grade_thresholds(T, grade):
    assert injury_grade(T) == grade


def test_grade_refuses_crossed_thresholds():
    with pytest.raises(ScenarioError, match="axonotmesis_below_C"):
        injury_grade(0.0, -30.0, -10.0)


def test_nerve_in_the_scenario_file_and_its_refusals():
    base = {"probe": {"gauge": 18, "active_length_m": 5e-3},
            "protocol": [{"type": "freeze", "duration_s": 60, "tip_temperature_C": -70}]}
    sc = scenario_from_dict({**base, "nerves": [{"name": "a", "distance_m": 4e-3, "from_z_m": -5e-3, "to_z_m": 1e-2}]})
    assert sc.nerves[0].points_m == ((4e-3, -5e-3), (4e-3, 1e-2))
    with pytest.raises(ScenarioError, match=r"nerves\[0\]\.spacing"):
        scenario_from_dict({**base, "nerves": [{"name": "a", "distance_m": 4e-3, "from_z_m": 0, "to_z_m": 1e-2,
                                                "spacing_m": 0.0}]})
    with pytest.raises(ScenarioError, match="outside the probe"):
        scenario_from_dict({**base, "nerves": [{"name": "a", "points_m": [[1e-4, 1e-3], [2e-3, 1e-3]]}]})
    with pytest.raises(ScenarioError, match="points_m"):
        Nerve("b", distance_m=1e-3)


def _results(time_s, surface_C, protocol):
    sc = cryosim.default_scenario().with_(protocol=protocol)
    n = len(time_s)
    ext = {0.0: {m: np.linspace(0, 1, n) for m in ("radius_m", "width_m", "length_m", "area_m2", "volume_m3",
                                                   "radius_mid_tip_m", "depth_below_tip_m")}}
    return Results(sc, "fast", "axisymmetric", np.asarray(time_s, float), ext, {}, np.asarray(surface_C, float),
                   np.zeros(n), {k: np.zeros(n) for k in ("probe_J", "imbalance_J")})


def test_release_times_per_cycle_on_synthetic_results():
    p = Protocol((Freeze(60.0, -70.0), Thaw(30.0), Freeze(60.0, -70.0), Thaw(60.0)))
    # cycle 1: surface back above 0 at 75 s (15 s after its end); cycle 2: crosses 0 at 170 s (20 s after 150 s)
    t = [0, 60, 70, 80, 90, 150, 160, 180, 210]
    T = [37, -70, -10, 10, -70, -70, -10, 5, 20]
    r = _results(t, T, p)
    rel = r.release_times_s()
    assert rel[0] == pytest.approx(15.0) and rel[1] == pytest.approx(160 + 10 / 15 * 20 - 150)
    assert r.release_time_s == pytest.approx(rel[1])
    df = r.per_cycle()
    assert list(df["cycle"]) == [1, 2] and list(df["freeze_end_s"]) == [60.0, 150.0]
    assert df["release_s"].iloc[0] == pytest.approx(15.0)


def test_release_none_when_the_next_freeze_starts_first():
    p = Protocol((Freeze(60.0, -70.0), Thaw(30.0), Freeze(60.0, -70.0), Thaw(60.0)))
    r = _results([0, 60, 90, 150, 210], [37, -70, -5, -70, 3], p)
    assert r.release_times_s() == [None, pytest.approx(60.0 * 70 / 73)]
    assert math.isnan(r.per_cycle()["release_s"].iloc[0])


def test_named_clinical_protocols():
    p = Protocol.named("clinical-3x2min")
    freezes = [s for s in p.steps if isinstance(s, Freeze)]
    assert len(freezes) == 3 and all(s.duration_s == 120.0 for s in freezes)
    assert [s.duration_s for s in p.steps if isinstance(s, Thaw)][:2] == [30.0, 30.0]
    assert len(p.freeze_windows_s()) == 3
    with pytest.raises(ScenarioError, match="protocol name"):
        Protocol.named("clinical-5x9min")
    assert "clinical-2x4min" in Protocol.names()


def test_nerve_through_a_run_is_reported(tmp_path):
    sc = cryosim.default_scenario().with_(numerics=Numerics(resolution=0.35),
                                          protocol=Protocol((Freeze(40.0, -70.0), Thaw(40.0))),
                                          nerves=(Nerve("n2", distance_m=2e-3, from_z_m=-4e-3, to_z_m=9e-3),))
    r = cryosim.run(sc)
    s = r.nerves["n2"]
    assert s["coldest_C"] < 0.0 and s["grade"] in GRADES and 0.0 <= s["lesion_length_m"] <= s["frozen_length_m"]
    assert "nerve n2" in r.table() and r.summary()["nerves"]["n2"]["grade"] == s["grade"]
    assert "nerve_n2_coldest_C" in r.per_cycle().columns


# --- surface cryotherapy ----------------------------------------------------------------
@pytest.fixture(scope="module")
def skin_runs():
    return [simulate(th, after_s=60.0) for th in (co2_jet(), ice_pack(600.0), cold_air(120.0))]


def test_skin_energy_balance_and_bounds(skin_runs):
    for r in skin_runs:
        assert r.energy_imbalance_relative < 1e-8
        # surface between the (equivalent) coolant and the body core
        # (metabolic heat lifts perfused tissue to its Pennes steady state T_a + q_m / beta, a little above 37 °C)
        warmest = max(L.material.steady_temperature_C(37.0) for L in r.layers)
        assert r.therapy.floor_C <= r.surface_C.min() and r.surface_C.max() <= warmest
        assert np.all(r.T_C <= warmest + 1e-9)
        assert r.heat_drawn_during_therapy_J_per_m2 > 0.0


def test_sublimation_enthalpy_is_the_handbook_value():
    assert CO2_SUBLIMATION_J_PER_KG == pytest.approx(572.6e3, rel=1e-3)
    jet = co2_jet(snow_deposition_kg_per_m2_s=0.0)
    assert jet.equivalent_coolant_C == CO2_SUBLIMATION_C


def test_ranking_puts_frozen_skin_last_and_deeper_cooling_first(skin_runs):
    ranked = rank_therapies(skin_runs)
    frozen = {r.therapy.name for r in skin_runs if r.time_below_s(-2.0) > 0}
    names = [n for _, n, _ in ranked]
    assert names[-len(frozen):] == [n for n in names if n in frozen] if frozen else True
    unfrozen = [r for r in skin_runs if r.therapy.name not in frozen]
    depths = [r.depth_reached_m(ANALGESIA_SKIN_C) for r in sorted(unfrozen, key=lambda r: names.index(r.therapy.name))]
    assert depths == sorted(depths, reverse=True)


def test_skin_grid_convergence():
    a = simulate(cold_air(60.0), after_s=0.0)
    b = simulate(cold_air(60.0), after_s=0.0, resolution=2.0)
    assert abs(a.surface_at_C(60.0) - b.surface_at_C(60.0)) < 0.5


def test_ice_pack_capacity_is_enforced():
    with pytest.raises(ScenarioError, match="ice lasts"):
        simulate(ice_pack(3600.0, ice_mass_kg=0.05), after_s=0.0)


# --- issue 15: vasoconstriction, swept jet, stated ranges ----------------------------------------------
def test_vasoconstriction_law_at_stolwijks_point():
    from cryosim.clinical.skin import VASOCONSTRICTION_Q10, vasoconstriction_factor

    assert VASOCONSTRICTION_Q10 == 2.0  # Stolwijk 1971 (NASA CR-1855): 2^((T - T0)/10)
    assert vasoconstriction_factor(24.0, 34.0) == pytest.approx(0.5)
    assert vasoconstriction_factor(14.0, 34.0) == pytest.approx(0.25)
    assert vasoconstriction_factor(36.0, 34.0) == 1.0  # cooling only
    assert vasoconstriction_factor(24.0, 34.0, q10=1.0) == 1.0


def test_vasoconstriction_cools_the_skin_and_keeps_the_balance():
    on = simulate(ice_pack(600.0), after_s=0.0)
    off = simulate(ice_pack(600.0), after_s=0.0, vasoconstriction=False)
    assert on.initial_surface_C == pytest.approx(off.initial_surface_C)  # the steady state is the reference
    assert on.surface_at_C(600.0) < off.surface_at_C(600.0) - 0.5
    assert on.energy_imbalance_relative < 1e-8
    skin = on.depth_m < on.layers[0].thickness_m
    assert np.all(on.final_perfusion_fraction[skin] < 0.9) and np.all(off.final_perfusion_fraction == 1.0)


def test_issue15_model_is_reproduced_without_vasoconstriction():
    # the ice pack of issue 15 (240 W/m2/K, basal perfusion): 4.97 °C at 20 min in the report
    r = simulate(ice_pack(1200.0, contact_conductance_W_per_m2_K=240.0), after_s=0.0, vasoconstriction=False)
    assert r.surface_at_C(1200.0) == pytest.approx(4.92, abs=0.1)


def test_more_snow_or_a_longer_dwell_is_colder():
    T = [simulate(co2_jet(30.0, snow_deposition_kg_per_m2_s=g), after_s=0.0).surface_at_C(30.0)
         for g in (0.0, 5e-3, 10e-3)]
    assert T[0] > T[1] > T[2]
    D = [simulate(co2_jet(30.0, duty_cycle=d), after_s=0.0).surface_at_C(30.0) for d in (0.1, 0.2, 0.35)]
    assert D[0] > D[1] > D[2]


def test_stated_ranges_are_keywords_of_the_factories_and_hold_the_defaults():
    import inspect

    from cryosim.clinical.skin import FACTORIES, RANGE_SOURCES, SIMULATE_RANGES, THERAPY_RANGES

    for name, ranges in THERAPY_RANGES.items():
        sig = inspect.signature(FACTORIES[name]).parameters
        for key, (lo, hi) in ranges.items():
            assert sig[key].kind is inspect.Parameter.KEYWORD_ONLY
            assert lo <= sig[key].default <= hi and lo < hi, (name, key)
            assert f"{name}.{key}" in RANGE_SOURCES
    sig = inspect.signature(simulate).parameters
    for key, (lo, hi) in SIMULATE_RANGES.items():
        assert lo <= sig[key].default <= hi and f"simulate.{key}" in RANGE_SOURCES
    assert co2_jet().heat_transfer_W_per_m2_K < 0.5 * co2_jet(duty_cycle=1.0).heat_transfer_W_per_m2_K  # swept


def test_baseline_skin_temperature_is_met():
    r = simulate(ice_pack(60.0), after_s=0.0, baseline_skin_C=28.6)
    assert r.initial_surface_C == pytest.approx(28.6, abs=0.05) and r.room_air_C < 23.0


@pytest.mark.integration
def test_default_jet_stays_within_the_published_band():
    from cryosim.clinical.skin import prediction_band

    # Mourot et al. 2007: 32.5 -> 7.3 +- 0.8 °C after 2 min of swept CO2 (hand); the seed: no frozen skin
    b = prediction_band("co2_jet", 120.0, (30.0, 120.0), baseline_skin_C=32.5)
    assert np.all(b.low_C <= b.default_C) and np.all(b.default_C <= b.high_C)
    assert b.low_C[1] <= 7.3 + 0.8 and b.high_C[1] >= 7.3 - 0.8  # the band covers the measurement
    drop = 32.5 - b.default_C[1]
    assert 25.2 / 1.5 <= drop <= 25.2 * 1.5  # the default within 1.5x of the measured drop
    assert len(b.corners) + len(b.refused) == 2 ** 5


@pytest.mark.integration
def test_default_ice_pack_stays_within_the_published_band():
    from cryosim.clinical.skin import prediction_band

    # Kanlayanaphotporn & Janwantanakul 2005: 10.2 +- 3.5 °C after 20 min (ice pack in a wet towel)
    b = prediction_band("ice_pack", 1200.0, (1200.0,))
    assert b.low_C[0] <= 10.2 + 3.5 and b.high_C[0] >= 10.2 - 3.5
    drop_model, drop_paper = b.initial_C - b.default_C[0], b.initial_C - 10.2  # the paper gives no baseline
    assert drop_paper / 1.5 <= drop_model <= drop_paper * 1.5


def test_swept_jet_average_matches_a_passing_jet():
    """The time-averaged swept jet against a jet that passes every 2.5 s (validation/skin_cooling/check_sweep.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "validation" / "skin_cooling" / "check_sweep.py"
    spec = importlib.util.spec_from_file_location("check_sweep", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.pulsed(30.0, 2.5)
    avg = simulate(co2_jet(30.0), after_s=0.0, max_step_s=0.1)
    last = (r.time_s > 27.5) & (r.time_s <= 30.0)
    assert abs(r.surface_C[last].mean() - avg.surface_at_C(30.0)) < 1.0
    assert r.surface_C[last].max() - r.surface_C[last].min() > 3.0  # the skin does see the passes
