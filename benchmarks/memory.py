"""Benchmark (issue 18): peak resident memory of a run, of the 3D bone case and of a sweep.

Each case runs in a fresh child process (``--case``), which reports ``ru_maxrss`` of itself (RUSAGE_SELF) and of
its waited-for children (RUSAGE_CHILDREN: the largest single worker process of a sweep, not their sum); the
parent prints one line per case with its wall time::

    python benchmarks/memory.py                      # default run, 3D bone case (1 rank), 1000-point sweep
    python benchmarks/memory.py --cases default sweep --points 200
    python benchmarks/memory.py --cases bone --ranks 2   # the 3D case under mpirun -n 2 (largest rank)

Linux reports ``ru_maxrss`` in KiB; the figures are printed in MiB (2^20 bytes).
"""

from __future__ import annotations

try:
    import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
except ImportError:
    pass

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: ru_maxrss unit on Linux: KiB.
KIB_PER_MIB = 1024
#: Resolution of the 3D bone case (benchmarks/fem_bone_3d.py's default benchmark resolution).
BONE_RESOLUTION = 0.5


def _peaks_mib() -> dict[str, float]:
    return {"self_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB,
            "children_MiB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / KIB_PER_MIB}


def _case(name: str, points: int, workers: int) -> dict:
    import cryosim

    if name == "default":
        r = cryosim.run(cryosim.default_scenario())
        what = f"default scenario, {r.solver} solver"
    elif name == "bone":
        sys.path.insert(0, str(HERE))
        from fem_bone_3d import scenario

        from cryosim.fem import run_fem

        r = run_fem(scenario(BONE_RESOLUTION))
        what = f"3D bone plate case, resolution {BONE_RESOLUTION:g}, {r.diagnostics['dofs']} dofs"
    else:
        sys.path.insert(0, str(HERE))
        from sweep_1000 import study

        from cryosim.studies.sweep import sweep

        with tempfile.TemporaryDirectory(prefix="cryosim-memory-") as tmp:
            df = sweep(study(points, 0.5), Path(tmp) / "s", workers=workers, plots=False)
        what = f"{len(df)}-point sweep (benchmarks/sweep_1000.py grid, resolution 0.5), {workers} workers"
    return {"case": name, "what": what, **_peaks_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=["default", "bone", "sweep"], choices=("default", "bone", "sweep"))
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ranks", type=int, default=1, help="MPI ranks of the bone case (mpirun -n RANKS)")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # the child process's own case
    args = ap.parse_args()
    if args.case:
        out = _case(args.case, args.points, args.workers)
        rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
        if rank == 0:
            print("MEMORY " + json.dumps(out), flush=True)
        return
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs")
    for name in args.cases:
        cmd = [sys.executable, __file__, "--case", name, "--points", str(args.points), "--workers", str(args.workers)]
        if name == "bone" and args.ranks > 1:
            mpirun = Path(sys.executable).parent / "mpirun"
            cmd = [str(mpirun if mpirun.exists() else "mpirun"), "-n", str(args.ranks)] + cmd
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            print(f"{name}: failed ({p.returncode}): {p.stderr[-2000:]}")
            continue
        line = next(ln for ln in p.stdout.splitlines() if ln.startswith("MEMORY "))
        d = json.loads(line[len("MEMORY "):])
        # under mpirun, rank 0 reports itself; the launcher's RUSAGE_CHILDREN here holds the largest rank
        largest_rank = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / KIB_PER_MIB if args.ranks > 1 else None
        extra = f", largest process under mpirun so far {largest_rank:.0f} MiB" if largest_rank and name == "bone" else ""
        print(f"{name:8s} {d['what']}: wall {wall:.1f} s; peak RSS {d['self_MiB']:.0f} MiB in the process, "
              f"{d['children_MiB']:.0f} MiB in its largest child{extra}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
