"""Benchmark (issue 16): monotone answers on every grid a user can ask for, over random scenario pairs.

Draws random scenarios (ISO 9626 gauge, active length 1-10 mm, tip -80 to -20 °C, freeze 5-60 s, one of six
media, perfusion x0-4, resolution 0.25-0.35: the coarse end of what the solver allows) and, for each, a partner
that differs only in a 10 K colder tip or a 1.5x longer freeze. Counts on the fast solver

* monotonicity violations: the partner's final 0 °C volume smaller than the first's (beyond 0.1 %);
* volume dips: the 0 °C volume dropping by more than 0.2 % during a constant freeze, once above 20 mm³;
* pairs that share one mesh (the mesh follows the geometry and the protocol's mesh class);
* runs that end in an error.

    python benchmarks/fuzz_monotonicity.py [--pairs 400] [--seed 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time

import numpy as np

import cryosim
from cryosim import Numerics, Probe, Protocol
from cryosim.fast import run_axisymmetric
from cryosim.fast.solver import axisymmetric_grid_for
from cryosim.physics.probe import ISO_9626_OUTER_DIAMETER_MM

MEDIA = ["soft_tissue", "muscle", "fat", "water", "saline", "agar_gel"]
#: volume dip that counts (relative) once the ice ball holds more than RESOLVED_ICE_M3 (tests/integration/test_properties.py)
DIP, RESOLVED_ICE_M3, VIOLATION = 2e-3, 20e-9, 1e-3


def scenario(gauge, active_mm, tip_C, duration_s, medium, perfusion_scale, resolution):
    m = cryosim.get_material(medium)
    m = m.with_(perfusion_per_s=m.perfusion_per_s * perfusion_scale)
    return cryosim.default_scenario().with_(
        probe=Probe.from_gauge(gauge, active_length_m=active_mm * 1e-3), medium=m, thermocouples=(),
        protocol=Protocol.single_freeze(duration_s, tip_C), numerics=Numerics(resolution=resolution))


def worst_dip(r) -> float:
    v = np.asarray(r.extents[0.0]["volume_m3"])
    running = np.maximum.accumulate(v)
    big = running > RESOLVED_ICE_M3
    return float(np.max(1.0 - v[big] / running[big])) if big.any() else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=2)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"cryosim {cryosim.__version__}")
    rng = random.Random(a.seed)
    gauges = sorted(ISO_9626_OUTER_DIAMETER_MM)
    violations, dips, shared, errors, worst, runs = [], [], 0, 0, 0.0, 0
    t0 = time.perf_counter()
    for i in range(a.pairs):
        g, act, T, t = rng.choice(gauges), rng.uniform(1, 10), rng.uniform(-80, -20), rng.uniform(5, 60)
        med, ps, res, kind = rng.choice(MEDIA), rng.choice([0, .25, .5, 1, 2, 4]), rng.choice([.25, .3, .35]), \
            rng.choice(["tip", "duration"])
        first = scenario(g, act, T, t, med, ps, res)
        second = scenario(g, act, T - 10, t, med, ps, res) if kind == "tip" else scenario(g, act, T, 1.5 * t, med, ps, res)
        try:
            A, B = run_axisymmetric(first), run_axisymmetric(second)
        except Exception as e:  # noqa: BLE001 - counted and shown
            errors += 1
            print(f"  pair {i}: {type(e).__name__}: {e}")
            continue
        runs += 2
        shared += axisymmetric_grid_for(first) is axisymmetric_grid_for(second)
        va, vb = A.final(0.0, "volume_m3"), B.final(0.0, "volume_m3")
        if va > 1e-9 and vb < va * (1 - VIOLATION):
            violations.append((i, kind, g, med, res, va, vb))
        for r in (A, B):
            d = worst_dip(r)
            worst = max(worst, d)
            if d > DIP:
                dips.append((i, med, res, d))
    wall = time.perf_counter() - t0
    print(f"{a.pairs} pairs ({runs} runs, seed {a.seed}) in {wall:.0f} s: {len(violations)} monotonicity "
          f"violations, {len(dips)} runs with a 0 °C volume dip > {100 * DIP:g} % (worst {100 * worst:.2f} %), "
          f"{shared} pairs on one shared mesh, {errors} errors")
    for v in violations:
        print("  violation:", v)
    for d in dips:
        print("  dip:", d)


if __name__ == "__main__":
    main()
