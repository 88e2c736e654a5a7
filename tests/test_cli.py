"""Command line: default run writes its files; a bad scenario is refused cleanly."""

import json

import pytest

from cryosim.cli import main


def test_run_writes_outputs(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text("""
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
""")
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "--quiet"]) == 0
    for name in ("results.json", "timeseries.csv", "field.npz", "extent_vs_time.png", "isotherm_map.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "results.json").read_text())
    assert summary["final_extent"]["0C"]["width_m"] > 1.27e-3
    assert "isotherm" in capsys.readouterr().out


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
