r"""DOLFINx peer for the cryoprobe benchmark (default scenario), written "the usual way".

This is a *comparison* script, not part of the ``cryosim`` library: a plain
DOLFINx 0.11 script of the kind a typical user would write, used to compare
the library's accuracy and run time against.

Problem (axisymmetric, coordinates r = x[0], z = x[1]; temperatures in °C)
-------------------------------------------------------------------------
An 18 G needle (radius r_p = 0.635 mm) occupies r < r_p, z >= 0 and is cut
out of the domain [0, 25 mm] x [-25, 30 mm].  Its active tip (side r = r_p,
0 <= z <= 5 mm, and end disk z = 0) is held at -70 °C for 120 s; the shaft
above z = 5 mm is insulated; r = 0 is the symmetry axis.  Tissue starts at
the Pennes steady state T_a + q_m/beta (37.5 °C) and the far boundaries (r = 25 mm, z = -25 mm, z = 30 mm) stay there.

    dH(T)/dt = div(k(T) grad T) + f_u(T) beta (37 - T) + f_u(T) q_m

    f_u = s = clip((T - Ts)/(Tl - Ts), 0, 1),   Ts = -8, Tl = -1
    k   = kf (1 - f_u) + ku f_u                  kf = 2.0, ku = 0.5 W/m/K
    H   = Cf T + (Cu - Cf) F(T) + L f_u,          F = (Tl-Ts) s^2/2 + max(T-Tl, 0)
    Cf = 1.8e6, Cu = 3.6e6 J/m^3/K, L = 250e6 J/m^3
    beta = 0.0005 * 1050 * 3617 W/m^3/K,  q_m = 0.913 * 1050 W/m^3 (IT'IS muscle heat generation times the tissue density)

Method
------
* gmsh: L-shaped (r, z) domain minus the probe; Distance + Threshold size
  field, h_tip within 1 mm of the active tip growing to h_far 10 mm away.
* P1 Lagrange, axisymmetric weak form (every integrand multiplied by r),
  backward Euler with a fixed step; two ways of treating the nonlinearity:

  ``--scheme newton`` (default): Newton (SNES, direct LU, rtol 1e-6) each
  step, the apparent heat capacity written with UFL conditionals and smoothed
  by averaging dH/dT over the step: C_app = (H(T) - H(T_n)) / (T - T_n)
  (dH/dT when |T - T_n| is tiny); time term C_app (T - T_n)/dt.

  ``--scheme lagged``: the fastest usual way -- k(T), f_u(T) and the apparent
  heat capacity C_app = dH/dT evaluated at the previous step's temperature
  T_n, so each step is ONE linear solve

      int [C_app(T_n) (T - T_n)/dt v + k(T_n) grad T . grad v
           - f_u(T_n) (beta (37 - T) + q_m) v] r dx = 0,

  a LinearProblem whose matrix is reassembled every step and factorised by
  LU (PETSc reuses the symbolic factorisation: the pattern never changes).
  The latent heat a node skips when it crosses the 7 K freezing interval in
  one step is not conserved (the price of linearising).
* 0 °C isotherm: every P1 triangle is clipped exactly at T = 0.

Usage:  python dolfinx_peer.py --h-tip-mm 0.1 --h-far-mm 1.5 --dt 2 [--scheme lagged]
Prints one JSON line with the 0 °C isotherm radius, length, volume and wall/CPU time
(wall_s includes meshing and form compilation; loop_s is the time loop only).
"""

import argparse
import json
import time

import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
import dolfinx
import dolfinx.fem.petsc
import dolfinx.io.gmsh
import gmsh
import numpy as np
import ufl
from mpi4py import MPI

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
FAR, TIP, SHAFT, AXIS = 1, 2, 3, 4  # physical tags of the boundary curves


def build_mesh(h_tip, h_far):
    """L-shaped axisymmetric domain minus the probe, refined near the tip."""
    gmsh.initialize()
    gmsh.option.setNumber("General.Terminal", 0)
    geo = gmsh.model.geo
    pts = [geo.addPoint(r, z, 0, h_far) for r, z in
           [(0, Z_MIN), (R_OUT, Z_MIN), (R_OUT, Z_MAX), (R_P, Z_MAX),
            (R_P, TIP_LEN), (R_P, 0), (0, 0)]]
    lines = [geo.addLine(pts[i], pts[(i + 1) % 7]) for i in range(7)]
    surf = geo.addPlaneSurface([geo.addCurveLoop(lines)])
    geo.synchronize()
    for tag, ids in [(FAR, lines[0:3]), (SHAFT, lines[3:4]), (TIP, lines[4:6]), (AXIS, lines[6:7])]:
        gmsh.model.addPhysicalGroup(1, ids, tag)
    gmsh.model.addPhysicalGroup(2, [surf], 1)
    # size field: h_tip within 1 mm of the active tip, h_far beyond 10 mm
    fld = gmsh.model.mesh.field
    dist = fld.add("Distance")
    fld.setNumbers(dist, "CurvesList", lines[4:6])
    fld.setNumber(dist, "Sampling", 200)
    thr = fld.add("Threshold")
    fld.setNumber(thr, "InField", dist)
    for key, val in [("SizeMin", h_tip), ("SizeMax", h_far), ("DistMin", 1 * MM), ("DistMax", 10 * MM)]:
        fld.setNumber(thr, key, val)
    fld.setAsBackgroundMesh(thr)
    for opt in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{opt}", 0)
    gmsh.model.mesh.generate(2)
    data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, MPI.COMM_WORLD, 0, gdim=2)
    gmsh.finalize()
    return data.mesh, data.facet_tags


def ufl_material(T):
    """Unfrozen fraction, conductivity and enthalpy as UFL expressions."""
    s = ufl.max_value(ufl.min_value((T - TS) / (TL - TS), 1.0), 0.0)
    F = (TL - TS) * s**2 / 2 + ufl.max_value(T - TL, 0.0)
    return s, KF * (1 - s) + KU * s, CF * T + (CU - CF) * F + LAT * s


def ice_ball(points, cells, u):
    """Radius, length and 2*pi*r-weighted area of {u <= 0} on P1 triangles (exact)."""
    P, U = points[cells], u[cells]                       # (nc,3,2), (nc,3)
    below = U <= 0
    nb = below.sum(axis=1)

    def tri_int(a, b, c):  # integral of r over triangle(s) a, b, c
        area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                            - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
        return area * (a[:, 0] + b[:, 0] + c[:, 0]) / 3

    def cut(i, j, sel):  # zero crossing on edge i -> j
        ui, uj = U[sel, i], U[sel, j]
        return P[sel, i] + ((ui / (ui - uj))[:, None]) * (P[sel, j] - P[sel, i])

    # order each triangle's vertices "below first", so vertex 0 is the lone
    # below vertex (nb == 1) and vertex 2 the lone above vertex (nb == 2)
    order = np.argsort(~below, axis=1, kind="stable")
    P = np.take_along_axis(P, order[:, :, None], axis=1)
    U = np.take_along_axis(U, order, axis=1)
    one, two, three = nb == 1, nb == 2, nb == 3
    vol = tri_int(P[three, 0], P[three, 1], P[three, 2]).sum()
    a1, a2 = cut(0, 1, one), cut(0, 2, one)
    vol += tri_int(P[one, 0], a1, a2).sum()
    b1, b2 = cut(2, 0, two), cut(2, 1, two)
    vol += (tri_int(P[two, 0], P[two, 1], P[two, 2]) - tri_int(P[two, 2], b1, b2)).sum()
    pts = np.vstack([P[one, 0], a1, a2, P[two, 0], P[two, 1], b1, b2,
                     P[three].reshape(-1, 2)])
    return pts[:, 0].max(), pts[:, 1].max() - pts[:, 1].min(), 2 * np.pi * vol


def solve_newton(T, T_n, v, r, dt, bcs, dt_s):
    """Backward Euler, Newton each step; the averaged apparent capacity. Returns (steps, Newton its, loop start)."""
    fu, k, H = ufl_material(T)
    _, _, H_n = ufl_material(T_n)
    s_raw = (T - TS) / (TL - TS)
    dHdT = CF + (CU - CF) * fu + ufl.conditional(ufl.And(ufl.gt(s_raw, 0), ufl.lt(s_raw, 1)), LAT / (TL - TS), 0.0)
    jump = T - T_n
    big = ufl.gt(abs(jump), 1e-3)
    C_app = ufl.conditional(big, (H - H_n) / ufl.conditional(big, jump, 1.0), dHdT)

    F = (C_app * jump / dt * v + k * ufl.inner(ufl.grad(T), ufl.grad(v))
         - fu * (BETA * (T_BODY - T) + QM) * v) * r * ufl.dx
    opts = {"snes_type": "newtonls", "snes_linesearch_type": "basic",
            "snes_rtol": 1e-6, "snes_atol": 1e-10, "snes_max_it": 30,
            "ksp_type": "preonly", "pc_type": "lu", "snes_error_if_not_converged": True}
    problem = dolfinx.fem.petsc.NonlinearProblem(F, T, bcs=bcs, petsc_options=opts,
                                                 petsc_options_prefix="cryo_")
    steps = int(round(T_END / dt_s))
    newton = 0
    t_loop = time.perf_counter()
    for _ in range(steps):
        problem.solve()
        newton += problem.solver.getIterationNumber()
        T_n.x.array[:] = T.x.array
    return steps, newton, t_loop


def solve_lagged(T, T_n, v, r, dt, bcs, dt_s):
    """Backward Euler, coefficients at T_n: one linear solve per step. Returns (steps, 0, loop start)."""
    fu, k, _ = ufl_material(T_n)
    s_raw = (T_n - TS) / (TL - TS)
    C_app = CF + (CU - CF) * fu + ufl.conditional(ufl.And(ufl.gt(s_raw, 0), ufl.lt(s_raw, 1)), LAT / (TL - TS), 0.0)
    u = ufl.TrialFunction(T.function_space)
    a = (C_app / dt * u * v + k * ufl.inner(ufl.grad(u), ufl.grad(v)) + fu * BETA * u * v) * r * ufl.dx
    L = (C_app / dt * T_n * v + fu * (BETA * T_BODY + QM) * v) * r * ufl.dx
    problem = dolfinx.fem.petsc.LinearProblem(a, L, bcs=bcs, u=T, petsc_options_prefix="cryo_lag_",
                                              petsc_options={"ksp_type": "preonly", "pc_type": "lu"})
    steps = int(round(T_END / dt_s))
    t_loop = time.perf_counter()
    for _ in range(steps):
        problem.solve()
        T_n.x.array[:] = T.x.array
    return steps, 0, t_loop


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # defaults: safely within ~1 % of the h_tip = 0.025 mm, dt = 0.25 s run
    ap.add_argument("--h-tip-mm", type=float, default=0.1)
    ap.add_argument("--h-far-mm", type=float, default=1.5)
    ap.add_argument("--dt", type=float, default=2.0)
    ap.add_argument("--scheme", choices=("newton", "lagged"), default="newton")
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()

    mesh, facets = build_mesh(args.h_tip_mm * MM, args.h_far_mm * MM)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    fdim = mesh.topology.dim - 1
    bcs = [dolfinx.fem.dirichletbc(dolfinx.default_scalar_type(val),
                                   dolfinx.fem.locate_dofs_topological(V, fdim, facets.find(tag)), V)
           for tag, val in [(TIP, T_PROBE), (FAR, T_INIT)]]  # tip wins at shared nodes

    T, T_n = dolfinx.fem.Function(V), dolfinx.fem.Function(V)
    T_n.x.array[:] = T_INIT
    T.x.array[:] = T_INIT
    v = ufl.TestFunction(V)
    r = ufl.SpatialCoordinate(mesh)[0]
    dt = dolfinx.fem.Constant(mesh, dolfinx.default_scalar_type(args.dt))

    if args.scheme == "lagged":
        steps, newton, t_loop = solve_lagged(T, T_n, v, r, dt, bcs, args.dt)
    else:
        steps, newton, t_loop = solve_newton(T, T_n, v, r, dt, bcs, args.dt)
    t_end, cpu = time.perf_counter(), time.process_time() - c0

    pts = V.tabulate_dof_coordinates()[:, :2]
    cells = V.dofmap.list
    radius, length, volume = ice_ball(pts, cells, T.x.array)
    print(json.dumps({
        "peer": "dolfinx", "radius_mm": radius / MM, "length_mm": length / MM,
        "volume_mm3": volume / MM**3, "wall_s": round(t_end - t0, 2), "cpu_s": round(cpu, 2),
        "loop_s": round(t_end - t_loop, 2), "dofs": V.dofmap.index_map.size_global, "steps": steps,
        "newton_its": newton, "scheme": args.scheme, "h_tip_mm": args.h_tip_mm, "h_far_mm": args.h_far_mm, "dt": args.dt}))


if __name__ == "__main__":
    main()
