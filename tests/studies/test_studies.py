"""Design studies (issue 9): field paths, sweeps, resumption, executors, design answers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cryosim
from cryosim.checks import ScenarioError
from cryosim.cli import main
from cryosim.post.files import OutputError
from cryosim.scenario import scenario_from_dict
from cryosim.studies.paths import apply_path, plain_scenario, scenario_at
from cryosim.studies.study import load_study, study_from_dict
from cryosim.studies.sweep import sweep

ROOT = Path(__file__).resolve().parents[2]
PYTHON_ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

#: A cheap base scenario: coarse grid, 20 s freeze (each point ~0.05 s CPU).
BASE = {
    "name": "tiny",
    "probe": {"gauge": 18, "active_length_m": 0.005, "coolant": "N2O"},
    "protocol": [{"type": "freeze", "duration_s": 20, "tip_temperature_C": -70}],
    "numerics": {"resolution": 0.3},
}


def _study(parameters, **head):
    return {"study": {"name": "t", **head}, "base": BASE, "parameters": parameters}


def _write_study(path: Path, parameters, *, duration_s=20, resolution=0.3, times_s=(10,)) -> Path:
    lines = ["[study]", 'name = "t"', 'design = "grid"', f"times_s = {list(times_s)}", "[base]", 'name = "tiny"',
             "[base.probe]", "gauge = 18", "active_length_m = 0.005", 'coolant = "N2O"', "[[base.protocol]]",
             'type = "freeze"', f"duration_s = {duration_s}", "tip_temperature_C = -70", "[base.numerics]",
             f"resolution = {resolution}", "[parameters]"]
    lines += [f'"{k}" = {json.dumps(v)}' for k, v in parameters.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- paths --------------------------------------------------------------------
def test_plain_form_round_trips():
    s = cryosim.default_scenario()
    assert scenario_from_dict(plain_scenario(s)) == s
    custom = s.with_(medium=s.medium.with_(perfusion_per_s=0.002))
    assert scenario_from_dict(plain_scenario(custom)).medium.perfusion_per_s == 0.002
    # a nerve given as a line (distance_m, from_z_m, to_z_m) is written as its points, which the file accepts
    from cryosim.scenario import Nerve

    nerve = Nerve("n", distance_m=3e-3, from_z_m=-5e-3, to_z_m=5e-3)
    back = scenario_from_dict(plain_scenario(s.with_(nerves=(nerve,))))
    assert back.nerves[0].points_m == nerve.points_m and back.with_(nerves=()) == s


def test_paths_apply_and_validate():
    plain = plain_scenario(cryosim.default_scenario())
    s = scenario_at(plain, {"probe.gauge": 14, "protocol[0].duration_s": 30.0, "medium.perfusion_per_s": 0.002,
                            "medium.conductivity_unfrozen_W_per_m_K": 0.6, "numerics.resolution": 0.5})
    assert s.probe.outer_diameter_m == pytest.approx(2.11e-3) and s.probe.gauge == 14
    assert s.protocol.steps[0].duration_s == 30.0 and s.numerics.resolution == 0.5
    assert s.medium.perfusion_per_s == 0.002 and s.medium.conductivity_unfrozen_W_per_m_K == 0.6
    # the steady initial temperature follows the new perfusion
    assert s.initial_temperature_C != cryosim.default_scenario().initial_temperature_C
    # a diameter replaces the gauge; a bone table is created and validated
    assert scenario_at(plain, {"probe.outer_diameter_m": 1e-3}).probe.gauge is None
    assert scenario_at(plain, {"bone.distance_m": 4e-3}).bone.distance_m == 4e-3
    assert apply_path(plain, "name", "x")["name"] == "x" and plain["name"] == "default"  # a copy
    assert scenario_at(plain, {"medium": "fat"}).medium.name == "fat"  # the whole medium, by name
    assert scenario_at(plain, {"medium": "fat", "medium.perfusion_per_s": 0.0}).medium.perfusion_per_s == 0.0


@pytest.mark.parametrize("path, value, field", [
    ("probe.gaueg", 14, "study parameter"),          # unknown key
    ("probe", 14, "study parameter"),                # a table, not a field
    ("protocol.duration_s", 10, "study parameter"),  # an array needs an index
    ("protocol[3].duration_s", 10, "protocol[3].duration_s"),
    ("probe..gauge", 14, "study parameter"),
    ("probe.gauge", 99, "probe.gauge"),              # a bad value: the usual refusal
    ("probe.gauge", 18.5, "probe.gauge"),
    ("protocol[0].tip_temperature_C", -120, "protocol[0].tip_temperature_C"),  # below the N2O floor
    ("medium.perfusion_per_s", -1.0, "medium.perfusion_per_s"),
    ("medium", "no_such_tissue", "medium"),
    ("numerics.resolution", 0.1, "numerics.resolution"),
])
def test_bad_paths_and_values_refused(path, value, field):
    with pytest.raises(ScenarioError) as e:
        scenario_at(plain_scenario(cryosim.default_scenario()), {path: value})
    assert e.value.field == field


def test_study_refusals():
    with pytest.raises(ScenarioError, match="probe.KEY"):
        study_from_dict(_study({"probe.gaueg": [14]}))
    with pytest.raises(ScenarioError, match="one length"):
        study_from_dict(_study({"probe.gauge": [14, 16], "protocol[0].duration_s": [10]}, design="list"))
    with pytest.raises(ScenarioError, match="low"):
        study_from_dict(_study({"probe.gauge": [14, 16]}, design="lhs", samples=4))


def test_designs():
    grid = study_from_dict(_study({"probe.gauge": [14, 16], "protocol[0].duration_s": [10, 20, 30]}))
    assert len(grid.points()) == 6
    lst = study_from_dict(_study({"probe.gauge": [14, 16], "protocol[0].duration_s": [10, 20]}, design="list"))
    assert lst.points() == [{"probe.gauge": 14, "protocol[0].duration_s": 10},
                            {"probe.gauge": 16, "protocol[0].duration_s": 20}]
    lhs = study_from_dict(_study({"probe.gauge": {"low": 14, "high": 20, "integer": True},
                                  "medium.perfusion_per_s": {"low": 0.0, "high": 0.004}},
                                 design="lhs", samples=40, seed=3))
    pts = lhs.points()
    assert len(pts) == 40 and pts == lhs.points()  # seeded: the same sample every time
    gauges = [p["probe.gauge"] for p in pts]
    assert all(isinstance(g, int) for g in gauges) and set(gauges) == set(range(14, 21))
    w = np.array([p["medium.perfusion_per_s"] for p in pts])
    assert w.min() >= 0 and w.max() <= 0.004
    assert np.histogram(w, bins=40, range=(0, 0.004))[0].tolist() == [1] * 40  # one sample per stratum


# --- sweeps -------------------------------------------------------------------
@pytest.mark.integration
def test_tiny_sweep_table_and_failing_point(tmp_path):
    study = _study({"probe.gauge": [14, 99], "protocol[0].duration_s": [10, 20]}, times_s=[10])
    df = sweep(study, tmp_path / "out", workers=1, invalid="record")
    assert len(df) == 4 and list(df["index"]) == [0, 1, 2, 3]
    ok, bad = df[df["probe.gauge"] == 14], df[df["probe.gauge"] == 99]
    assert (ok["status"] == "ok").all() and (bad["status"] == "error").all()
    assert bad["error"].str.contains("probe.gauge = 99").all()
    for col in ("width_m@0C", "length_m@-20C", "volume_m3@-40C", "width_m@0C@10s", "tip_temperature_min_C",
                "cooling_power_peak_W", "heat_drawn_J", "cpu_s"):
        assert ok[col].notna().all(), col
    assert (ok["width_m@0C"] > ok["width_m@-20C"]).all() and (ok["width_m@-20C"] > ok["width_m@-40C"]).all()
    # the 10 s point's largest ice ball is its ice ball at 10 s; a longer freeze grows it
    short, long_ = ok.iloc[0], ok.iloc[1]
    assert short["width_m@0C"] == pytest.approx(short["width_m@0C@10s"])
    assert long_["width_m@0C"] > short["width_m@0C"]
    assert ok["cooling_power_peak_W"].gt(0).all() and ok["tip_temperature_min_C"].eq(-70).all()
    out = tmp_path / "out"
    assert pd.read_parquet(out / "results.parquet").shape == df.shape
    assert len(pd.read_csv(out / "results.csv")) == 4
    assert sorted(p.name for p in (out / "points").iterdir()) == [f"00000{i}.json" for i in range(4)]
    assert (out / "plots" / "probe.gauge.png").is_file()
    # resuming recomputes nothing, unless asked to retry the failed points
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    sweep(study, out, workers=1)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()} == mtimes
    again = sweep(study, out, workers=1, retry_errors=True, invalid="record")
    assert list(again["status"]) == list(df["status"])
    now = {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    assert [now[n] != mtimes[n] for n in sorted(now)] == [False, False, True, True]
    manifest = json.loads((out / "study.json").read_text())
    assert manifest["cryosim_version"] == cryosim.__version__ and len(manifest["digest"]) == 64


@pytest.mark.integration
def test_resume_refuses_another_study(tmp_path):
    f = _write_study(tmp_path / "s.toml", {"protocol[0].duration_s": [10]})
    sweep(f, tmp_path / "out", workers=1)
    assert (tmp_path / "out" / "study.toml").read_text() == f.read_text()
    sweep(f, tmp_path / "out", workers=1)  # the same study resumes (nothing left to do)
    _write_study(f, {"protocol[0].duration_s": [12]})
    with pytest.raises(OutputError, match="another --out"):
        sweep(f, tmp_path / "out", workers=1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds other files"):
        sweep(f, tmp_path / "other", workers=1)


@pytest.mark.integration
def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    """Kill a running sweep (the whole process group, SIGKILL) after some points; resume; nothing lost or redone."""
    f = _write_study(tmp_path / "s.toml", {"probe.gauge": [14, 16, 18, 20], "protocol[0].duration_s": [20, 30]},
                     duration_s=30, resolution=1.0)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cryosim", "sweep", str(f), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=PYTHON_ENV, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "points").glob("*.json"))) < 2:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["worker"])
             for p in (out / "points").glob("*.json")}
    assert 2 <= len(first) < 8, "kill the sweep while it runs: make the points slower"
    assert not list((out / "points").glob(".*.tmp"))  # no half-written point
    done = subprocess.run(cmd, check=False, env=PYTHON_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(first)} stored" in done.stdout
    after = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["worker"])
             for p in (out / "points").glob("*.json")}
    assert len(after) == 8
    assert all(after[name] == first[name] for name in first)  # not recomputed, not rewritten
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 8 and (df["status"] == "ok").all()


def _worker_pids(parent: int) -> list[int]:
    """Pool worker processes of ``parent`` (from /proc; not its resource tracker)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmd:
            pids.append(int(stat.parent.name))
    return pids


def _sweep_until_first_point(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A `cryosim sweep` of 8 points started in a subprocess, returned once its first point is stored."""
    f = _write_study(tmp_path / "s.toml", {"probe.gauge": [14, 16, 18, 20], "protocol[0].duration_s": [20, 30]},
                     duration_s=30, resolution=1.0)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cryosim", "sweep", str(f), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=PYTHON_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((out / "points").glob("*.json")):
        time.sleep(0.02)
    return proc, out


@pytest.mark.integration
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc")
def test_lost_worker_is_replaced_and_no_point_lost(tmp_path):
    proc, out = _sweep_until_first_point(tmp_path)
    victims = _worker_pids(proc.pid)
    assert victims
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 8 and (df["status"] == "ok").all()  # the points it held were computed again


@pytest.mark.integration
def test_ctrl_c_stops_and_says_how_to_resume(tmp_path):
    proc, _ = _sweep_until_first_point(tmp_path)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "the same command resumes" in err


@pytest.mark.slow
def test_sweep_on_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    study = _study({"probe.gauge": [14, 99], "protocol[0].duration_s": [10, 20]})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        df = sweep(study, tmp_path / "dask", scheduler=cluster.scheduler_address)
        example = ROOT / "examples" / "study_gauge_temperature.toml"
        assert main(["sweep", str(example), "--out", str(tmp_path / "cli"), "--scheduler", cluster.scheduler_address,
                     "--quiet"]) == 0
    assert (pd.read_parquet(tmp_path / "cli" / "results.parquet")["status"] == "ok").sum() == 12
    local = sweep(study, tmp_path / "local", workers=2)
    assert list(df["status"]) == list(local["status"]) == ["ok", "ok", "error", "error"]
    assert np.allclose(df["width_m@0C"].iloc[:2], local["width_m@0C"].iloc[:2], rtol=1e-12)


@pytest.mark.integration
def test_cli_sweep_example(tmp_path):
    assert main(["sweep", str(ROOT / "examples" / "study_gauge_temperature.toml"), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert len(df) == 12 and (df["status"] == "ok").all()
    assert load_study(ROOT / "examples" / "study_gauge_temperature.toml").digest == \
        json.loads((tmp_path / "o" / "study.json").read_text())["digest"]


# --- design answers -------------------------------------------------------------
def _coarse(duration_s=60.0):
    return cryosim.default_scenario().with_(resolution=0.3, thermocouples=(),
                                            protocol=cryosim.Protocol.single_freeze(duration_s, -70.0))


def test_isotherm_chart(tmp_path):
    from cryosim.studies.chart import write_chart

    chart, files = write_chart(_coarse(), tmp_path, duration_s=60.0, step_s=20.0)
    assert list(chart["time_s"]) == [20.0, 40.0, 60.0]
    assert (chart["width_m@0C"] > chart["width_m@-20C"]).all() and (chart["width_m@-20C"] > chart["width_m@-40C"]).all()
    assert (chart["length_m@0C"] > chart["width_m@0C"]).all()  # an elongated ice ball around a 5 mm tip
    assert chart["width_m@0C"].is_monotonic_increasing
    assert all(f.is_file() for f in files) and len(pd.read_csv(tmp_path / "chart.csv")) == 3
    # the chart's last row is a run of the same freeze (steps landing on the chart times)
    r = cryosim.run(_coarse(), output_times_s=(20.0, 40.0))
    assert chart["width_m@0C"].iloc[-1] == pytest.approx(r.final(0.0, "width_m"), rel=1e-9)


@pytest.mark.integration
def test_shortest_freeze_just_reaches_the_nerve():
    from cryosim.studies.design import DURATION_RESOLUTION_S, nerve_min_C, shortest_freeze

    s = _coarse()
    a = shortest_freeze(s, nerve_distance_m=2.5e-3, threshold_C=-20.0)
    assert 10.0 < a.value < 600.0 and a.unit == "s"
    assert a.scenario.protocol.steps[0].duration_s == a.value
    assert nerve_min_C(a.scenario, 2.5e-3) == pytest.approx(a.nerve_min_C) and a.nerve_min_C <= -20.0
    assert 0.0 <= a.margin_K < 0.5  # just below the threshold
    assert a.previous_value == a.value - DURATION_RESOLUTION_S and a.previous_nerve_min_C > -20.0
    # the grid check: the same setting on a grid twice as fine, and a warning when it does not confirm the answer
    assert a.check_resolution == 2 * s.numerics.resolution
    assert a.check_nerve_min_C == pytest.approx(nerve_min_C(a.scenario.with_(resolution=a.check_resolution), 2.5e-3))
    assert ("WARNING: not grid-converged" in str(a)) == (a.check_nerve_min_C > -20.0)
    assert "grid check: at resolution" in str(a)
    with pytest.raises(cryosim.ScenarioError, match="even 600 s"):
        shortest_freeze(s, nerve_distance_m=20e-3)


@pytest.mark.integration
def test_smallest_probe_and_warmest_tip():
    from cryosim.studies.design import smallest_probe, warmest_tip

    s = _coarse(90.0)
    g = smallest_probe(s, nerve_distance_m=2.5e-3, threshold_C=-20.0)
    assert g.nerve_min_C <= -20.0 and (g.previous_value is None or g.previous_nerve_min_C > -20.0)
    assert g.scenario.probe.gauge == g.value
    t = warmest_tip(s, nerve_distance_m=2.5e-3, threshold_C=-20.0)
    assert -88.0 <= t.value < -20.0 and t.nerve_min_C <= -20.0 < t.previous_nerve_min_C
    assert t.previous_value == t.value + 1.0  # one degree warmer does not reach


@pytest.mark.slow
def test_uncertainty_band_and_sobol_indices(tmp_path):
    from cryosim.studies.uncertainty import ITIS_SPREADS, propagate

    s = _coarse(30.0)
    r = propagate(s, base_samples=16, measure="volume_m3", out=tmp_path / "u")
    assert len(r.samples) == 16 * (len(ITIS_SPREADS) + 2)
    band = r.band[r.band["time_s"] > 0]
    assert ((band["p5"] <= band["nominal"]) & (band["nominal"] <= band["p95"])).all()
    for iso in s.isotherms_C:
        si = r.sobol[r.sobol["isotherm_C"] == iso]
        assert si["S1"].sum() <= 1.0 + si["S1_conf"].max()
        assert (si["ST"] >= -si["ST_conf"]).all()
    # more perfusion removes less ice than +-20 % on conductivity or heat capacity changes it
    assert r.most_important(0.0) != "perfusion_per_s"
    assert all((tmp_path / "u" / f).is_file() for f in ("band.csv", "sobol.csv", "uncertainty.png"))
    spreads = json.loads((tmp_path / "u" / "spreads.json").read_text())
    assert [s["field"] for s in spreads] == [s.field for s in ITIS_SPREADS] and all(s["source"] for s in spreads)


@pytest.mark.integration
def test_cli_chart_and_design(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('name = "c"\n[probe]\ngauge = 18\nactive_length_m = 0.005\ncoolant = "N2O"\n[[protocol]]\n'
                 'type = "freeze"\nduration_s = 60\ntip_temperature_C = -70\n[numerics]\nresolution = 0.3\n')
    assert main(["chart", str(f), "--out", str(tmp_path / "chart"), "--step-s", "30"]) == 0
    assert (tmp_path / "chart" / "chart.png").is_file()
    assert main(["design", str(f), "--find", "gauge", "--nerve-distance-m", "0.002"]) == 0
    assert "gauge:" in capsys.readouterr().out
    assert main(["design", str(f), "--find", "duration", "--nerve-distance-m", "0.03"]) == 2


@pytest.mark.integration
def test_cli_sweep_device_operation_example(tmp_path):
    """The device engineers' example sweeps a catalogue design's supply pressure and orifice: every point runs,
    and more pressure or a larger orifice never draws less heat."""
    assert main(["sweep", str(ROOT / "examples" / "study_device_operation.toml"), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert len(df) == 12 and (df["status"] == "ok").all()
    power = df.pivot(index="probe.supply_pressure_Pa", columns="probe.orifice_diameter_m",
                     values="cooling_power_end_of_freeze_W")
    assert (np.diff(power.to_numpy(), axis=0) >= -1e-9).all()  # more pressure: never less power
    assert (np.diff(power.to_numpy(), axis=1) >= -1e-9).all()  # larger orifice: never less power
    assert power.iloc[0, 0] < power.iloc[-1, -1]


@pytest.mark.integration
def test_cli_sweep_with_failed_points_exits_non_zero(tmp_path, capsys):
    """A study whose points fail is not a success: exit status 6 and the failures grouped by message, the good
    points kept (issue 16; a sweep used to exit 0 when every point failed)."""
    f = _write_study(tmp_path / "s.toml", {"probe.gauge": [18, 99]}, duration_s=5)
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet", "--skip-invalid"]) == 6
    err = capsys.readouterr().err
    assert "1 of 2 points failed" in err and "[1]: " in err and "probe.gauge = 99" in err
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert list(df["status"]) == ["ok", "error"]


def test_every_point_is_checked_before_the_first_runs(tmp_path, capsys):
    """A study with points that cannot run is refused before any point is computed, listing them (issue 16: a grid
    holding an invalid value ran, failed 10 of 60 points and exited 0); the CLI exits 2."""
    from cryosim.studies.sweep import InvalidPointsError

    study = _study({"probe.gauge": [18, 99], "protocol[0].tip_temperature_C": [-70, 20]})
    with pytest.raises(InvalidPointsError) as e:
        sweep(study, tmp_path / "out", workers=1)
    assert [i for i, _, _ in e.value.invalid] == [1, 2, 3]
    msg = str(e.value)
    assert "3 of 4 points" in msg and "nothing was computed" in msg and "probe.gauge = 99" in msg
    assert "tip_temperature_C" in msg
    assert not list((tmp_path / "out" / "points").glob("*.json"))
    f = _write_study(tmp_path / "s.toml", {"probe.gauge": [18, 99]}, duration_s=5)
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "1 of 2 points" in err and "points 1: " in err and "--skip-invalid" in err


@pytest.mark.integration
def test_resume_recomputes_bad_point_files_and_never_follows_links(tmp_path, capsys):
    """On resume every stored point file is checked: a truncated file (a JSONDecodeError stopped the sweep), a
    planted symbolic link (read into the table) and a row of another point are computed again (issue 16)."""
    study = _study({"protocol[0].duration_s": [5, 6, 7]})
    out = tmp_path / "out"
    first = sweep(study, out, workers=1)
    points = out / "points"
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps({"index": 1, "status": "ok", "protocol[0].duration_s": 6, "planted": True}))
    (points / "000001.json").unlink()
    (points / "000001.json").symlink_to(victim)
    (points / "000000.json").write_text('{"index": 0, "stat')  # truncated
    row2 = json.loads((points / "000002.json").read_text())
    (points / "000002.json").write_text(json.dumps(dict(row2, **{"protocol[0].duration_s": 99})))
    again = sweep(study, out, workers=1)
    said = capsys.readouterr().out
    assert said.count("is computed again") == 3 and "not a regular file" in said and "unreadable" in said
    assert "planted" not in again.columns and list(again["status"]) == ["ok"] * 3
    assert np.allclose(again["width_m@0C"], first["width_m@0C"], rtol=1e-12)
    assert not (points / "000001.json").is_symlink() and victim.read_text().count("planted") == 1


def test_latin_hypercube_over_a_whole_number_field_needs_integer():
    """An LHS over probe.gauge without `integer = true` gave every point a fractional gauge and the sweep failed
    point by point; it is refused when the study is read, naming the key (issue 16)."""
    with pytest.raises(ScenarioError, match=r"parameters.probe.gauge.integer.*whole numbers"):
        study_from_dict({"study": {"name": "t", "design": "lhs", "samples": 4}, "base": BASE,
                         "parameters": {"probe.gauge": {"low": 14, "high": 18}}})
    ok = study_from_dict({"study": {"name": "t", "design": "lhs", "samples": 4}, "base": BASE,
                          "parameters": {"probe.gauge": {"low": 14, "high": 18, "integer": True},
                                         "protocol[0].duration_s": {"low": 10, "high": 20}}})
    assert all(isinstance(p["probe.gauge"], int) for p in ok.points())


def test_a_study_of_a_million_points_is_refused_naming_the_key():
    """An LHS of 1 000 000 samples wrote a 60 MB manifest without a word (issue 16): refused at `study.samples`."""
    from cryosim.studies.study import MAX_POINTS

    with pytest.raises(ScenarioError, match=rf"study.samples = 1000000.*\[1, {MAX_POINTS}\]"):
        study_from_dict({"study": {"name": "t", "design": "lhs", "samples": 1_000_000}, "base": BASE,
                         "parameters": {"protocol[0].duration_s": {"low": 10, "high": 20}}})


@pytest.mark.integration
def test_every_setting_of_a_study_enters_its_digest(tmp_path):
    """A study that differs in any setting (times_s, seed, samples, design, base, values) has another digest, so
    its folder is not resumed with the other's points (issue 17: dropping times_s from the digest passed)."""
    base = _study({"protocol[0].duration_s": [5, 6]}, times_s=[2])
    d0 = study_from_dict(base).digest
    variants = [_study({"protocol[0].duration_s": [5, 6]}, times_s=[3]),
                _study({"protocol[0].duration_s": [5, 7]}, times_s=[2]),
                _study({"protocol[0].duration_s": [5, 6]}, times_s=[2], design="list"),
                {**base, "base": {**BASE, "name": "other"}}]
    lhs = {"protocol[0].duration_s": {"low": 5, "high": 6}}
    lhs_digests = {study_from_dict(_study(lhs, design="lhs", samples=n, seed=k)).digest for n, k in
                   ((4, 0), (5, 0), (4, 1))}
    assert len({d0, *(study_from_dict(v).digest for v in variants)}) == 1 + len(variants)
    assert len(lhs_digests) == 3
    sweep(base, tmp_path / "o", workers=1)
    with pytest.raises(OutputError, match="another --out"):
        sweep(variants[0], tmp_path / "o", workers=1)


def test_chart_of_a_device_scenario(tmp_path):
    """`cryosim chart` on a Joule-Thomson device scenario (it raised a TypeError on the plot title, issue 19)."""
    f = tmp_path / "d.toml"
    f.write_text('name = "dev"\n[probe]\ndesign = "cryoneurolysis-N2O-1.3mm"\n[[protocol]]\ntype = "freeze"\n'
                 'duration_s = 20\ngas = "on"\n[numerics]\nresolution = 0.25\n')
    assert main(["chart", str(f), "--out", str(tmp_path / "c"), "--step-s", "10"]) == 0
    assert (tmp_path / "c" / "chart.png").is_file() and len(pd.read_csv(tmp_path / "c" / "chart.csv")) >= 2


def test_which_property_matters_most_only_when_the_indices_tell():
    """A winner is named only if its total index beats the runner-up by more than both confidence half-widths
    (issue 19: ST 0.84 +- 0.83 named 'what matters most' on a difference of 0.009)."""
    from cryosim.studies.uncertainty import UncertaintyResult

    def result(st, conf):
        sobol = pd.DataFrame({"isotherm_C": [0.0] * len(st), "property": [f"p{i}" for i in range(len(st))],
                              "S1": st, "S1_conf": conf, "ST": st, "ST_conf": conf})
        return UncertaintyResult("width_m", pd.DataFrame(), sobol, pd.DataFrame(), ())

    assert not result([0.84, 0.831, 0.1], [0.83, 0.5, 0.1]).ranking_is_resolved(0.0)
    clear = result([0.84, 0.2, 0.1], [0.1, 0.1, 0.05])
    assert clear.ranking_is_resolved(0.0) and clear.most_important(0.0) == "p0"


def test_sweep_axes_are_labelled_with_units():
    """Sweep plots label a field path with its quantity and unit and scale it (a pressure in MPa, not a raw path
    with a 1e6 offset; issue 19)."""
    from cryosim.studies.plots import axis_label

    assert axis_label("probe.supply_pressure_Pa") == ("probe supply pressure (MPa)", 1e-6)
    assert axis_label("probe.orifice_diameter_m") == ("probe orifice diameter (mm)", 1e3)
    assert axis_label("protocol[0].tip_temperature_C") == ("protocol tip temperature (°C)", 1.0)
    assert axis_label("probe.gauge") == ("probe gauge", 1.0)


def test_points_travel_in_chunks_of_one_mesh_group():
    """The pre-check gives each fast point its grid's key; one group's points go together (at most CHUNK_POINTS),
    largest chunks first; a point without a group (an FE point, a refused one) travels alone."""
    from cryosim.studies.executors import CHUNK_POINTS, chunk_tasks
    from cryosim.studies.sweep import invalid_points

    study = study_from_dict(_study({"probe.gauge": [14, 18], "protocol[0].tip_temperature_C": [-80.0, -75.0, -60.0]}))
    points = study.points()
    groups: dict = {}
    assert invalid_points(study, points, list(range(len(points))), groups) == []
    # tip temperatures in one mesh class share a grid; the gauge changes it
    assert groups[0] == groups[1] != groups[3] == groups[4]
    tasks = [(i, study.base, p, study.times_s) for i, p in enumerate(points)]
    chunks = chunk_tasks(tasks, groups)
    assert sorted(t[0] for c in chunks for t in c) == list(range(len(points)))
    assert all(len({groups[t[0]] for t in c}) == 1 for c in chunks)
    assert [len(c) for c in chunks] == sorted((len(c) for c in chunks), reverse=True)
    many = [(i, {}, {}, ()) for i in range(2 * CHUNK_POINTS + 1)]
    assert [len(c) for c in chunk_tasks(many, {i: "g" for i in range(len(many))})] == [CHUNK_POINTS, CHUNK_POINTS, 1]
    assert [len(c) for c in chunk_tasks(many[:3], {0: None})] == [1, 1, 1]
