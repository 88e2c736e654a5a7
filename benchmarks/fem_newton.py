r"""Benchmark: the finite-element solver's Newton iteration on sharp freezing, and device probes (issue 8).

Prints, for each run, CPU time (``time.process_time``), steps (rejected by the
error test / by a failed solve), Newton iterations, factorisations, nodes and
the 0 °C (or saline liquidus) result:

1. water (freezes over 0.5 K), 2D (r, z), tip -70 °C for 20 s, resolution
   0.5, for each refactorisation rule (``exact``, ``stage``, ``lagged``), and
   the fast solver at resolution 2 for the answer;
2. the catalogue N2O probe ``cryoneurolysis-N2O-1.3mm`` as a Joule-Thomson
   device (gas on 60 s) in soft tissue: FE (2D) against the fast solver: tip
   temperature, cooling power, wall heat, ice radius and volume;
3. with ``--3d``: 3D, 0.9 % saline at 20 °C next to the bone plate of
   ``validation/bone3d`` at 45°, the same device probe, 120 s, at
   ``--resolution`` (default 0.35), LU by MUMPS and by PETSc's own LU
   (``--petsc-lu``, slow).

Usage::

    .venv/bin/python benchmarks/fem_newton.py [--3d] [--resolution 0.35] [--petsc-lu]
"""

from __future__ import annotations

try:
    import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
except ImportError:
    pass

import argparse
import time

import cryosim
from cryosim import Freeze, Numerics, Protocol, get_material
from cryosim.fast.solver import run_axisymmetric
from cryosim.fem.newton import NewtonSettings
from cryosim.fem.solver import FEMSettings, run_fem
from cryosim.physics.catalogue import probe_from_design
from cryosim.physics.scene import BonePlate

DESIGN = "cryoneurolysis-N2O-1.3mm"
KEYS = ("steps", "rejected_error", "rejected_newton", "newton_iterations", "factorisations", "dofs")


def _timed(fn):
    t0 = time.process_time()
    r = fn()
    return r, time.process_time() - t0


def _row(label: str, r, cpu_s: float, iso_C: float = 0.0) -> str:
    d = r.diagnostics
    return (f"| {label} | {d.get('dofs', d.get('cells', '–'))} | {d['steps']} ({d.get('rejected_error', 0)} / "
            f"{d.get('rejected_newton', 0)}) | {d.get('newton_iterations', '–')} | {d.get('factorisations', '–')} | "
            f"{cpu_s:.2f} | {1e3 * r.final(iso_C, 'radius_m'):.3f} | {1e9 * r.final(iso_C, 'volume_m3'):.1f} |")


HEAD = ("| run | nodes | steps (rejected: error / solve) | Newton its | factorisations | CPU s | radius mm | volume mm³ |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |")


def water() -> None:
    s = cryosim.default_scenario().with_(
        medium=get_material("water"), initial_temperature_C=20.0, arterial_temperature_C=20.0, thermocouples=(),
        protocol=Protocol((Freeze(20.0, -70.0),)), numerics=Numerics(resolution=0.5))
    run_fem(s.with_(protocol=Protocol((Freeze(1.0, -70.0),))), write_fields=False)  # compile the forms
    print("\n1. water, 2D, tip -70 °C, 20 s\n\n" + HEAD)
    for ref in ("exact", "stage", "lagged"):
        r, cpu = _timed(lambda: run_fem(s, write_fields=False, settings=FEMSettings(newton=NewtonSettings(refactor=ref))))
        print(_row(f"FE resolution 0.5, {ref}", r, cpu))
    r, cpu = _timed(lambda: run_axisymmetric(s.with_(numerics=Numerics(resolution=2.0))))
    print(_row("fast solver, resolution 2", r, cpu))


def device() -> None:
    s = cryosim.default_scenario().with_(probe=probe_from_design(DESIGN), thermocouples=(),
                                         protocol=Protocol((Freeze(60.0, gas="on"),)))
    print(f"\n2. {DESIGN}, gas on 60 s, soft tissue\n")
    print("| solver | CPU s | tip mean °C | thermistor °C | cooling power W | wall heat J | radius mm | volume mm³ | "
          "energy imbalance |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, fn in (("fast, resolution 1", lambda: run_axisymmetric(s)),
                      ("FE 2D, resolution 1", lambda: run_fem(s, write_fields=False))):
        r, cpu = _timed(fn)
        d = r.device
        print(f"| {label} | {cpu:.2f} | {d['tip_mean_C'][-1]:.2f} | {d['thermistor_C'][-1]:.2f} | "
              f"{d['cooling_power_W'][-1]:.3f} | {d['probe_wall_J'][-1]:.3f} | {1e3 * r.final(0.0, 'radius_m'):.3f} | "
              f"{1e9 * r.final(0.0, 'volume_m3'):.1f} | {r.energy_imbalance_relative:.1e} |")


def three_d(resolution: float, petsc_lu: bool) -> None:
    sal = get_material("saline")
    s = cryosim.default_scenario().with_(
        probe=probe_from_design(DESIGN), protocol=Protocol((Freeze(120.0, gas="on"),)), medium=sal,
        initial_temperature_C=20.0, arterial_temperature_C=20.0, isotherms_C=(sal.liquidus_C,), thermocouples=(),
        numerics=Numerics(resolution=resolution),
        bone=BonePlate(distance_m=2e-3, angle_deg=45.0, cortical_thickness_m=1.5e-3, cancellous_thickness_m=6e-3))
    print(f"\n3. 3D, saline 20 °C, bone plate at 45°, {DESIGN} gas on 120 s, resolution {resolution:g}\n\n" + HEAD)
    packages = ("mumps", "petsc") if petsc_lu else ("mumps",)
    for pkg in packages:
        for ref in ("exact", "lagged"):
            settings = FEMSettings(newton=NewtonSettings(refactor=ref, lu_package=pkg))
            r, cpu = _timed(lambda: run_fem(s, write_fields=False, settings=settings))
            print(_row(f"FE 3D, {pkg} LU, {ref}", r, cpu, sal.liquidus_C))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--3d", dest="three_d", action="store_true", help="also the 3D saline + bone case (minutes)")
    ap.add_argument("--resolution", type=float, default=0.35, help="resolution of the 3D case")
    ap.add_argument("--petsc-lu", action="store_true", help="3D case also with PETSc's own LU (slow)")
    a = ap.parse_args()
    water()
    device()
    if a.three_d:
        three_d(a.resolution, a.petsc_lu)


if __name__ == "__main__":
    main()
