r"""Newton's method for one implicit stage, with a sparse direct factorisation.

The iteration is the shared driver :func:`cryosim.numerics.newton.solve_stage`
(also used by :mod:`cryosim.fem.newton`); this module supplies the residual,
the Jacobian, the linear solver and the safeguarded correction of the
finite-volume grid.

Solves :math:`R(H) = 0` (:func:`cryosim.fast.kernel.evaluate`) by

.. math:: J(H^m)\, \delta H = -R(H^m), \qquad H^{m+1} = H^m + \lambda\, \delta H,

where the correction of a cell is first safeguarded across the freezing
interval (:func:`~cryosim.fast.kernel.safeguard_correction`: the
linearisation on one side of it overshoots wildly on the other), and taken
plain if the safeguarded one gives no decrease;
with the exact Jacobian :math:`J = \partial R / \partial H` assembled by the
numba kernel into a fixed CSR pattern (:class:`~cryosim.fast.kernel.JacobianPattern`)
and factorised by a sparse direct solver (``backend``):

``"petsc"``
    PETSc's sequential LU through petsc4py (installed with DOLFINx), with a
    fill-reducing ordering (``petsc_ordering``, METIS nested dissection where
    PETSc has METIS: :data:`PETSC_ORDERING_AUTO`); the pattern is fixed, so
    the symbolic factorisation is done once per grid and every later
    factorisation is numeric only;
``"superlu"``
    :func:`scipy.sparse.linalg.splu` (symbolic and numeric every time),
    with ``permc_spec``, ``diag_pivot_thresh`` and ``symmetric_mode``; it
    factorises :math:`J^T` (the CSR arrays of J read as CSC) and solves the
    transposed system.

``"auto"`` takes PETSc when petsc4py imports, else SuperLU. The step :math:`\lambda` backtracks
(1, 1/2, 1/4, ...) until the 2-norm of the scaled residual
:math:`r_i = R_i / (V_i C_{scale})` strictly decreases (the exact Newton
direction is a descent direction of :math:`\|r\|_2^2`, so some step does,
short of roundoff); a residual increase is never accepted: when no
:math:`\lambda \geq 2^{-10}` (:data:`cryosim.numerics.newton.MAX_HALVINGS`) decreases it, the stage reports failure and the step
controller retries a smaller step. Convergence: every cell residual below
``tol_K`` kelvin-equivalents of heat capacity,
:math:`\max_i |R_i| / (V_i C_{scale}) \le tol_K`.

When to factorise (``refactor``, compared in ``benchmarks/linear_algebra.py``):

``"exact"``
    every iteration (Newton's method: quadratic convergence);
``"stage"``
    at the first iteration of each stage, then again only when an iteration
    contracts the residual by less than :data:`cryosim.numerics.newton.LAG_CONTRACTION`
    (a modified Newton method);
``"lagged"``
    the factors are kept across stages and steps with the same rule.

``"lagged"`` is the default: at equal results it halves the factorisations
(170 instead of 355 on the default scenario, 20-30 % less CPU; figures in
benchmarks/RESULTS.md). Between factorisations the kept factors are corrected
by Broyden's update (``broyden_memory``, :meth:`_Stage.direction`): one
triangular solve per iteration as before, superlinear instead of linear
convergence while the factors are kept (default scenario: 565 instead of 608
iterations, RESULTS.md section 14). A stage the modified iteration cannot solve (the
hardest one in the suite: 20 s fixed steps while the tip ramps to -70 °C,
test_time_convergence_order) is retried from the same guess with exact
Newton before it is reported as failed (counted in ``exact_retries``).

A search direction from old factors that does not decrease the residual is
recomputed with fresh factors before the stage is declared failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ..meshing.grids import FVGrid
from ..numerics.newton import FactorState, check_refactor, solve_stage_with_retry
from ..physics.phase_change import P_CU
from . import kernel as fv

__all__ = ["BACKEND_CHOICES", "LinearSolverSettings", "NewtonSolver"]



BACKEND_CHOICES = ("auto", "petsc", "superlu")
#: PETSc LU orderings tried in turn for ``petsc_ordering="auto"``: METIS nested dissection where
#: PETSc is built with METIS (the DOLFINx wheel is), else quotient minimum degree. On the default
#: scenario's Jacobian (2,217 unknowns) METIS leaves 85,000 entries in the factors against 90,000
#: (qmd) and 105,000 (PETSc's own nd), and factorises in 1.12 ms against 1.33 ms (qmd)
#: (benchmarks/RESULTS.md, section 14).
PETSC_ORDERING_AUTO = (("metisnd", "metis"), ("qmd", None))
#: Largest number of Broyden updates applied on top of one factorisation (:class:`_Stage`): the
#: corrections cost two n-vectors each and a dot product and an update per use, next to one
#: triangular solve; past ten the old steps describe a Jacobian the iterate has left (the memory
#: is emptied at each factorisation and each stage anyway).
BROYDEN_MEMORY = 10
#: A Broyden update whose denominator s^T (B^-1 y) is below this fraction of |s| |B^-1 y| is
#: skipped (the secant condition would be nearly singular; Kelley 1995, section 7.3).
BROYDEN_MIN_COSINE = 1e-8


@dataclass(frozen=True)
class LinearSolverSettings:
    """How the Newton corrections are solved (see the module docstring).

    ``permc_spec``, ``diag_pivot_thresh``, ``symmetric_mode``: SuperLU's
    column ordering, partial-pivoting threshold and symmetric mode
    (:func:`scipy.sparse.linalg.splu`); ``petsc_ordering``: PETSc's LU
    ordering (``MatOrderingType``: "metisnd", "nd", "qmd", "rcm", ...), "auto":
    :data:`PETSC_ORDERING_AUTO`.
    """

    refactor: str = "lagged"
    #: Broyden updates kept on top of the factors (0: none, plain modified Newton); see :class:`_Stage`
    broyden_memory: int = BROYDEN_MEMORY
    backend: str = "auto"
    permc_spec: str = "MMD_AT_PLUS_A"
    diag_pivot_thresh: float = 0.0
    symmetric_mode: bool = True
    petsc_ordering: str = "auto"


def _petsc() -> Any:
    """petsc4py's PETSc, or None; the DOLFINx wheel's solver module is imported first when present."""
    try:
        import dolfinx_solver  # noqa: F401
    except ImportError:
        pass
    try:
        from petsc4py import PETSc
    except ImportError:
        return None
    return PETSc


def _petsc_ordering(ordering: str, PETSc: Any) -> str:
    """``ordering``, or for "auto" the first of :data:`PETSC_ORDERING_AUTO` whose package PETSc has."""
    if ordering != "auto":
        return ordering
    for name, package in PETSC_ORDERING_AUTO:
        if package is None or PETSc.Sys.hasExternalPackage(package):
            return name
    return "qmd"


class _SuperLU:
    """SuperLU of J^T (J's CSR arrays read as CSC), solving J x = b as (J^T)^T x = b."""

    def __init__(self, pattern: fv.JacobianPattern, settings: LinearSolverSettings) -> None:
        n = pattern.n
        self.JT = sp.csc_matrix((np.zeros(pattern.nnz), pattern.indices, pattern.indptr), shape=(n, n))
        self.settings, self.lu = settings, None

    def factorise(self, data: np.ndarray) -> None:
        s = self.settings
        self.JT.data = data
        self.lu = splu(self.JT, permc_spec=s.permc_spec, diag_pivot_thresh=s.diag_pivot_thresh,
                       options=dict(SymmetricMode=s.symmetric_mode))

    def solve(self, b: np.ndarray) -> np.ndarray:
        return self.lu.solve(b, trans="T")


#: Pivots PETSc's LU treats as zero (absolute): far below the smallest cell volume (m^3) any grid reaches.
PETSC_ZERO_PIVOT = 1e-300


class _PetscLU:
    """PETSc sequential LU of J (AIJ from the CSR arrays); numeric refactorisation on a fixed pattern."""

    def __init__(self, pattern: fv.JacobianPattern, settings: LinearSolverSettings, PETSc: Any) -> None:
        n = pattern.n
        self.indptr = pattern.indptr.astype(PETSc.IntType)
        self.indices = pattern.indices.astype(PETSc.IntType)
        self.A = PETSc.Mat().createAIJ(size=(n, n), csr=(self.indptr, self.indices, np.zeros(pattern.nnz)),
                                       comm=PETSc.COMM_SELF)
        self.A.assemble()
        self.ksp = PETSc.KSP().create(PETSc.COMM_SELF)
        self.ksp.setType("preonly")
        pc = self.ksp.getPC()
        pc.setType("lu")
        pc.setFactorOrdering(_petsc_ordering(settings.petsc_ordering, PETSc))
        # PETSc treats a pivot below an absolute 2.2e-14 as zero (PCFactorSetZeroPivot); the Jacobian's rows
        # are in m^3 (cell volumes times enthalpy derivatives), 2e-14 for the smallest cells at resolution 4,
        # so its LU "failed" there and every Newton direction came back non-finite. The matrix is an M-matrix
        # scaled by volumes: no pivot is small relative to its row.
        pc.setFactorPivot(zeropivot=PETSC_ZERO_PIVOT)
        self.b, self.x = np.zeros(n), np.zeros(n)
        self.vb = PETSc.Vec().createWithArray(self.b, comm=PETSc.COMM_SELF)
        self.vx = PETSc.Vec().createWithArray(self.x, comm=PETSc.COMM_SELF)

    def factorise(self, data: np.ndarray) -> None:
        self.A.setValuesCSR(self.indptr, self.indices, data)
        self.A.assemble()
        self.ksp.setOperators(self.A)
        self.ksp.setUp()

    def solve(self, b: np.ndarray) -> np.ndarray:
        self.b[:] = b
        self.ksp.solve(self.vb, self.vx)
        if self.ksp.getConvergedReason() < 0:  # a failed factorisation: no direction (the stage fails, the step is cut)
            return np.full_like(self.x, np.nan)
        return self.x.copy()


class NewtonSolver:
    """Newton's method for the stages of one grid (pattern and buffers built once).

    ``wall_capacity_J_per_K``: probe-wall heat capacity lumped on each cell
    (:mod:`cryosim.fast.kernel`, ``Cw``; None: no wall).
    """

    def __init__(self, grid: FVGrid, props: np.ndarray, arterial_temperature_C: float, tol_K: float,
                 max_iter: int, settings: LinearSolverSettings = LinearSolverSettings(),
                 wall_capacity_J_per_K: np.ndarray | None = None) -> None:
        check_refactor(settings.refactor)
        if settings.backend not in BACKEND_CHOICES:
            raise ValueError(f"backend must be one of {BACKEND_CHOICES}, got {settings.backend!r}")
        self.grid, self.props, self.Ta = grid, props, float(arterial_temperature_C)
        self.tol_K, self.max_iter, self.settings = tol_K, int(max_iter), settings
        #: residual scale (J/(m^3 K)): the largest unfrozen heat capacity
        self.scale = float(np.max(props[:, P_CU]))
        self.pattern = fv.JacobianPattern(grid.n_cells, grid.face_cells)
        n, pat = grid.n_cells, self.pattern
        PETSc = _petsc() if settings.backend != "superlu" else None
        if settings.backend == "petsc" and PETSc is None:
            raise ImportError("backend 'petsc' needs petsc4py")
        #: the linear solver actually used
        self.backend = "petsc" if PETSc is not None else "superlu"
        self._linear = _PetscLU(pat, settings, PETSc) if PETSc is not None else _SuperLU(pat, settings)
        self._data, self._data_try = np.zeros(pat.nnz), np.zeros(pat.nnz)
        self._R, self._R_try = np.empty(n), np.empty(n)
        self._factors = FactorState()
        Cw = np.zeros(n) if wall_capacity_J_per_K is None else np.ascontiguousarray(wall_capacity_J_per_K, float)
        self._grid_args = (grid.material, props, grid.volume_m3, Cw, grid.face_cells, grid.face_weight_m,
                           grid.face_split, grid.bface_cell, grid.bface_area_m2, grid.bface_dist_m, grid.bface_group)
        self._region_args = (grid.material, props)
        self.counters = {"factorisations": 0, "linear_solves": 0, "factor_cpu_s": 0.0, "solve_cpu_s": 0.0,
                         "exact_retries": 0, "guess_retries": 0}

    def _bc_args(self, bc: Any) -> tuple:
        return (bc.kind, bc.temperature_C, bc.h_W_per_m2_K, bc.flux_W_per_m2, bc.table_T_C, bc.table_flux_W_per_m2,
                bc.table_n, self.Ta)

    def _factorise(self, data: np.ndarray) -> None:
        t0 = time.process_time()
        self._linear.factorise(data)
        self.counters["factor_cpu_s"] += time.process_time() - t0
        self.counters["factorisations"] += 1

    def _direction(self, R: np.ndarray) -> np.ndarray:
        t0 = time.process_time()
        dH = self._linear.solve(-R)
        self.counters["solve_cpu_s"] += time.process_time() - t0
        self.counters["linear_solves"] += 1
        return dH

    def solve(self, H_guess: np.ndarray, T_guess: np.ndarray, Hstar: np.ndarray, Tstar: np.ndarray, gdt: float,
              bc: Any) -> tuple[bool, int, np.ndarray, np.ndarray]:
        """Solve the stage ``V (H - H*) + Cw (T(H) - T*) = gdt S(H)`` (with node constraints) from a guess.

        Returns (converged, iterations, H, T): the shared driver
        :func:`cryosim.numerics.newton.solve_stage_with_retry` on this grid's
        :class:`_Stage`.
        """
        args = self._grid_args + self._bc_args(bc) + (self.scale, self.pattern.diag_slot, self.pattern.face_slot)
        g = self.grid
        fixed = fv.constrained_cells(H_guess.size, g.bface_cell, g.bface_dist_m, g.bface_group, bc.kind,
                                     bc.temperature_C)
        ok, its, _, stage = solve_stage_with_retry(lambda: _Stage(self, H_guess, T_guess, Hstar, Tstar, gdt, args, fixed),
                                                   self._factors, self.settings.refactor, self.tol_K, self.max_iter,
                                                   self.counters)
        return ok, its, stage.H, stage.T

    def reactions(self, H: np.ndarray, T: np.ndarray, Hstar: np.ndarray, Tstar: np.ndarray, gdt: float, bc: Any,
                  n_groups: int) -> np.ndarray:
        """Heat rates (W) through the node constraints per group at a converged stage
        (:func:`cryosim.fast.kernel.reactions`)."""
        return fv.reactions(H, T, Hstar, Tstar, gdt, *self._grid_args, *self._bc_args(bc), n_groups)


class _Stage:
    """One stage of :class:`NewtonSolver` as the shared driver's
    :class:`~cryosim.numerics.newton.StageProblem` (iterate, trial and their
    residual and Jacobian buffers; the trial's become the iterate's on accept)."""

    def __init__(self, solver: NewtonSolver, H_guess: np.ndarray, T_guess: np.ndarray, Hstar: np.ndarray,
                 Tstar: np.ndarray, gdt: float, args: tuple, fixed: np.ndarray) -> None:
        self.s = solver
        self.H, self.T = H_guess.copy(), T_guess.copy()
        self.H_try, self.T_try = np.empty_like(self.H), T_guess.copy()  # fresh arrays: the results are handed out
        self.limited = np.empty_like(self.H)
        self.Hstar, self.Tstar, self.gdt, self.args, self.fixed = Hstar, Tstar, gdt, args, fixed
        # Broyden memory: the steps s_j and vectors w_j of the product form, the last direction and the
        # step taken along it (pending: its update is made once the residual at the new iterate is known)
        self.memory = solver.settings.broyden_memory
        self.s_list: list[np.ndarray] = []
        self.w_list: list[np.ndarray] = []
        self.last_d: np.ndarray | None = None
        self.pending_s: np.ndarray | None = None

    def start(self) -> tuple[float, float]:
        s = self.s
        return fv.evaluate(self.H, self.T, self.Hstar, self.Tstar, self.gdt, *self.args, s._R, s._data, True, True)

    def factorise(self) -> None:
        self.s._factorise(self.s._data)
        self.s_list.clear()  # the updates corrected the old factors; the fresh ones need none
        self.w_list.clear()
        self.pending_s = None

    def _apply_updates(self, z: np.ndarray) -> np.ndarray:
        """z <- (I + w_{m-1} s_{m-1}^T) ... (I + w_0 s_0^T) z, in place."""
        for s_j, w_j in zip(self.s_list, self.w_list):
            z += w_j * float(s_j @ z)
        return z

    def direction(self) -> np.ndarray:
        """The Newton correction with the current factors, corrected by Broyden's ("good") update.

        With factors B_0 of an earlier Jacobian, the inverse of the secant approximation after steps
        s_0 .. s_{m-1} is B_m^{-1} = (I + w_{m-1} s_{m-1}^T) ... (I + w_0 s_0^T) B_0^{-1}, with
        w_j = (s_j - B_j^{-1} y_j) / (s_j^T B_j^{-1} y_j) and y_j the change of the residual over
        s_j (C. G. Broyden, Math. Comp. 19 (1965) 577; product form without transposed solves:
        C. T. Kelley, *Iterative Methods for Linear and Nonlinear Equations*, SIAM 1995, section
        7.3). B_j^{-1} y_j = B_j^{-1} R_{j+1} - B_j^{-1} R_j = B_j^{-1} R_{j+1} + d_j (d_j the
        direction taken at the step j), so each iteration costs one triangular solve as plain
        modified Newton does, and the iteration converges superlinearly instead of linearly while
        the factors are kept. The update uses the step actually taken (safeguarded, shortened by the
        line search). The driver's line search still accepts no increase of the residual; a
        direction that gives none is recomputed with fresh factors, which empty the memory.
        """
        z = self._apply_updates(self.s._direction(self.s._R))  # B_m^{-1} (-R) before the pending update
        s_new = self.pending_s
        self.pending_s = None
        if s_new is not None and self.last_d is not None and self.memory > 0:
            By = self.last_d - z  # B^{-1} y = B^{-1} R_new - B^{-1} R_old = -z + d_old
            den = float(s_new @ By)
            if abs(den) > BROYDEN_MIN_COSINE * float(np.linalg.norm(s_new) * np.linalg.norm(By)):
                if len(self.s_list) >= self.memory:
                    self.s_list.clear()
                    self.w_list.clear()
                    z = self.s._direction(self.s._R)  # restart the memory from the factors alone
                else:
                    w = (s_new - By) / den
                    z += w * float(s_new @ z)
                    self.s_list.append(s_new)
                    self.w_list.append(w)
        self.last_d = z
        return z

    def safeguard(self, dH: np.ndarray) -> np.ndarray | None:
        stopped = fv.safeguard_correction(self.H, self.T, dH, *self.s._region_args, self.fixed, self.limited)
        return self.limited if stopped else None

    def trial(self, dH: np.ndarray, lam: float) -> tuple[float, float]:
        s = self.s
        return fv.step_and_evaluate(self.H, dH, lam, self.H_try, self.T_try, self.Hstar, self.Tstar, self.gdt,
                                    *self.args, s._R_try, s._data_try, True)

    def accept(self) -> None:
        s = self.s
        if self.memory > 0:
            self.pending_s = self.H_try - self.H  # the step taken, for the next direction's update
        self.H, self.H_try = self.H_try, self.H
        self.T, self.T_try = self.T_try, self.T
        s._R, s._R_try = s._R_try, s._R
        s._data, s._data_try = s._data_try, s._data
