r"""Benchmark: the finite-element solver on the default scenario (issue 7, item 4).

Default scenario (18 G probe, 5 mm active tip at -70 °C for 120 s in perfused
soft tissue), axisymmetric FE (``solver="fem"``). For each resolution it
prints the CPU time of the process (``time.process_time``, after a warm-up
run that compiles the forms) and the errors of the 0 °C radius, length and
volume at 120 s against a refined FE run: ``--ref`` resolution with tight
step tolerances (``--ref-enthalpy-rtol``, ``--ref-temperature-tolerance-K``).
The reference is computed once and recorded in ``--ref-file`` (JSON); it is
reused while its settings match. ``--peer`` also runs the plain-DOLFINx peer
(``benchmarks/peers/dolfinx_peer.py``, both schemes) against the same reference.

Usage::

    .venv/bin/python benchmarks/fem_default.py [--levels 0.7 1.0 1.5] [--ref 3] [--peer]

Target (issue): within 1 % of the reference in at most 3 s of CPU.
"""

from __future__ import annotations

try:
    import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
except ImportError:
    pass

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cryosim
from cryosim.fem import run_fem

HERE = Path(__file__).resolve().parent
MEASURES = (("radius_m", "radius_mm", 1e3), ("length_m", "length_mm", 1e3), ("volume_m3", "volume_mm3", 1e9))
#: Protocol of the warm-up run (s): long enough to compile every form, short enough to cost nothing.
WARM_UP_S = 2.0


def scenario(resolution: float, **numerics: float) -> cryosim.Scenario:
    return cryosim.default_scenario().with_(solver="fem",
                                            numerics=cryosim.Numerics(resolution=resolution, **numerics))


def measure(sc: cryosim.Scenario) -> dict:
    c0 = time.process_time()
    r = run_fem(sc)
    cpu = time.process_time() - c0
    d = r.diagnostics
    out = {"cpu_s": cpu, "dofs": d["dofs"], "steps": d["steps"], "rejected": d["rejected_error"] + d["rejected_newton"],
           "newton": d["newton_iterations"], "imbalance": r.energy_imbalance_relative}
    for m, key, f in MEASURES:
        out[key] = f * r.final(0.0, m)
    return out


def reference(args: argparse.Namespace) -> dict:
    settings = {"resolution": args.ref, "enthalpy_rtol": args.ref_enthalpy_rtol,
                "temperature_tolerance_K": args.ref_temperature_tolerance_K}
    path = Path(args.ref_file)
    if path.exists():
        rec = json.loads(path.read_text())
        if rec.get("settings") == settings:
            return rec
    res = measure(scenario(args.ref, enthalpy_rtol=args.ref_enthalpy_rtol,
                           temperature_tolerance_K=args.ref_temperature_tolerance_K))
    rec = {"settings": settings, **res}
    path.write_text(json.dumps(rec, indent=1) + "\n")
    return rec


def errors(run: dict, ref: dict) -> str:
    return " / ".join(f"{100 * (run[k] / ref[k] - 1):+.2f}" for _, k, _ in MEASURES) + " %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", type=float, nargs="+", default=[0.7, 1.0, 1.5])
    ap.add_argument("--ref", type=float, default=3.0)
    ap.add_argument("--ref-enthalpy-rtol", type=float, default=2e-3)
    ap.add_argument("--ref-temperature-tolerance-K", type=float, default=1.0)
    ap.add_argument("--ref-file", default=str(HERE / "fem_default_reference.json"))
    ap.add_argument("--peer", action="store_true")
    args = ap.parse_args()
    ref = reference(args)
    print(f"reference: resolution {args.ref:g}, enthalpy_rtol {args.ref_enthalpy_rtol:g}, temperature tolerance "
          f"{args.ref_temperature_tolerance_K:g} K: {ref['dofs']} dofs, {ref['steps']} steps, "
          + ", ".join(f"{k} {ref[k]:.4f}" for _, k, _ in MEASURES))
    run_fem(cryosim.default_scenario().with_(solver="fem", protocol=cryosim.Protocol.single_freeze(WARM_UP_S, -70.0)))
    print("| resolution | dofs | steps (rejected) | Newton its | CPU s | errors R / L / V | energy imbalance |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for res in args.levels:
        m = measure(scenario(res))
        print(f"| {res:g} | {m['dofs']} | {m['steps']} ({m['rejected']}) | {m['newton']} | {m['cpu_s']:.2f} | "
              f"{errors(m, ref)} | {m['imbalance']:.1e} |")
    if args.peer:
        peer = HERE / "peers" / "dolfinx_peer.py"
        for extra in (["--scheme", "lagged", "--dt", "2"], ["--scheme", "newton", "--dt", "2"]):
            cmd = [sys.executable, str(peer), *extra]
            subprocess.run(cmd, capture_output=True, check=True)  # warm-up: form compilation
            p = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            print(f"| plain DOLFINx {' '.join(extra)} | {p['dofs']} | {p['steps']} | {p['newton_its']} | "
                  f"{p['cpu_s']:.2f} | {errors(p, ref)} | |")


if __name__ == "__main__":
    main()
