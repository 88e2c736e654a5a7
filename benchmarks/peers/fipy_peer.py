r"""FiPy peer for the cryoprobe benchmark (default scenario), written "the usual way".

This is a *comparison* script, not part of the ``cryosim`` library: it solves
the benchmark problem the way a typical FiPy user would, so that the library's
accuracy and run time can be compared against it.

Problem (axisymmetric, coordinates r, z; temperatures in °C)
------------------------------------------------------------
An 18 G needle (radius r_p = 0.635 mm) occupies r < r_p, z >= 0.  Its active
tip (side r = r_p, 0 <= z <= 5 mm, and end disk z = 0) is held at -70 °C for
120 s; the shaft above z = 5 mm is insulated.  Tissue starts at the Pennes steady state (37.5 °C) and the
far boundaries (r = 25 mm, z = -25 mm, z = +30 mm) stay there.

    dH(T)/dt = div(k(T) grad T) + f_u(T) beta (37 - T) + f_u(T) q_m

    f_u = s = clip((T - Ts)/(Tl - Ts), 0, 1),   Ts = -8, Tl = -1
    k   = kf (1 - f_u) + ku f_u                  kf = 2.0, ku = 0.5 W/m/K
    H   = Cf T + (Cu - Cf) F(T) + L f_u,          F = (Tl-Ts) s^2/2 + max(T-Tl, 0)
    Cf = 1.8e6, Cu = 3.6e6 J/m^3/K, L = 250e6 J/m^3
    beta = 0.0005 * 1050 * 3617 W/m^3/K,  q_m = 0.913 * 1050 W/m^3 (IT'IS muscle heat generation times the tissue density)

Method (FiPy, finite volumes)
-----------------------------
* ``CylindricalGrid2D`` with uniform cells of 1/N mm in a core box around the
  probe and geometrically graded cells outside; cell faces lie on r = r_p,
  z = 0 and z = 5 mm.
* Apparent heat capacity: ``TransientTerm(coeff=C_app)``, with C_app the
  chord slope (H(T) - H(T_old)) / (T - T_old) (= dH/dT averaged over the step,
  i.e. the smoothed apparent capacity), re-evaluated at every sweep; k(T) and
  f_u(T) likewise lagged by one sweep.  Fixed time step, fixed sweeps/step.
* Probe: active-tip cells are pinned at -70 °C with the FiPy-FAQ "large
  implicit source" trick and given a huge conductivity, so that the harmonic
  face average puts -70 °C on the probe surface itself; shaft cells get a
  tiny conductivity (insulated).  (``T.constrain(-70, where=cells)`` only
  overwrites the value when read, it does not pin the cells inside the linear
  solve, so it is not used.)

Usage:  python fipy_peer.py --cells-per-mm 8 --dt 2 --sweeps 2
Prints one JSON line with the 0 °C isotherm radius, length, volume and wall/CPU time
(radius and length interpolated between cell centres; volume = sum of frozen cells).
"""

import argparse
import json
import os
import time

os.environ.setdefault("FIPY_SOLVERS", "scipy")  # serial, no PETSc needed

import numpy as np  # noqa: E402
from fipy import (  # noqa: E402
    CellVariable, CylindricalGrid2D, DiffusionTerm, ImplicitSourceTerm,
    TransientTerm)
from fipy.solvers import LinearLUSolver  # noqa: E402

# ---- model parameters (SI units, temperatures in °C) ----
MM = 1e-3
R_P, TIP_LEN = 0.635 * MM, 5.0 * MM
R_OUT, Z_MIN, Z_MAX = 25 * MM, -25 * MM, 30 * MM
T_BODY, T_PROBE, T_END = 37.0, -70.0, 120.0
TS, TL = -8.0, -1.0
KF, KU = 2.0, 0.5
CF, CU, LAT = 1.8e6, 3.6e6, 250e6
BETA = 0.0005 * 1050 * 3617
QM = 0.913 * 1050
#: Pennes steady state of the perfused tissue, T_a + q_m / beta: the initial state and far-field value.
T_INIT = T_BODY + QM / BETA


def frac_unfrozen(T):
    return np.clip((T - TS) / (TL - TS), 0.0, 1.0)


def enthalpy(T):
    s = frac_unfrozen(T)
    F = (TL - TS) * s**2 / 2 + np.maximum(T - TL, 0.0)
    return CF * T + (CU - CF) * F + LAT * s


def dH_dT(T):
    s = frac_unfrozen(T)
    return CF + (CU - CF) * s + LAT * ((T > TS) & (T < TL)) / (TL - TS)


def c_apparent(T, T_old):
    """Chord slope of H between the old and current temperature (smoothed dH/dT)."""
    dT = T - T_old
    big = np.abs(dT) > 1e-6
    chord = (enthalpy(T) - enthalpy(T_old)) / np.where(big, dT, 1.0)
    return np.where(big, chord, dH_dT(T))


def spacings(h, a, b, core_a, core_b, ratio=1.15, fixed=()):
    """Cell sizes on [a, b]: uniform h on [core_a, core_b] (with faces at the
    points in `fixed`), geometric growth by `ratio` outside it."""
    def graded(length):  # sizes growing from h, summing exactly to length
        d, tot = [], 0.0
        while tot < length - 1e-12:
            d.append(h * ratio ** (len(d) + 1))
            tot += d[-1]
        return np.array(d) * length / tot if d else np.array([])
    pts = sorted({core_a, core_b, *fixed})
    counts = [max(1, round((q - p) / h)) for p, q in zip(pts[:-1], pts[1:])]
    core = np.concatenate([np.full(n, (q - p) / n) for n, p, q in zip(counts, pts[:-1], pts[1:])])
    return np.concatenate([graded(core_a - a)[::-1], core, graded(b - core_b)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # defaults: cheapest setting found within ~1 % of the 16 cells/mm, dt = 1 s run
    ap.add_argument("--cells-per-mm", type=float, default=8.0)
    ap.add_argument("--dt", type=float, default=2.0)
    ap.add_argument("--sweeps", type=int, default=2)
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()

    # ---- mesh: uniform core r < 12 mm, -12 < z < 15 mm; graded outside ----
    h = MM / args.cells_per_mm
    dr = spacings(h, 0.0, R_OUT, 0.0, 12 * MM, fixed=(R_P,))
    dz = spacings(h, Z_MIN, Z_MAX, -12 * MM, 15 * MM, fixed=(0.0, TIP_LEN))
    mesh = CylindricalGrid2D(dx=dr, dy=dz, origin=[[0.0], [Z_MIN]])
    rc, zc = (np.asarray(v) for v in mesh.cellCenters.value)
    in_probe = (rc < R_P) & (zc > 0)
    tip = in_probe & (zc < TIP_LEN)
    shaft = in_probe & (zc > TIP_LEN)
    tissue = ~in_probe

    # ---- variables and coefficients ----
    T = CellVariable(mesh=mesh, value=T_INIT, hasOld=True)
    T.setValue(T_PROBE, where=tip)
    rf = np.asarray(mesh.faceCenters.value[0])
    far = (mesh.facesRight | mesh.facesBottom | (mesh.facesTop & (rf > R_P))).value
    T.constrain(T_INIT, where=far)

    k_cell = CellVariable(mesh=mesh, value=KU)
    C_app = CellVariable(mesh=mesh, value=CU)
    perf = CellVariable(mesh=mesh, value=BETA)  # f_u * beta on tissue cells
    src = CellVariable(mesh=mesh, value=0.0)    # f_u * (beta*37 + q_m)
    PEN = 1e15  # W/m^3/K: pins tip cells, >> any other diagonal entry
    pin = CellVariable(mesh=mesh, value=PEN * tip)

    eq = (TransientTerm(coeff=C_app)
          == DiffusionTerm(coeff=k_cell.harmonicFaceValue)
          - ImplicitSourceTerm(coeff=perf) + src
          - ImplicitSourceTerm(coeff=pin) + pin * T_PROBE)

    def update_coefficients():
        Tv, To = np.asarray(T.value), np.asarray(T.old.value)
        fu = frac_unfrozen(Tv) * tissue
        k = KF * (1 - fu) + KU * fu
        k_cell.setValue(np.where(tip, 1e3 * KF, np.where(shaft, 1e-9, k)))
        C_app.setValue(c_apparent(Tv, To))
        perf.setValue(fu * BETA)
        src.setValue(fu * (BETA * T_BODY + QM))

    # The default "RHS" criterion is fooled by the huge pinned rows of b (it
    # would skip the solve); measure convergence against the initial residual.
    solver = LinearLUSolver(criterion="initial", tolerance=1e-10)
    steps = int(round(T_END / args.dt))
    for _ in range(steps):
        T.updateOld()
        for _ in range(args.sweeps):
            update_coefficients()
            eq.sweep(var=T, dt=args.dt, solver=solver)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    # ---- 0 °C isotherm on the structured cell-centre grid ----
    nr, nz = len(dr), len(dz)
    Tg = np.where(shaft, np.nan, np.asarray(T.value)).reshape(nz, nr)
    r1, z1 = rc[:nr], zc[::nr]

    def crossings(a, b, xa, xb):  # where a <= 0 < b, interpolate the zero
        m = (a <= 0) & (b > 0)
        return (xa + (0 - a) / np.where(m, b - a, 1.0) * (xb - xa))[m]

    radius = crossings(Tg[:, :-1], Tg[:, 1:], r1[None, :-1], r1[None, 1:]).max()
    z_top = crossings(Tg[:-1, :], Tg[1:, :], z1[:-1, None], z1[1:, None]).max()
    z_bot = crossings(Tg[1:, :], Tg[:-1, :], z1[1:, None], z1[:-1, None]).min()
    cold = tissue & (np.asarray(T.value) <= 0)
    volume = 2 * np.pi * np.sum(np.asarray(mesh.cellVolumes)[cold])  # cellVolumes = r dr dz

    print(json.dumps({
        "peer": "fipy", "radius_mm": radius / MM, "length_mm": (z_top - z_bot) / MM,
        "volume_mm3": volume / MM**3, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "cells": int(mesh.numberOfCells),
        "steps": steps, "cells_per_mm": args.cells_per_mm, "dt": args.dt, "sweeps": args.sweeps}))


if __name__ == "__main__":
    main()
