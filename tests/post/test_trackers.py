"""Trackers fed with synthetic views, and both ends of the wiring: cryosim.run(trackers=...) and Results."""

import math
from dataclasses import replace

import numpy as np
import pytest
from tests.helpers import grid_rz

import cryosim
from cryosim import Numerics, Thermocouple, default_scenario
from cryosim.checks import ScenarioError
from cryosim.post.isotherms import MEASURES, extent_axisymmetric, extent_of
from cryosim.post.trackers import CallbackTracker, EnergyTracker, NodalField, StepView, ThermocoupleTracker, TrackerList

#: 0 °C width and volume of the default scenario at resolution 0.35, fast solver, before the trackers
#: replaced the Recorder (commit 24224ff).


POINTS, CELLS = grid_rz()


def _T(t_s, points=POINTS):
    """A linear field that cools with time (°C): exact for P1 interpolation."""
    return 37.0 + 1e4 * points[:, 0] - 2e3 * points[:, -1] - t_s


def _view(t_s, is_output=False, energy=None):
    energy = energy or {"enthalpy_change_J": -10.0 * t_s, "probe_J": -12.0 * t_s, "far_boundary_J": 0.0,
                        "perfusion_J": 1.0 * t_s, "metabolic_J": 1.0 * t_s}
    return StepView(t_s=t_s, is_output=is_output, t_end_s=100.0, geometry="axisymmetric",
                    probe_surface_C=-70.0, probe_heat_W=12.0, energy_J=energy,
                    field_fn=lambda: NodalField(POINTS, CELLS, _T(t_s)))


def _scenario(**kw):
    tcs = (Thermocouple("a", 2.3e-3, 1.7e-3), Thermocouple("axis", 0.0, -4e-3))
    # synthetic fields (up to 157 °C) test the plumbing, not the physics: guards flag instead of stopping
    kw.setdefault("numerics", Numerics())
    kw["numerics"] = replace(kw["numerics"], guards="flag")
    return default_scenario().with_(isotherms_C=(0.0, -20.0), thermocouples=tcs, **kw)


def test_tracker_list_assembles_results_and_streams_csv(tmp_path):
    sc = _scenario(numerics=Numerics(output_times_s=(40.0, 100.0)))
    calls = []
    tl = TrackerList(sc, "fast", "axisymmetric", stream_to=tmp_path / "timeseries.csv",
                     trackers=[CallbackTracker(lambda v: calls.append(v.t_s))], progress=lambda t, te: calls.append(-t))
    tl.start(_view(0.0))
    for t in (20.0, 40.0, 70.0):
        tl.update(_view(t, is_output=(t == 40.0)))
    # streamed and flushed while the run goes on
    rows = (tmp_path / "timeseries.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].split(",")[0] == "time_s" and rows[0].split(",")[-1] == "is_output"
    tl.update(_view(100.0))  # the end time is a requested output too: marked although not flagged
    r = tl.finish(_view(100.0), {"steps": 4})
    assert calls == [20.0, -20.0, 40.0, -40.0, 70.0, -70.0, 100.0, -100.0]  # callbacks per step, not at start
    assert r.time_s.tolist() == [0.0, 20.0, 40.0, 70.0, 100.0]
    assert r.is_output.tolist() == [False, False, True, False, True]
    # thermocouples: exact for the linear field
    for k, tc in enumerate(sc.thermocouples):
        expect = _T(70.0, np.array([[tc.r_m, tc.z_m]]))[0]
        assert r.thermocouples_C[tc.name][3] == pytest.approx(expect, abs=1e-9)
    # extents: the tracker's measures are those of extent_of, at mid-tip height
    z_mid = sc.probe.active_length_m / 2
    e = extent_of(POINTS, CELLS, _T(40.0), -20.0, "axisymmetric", z_mid_m=z_mid).as_dict()
    assert {m: r.extents[-20.0][m][2] for m in MEASURES} == e
    # energy: the imbalance is what the terms leave
    assert r.energy["imbalance_J"][-1] == pytest.approx(-10.0 * 100 - (-12.0 * 100 + 2.0 * 100))
    assert r.diagnostics["steps"] == 4 and r.diagnostics["suspect"]  # the synthetic field is flagged
    assert set(r.final_field) == {"points_m", "cells", "temperature_C", "geometry"}
    assert str(r.final_field["geometry"]) == "axisymmetric"
    # the streamed file and the one save() writes hold the same rows
    streamed = (tmp_path / "timeseries.csv").read_text()
    r.save(tmp_path / "saved", plots=False)
    assert (tmp_path / "saved" / "timeseries.csv").read_text() == streamed


def test_results_queries_and_frames():
    sc = _scenario(numerics=Numerics(output_times_s=(40.0,)))
    tl = TrackerList(sc, "fast", "axisymmetric")
    tl.start(_view(0.0))
    for t in (20.0, 40.0, 70.0):
        tl.update(_view(t, is_output=(t == 40.0)))
    r = tl.finish(_view(70.0))
    df = r.to_frame()
    assert df.shape == (len(r.time_s) * 2, 3 + len(MEASURES))
    assert list(df.columns) == ["time_s", "isotherm_C", "is_output", *MEASURES]
    row = df[(df.time_s == 40.0) & (df.isotherm_C == -20.0)].iloc[0]
    assert row.is_output and row.radius_mid_tip_m == r.at(40.0, -20.0, "radius_mid_tip_m")
    assert r.at(40.0, 0.0, "volume_m3") == r.extents[0.0]["volume_m3"][2]  # exact at a recorded time
    ts = r.timeseries()
    assert len(ts) == len(r.time_s) and {"probe_surface_C", "probe_heat_W", "imbalance_J", "T_a_C"} <= set(ts)
    import matplotlib.figure

    assert isinstance(r.plot(), matplotlib.figure.Figure)
    assert isinstance(r.plot_field(), matplotlib.figure.Figure)


def test_thermocouples_in_3d_and_outside():
    X = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)], float) * 1e-2
    T = 5.0 + 100.0 * X[:, 0] - 300.0 * X[:, 2]
    view = StepView(t_s=0.0, is_output=False, t_end_s=1.0, geometry="3d", probe_surface_C=0.0, probe_heat_W=0.0,
                    energy_J={}, field_fn=lambda: NodalField(X, np.array([[0, 1, 2, 3]]), T))
    tr = ThermocoupleTracker([Thermocouple("in", 2e-3, 3e-3)])
    tr.start(view)
    assert tr.last() == [pytest.approx(5.0 + 100 * 2e-3 - 300 * 3e-3, abs=1e-12)]
    with pytest.raises(ScenarioError, match="thermocouples\\[out\\]"):
        ThermocoupleTracker([Thermocouple("out", 9e-3, 9e-3)]).start(view)


def test_non_finite_values_refused():
    tl = TrackerList(_scenario(), "fast", "axisymmetric")
    bad = {"enthalpy_change_J": math.nan, "probe_J": 0.0, "far_boundary_J": 0.0, "perfusion_J": 0.0,
           "metabolic_J": 0.0}
    with pytest.raises(FloatingPointError, match="non-finite"):
        tl.start(_view(0.0, energy=bad))
    assert EnergyTracker().columns[-1] == "imbalance_J"


def test_fast_run_unchanged_and_callback_once_per_step():
    s = default_scenario().with_(numerics=Numerics(resolution=0.35))
    seen = []
    r = cryosim.run(s, trackers=[CallbackTracker(lambda v: seen.append((v.t_s, v.probe_heat_W)))])
    # the tracked extents are those of the final field, measured directly
    f = r.final_field
    direct = extent_axisymmetric(f["points_m"][:, 0], f["points_m"][:, 1], f["cells"], f["temperature_C"], 0.0,
                                 z_mid_m=0.5 * s.probe.active_length_m).as_dict()
    for m in MEASURES:
        assert r.final(0.0, m) == pytest.approx(direct[m], rel=1e-12), m
    assert len(seen) == r.diagnostics["steps"] == len(r.time_s) - 1
    assert [t for t, _ in seen] == r.time_s[1:].tolist()
    assert np.array_equal([q for _, q in seen], r.probe_heat_W[1:])
    f = r.final_field
    assert f["points_m"].shape[1] == 2 and f["cells"].shape[1] == 3 and str(f["geometry"]) == "axisymmetric"
    assert 0.0 < r.final(0.0, "radius_mid_tip_m") <= r.final(0.0, "radius_m")
    # the 0 °C front passes the thermocouple 3 mm below the tip (-4.4 °C there at the end)
    assert 3e-3 < r.final(0.0, "depth_below_tip_m") < r.final(0.0, "length_m")


def test_output_times_landed_on_exactly():
    s = default_scenario().with_(numerics=Numerics(resolution=0.35, output_times_s=(30.0, 60.0)),
                                 protocol=cryosim.Protocol.single_freeze(70.0, -70.0))
    r = cryosim.run(s)
    assert r.time_s[r.is_output].tolist() == [30.0, 60.0]
    j = int(np.nonzero(r.time_s == 30.0)[0][0])
    assert r.at(30.0, -20.0, "width_m") == r.extents[-20.0]["width_m"][j]
    df = r.to_frame()
    assert sorted(set(df.time_s[df.is_output])) == [30.0, 60.0]
