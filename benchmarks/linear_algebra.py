"""Benchmark: how the fast solver's Newton corrections are solved (issue 7).

For a few scenarios, runs the fast axisymmetric solver with each linear-solver
option of :class:`cryosim.fast.newton.LinearSolverSettings` and prints a
table: cells, option, factorisations and their CPU time, solve CPU time,
Newton iterations, total CPU time of the run, and the 0 °C radius (equal
results at equal tolerances). Times are CPU seconds of this process
(``time.process_time``) after a warm-up run (numba compiles on first call).

Option (a) of the issue, the band LU + GMRES of the kernel before this
change, no longer exists in the package; ``--baseline-src DIR`` runs the same
scenarios with the package found in ``DIR`` (for instance
``git archive 24224ff cryosim | tar -x -C DIR``) and prints its figures.

Usage::

    python benchmarks/linear_algebra.py [--cases default tip10] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import cryosim
from cryosim import Probe, Protocol

CASES = {
    "default": lambda s: s,
    "tip10": lambda s: s.with_(probe=Probe.from_gauge(18, active_length_m=10e-3, coolant="N2O"),
                               protocol=Protocol.single_freeze(480, -70)),
}

OPTIONS = {
    "petsc-qmd exact": dict(backend="petsc", petsc_ordering="qmd", refactor="exact"),
    "petsc-nd exact": dict(backend="petsc", petsc_ordering="nd", refactor="exact"),
    "petsc-qmd stage": dict(backend="petsc", petsc_ordering="qmd", refactor="stage"),
    "petsc-qmd lagged": dict(backend="petsc", petsc_ordering="qmd", refactor="lagged"),
    "petsc-metisnd lagged": dict(backend="petsc", petsc_ordering="metisnd", refactor="lagged"),
    "petsc-metisnd lagged, no Broyden": dict(backend="petsc", petsc_ordering="metisnd", refactor="lagged",
                                             broyden_memory=0),
    "splu-colamd exact": dict(backend="superlu", permc_spec="COLAMD", symmetric_mode=False, diag_pivot_thresh=1.0),
    "splu-mmd+sym exact": dict(backend="superlu", permc_spec="MMD_AT_PLUS_A", symmetric_mode=True,
                               diag_pivot_thresh=0.0),
    "splu-mmd+sym stage": dict(backend="superlu", permc_spec="MMD_AT_PLUS_A", symmetric_mode=True,
                               diag_pivot_thresh=0.0, refactor="stage"),
    "splu-mmd+sym lagged": dict(backend="superlu", permc_spec="MMD_AT_PLUS_A", symmetric_mode=True,
                                diag_pivot_thresh=0.0, refactor="lagged"),
}


def run(scenario, settings) -> dict:
    """One run with the given linear-solver settings (the solver's own path, with the settings passed in)."""
    from cryosim.fast import solver as fast
    from cryosim.fast.stepper import FVSystem
    from cryosim.meshing.grids import ACTIVE
    from cryosim.numerics.stepsize import integrate
    from cryosim.physics.boundary import probe_boundaries
    from cryosim.post.isotherms import extent_axisymmetric

    t0 = time.process_time()
    s = scenario
    grid = fast.axisymmetric_grid_for(s)
    bcs = probe_boundaries(s.probe, s.protocol, grid.group_area_m2(ACTIVE), s.initial_temperature_C)
    system = FVSystem(grid, s.medium.property_row()[None, :], s.initial_temperature_C, s.arterial_temperature_C,
                      bcs, fast._tolerances(s.numerics), settings)
    st = integrate(system, s.protocol.duration_s, fast.step_settings(s.numerics), breaks_s=bcs.breakpoints_s())
    cpu = time.process_time() - t0
    ext = extent_axisymmetric(grid.points_m[:, 0], grid.points_m[:, 1], grid.triangles,
                              system.T[grid.point_source], 0.0)
    c = system.counters
    return dict(cells=grid.n_cells, factorisations=c["factorisations"], factor_cpu_s=c["factor_cpu_s"],
                solve_cpu_s=c["solve_cpu_s"], newton=st.iterations, cpu_s=cpu, radius_mm=ext.radius_m * 1e3)


def baseline(cases: list[str], src: str) -> dict:
    """Figures of the package in ``src`` (run_axisymmetric, after a warm-up), in a subprocess."""
    code = f"""
import json, time, cryosim
from cryosim.fast import run_axisymmetric
import benchmarks_cases
out = {{}}
run_axisymmetric(cryosim.default_scenario())
for name in {cases!r}:
    s = benchmarks_cases.CASES[name](cryosim.default_scenario())
    t0 = time.process_time(); r = run_axisymmetric(s); cpu = time.process_time() - t0
    d = r.diagnostics
    out[name] = dict(cells=d["cells"], factorisations=d["factorisations"], newton=d["newton_iterations"],
                     krylov=d.get("krylov_iterations"), cpu_s=cpu, radius_mm=r.final(0.0, "radius_m") * 1e3)
print(json.dumps(out))
"""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, here]))
    out = subprocess.run([sys.executable, "-c", code.replace("benchmarks_cases", "linear_algebra")], env=env, cwd=src,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=list(CASES))
    ap.add_argument("--options", nargs="+", default=list(OPTIONS))
    ap.add_argument("--baseline-src", default=None, help="source tree of the band LU + GMRES kernel (option a)")
    args = ap.parse_args()
    from cryosim.fast.newton import LinearSolverSettings

    run(cryosim.default_scenario(), LinearSolverSettings())  # warm-up: numba compilation / cache load
    print(f"{'case':8s} {'cells':>6s} {'option':22s} {'fact':>5s} {'fact s':>7s} {'solve s':>7s} "
          f"{'newton':>6s} {'total s':>7s} {'R0 mm':>7s}")
    if args.baseline_src:
        for name, b in baseline(args.cases, args.baseline_src).items():
            print(f"{name:8s} {b['cells']:6d} {'(a) band LU + GMRES':22s} {b['factorisations']:5d} {'':>7s} {'':>7s} "
                  f"{b['newton']:6d} {b['cpu_s']:7.2f} {b['radius_mm']:7.3f}   ({b['krylov']} Krylov iterations)",
                  flush=True)
    for name in args.cases:
        s = CASES[name](cryosim.default_scenario())
        for opt in args.options:
            r = run(s, LinearSolverSettings(**OPTIONS[opt]))
            print(f"{name:8s} {r['cells']:6d} {opt:22s} {r['factorisations']:5d} {r['factor_cpu_s']:7.3f} "
                  f"{r['solve_cpu_s']:7.3f} {r['newton']:6d} {r['cpu_s']:7.2f} {r['radius_mm']:7.3f}", flush=True)


if __name__ == "__main__":
    main()
