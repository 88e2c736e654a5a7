"""A sweep on a Dask cluster started the way a real one is (issue 18): ``dask scheduler`` and ``dask worker``
processes, the ``cryosim sweep --scheduler`` client in another process. The commands are those of the README's
"On a cluster" section, on localhost with free ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
#: Every process of the cluster imports cryosim from this tree (an installed cryosim needs no PYTHONPATH).
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
#: Seconds the scheduler and the workers get to come up (a loaded 2-core machine: a worker imports dask in ~3 s).
START_TIMEOUT_S = 90
#: A 4-point study: coarse grid, 20 s freeze (each point ~0.05 s CPU), one gauge the probe table refuses.
STUDY = textwrap.dedent("""
    [study]
    name = "cluster"
    design = "grid"

    [base]
    name = "cluster"
    [base.probe]
    gauge = 18
    active_length_m = 0.005
    coolant = "N2O"
    [[base.protocol]]
    type = "freeze"
    duration_s = 20
    tip_temperature_C = -70
    [base.numerics]
    resolution = 0.3

    [parameters]
    "probe.gauge" = [14, 99]
    "protocol[0].tip_temperature_C" = [-80, -60]
""")


def _dask() -> list[str]:
    """The ``dask`` command of this Python (its console script), else the module."""
    script = Path(sys.executable).parent / "dask"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs: list[subprocess.Popen]) -> None:
    """End every process group started (a worker's nanny and its worker process go together): SIGTERM, then
    SIGKILL for any still there after 10 s."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and 2 single-threaded workers as subprocesses on free ports; yields the scheduler address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    logs = []

    def start(name: str, args: list[str]) -> None:
        log = (tmp_path / f"{name}.log").open("w")
        logs.append(log)
        procs.append(subprocess.Popen(_dask() + args, env=ENV, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    try:
        start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
        start("workers", ["worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                          "--local-directory", str(tmp_path / "dask-worker-space")])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the scheduler may not listen yet: retry the connection until the deadline
            try:
                with distributed.Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("the Dask cluster did not come up: " + " | ".join(
                        (tmp_path / f"{n}.log").read_text()[-2000:] for n in ("scheduler", "workers")))
                time.sleep(0.5)
        yield address
    finally:
        _stop(procs)
        for log in logs:
            log.close()


@pytest.mark.slow  # a scheduler, 2 workers (each importing dask and cryosim) and a CLI client: ~25 s on 2 cores
def test_cli_sweep_on_dask_scheduler_and_worker_processes(cluster, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cryosim", "sweep", str(study), "--out", str(out), "--scheduler", cluster,
           "--skip-invalid", "--quiet"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    # exit status 6: the study ran and the refused gauge is a failed point
    assert p.returncode == 6, p.stdout + p.stderr
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 4
    assert list(df["status"]) == ["ok", "ok", "error", "error"]  # gauge 99 is not in the probe table
    assert (df["width_m@0C"].iloc[:2] > 0).all()
    assert (df["worker"].iloc[:2] != "").all()  # computed (by a worker process), not a refused point
    # the same numbers as local worker processes
    from cryosim.studies.sweep import sweep

    local = sweep(study, tmp_path / "local", workers=1, invalid="record")
    assert np.allclose(df["width_m@0C"].iloc[:2], local["width_m@0C"].iloc[:2], rtol=1e-12, atol=0)
    # the same command again resumes: every point is stored, nothing is recomputed
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 6, again.stdout + again.stderr
    assert "resuming: 4 stored" in again.stdout


#: A 3D scenario (a bone plate at 45° beside the probe: no axial symmetry) for `mpirun -n 2 cryosim run`; coarse
#: mesh and a 20 s freeze, the cheapest 3D run (~45 s on 2 ranks of a loaded 2-core machine).
BONE_3D = textwrap.dedent("""
    name = "bone-3d"
    medium = "soft_tissue"
    solver = "fem"

    [probe]
    gauge = 18
    active_length_m = 0.005
    coolant = "N2O"

    [[protocol]]
    type = "freeze"
    duration_s = 20
    tip_temperature_C = -70

    [bone]
    distance_m = 0.003
    angle_deg = 45.0

    [numerics]
    resolution = 0.3
""")


@pytest.mark.slow
@pytest.mark.fem
@pytest.mark.mpi
def test_cli_run_3d_under_mpirun_two_ranks(tmp_path):
    """`mpirun -n 2 cryosim run`: both ranks solve, rank 0 alone writes one result folder and prints."""
    try:
        import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
    except ImportError:
        pass
    pytest.importorskip("dolfinx")
    here = Path(sys.executable).parent / "mpirun"
    mpirun = str(here) if here.exists() else shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun not found")
    (tmp_path / "bone.toml").write_text(BONE_3D)
    p = subprocess.run([mpirun, "-n", "2", sys.executable, "-m", "cryosim", "run", "bone.toml", "--out", "out",
                        "--quiet"], env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.count("wrote out/") == 1 and "on 2 MPI ranks" in p.stdout
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bone.toml", "out"]  # one folder, no out-2 of rank 1
    d = json.loads((tmp_path / "out" / "results.json").read_text())
    assert d["diagnostics"]["ranks"] == 2 and d["geometry"] == "3d"
    assert d["energy_imbalance_relative"] < 1e-6
