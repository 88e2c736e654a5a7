"""Benchmark: the default scenario on the fast solver, against a refined run and two peers.

Prints, for a few resolutions, the wall time after compilation, the steps,
Newton iterations and LU factorisations, and the error
of the 0 °C radius, length and volume against a refined run (resolution
``--ref``, tight time tolerance); then runs the peers in benchmarks/peers/
(FiPy and a plain DOLFINx script) at the settings given and prints the time
ratios. Usage:

    python benchmarks/fast_default.py [--ref 2.0] [--levels 0.5 0.7 1.0] [--repeat 2] [--peers [--no-fipy]]

Times are CPU seconds of this process (``time.process_time``), which stay
meaningful on a shared machine, and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cryosim
from cryosim import Numerics
from cryosim.fast import run_axisymmetric

HERE = Path(__file__).resolve().parent


def measure(res: float, rtol: float, repeat: int = 1, tol_K: float = 50.0) -> tuple[dict, float, int, float, dict]:
    s = cryosim.default_scenario().with_(thermocouples=(), numerics=Numerics(resolution=res, enthalpy_rtol=rtol,
                                                                            temperature_tolerance_K=tol_K))
    best, wall = float("inf"), float("inf")
    for _ in range(repeat):
        t0, w0 = time.process_time(), time.perf_counter()
        r = run_axisymmetric(s)
        best = min(best, time.process_time() - t0)
        wall = min(wall, time.perf_counter() - w0)
    vals = {m: r.final(0.0, m) for m in ("radius_m", "length_m", "volume_m3")}
    work = {k: r.diagnostics.get(k, 0) for k in ("steps", "newton_iterations", "factorisations")}
    return vals, best, int(r.diagnostics["cells"]), wall, work


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", type=float, default=2.0)
    ap.add_argument("--levels", type=float, nargs="+", default=[0.5, 0.7, 1.0])
    ap.add_argument("--peers", action="store_true", help="also run the FiPy and plain-DOLFINx peers")
    ap.add_argument("--no-fipy", action="store_true", help="with --peers: the DOLFINx peers only")
    ap.add_argument("--repeat", type=int, default=2, help="runs per level (the best CPU and wall time are printed)")
    # the peers' settings that reach ~1 % of their own refined runs (benchmarks/RESULTS.md)
    ap.add_argument("--fipy-args", default="--cells-per-mm 8 --dt 2 --sweeps 2")
    ap.add_argument("--dolfinx-args", default="--h-tip-mm 0.14 --h-far-mm 2.1 --dt 2")
    # the fastest usual way: one linear solve per step with k and dH/dT lagged (benchmarks/peers/dolfinx_peer.py)
    ap.add_argument("--dolfinx-lagged-args", default="--h-tip-mm 0.14 --h-far-mm 2.1 --dt 2 --scheme lagged")
    a = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    measure(0.25, 1e-2)  # compile
    ref, t_ref, n_ref, _, _ = measure(a.ref, 2e-3, tol_K=5.0)
    print(f"reference: resolution {a.ref}, {n_ref} cells, {t_ref:.2f} s CPU: radius {1e3 * ref['radius_m']:.4f} mm, "
          f"length {1e3 * ref['length_m']:.4f} mm, volume {1e9 * ref['volume_m3']:.3f} mm3")
    print(f"{'res':>5} {'cells':>6} {'CPU s':>8} {'wall s':>8} {'err R %':>8} {'err L %':>8} {'err V %':>8} "
          f"{'steps':>6} {'Newton':>7} {'LU':>5}")
    rows = []
    for res in a.levels:
        v, t, n, w, work = measure(res, 2e-2, repeat=a.repeat)
        err = {m: 100 * (v[m] / ref[m] - 1) for m in v}
        rows.append((res, n, t, err))
        print(f"{res:5.2f} {n:6d} {t:8.3f} {w:8.3f} {err['radius_m']:8.3f} {err['length_m']:8.3f} {err['volume_m3']:8.3f} "
              f"{work['steps']:6d} {work['newton_iterations']:7d} {work['factorisations']:5d}")
    ok = [r for r in rows if max(abs(e) for e in r[3].values()) <= 1.0]
    best = min(ok, key=lambda r: r[2]) if ok else None
    if best:
        print(f"fastest within 1 % of the reference: resolution {best[0]} in {best[2]:.3f} s CPU")
    else:
        best = rows[-1]
        print(f"no level within 1 % of the reference; peers compared with resolution {best[0]}")
    if a.peers:
        for name, extra in (("fipy_peer.py", a.fipy_args), ("dolfinx_peer.py", a.dolfinx_args),
                            ("dolfinx_peer.py", a.dolfinx_lagged_args)):
            if a.no_fipy and name == "fipy_peer.py":
                continue
            script = HERE / "peers" / name
            if not script.exists():
                print(f"{name}: not found")
                continue
            out = subprocess.run([sys.executable, str(script), *extra.split()], capture_output=True, text=True)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if not line:
                print(f"{name}: failed\n{out.stderr[-2000:]}")
                continue
            d = json.loads(line[-1])
            errs = {m: 100 * (d[k] / (ref[m] * f) - 1) for m, k, f in
                    (("radius_m", "radius_mm", 1e3), ("length_m", "length_mm", 1e3), ("volume_m3", "volume_mm3", 1e9))}
            cpu = d.get("cpu_s", d["wall_s"])
            print(f"{d['peer']}{' (' + d['scheme'] + ')' if 'scheme' in d else ''}: {cpu:.2f} s CPU, errors vs cryosim reference R {errs['radius_m']:.2f} % "
                  f"L {errs['length_m']:.2f} % V {errs['volume_m3']:.2f} %; CPU time ratio peer / cryosim = "
                  f"{cpu / best[2]:.2f}")


if __name__ == "__main__":
    main()
