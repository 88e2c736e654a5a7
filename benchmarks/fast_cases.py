"""Benchmark: the fast solver on the issue's cases, each against a converged reference of the same problem.

Cases (issue 7, item 8):

* ``default``: the built-in scenario (18 G, 5 mm tip, -70 °C, 120 s, soft tissue);
* ``lesion``: the seeds' typical lesion, three 4-minute freezes at -70 °C with
  30 s passive thaws (18 G, 5 mm tip); measured after each freeze;
* ``tip10_480s``: an 18 G probe with a 10 mm active tip frozen 480 s;
* ``probe24_tip30_15min``: a 2.4 mm probe with a 30 mm active tip frozen 15 min.

For each case the reference is the same problem at resolution ``--ref``
with tight step tolerances (computed once and cached in
``benchmarks/references.json``; ``--recompute`` refreshes it). The measured
run uses the default numerics. Errors are reported for the 0 °C radius at
mid-tip (``radius_mid_tip_m`` when the results carry it, else the largest
radius), the depth below the tip on the axis (``depth_below_tip_m`` when
available, else the length) and the volume, at every measuring time.
Times are CPU seconds of this process after numba compilation
(``time.process_time``). Usage::

    python benchmarks/fast_cases.py [--cases default lesion ...] [--ref 3] [--recompute]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cryosim
from cryosim import Numerics, Probe, Protocol

HERE = Path(__file__).resolve().parent
CACHE = HERE / "references.json"
#: Reference step tolerances: ten times tighter than the defaults (relative enthalpy change, cell temperature).
REF_ENTHALPY_RTOL, REF_TEMPERATURE_TOL_K = 2e-3, 5.0


def cases() -> dict[str, tuple[cryosim.Scenario, list[float]]]:
    """Scenario and measuring times (s) of each case."""
    base = cryosim.default_scenario().with_(thermocouples=())
    lesion = Protocol.cycles(3, 240.0, -70.0, 30.0)
    ends = [float(t) for t, s in zip(lesion.step_starts_s()[1:], lesion.steps) if isinstance(s, cryosim.Freeze)]
    return {
        "default": (base, [120.0]),
        "lesion": (base.with_(protocol=lesion, name="lesion"), ends),
        "tip10_480s": (base.with_(probe=Probe.from_gauge(18, active_length_m=10e-3, coolant="N2O"),
                                  protocol=Protocol.single_freeze(480.0, -70.0), name="tip10"), [480.0]),
        "probe24_tip30_15min": (base.with_(probe=Probe(outer_diameter_m=2.4e-3, active_length_m=30e-3, coolant="N2O"),
                                           protocol=Protocol.single_freeze(900.0, -70.0), name="tip30"), [900.0]),
    }


def measures(r: cryosim.Results, times: list[float]) -> dict[str, list[float]]:
    ext = r.extents[0.0]
    radius = "radius_mid_tip_m" if "radius_mid_tip_m" in ext else "radius_m"
    depth = "depth_below_tip_m" if "depth_below_tip_m" in ext else "length_m"
    return {m: [r.at(t, 0.0, m) for t in times] for m in (radius, depth, "volume_m3")}


def run(s: cryosim.Scenario, times: list[float], **numerics: object) -> tuple[dict, float, dict]:
    s = s.with_(numerics=Numerics(output_times_s=tuple(times), **numerics))  # type: ignore[arg-type]
    t0 = time.process_time()
    r = cryosim.run(s)
    return measures(r, times), time.process_time() - t0, r.diagnostics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=list(cases()))
    ap.add_argument("--ref", type=float, default=3.0)
    ap.add_argument("--recompute", action="store_true")
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"cryosim {cryosim.__version__}")
    cache = json.loads(CACHE.read_text()) if CACHE.exists() and not a.recompute else {}
    all_cases = cases()
    run(all_cases["default"][0].with_(protocol=Protocol.single_freeze(5.0, -70.0)), [5.0], resolution=0.3)  # compile
    t_default = None
    for name in a.cases:
        s, times = all_cases[name]
        key = f"{name}@{a.ref}"
        if key not in cache:
            ref, t_ref, d_ref = run(s, times, resolution=a.ref, enthalpy_rtol=REF_ENTHALPY_RTOL,
                                    temperature_tolerance_K=REF_TEMPERATURE_TOL_K)
            cache[key] = {"values": ref, "cpu_s": t_ref, "cells": d_ref.get("cells"), "steps": d_ref.get("steps")}
            CACHE.write_text(json.dumps(cache, indent=1))
        ref = cache[key]["values"]
        got, cpu, d = run(s, times)
        if name == "default":
            t_default = cpu
        print(f"\n{name}: {d.get('cells')} unknowns, {d.get('steps')} steps, {cpu:.3f} s CPU "
              f"(reference: resolution {a.ref}, {cache[key]['cells']} unknowns, {cache[key]['cpu_s']:.1f} s CPU)")
        worst = 0.0
        for m, vals in got.items():
            errs = [100.0 * (v / rv - 1.0) if rv else float("nan") for v, rv in zip(vals, ref[m])]
            worst = max(worst, *(abs(e) for e in errs))
            scale = 1e9 if m.endswith("m3") else 1e3
            unit = "mm3" if m.endswith("m3") else "mm"
            print(f"  {m:>18}: " + ", ".join(f"t={t:g} s {scale * v:.4g} {unit} ({e:+.2f} %)"
                                             for t, v, e in zip(times, vals, errs)))
        print(f"  worst error {worst:.2f} %" + (f"; CPU / default = {cpu / t_default:.2f}" if t_default else ""))


if __name__ == "__main__":
    main()
