"""cryosim.post.results.Results built by hand: queries, release time, summary and table."""

import numpy as np
import pytest

import cryosim
from cryosim.physics.protocol import Freeze, Protocol, Thaw
from cryosim.post.isotherms import MEASURES
from cryosim.post.results import ENERGY_TERMS, Results

T = np.array([0.0, 30.0, 60.0, 90.0, 100.0, 120.0])
#: freeze 60 s, passive thaw 60 s: the surface warms through 0 °C between t = 90 s (-5 °C) and 100 s (+5 °C)
SURFACE = np.array([37.0, -70.0, -70.0, -5.0, 5.0, 20.0])


def _results(surface=SURFACE, protocol=None) -> Results:
    protocol = protocol or Protocol((Freeze(60.0, -70.0), Thaw(60.0)))
    sc = cryosim.default_scenario().with_(protocol=protocol, isotherms_C=(0.0, -20.0))
    radius = np.array([0.0, 3e-3, 4e-3, 4.5e-3, 4.2e-3, 3.0e-3])
    base = {"radius_m": radius, "width_m": 2 * radius, "length_m": 2.5 * radius, "area_m2": 4 * radius**2,
            "volume_m3": 8 * radius**3, "radius_mid_tip_m": 0.9 * radius, "depth_below_tip_m": 0.7 * radius}
    assert set(base) == set(MEASURES)
    ext = {0.0: base, -20.0: {m: 0.5 * v for m, v in base.items()}}
    probe = np.array([0.0, -150.0, -300.0, -380.0, -400.0, -427.7])
    energy = {k: np.zeros(T.size) for k in ENERGY_TERMS}
    energy["probe_J"] = probe
    energy["enthalpy_change_J"] = probe + 0.5  # the rest balanced but for 0.5 J at the end
    energy["imbalance_J"] = np.full(T.size, 0.5)
    return Results(scenario=sc, solver="fast", geometry="axisymmetric", time_s=T, extents=ext,
                   thermocouples_C={"tip_side_2mm": np.array([37.0, 5.0, -12.0, -3.0, 2.0, 10.0])},
                   probe_surface_C=np.asarray(surface, float), probe_heat_W=np.zeros(T.size), energy=energy,
                   diagnostics={"steps": 5})


def test_release_time_is_the_linear_crossing_after_the_last_freeze():
    # crossing at 90 + (0 - (-5)) / (5 - (-5)) * 10 = 95 s; the freeze ended at 60 s; the 37 °C at t = 0 is ignored
    assert _results().release_time_s == pytest.approx(35.0, rel=1e-14)
    # an uneven bracket: -1 -> +3 over 10 s crosses at 92.5 s
    s = SURFACE.copy()
    s[3], s[4] = -1.0, 3.0
    assert _results(s).release_time_s == pytest.approx(32.5, rel=1e-14)


def test_release_time_after_the_last_of_several_freezes():
    p = Protocol((Freeze(20.0, -70.0), Thaw(20.0), Freeze(20.0, -70.0), Thaw(60.0)))  # last freeze ends at 60 s
    assert p.end_of_freezing_s() == 60.0
    assert _results(protocol=p).release_time_s == pytest.approx(35.0, rel=1e-14)
    # with the last freeze ending at 100 s, only 120 s (20 °C) is after it: crossing between 100 and 120
    p2 = Protocol((Freeze(100.0, -70.0), Thaw(20.0)))
    s = SURFACE.copy()
    s[4] = -10.0
    assert _results(s, p2).release_time_s == pytest.approx(100.0 + 10.0 / 30.0 * 20.0 - 100.0, rel=1e-14)


def test_release_time_none_when_never_above_zero():
    s = SURFACE.copy()
    s[3:] = [-5.0, -1.0, 0.0]  # reaching 0 °C is not "above"
    assert _results(s).release_time_s is None
    assert _results(protocol=Protocol.single_freeze(120.0, -70.0)).release_time_s is None


def test_final_at_maximum_and_energy():
    r = _results()
    assert r.final() == 3.0e-3 and r.final(0.0, "width_m") == 6.0e-3
    assert r.final(-20.0, "volume_m3") == pytest.approx(0.5 * 8 * 3e-3**3, rel=1e-15)
    assert r.at(45.0) == pytest.approx(3.5e-3, rel=1e-14)  # halfway between 30 s and 60 s
    assert r.at(95.0, 0.0, "length_m") == pytest.approx(2.5 * 4.35e-3, rel=1e-14)
    assert r.at(0.0) == 0.0 and r.at(500.0) == 3.0e-3  # clamped at the ends
    assert r.maximum() == 4.5e-3 and r.maximum(-20.0, "area_m2") == pytest.approx(0.5 * 4 * 4.5e-3**2, rel=1e-15)
    assert r.final(-20) == r.final(-20.0)  # integer isotherms are accepted
    assert r.heat_drawn_J == pytest.approx(427.7, rel=1e-15)
    assert r.energy_imbalance_relative == pytest.approx(0.5 / 427.7, rel=1e-14)
    with pytest.raises(cryosim.ScenarioError, match="isotherm = -40.0.*tracked isotherms"):  # named, not a KeyError
        r.final(-40.0)


def test_summary_keys_and_values():
    s = _results().summary()
    assert set(s) == {"scenario", "solver", "geometry", "end_time_s", "final_extent", "max_extent",
                      "thermocouples_final_C", "thermocouples_min_C", "heat_drawn_J", "energy_J",
                      "energy_imbalance_relative", "release_time_s", "release_times_s", "nerves", "diagnostics"}
    assert s["scenario"] == "default" and s["solver"] == "fast" and s["end_time_s"] == 120.0
    assert set(s["final_extent"]) == {"0C", "-20C"} and set(s["final_extent"]["0C"]) == set(MEASURES)
    assert s["final_extent"]["0C"]["width_m"] == 6.0e-3 and s["max_extent"]["-20C"]["radius_m"] == 2.25e-3
    assert s["thermocouples_final_C"] == {"tip_side_2mm": 10.0} and s["thermocouples_min_C"] == {"tip_side_2mm": -12.0}
    assert s["heat_drawn_J"] == pytest.approx(427.7) and s["energy_J"]["imbalance_J"] == 0.5
    assert s["release_time_s"] == pytest.approx(35.0) and s["diagnostics"] == {"steps": 5}


def test_table_prints_the_numbers():
    lines = _results().table().splitlines()
    assert lines[0] == f"ice ball at the end of the run (t = {T[-1]:g} s):"
    assert lines[1].split() == ["isotherm", "width", "mm", "length", "mm", "r", "mid-tip", "mm", "below", "tip", "mm",
                                "area", "mm2", "volume", "mm3"]
    # 0 °C: width 6 mm, length 7.5 mm, mid-tip radius 2.7 mm, depth 2.1 mm, section 4 * 9 = 36 mm^2, volume 216 mm^3
    assert lines[3].split() == ["0", "C", "6.00", "7.50", "2.70", "2.10", "36.00", "216.00"]
    assert lines[4].split() == ["-20", "C", "3.00", "3.75", "1.35", "1.05", "18.00", "108.00"]
    # the ice ball shrank after its largest (4.5 mm radius at the 4th time): that one is printed too, labelled
    assert lines[5] == f"largest over the run (each measure's maximum; the 0 °C volume peaked at t = {T[3]:.0f} s):"
    assert lines[6].split() == ["0", "C", "9.00", "11.25", "4.05", "3.15", "81.00", "729.00"]
    text = "\n".join(lines)
    assert "heat drawn by the probe: 427.7 J; energy balance closed to 1.2e-03 of it" in text
    assert "probe released (surface > 0 °C) 35.0 s after the last freeze" in text
    assert "thermocouple tip_side_2mm: min -12.0 °C, final 10.0 °C" in text
    # the initial power as heat over the first 10 s (150 J by 30 s: 50 J by 10 s), not the step-dependent peak
    assert "5.00 W on average over the first 10 s" in text and "peak" not in text.split("probe surface")[1]
    s = SURFACE.copy()
    s[4:] = -1.0
    assert "probe still frozen in at the end of the run" in _results(s).table()
