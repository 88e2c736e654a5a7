"""Command line: default run writes its files; a bad scenario is refused cleanly."""

import json

import pytest

from cryosim.cli import main


SMALL = """
name = "small"
[probe]
gauge = 18
active_length_m = 0.005
[[protocol]]
type = "freeze"
duration_s = 20
tip_temperature_C = -70
[numerics]
resolution = 0.35
"""


@pytest.mark.integration
def test_run_writes_outputs(tmp_path, capsys):
    import numpy as np

    import cryosim
    from cryosim.post.isotherms import MEASURES
    from cryosim.scenario import load_scenario

    f = tmp_path / "s.toml"
    f.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".cryosim-result", "results.json", "timeseries.csv", "field.npz", "field.vtu", "extent_vs_time.png",
         "isotherm_map.png", "temperature.pvd", "temperature_frames"])
    assert not list(tmp_path.glob("*.partial"))
    # the same scenario through the library: the CLI prints and writes the same numbers
    r = cryosim.run(load_scenario(f))
    assert r.solver == "fast"
    assert printed.splitlines()[0] == "cryosim: scenario 'small' on the fast solver; 20 s of protocol"
    assert r.table() in printed
    assert (f"wrote {out}/: results.json, timeseries.csv, field.npz, field.vtu, temperature.pvd (field over "
            "time), extent_vs_time.png, isotherm_map.png") in printed
    import meshio

    pyvista = pytest.importorskip("pyvista")
    vtu = meshio.read(out / "field.vtu")  # the final field opens in the field's tools (issue 19)
    assert vtu.point_data["temperature_C"] == pytest.approx(r.final_field["temperature_C"])
    assert pyvista.read(out / "field.vtu").n_cells == len(r.final_field["cells"])
    summary = json.loads((out / "results.json").read_text())
    for iso in (0.0, -20.0, -40.0):
        for m in MEASURES:
            assert summary["final_extent"][f"{iso:g}C"][m] == pytest.approx(r.final(iso, m), rel=1e-12, abs=1e-15)
    w0 = summary["final_extent"]["0C"]["width_m"]
    assert f"{1e3 * w0:9.2f}" in printed.splitlines()[4]  # the 0 C row of the printed table (after its title)
    assert w0 > 1.27e-3  # wider than the 18 G probe
    assert summary["heat_drawn_J"] == pytest.approx(r.heat_drawn_J, rel=1e-12)
    assert summary["scenario"] == "small" and summary["end_time_s"] == pytest.approx(20.0)
    assert summary["scenario_definition"]["name"] == "small" and summary["citations"]
    # the time series: a header and one row per accepted step, same times as the library run
    rows = (out / "timeseries.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["time_s", "radius_m@0C"] and len(rows) == len(r.time_s) + 1
    assert np.array(rows[1:][-1].split(","), float)[0] == pytest.approx(20.0)
    assert np.loadtxt(out / "timeseries.csv", delimiter=",", skiprows=1)[:, 1] == pytest.approx(
        r.extents[0.0]["radius_m"], rel=1e-8, abs=1e-15)  # written with 9 significant digits
    with np.load(out / "field.npz") as z:
        assert set(z.files) == set(r.final_field)
        assert np.array_equal(z["temperature_C"], r.final_field["temperature_C"])
    for png in ("extent_vs_time.png", "isotherm_map.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / png).stat().st_size > 1000


def test_bad_scenario_refused_and_nothing_written(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text("""
[probe]
gauge = 18
active_length_m = 0.005
[[protocol]]
type = "freeze"
duration_s = 60
tip_temperature_C = -300
""")
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "protocol[0].tip_temperature_C" in err and "-300" in err and "[-196, 60]" in err
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_interrupted_run_keeps_what_it_wrote(tmp_path):
    import cryosim
    from cryosim.fast import run_axisymmetric

    s = cryosim.default_scenario().with_(numerics=cryosim.Numerics(resolution=0.35))

    def stop(t, t_end):
        if t > 30.0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_axisymmetric(s, output_dir=tmp_path, progress=stop)
    rows = (tmp_path / "timeseries.csv").read_text().splitlines()
    assert rows[0].startswith("time_s") and len(rows) > 5
    assert float(rows[-1].split(",")[0]) > 30.0


@pytest.mark.integration
def test_python_dash_m_cryosim(tmp_path):
    """``python -m cryosim`` is the CLI and returns its exit status (2: refused)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    p = subprocess.run([sys.executable, "-m", "cryosim", "run", "missing.toml"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip() == "cryosim: invalid scenario: scenario file = 'missing.toml' is not allowed: " \
                               "expected an existing TOML file"


@pytest.mark.integration
def test_validate_one_case(tmp_path, capsys):
    """`cryosim validate --case ID` runs that case alone; an unknown id is refused with exit code 2."""
    out = tmp_path / "val"
    assert main(["validate", "--fast", "--case", "neumann", "--out", str(out)]) == 0
    payload = json.loads((out / "results.json").read_text())
    assert [c["id"] for c in payload["cases"]] == ["neumann"]
    said = capsys.readouterr().out
    assert "[1/1] neumann ..." in said and "[1/1] neumann done in" in said  # not silent for minutes
    assert main(["validate", "--case", "no_such_case", "--out", str(tmp_path / "bad")]) == 2
    assert "unknown validation case" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.integration
def test_validate_never_replaces_an_earlier_report_unless_asked(tmp_path, capsys):
    """An earlier report is kept (the new one goes to a sibling), a symlinked report folder is refused, and
    --overwrite swaps the report whole (issue 16: validate overwrote it and wrote through links)."""
    out = tmp_path / "val"
    assert main(["validate", "--fast", "--case", "neumann", "--out", str(out)]) == 0
    first = (out / "report.md").read_bytes()
    assert main(["validate", "--fast", "--case", "neumann", "--out", str(out)]) == 0
    assert (out / "report.md").read_bytes() == first and (tmp_path / "val-2" / "report.md").is_file()
    (out / "stale.png").write_text("from an earlier report")
    assert main(["validate", "--fast", "--case", "neumann", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "stale.png").exists() and (out / "report.md").is_file()
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert main(["validate", "--fast", "--case", "neumann", "--out", str(tmp_path / "link")]) == 2
    assert "symbolic link" in capsys.readouterr().err and not list(real.iterdir())
    from cryosim.post.files import OutputError
    from cryosim.validation import run_validation

    with pytest.raises(OutputError, match="report.md"):
        run_validation(out, fast=True, cases=["neumann"])


DEVICE_SHORT = """
name = "device-band"
[probe]
design = "cryoneurolysis-N2O-1.3mm"
[[protocol]]
type = "freeze"
duration_s = 10
gas = "on"
[numerics]
resolution = 0.25
"""


@pytest.mark.slow  # 16 device runs on 2 worker processes (~25 s); the band itself is in tests/studies/test_design_band.py
def test_run_prints_the_band_of_a_design_with_ranges(tmp_path, capsys):
    """A catalogue design states ranges for its unknown values: `cryosim run` prints the band of the ice ball
    over them after the table, keeps its runs beside the result, and skips it with --no-band (issue 15)."""
    f = tmp_path / "s.toml"
    f.write_text(DEVICE_SHORT)
    assert main(["run", str(f), "--out", str(tmp_path / "a"), "--quiet", "--no-band"]) == 0
    assert "band over" not in capsys.readouterr().out
    assert main(["run", str(f), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "band over the design's stated ranges" in printed and "orifice_diameter_m" in printed
    line = next(x for x in printed.splitlines() if x.strip().startswith("0 °C:"))
    nominal, low, high = (float(v) for v in
                          __import__("re").match(r".*volume ([\d.]+) \[([\d.]+)–([\d.]+)\] mm³", line).groups())
    assert low <= nominal <= high and low < high
    assert (tmp_path / "b" / "band").is_dir()


@pytest.mark.parametrize("argv, key", [
    (["probes", "--tissue-temperature", "1e6"], "--tissue-temperature"),
    (["probes", "--tissue-temperature", "nan"], "--tissue-temperature"),
    (["design", "--find", "duration", "--nerve-distance-m", "0.003", "--threshold-C", "nan"], "--threshold-C"),
    (["design", "--find", "duration", "--nerve-distance-m", "-1", "--threshold-C", "-20"], "--nerve-distance-m"),
])
def test_command_arguments_are_checked_like_scenario_keys(argv, key, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err


def test_a_guard_stop_is_a_result_not_a_traceback(tmp_path, capsys, monkeypatch):
    """A physical guard that stops a run (cryosim.post.guards) ends with its own exit status and a one-line
    message; the unfinished folder is removed and nothing is published (issue 16)."""
    import cryosim.api
    from cryosim.post.guards import PhysicalGuardError

    def breach(*args, **kwargs):
        raise PhysicalGuardError("temperature -90.6 °C below the coldest the boundaries allow (-88.5 °C)")

    monkeypatch.setattr(cryosim.api, "run", breach)
    f = tmp_path / "s.toml"
    f.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "--quiet"]) == 5
    err = capsys.readouterr().err
    assert "stopped by a physical guard: temperature -90.6" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob(".*partial*"))


@pytest.mark.integration
def test_version_and_per_cycle_table(tmp_path, capsys):
    """`cryosim --version`; `cryosim run` of a two-freeze protocol prints the per-cycle table (issue 19)."""
    import cryosim

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"cryosim {cryosim.__version__}"
    f = tmp_path / "s.toml"
    f.write_text(SMALL.replace('[[protocol]]', '[[protocol]]\ntype = "freeze"\nduration_s = 10\n'
                               'tip_temperature_C = -70\n[[protocol]]\ntype = "thaw"\nduration_s = 10\n'
                               '[[protocol]]', 1))
    assert main(["run", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "per freeze cycle" in out
    table = out.split("per freeze cycle", 1)[1].splitlines()
    assert table[2].split()[0] == "1" and table[3].split()[0] == "2"


@pytest.mark.integration
def test_only_rank_zero_prints_under_mpirun(tmp_path):
    """Under mpirun every rank runs the command; lines were printed once per rank (issue 19)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                                                             "SLURM_PROCID")}
    zero = subprocess.run([sys.executable, "-m", "cryosim", "probes"], env=env, capture_output=True, text=True)
    one = subprocess.run([sys.executable, "-m", "cryosim", "probes"], env={**env, "PMI_RANK": "1"},
                         capture_output=True, text=True)
    assert zero.returncode == one.returncode == 0
    assert "argon-2.4mm" in zero.stdout and one.stdout == ""
