"""The temperature field over time (issue 19): temperature.pvd and its VTU frames open in meshio and pyvista,
at the frame times (0, the output times, every protocol step's end), with the run's values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import cryosim
from cryosim.post.series import FRAMES_FOLDER, MAX_OUTPUT_FRAMES, SERIES_FILE, frame_times_s, read_pvd

meshio = pytest.importorskip("meshio")


def _check_series(out: Path, r, expected_times_s, kind: str) -> None:
    """Open the series with meshio (each frame) and pyvista (the collection); check times and values."""
    pyvista = pytest.importorskip("pyvista")
    frames = read_pvd(out / SERIES_FILE)
    times = [t for t, _ in frames]
    assert times == pytest.approx(list(expected_times_s), abs=1e-9)
    assert all(p.parent.name == FRAMES_FOLDER and p.is_file() for _, p in frames)
    reader = pyvista.get_reader(out / SERIES_FILE)
    assert reader.time_values == pytest.approx(times, abs=1e-9)
    for t, path in frames:
        m = meshio.read(path)
        assert m.cells[0].type == kind and m.points.shape[1] == 3
        T = m.point_data["temperature_C"]
        # the coldest node is on the probe surface: the run's recorded minimum at that time
        k = int(np.argmin(np.abs(r.time_s - t)))
        assert r.time_s[k] == pytest.approx(t, abs=1e-9)
        assert T.min() == pytest.approx(r.probe_surface_C[k], abs=1e-6)
        reader.set_active_time_value(t)
        block = reader.read()[0]
        assert block.n_points == m.points.shape[0]
        assert np.asarray(block.point_data["temperature_C"]) == pytest.approx(T, abs=0.0)
    last = meshio.read(frames[-1][1])
    assert frames[0][0] == 0.0 and np.all(meshio.read(frames[0][1]).point_data["temperature_C"]
                                          == pytest.approx(r.scenario.initial_temperature_C))
    if r.final_field["points_m"].shape[1] == 2:  # (r, z) stored as x = r, y = z, 0
        assert last.points[:, :2] == pytest.approx(r.final_field["points_m"], abs=0.0)
        assert np.all(last.points[:, 2] == 0.0)
        assert last.point_data["temperature_C"] == pytest.approx(r.final_field["temperature_C"], abs=0.0)


def _small(numerics: cryosim.Numerics) -> cryosim.Scenario:
    return cryosim.default_scenario().with_(protocol=cryosim.Protocol.cycles(2, 10.0, -70.0, 5.0),
                                            numerics=numerics)


def test_fast_solver_writes_a_field_series(tmp_path):
    sc = _small(cryosim.Numerics(resolution=0.3, output_times_s=(3.0, 7.5)))
    r = cryosim.run(sc, output_dir=tmp_path)
    assert r.solver == "fast"
    _check_series(tmp_path, r, [0.0, 3.0, 7.5, 10.0, 15.0, 25.0], "triangle")


def test_frame_times_are_bounded():
    sc = cryosim.default_scenario().with_(protocol=cryosim.Protocol.cycles(2, 60.0, -70.0, 30.0),
                                          numerics=cryosim.Numerics(output_times_s=tuple(np.arange(1.0, 150.0, 0.1))))
    t = frame_times_s(sc)
    assert {0.0, 60.0, 90.0, 150.0} <= set(t.tolist())
    assert len(t) <= MAX_OUTPUT_FRAMES + 4 and np.all(np.diff(t) > 0)


def _fem() -> None:
    try:
        import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
    except ImportError:
        pass
    pytest.importorskip("dolfinx")
    pytest.importorskip("gmsh")


@pytest.mark.integration
@pytest.mark.fem
def test_fem_solver_writes_a_field_series(tmp_path):
    _fem()
    from cryosim.fem import run_fem

    sc = _small(cryosim.Numerics(resolution=0.4, output_times_s=(3.0,)))
    r = run_fem(sc, output_dir=tmp_path)
    assert r.geometry == "axisymmetric"
    _check_series(tmp_path, r, [0.0, 3.0, 10.0, 15.0, 25.0], "triangle")
    assert not list(tmp_path.glob("*.bp"))  # the VTX output is gone (nothing installed here reads it)
    assert (tmp_path / "ice_ball_0C.png").stat().st_size > 1000


SCRIPT = textwrap.dedent("""
    try:
        import dolfinx_solver  # noqa
    except ImportError:
        pass
    import json, sys
    import numpy as np
    from mpi4py import MPI
    import cryosim
    from cryosim.fem import run_fem

    sc = cryosim.default_scenario().with_(protocol=cryosim.Protocol.single_freeze(10.0, -70.0),
                                          numerics=cryosim.Numerics(resolution=0.4, output_times_s=(4.0,)))
    r = run_fem(sc, output_dir=sys.argv[1], force_3d=True)
    if MPI.COMM_WORLD.rank == 0:
        np.save(sys.argv[1] + "/probe.npy", np.column_stack([r.time_s, r.probe_surface_C]))
        print("RESULT " + json.dumps({"ranks": r.diagnostics["ranks"]}))
""")


@pytest.mark.fem
@pytest.mark.mpi
@pytest.mark.slow  # a 3D run under mpirun -n 2: ~25 s on 2 loaded cores
def test_fem_series_under_mpi_is_one_merged_grid(tmp_path):
    _fem()
    here = Path(sys.executable).parent / "mpirun"
    mpirun = str(here) if here.exists() else shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("no mpirun")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([mpirun, "-n", "2", sys.executable, str(script), str(out)], capture_output=True, text=True,
                       timeout=600, env=env, cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))
    assert json.loads(line[len("RESULT "):])["ranks"] == 2
    probe = np.load(out / "probe.npy")
    frames = read_pvd(out / SERIES_FILE)
    assert [t for t, _ in frames] == pytest.approx([0.0, 4.0, 10.0])
    for t, path in frames:
        m = meshio.read(path)
        assert m.cells[0].type == "tetra"
        assert len(np.unique(m.points, axis=0)) == len(m.points)  # partition-boundary nodes merged
        assert np.array_equal(np.unique(m.cells[0].data), np.arange(len(m.points)))
        k = int(np.argmin(np.abs(probe[:, 0] - t)))
        assert m.point_data["temperature_C"].min() == pytest.approx(probe[k, 1], abs=1e-6)
