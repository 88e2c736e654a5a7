r"""Newton's method for one implicit stage of the finite-element solver.

Solves :math:`F(T) = 0` (the weak form of :mod:`cryosim.fem.solver`, nodal
temperatures :math:`T` the unknowns, Dirichlet values held) by

.. math:: J(T^m)\, \delta T = -F(T^m), \qquad T^{m+1} = T^m + \lambda\, \delta T,

the finite-element counterpart of :mod:`cryosim.fast.newton`; both run the
shared driver :func:`cryosim.numerics.newton.solve_stage`, with the same
three safeguards that make it converge on media that freeze over a fraction
of a kelvin (water, saline, agar), where a plain Newton iteration on the
temperature fails again and again (2D water, 20 s at -70 °C: 95 failed solves and
5,442 iterations with PETSc SNES ``newtonls``; measured 2026-11-29):

1. **The correction read in enthalpy** (:func:`safeguard_temperature_correction`):
   node by node, Newton's linearisation fixes a temperature change
   :math:`\delta T_i` and the enthalpy change it was made with,
   :math:`C(T_i)\,\delta T_i`. Across the freezing interval the two readings
   part (an unfrozen node entering the interval would plunge tens of kelvin
   past the latent heat it must first give up); the one that changes the
   node's enthalpy less is kept, as in the fast solver. The enthalpy terms of
   the weak form are lumped (vertex rule), so each node's enthalpy is its own
   and this reading is exact for the time-derivative term.
2. **A line search that never accepts an increase** of the scaled residual
   :math:`r_i = F_i\,\gamma\Delta t / (m_i C_{scale})` (kelvin; :math:`m_i`
   the lumped mass of node i, :math:`C_{scale}` the largest unfrozen heat
   capacity): the step halves (1, 1/2, ..., :math:`2^{-10}`) until
   :math:`\|r\|_2` decreases, first along the safeguarded correction, then
   along the plain one; when neither decreases it the stage fails and the
   step controller retries a smaller step.
3. **Lagged factors** on (r, z) meshes (the fast solver's ``"lagged"`` rule): the
   LU factors of the Jacobian are kept across iterations, stages and steps
   until an iteration contracts :math:`\|r\|_2^2` by less than
   :data:`cryosim.numerics.newton.LAG_CONTRACTION` or gives no descent; a stage the modified iteration
   cannot solve is retried from the same guess with exact Newton. In 3D a
   Jacobian assembly and its factorisation cost little more than the extra
   residuals of a modified iteration, so there every iteration refactorises
   (``"exact"``): 3D saline + bone plate, N2O device, 30 s, 6,316 nodes: 63 s
   of CPU exact, 75 s lagged (the latter even at a 100x looser tolerance;
   after the enthalpy-based error estimate, 120 s: 88 s exact, 86 s lagged);
   default scenario in 2D: 2.6 s lagged, 3.4 s exact (measured 2026-11-29,
   before the enthalpy-based error estimate; after it the three rules take
   1.4-2.0 s there, within the noise of the shared machine).

Convergence: :math:`\max_i |r_i| \le` ``tol_K`` (the fast solver's
``newton_tolerance_K``). The LU factorisation is MUMPS through PETSc when
PETSc has it, else PETSc's own (:attr:`NewtonSettings.lu_package`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from ..numerics.newton import FactorState, check_refactor, solve_stage_with_retry
from ..physics.phase_change import NUMBA, P_CF, P_CU, P_CURVE, P_L, P_TL, P_TS, temperature_from_enthalpy

__all__ = ["FENewton", "NewtonSettings", "enthalpy_extrapolation", "safeguard_temperature_correction"]

_H = NUMBA.enthalpy
_C = NUMBA.heat_capacity


@numba.njit(cache=True)
def safeguard_temperature_correction(T, dT, mat, props, fixed, out):  # pragma: no cover - numba
    r"""The Newton correction ``dT`` with, node by node, the smaller of two readings (module docstring, 1).

    ``out[i]`` is ``dT[i]``, or :math:`T(H(T_i) + C(T_i)\,\delta T_i) - T_i`
    when that changes the enthalpy of node i less than
    :math:`H(T_i + \delta T_i) - H(T_i)` does. ``mat[i]``: the row of
    ``props`` (:data:`cryosim.physics.phase_change.N_PROPS` columns) of the
    node's material; ``fixed`` nodes (Dirichlet) keep their correction.
    Returns the number of nodes changed.
    """
    n_changed = 0
    for i in range(T.size):
        out[i] = dT[i]
        if fixed[i] or dT[i] == 0.0:
            continue
        p = props[mat[i]]
        Cf, Cu, L, Ts, Tl, cv = p[P_CF], p[P_CU], p[P_L], p[P_TS], p[P_TL], int(p[P_CURVE])
        H0 = _H(T[i], Cf, Cu, L, Ts, Tl, cv)
        dH_lin = _C(T[i], Cf, Cu, L, Ts, Tl, cv) * dT[i]
        dH_plain = _H(T[i] + dT[i], Cf, Cu, L, Ts, Tl, cv) - H0
        if abs(dH_lin) < abs(dH_plain) * (1.0 - 1e-12):
            out[i] = temperature_from_enthalpy(H0 + dH_lin, p, T[i]) - T[i]
            n_changed += 1
    return n_changed


@numba.njit(cache=True)
def enthalpy_extrapolation(Tn, T1, factor, mat, props, out):  # pragma: no cover - numba
    r"""Node by node, :math:`T(H(T^n_i) + (H(T_{1,i}) - H(T^n_i))\,\mathrm{factor})` (°C).

    The embedded first-order solution of an SDIRK2 step (``factor`` = 1/γ)
    taken in enthalpy, as the fast solver does: extrapolating the
    temperature itself across the freezing interval would run tens of kelvin
    past it and read as a local error no step size removes. ``mat[i]``: the
    node's row of ``props``.
    """
    for i in range(Tn.size):
        p = props[mat[i]]
        Cf, Cu, L, Ts, Tl, cv = p[P_CF], p[P_CU], p[P_L], p[P_TS], p[P_TL], int(p[P_CURVE])
        H0 = _H(Tn[i], Cf, Cu, L, Ts, Tl, cv)
        H1 = _H(T1[i], Cf, Cu, L, Ts, Tl, cv)
        out[i] = temperature_from_enthalpy(H0 + (H1 - H0) * factor, p, T1[i])


@dataclass(frozen=True)
class NewtonSettings:
    """Controls of :class:`FENewton`.

    ``tol_K``: convergence when every scaled nodal residual is below this
    (kelvin of heat capacity; the fast solver's ``newton_tolerance_K``);
    ``refactor``: "lagged", "stage" or "exact" as in :mod:`cryosim.fast.newton`
    (None: by dimension, module docstring); ``lu_package``: "petsc", "mumps" or None
    (MUMPS when PETSc has it, else PETSc's own LU: on a 3D saline case at
    resolution 0.5, 3,230 nodes, 5 s of freezing, MUMPS took 5.3 s of CPU for 263
    factorisations and 792 solves, PETSc's LU 34 s with either the nd or the qmd
    ordering; measured 2026-11-29, benchmarks/RESULTS.md section 2).
    """

    tol_K: float = 1e-8
    max_iter: int = 25
    #: None: "lagged" on (r, z) meshes, "exact" in 3D (module docstring, 3)
    refactor: str | None = None
    lu_package: str | None = None
    #: extra PETSc options of the linear solver (KSP/PC; e.g. ``{"pc_factor_mat_ordering_type": "nd"}``),
    #: applied after the defaults above
    petsc_options: tuple[tuple[str, Any], ...] = ()


class FENewton:
    r"""Newton solves of the residual form ``F`` in the unknown ``T`` (a dolfinx Function), Dirichlet ``bcs`` held.

    ``bcs``: the list of Dirichlet conditions in force, read at every solve
    (the caller mutates it). ``mass``: the lumped mass of each local node
    (m^3, per radian on (r, z) meshes), ``node_material`` the row of
    ``props`` for each local node, ``scale_J_per_m3_K`` :math:`C_{scale}`.
    ``nodal_capacity`` (J/K per local node, e.g. a probe wall lumped on its
    nodes) adds :math:`c_i (T_i - T^*_i)/(\gamma\Delta t)` to row i of the
    residual and :math:`c_i/(\gamma\Delta t)` to its diagonal (rows not held),
    :math:`T^*` given by ``nodal_reference()`` at each solve. ``limits``: the
    run's :class:`cryosim.numerics.budget.RunLimits`, held after every
    factorisation (in 3D one Newton iteration can take minutes, and a step cut
    again and again many iterations: the wall-clock and memory limits must not
    wait for a step to end).
    """

    def __init__(self, F: Any, T: Any, bcs: list[Any], mass: np.ndarray, node_material: np.ndarray,
                 props: np.ndarray, scale_J_per_m3_K: float, settings: NewtonSettings = NewtonSettings(), *,
                 nodal_capacity: np.ndarray | None = None,
                 nodal_reference: Callable[[], np.ndarray] | None = None, limits: Any = None) -> None:
        import dolfinx
        import dolfinx.fem.petsc as fp
        import ufl
        from petsc4py import PETSc

        V = T.function_space
        if settings.refactor is None:
            settings = dataclasses.replace(settings, refactor="lagged" if V.mesh.topology.dim == 2 else "exact")
        check_refactor(settings.refactor)
        self.T, self.bcs, self.settings = T, bcs, settings
        self.limits = limits
        self.comm = V.mesh.comm
        self.n_owned = V.dofmap.index_map.size_local
        self.F = dolfinx.fem.form(F)
        self.J = dolfinx.fem.form(ufl.derivative(F, T))
        self.A = fp.create_matrix(self.J)
        self.b = fp.create_vector(V)
        self.dx = self.b.duplicate()
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOperators(self.A)
        self.ksp.setType("preonly")
        pc = self.ksp.getPC()
        pc.setType("lu")
        package = settings.lu_package
        if package is None:
            package = "mumps" if PETSc.Sys.hasExternalPackage("mumps") else "petsc"
        pc.setFactorSolverType(package)
        if settings.petsc_options:
            prefix = f"cryosim_fe_newton_{id(self)}_"
            self.ksp.setOptionsPrefix(prefix)
            opts = PETSc.Options()
            for key, value in settings.petsc_options:
                opts[prefix + key] = value
            self.ksp.setFromOptions()
            for key, _ in settings.petsc_options:
                del opts[prefix + key]
        self._fp, self._PETSc = fp, PETSc
        n = self.n_owned
        m = np.asarray(mass[:n], float)
        #: residual (W) -> kelvin, per unit gamma dt: 1 / (m_i C_scale)
        self._to_K = np.where(m > 0.0, 1.0 / (np.maximum(m, 1e-300) * scale_J_per_m3_K), 0.0)
        self._mat = np.ascontiguousarray(node_material[:n], np.int64)
        self._props = np.ascontiguousarray(props, float)
        self._cap = None if nodal_capacity is None else np.asarray(nodal_capacity[:n], float)
        if self._cap is not None and not np.any(self._cap > 0.0):
            self._cap = None
        self._reference = nodal_reference
        self._T_star = np.zeros(n)
        self._free = np.ones(n, np.bool_)
        self._diag = self.b.duplicate()
        self._rhs = self.b.duplicate()
        self._b_iter = self.b.duplicate()
        self._factors = FactorState()
        self.counters = {"factorisations": 0, "linear_solves": 0, "residuals": 0, "exact_retries": 0,
                         "safeguarded_nodes": 0, "factor_cpu_s": 0.0, "assembly_cpu_s": 0.0,
                         "linear_cpu_s": 0.0}

    # --- pieces -----------------------------------------------------------
    def _residual(self, gdt: float) -> tuple[float, float]:
        """Assemble F at ``T`` into ``b``; return (max |r|, sum r^2) of the scaled residual r (K) over all ranks."""
        from mpi4py import MPI

        fp, PETSc = self._fp, self._PETSc
        t0 = time.process_time()
        with self.b.localForm() as loc:
            loc.set(0.0)
        fp.assemble_vector(self.b, self.F)
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fp.set_bc(self.b, self.bcs, x0=self.T.x.petsc_vec, alpha=-1.0)  # T - g on held rows (0: held)
        if self._cap is not None:
            n = self.n_owned
            self.b.array[:n] += np.where(self._free, self._cap * (self.T.x.array[:n] - self._T_star) / gdt, 0.0)
        self.counters["assembly_cpu_s"] += time.process_time() - t0
        self.counters["residuals"] += 1
        r = self.b.array_r[: self.n_owned] * self._to_K * gdt
        loc = np.array([float(np.max(np.abs(r))) if r.size else 0.0, float(r @ r)])
        norm = self.comm.allreduce(loc[0], op=MPI.MAX)
        merit = self.comm.allreduce(loc[1], op=MPI.SUM)
        if not (math.isfinite(norm) and math.isfinite(merit)):
            return math.inf, math.inf
        return norm, merit

    def _factorise(self, gdt: float) -> None:
        t0 = time.process_time()
        self.A.zeroEntries()
        self._fp.assemble_matrix(self.A, self.J, bcs=self.bcs)
        self.A.assemble()
        if self._cap is not None:
            self._diag.array[: self.n_owned] = np.where(self._free, self._cap / gdt, 0.0)
            self.A.setDiagonal(self._diag, addv=self._PETSc.InsertMode.ADD_VALUES)
            self.A.assemble()
        self.ksp.setOperators(self.A)
        self.counters["factor_cpu_s"] += time.process_time() - t0
        self.counters["factorisations"] += 1
        if self.limits is not None:  # collective: every rank factorises at the same iteration
            self.limits.check("in a Newton iteration (after a factorisation)")

    def _direction(self, residual: Any) -> np.ndarray:
        """Newton correction (owned part) for the assembled ``residual`` (held rows 0 when the iterate holds them)."""
        t0 = time.process_time()
        residual.copy(self._rhs)
        self._rhs.scale(-1.0)
        self.ksp.solve(self._rhs, self.dx)
        self.counters["linear_solves"] += 1
        self.counters["linear_cpu_s"] += time.process_time() - t0
        return self.dx.array_r[: self.n_owned].copy()

    def _set(self, values_owned: np.ndarray) -> None:
        self.T.x.array[: self.n_owned] = values_owned
        self.T.x.scatter_forward()

    # --- the solve ----------------------------------------------------------
    def solve(self, gdt: float) -> tuple[bool, int, str]:
        """Solve from the guess in ``T`` (held values imposed first); (converged, iterations, why not).

        The shared driver :func:`cryosim.numerics.newton.solve_stage_with_retry` on a :class:`_Stage`;
        ``T`` holds the last iterate afterwards.
        """
        T0 = self.T.x.array.copy()

        def make() -> _Stage:
            self.T.x.array[:] = T0
            return _Stage(self, gdt)

        ok, its, why, stage = solve_stage_with_retry(make, self._factors, self.settings.refactor, self.settings.tol_K,
                                                     self.settings.max_iter, self.counters)
        self._set(stage.T_iter)
        return ok, its, why

    def forget_factors(self) -> None:
        """Drop the lagged factors (the next solve factorises afresh): after a boundary condition changes kind."""
        self._factors.have_factors = False

    def close(self) -> None:
        self.ksp.destroy()
        self.A.destroy()
        self.b.destroy()
        self.dx.destroy()
        self._diag.destroy()
        self._rhs.destroy()
        self._b_iter.destroy()


class _Stage:
    """One stage of :class:`FENewton` as the shared driver's :class:`~cryosim.numerics.newton.StageProblem`:
    the iterate's owned temperatures and residual; a trial is written into ``T`` and ``b``."""

    def __init__(self, nt: FENewton, gdt: float) -> None:
        self.nt, self.gdt = nt, gdt
        n = nt.n_owned
        for bc in nt.bcs:
            bc.set(nt.T.x.array)
        fixed = np.zeros(n, np.bool_)
        for bc in nt.bcs:
            idx = bc.dof_indices()[0]
            fixed[idx[idx < n]] = True
        self.fixed = fixed
        nt._free = ~fixed
        if nt._cap is not None and nt._reference is not None:
            nt._T_star = np.asarray(nt._reference()[:n], float)
        self.T_iter = nt.T.x.array[:n].copy()
        self.T_try = self.T_iter.copy()
        self.limited = np.empty(n)

    def start(self) -> tuple[float, float]:
        norm, merit = self.nt._residual(self.gdt)
        self.nt.b.copy(self.nt._b_iter)
        return norm, merit

    def factorise(self) -> None:
        self.nt._set(self.T_iter)
        self.nt._factorise(self.gdt)

    def direction(self) -> np.ndarray:
        return self.nt._direction(self.nt._b_iter)

    def safeguard(self, dT: np.ndarray) -> np.ndarray | None:
        from mpi4py import MPI

        nt = self.nt
        changed = safeguard_temperature_correction(self.T_iter, dT, nt._mat, nt._props, self.fixed, self.limited)
        changed = int(nt.comm.allreduce(changed, op=MPI.SUM))
        nt.counters["safeguarded_nodes"] += changed
        return self.limited if changed else None

    def trial(self, dT: np.ndarray, lam: float) -> tuple[float, float]:
        np.add(self.T_iter, lam * dT, out=self.T_try)
        self.nt._set(self.T_try)
        norm, merit = self.nt._residual(self.gdt)
        return norm, merit

    def accept(self) -> None:
        self.T_iter, self.T_try = self.T_try, self.T_iter
        self.nt.b.copy(self.nt._b_iter)
