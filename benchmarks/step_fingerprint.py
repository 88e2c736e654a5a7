"""Fingerprint of a few quick runs, to show that a refactoring of the time stepping changes nothing.

Runs ``default_scenario()`` at resolution 1 on the fast and the FE solver and
``examples/device_nerve.toml`` on the fast solver and on the FE solver at
resolution 0.5 (about 10 s in all once numba has compiled); prints steps,
rejected steps, Newton iterations, the final 0 °C radius and volume, the heat
drawn and the energy imbalance, and saves every time series to
``DIR/<tag>_<run>.npz``. ``--compare OTHER`` then reports, run by run, whether
the series are bitwise equal to those saved under the tag OTHER and the
largest relative difference otherwise. Usage:

    python benchmarks/step_fingerprint.py before [--dir /tmp/fp] [--runs fast dev fem femdev]
    python benchmarks/step_fingerprint.py after --compare before
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import cryosim
from cryosim.scenario import load_scenario

HERE = Path(__file__).resolve().parent
RUNS = {
    "fast": lambda: cryosim.run(cryosim.default_scenario(), solver="fast", resolution=1),
    "dev": lambda: cryosim.run(load_scenario(HERE.parent / "examples" / "device_nerve.toml"), solver="fast"),
    "fem": lambda: cryosim.run(cryosim.default_scenario(), solver="fem", resolution=1),
    "femdev": lambda: cryosim.run(load_scenario(HERE.parent / "examples" / "device_nerve.toml"), solver="fem",
                                  resolution=0.5),
}


def series(r: cryosim.Results) -> dict[str, np.ndarray]:
    out = {"time_s": r.time_s, "probe_surface_C": r.probe_surface_C, "probe_heat_W": r.probe_heat_W}
    out.update({"E_" + k: v for k, v in r.energy.items()})
    out.update({"D_" + k: v for k, v in r.device.items()})
    out.update({f"X_{iso}{m}": v for iso, d in r.extents.items() for m, v in d.items()})
    out.update({"F_" + k: v for k, v in r.final_field.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"})
    return out


def compare(a: Path, b: Path) -> str:
    A, B = np.load(a), np.load(b)
    if set(A.files) != set(B.files):
        return f"different series: {sorted(set(A.files) ^ set(B.files))}"
    if all(np.array_equal(A[k], B[k]) for k in A.files):
        return "bitwise equal"
    worst, name = 0.0, ""
    for k in A.files:
        if k == "E_imbalance_J":  # roundoff of a difference of large terms: its own line above
            continue
        if A[k].shape != B[k].shape:
            return f"{k}: {A[k].shape} rows against {B[k].shape}"
        scale = max(float(np.max(np.abs(A[k]))) if A[k].size else 0.0, 1e-300)
        d = float(np.max(np.abs(A[k] - B[k]))) / scale if A[k].size else 0.0
        if d > worst:
            worst, name = d, k
    return f"largest relative difference {worst:.2e} ({name})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tag")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/cryosim_fingerprint"))
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--compare", metavar="OTHER")
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    for name in a.runs:
        r = RUNS[name]()
        d = r.diagnostics
        line = {"steps": d["steps"], "rejected_error": d["rejected_error"], "rejected_newton": d["rejected_newton"],
                "newton_iterations": d["newton_iterations"], "radius_m": repr(r.final(0.0, "radius_m")),
                "volume_m3": repr(r.final(0.0, "volume_m3")), "heat_drawn_J": repr(r.heat_drawn_J),
                "energy_imbalance_relative": repr(r.energy_imbalance_relative)}
        print(name, json.dumps(line), flush=True)
        path = a.dir / f"{a.tag}_{name}.npz"
        np.savez(path, **series(r))
        if a.compare:
            print(f"  against {a.compare}: {compare(a.dir / f'{a.compare}_{name}.npz', path)}", flush=True)


if __name__ == "__main__":
    main()
