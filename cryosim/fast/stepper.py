"""Adaptive implicit time stepping on a finite-volume grid.

The default integrator is the two-stage, second-order, L-stable SDIRK2 of
Alexander (1977) on the enthalpy; backward Euler (``method="euler"``) is
kept for comparison. The step is chosen from a local error estimate against
a first-order solution of the same step, measured both on the total enthalpy
change (relative) and on cell temperatures (kelvin). Steps grow
at most twofold, shrink when the error or Newton's method asks, are rejected
when the error exceeds three times the tolerance, and land exactly on every
protocol breakpoint (after which they restart small, since the boundary
condition jumps). A step that Newton cannot solve is retried four times
smaller; below ``min_step_s`` the run stops with :class:`ConvergenceError`
instead of returning a wrong answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import kernel as fv
from ..meshing.grids import ACTIVE, FAR, SHAFT, FVGrid

__all__ = ["ConvergenceError", "BoundaryState", "StepperSettings", "Stepper"]

N_GROUPS = 3
#: SDIRK2 coefficient 1 - 1/sqrt(2) (Alexander, SIAM J. Numer. Anal. 14 (1977) 1006).
SDIRK_GAMMA = 1.0 - 1.0 / math.sqrt(2.0)


class ConvergenceError(RuntimeError):
    """The solver could not advance the solution; nothing is passed off as a result."""


@dataclass
class BoundaryState:
    """Per-group boundary condition arrays (index: ACTIVE, SHAFT, FAR)."""

    kind: np.ndarray = field(default_factory=lambda: np.full(N_GROUPS, fv.BC_ADIABATIC, np.int64))
    temperature_C: np.ndarray = field(default_factory=lambda: np.zeros(N_GROUPS))
    h_W_per_m2_K: np.ndarray = field(default_factory=lambda: np.ones(N_GROUPS))
    flux_W_per_m2: np.ndarray = field(default_factory=lambda: np.zeros(N_GROUPS))


@dataclass(frozen=True)
class StepperSettings:
    temperature_tolerance_K: float = 0.5
    enthalpy_rtol: float = 1e-3
    max_step_s: float = 10.0
    first_step_s: float = 1e-2
    min_step_s: float = 1e-7
    newton_tolerance_K: float = 1e-5
    newton_max_iter: int = 25
    method: str = "sdirk2"
    fixed_step_s: float | None = None


class Stepper:
    """Advances the enthalpy field of a grid through a schedule of boundary conditions.

    ``boundary(t)`` returns the :class:`BoundaryState` in force at time ``t``
    (evaluated at the end of each step); ``breakpoints`` are the times where
    it jumps or changes slope.
    """

    def __init__(self, grid: FVGrid, props: np.ndarray, initial_temperature_C: float,
                 arterial_temperature_C: float, boundary: Callable[[float], BoundaryState],
                 breakpoints: np.ndarray, settings: StepperSettings) -> None:
        self.grid = grid
        self._bw = grid.bandwidth
        self.props = np.ascontiguousarray(props, dtype=float)
        self.Ta = float(arterial_temperature_C)
        self.boundary = boundary
        self.breakpoints = np.unique(np.asarray(breakpoints, float))
        self.s = settings
        self.T = np.full(grid.n_cells, float(initial_temperature_C))
        self.H = fv.enthalpy_of(self.T, grid.material, self.props)
        self.H0_total = float(fv.total(grid.volume_m3, self.H))
        self.t = 0.0
        self.energy = {"probe_J": 0.0, "far_boundary_J": 0.0, "perfusion_J": 0.0, "metabolic_J": 0.0}
        self.stats = {"steps": 0, "rejected_error": 0, "rejected_newton": 0, "newton_iterations": 0,
                      "factorisations": 0}
        self.bc = boundary(0.0)
        self.last_rates = (np.zeros(N_GROUPS), 0.0, 0.0)
        # lagged LU preconditioner shared by all stage solves (see fv.stage_solve)
        self._lu = np.zeros((grid.n_cells, 2 * grid.bandwidth + 1))
        self._lu_state = np.zeros(2)  # [factors valid, Krylov iterations so far]

    # --- one implicit step ----------------------------------------------------
    def _solve(self, gdt: float, bc: BoundaryState, Hstar: np.ndarray, H_guess: np.ndarray,
               T_guess: np.ndarray) -> tuple[bool, int, np.ndarray, np.ndarray]:
        """Solve V (H - H*) = gdt S(H) for H from a guess."""
        g = self.grid
        H, T = H_guess.copy(), T_guess.copy()
        ok, its, nfact = fv.stage_solve(
            H, T, Hstar, gdt, g.material, self.props, g.volume_m3, g.face_cells, g.face_area_m2,
            g.face_dist_m, g.bface_cell, g.bface_area_m2, g.bface_dist_m, g.bface_group,
            bc.kind, bc.temperature_C, bc.h_W_per_m2_K, bc.flux_W_per_m2, self.Ta, self._bw,
            self.s.newton_tolerance_K, self.s.newton_max_iter, self._lu, self._lu_state,
        )
        self.stats["factorisations"] += int(nfact)
        return bool(ok and np.all(np.isfinite(H))), int(its), H, T

    def rates(self, T: np.ndarray, bc: BoundaryState) -> tuple[np.ndarray, float, float]:
        g = self.grid
        return fv.heat_rates(T, g.material, self.props, g.volume_m3, g.bface_cell, g.bface_area_m2,
                             g.bface_dist_m, g.bface_group, bc.kind, bc.temperature_C, bc.h_W_per_m2_K,
                             bc.flux_W_per_m2, self.Ta, N_GROUPS)

    def surface_temperatures(self) -> np.ndarray:
        g, bc = self.grid, self.bc
        return fv.surface_temperatures(self.T, g.material, self.props, g.bface_cell, g.bface_area_m2,
                                       g.bface_dist_m, g.bface_group, bc.kind, bc.temperature_C,
                                       bc.h_W_per_m2_K, bc.flux_W_per_m2)

    @property
    def enthalpy_change_J(self) -> float:
        return float(fv.total(self.grid.volume_m3, self.H)) - self.H0_total

    def _clipped_enthalpy(self, T_guess: np.ndarray, bc: BoundaryState) -> tuple[np.ndarray, np.ndarray]:
        """An initial Newton guess from extrapolated temperatures, kept within physical bounds."""
        lo = min(float(self.T.min()), float(bc.temperature_C.min()))
        hi = max(float(self.T.max()), float(bc.temperature_C.max()), self.Ta)
        T = np.clip(T_guess, lo, hi)
        return fv.enthalpy_of(T, self.grid.material, self.props), T

    def _accumulate(self, weight_s: float, rates: tuple[np.ndarray, float, float], into: dict) -> None:
        Qb, Qp, Qm = rates
        into["probe_J"] += weight_s * (Qb[ACTIVE] + Qb[SHAFT])
        into["far_boundary_J"] += weight_s * Qb[FAR]
        into["perfusion_J"] += weight_s * Qp
        into["metabolic_J"] += weight_s * Qm

    def _error(self, H_new: np.ndarray, T_new: np.ndarray, H_low: np.ndarray) -> float:
        """Local error estimate over its tolerance (accept when <= 1).

        ``H_low`` is a lower-order solution of the same step. Two measures,
        the larger wins: the difference in total enthalpy change (the heat
        drawn, which sets the ice-ball size) relative to that change, against
        ``enthalpy_rtol``; and the largest cell temperature difference, against
        ``temperature_tolerance_K``.
        """
        V = self.grid.volume_m3
        E_new = float(fv.total(V, H_new)) - self.H0_total
        e_global = abs(float(fv.total(V, H_new - H_low))) / max(abs(E_new), 1e-300) / self.s.enthalpy_rtol
        T_low = fv.temperatures_of(H_low, self.grid.material, self.props, T_new)
        e_local = float(np.max(np.abs(T_new - T_low))) / self.s.temperature_tolerance_K
        return max(e_global, e_local)

    def _step_sdirk2(self, dt: float, prev: tuple | None) -> tuple[bool, int, np.ndarray, np.ndarray, dict, float]:
        """One step of the two-stage, L-stable, stiffly accurate SDIRK2 (Alexander 1977).

        Stage i solves V (H_i - H*_i) = gamma dt S(H_i); the update
        H^{n+1} - H^n = dt [(1 - gamma) S_1 + gamma S_2] is exact in the
        energy accounting. The error is estimated against the first-order
        solution H^n + dt S_1.
        """
        g = SDIRK_GAMMA
        bc1 = self.boundary(self.t + g * dt)
        guess1 = (self.H, self.T) if prev is None else self._clipped_enthalpy(self.T + g * dt * prev[0], bc1)
        ok, its1, H1, T1 = self._solve(g * dt, bc1, self.H, guess1[0], guess1[1])
        if not ok:
            return False, its1, H1, T1, {}, np.inf
        slope = (H1 - self.H) / (g * dt)  # S_1 / V
        Hstar2 = self.H + (1.0 - g) * dt * slope
        bc2 = self.boundary(self.t + dt)
        T_slope = (T1 - self.T) / (g * dt)
        H_g2, T_g2 = self._clipped_enthalpy(self.T + dt * T_slope, bc2)
        ok, its2, H2, T2 = self._solve(g * dt, bc2, Hstar2, H_g2, T_g2)
        if not ok:
            return False, its1 + its2, H2, T2, {}, np.inf
        heat = {k: 0.0 for k in self.energy}
        self._accumulate((1.0 - g) * dt, self.rates(T1, bc1), heat)
        rates2 = self.rates(T2, bc2)
        self._accumulate(g * dt, rates2, heat)
        self.last_rates = rates2
        self.bc = bc2
        err = self._error(H2, T2, self.H + dt * slope)
        return True, its1 + its2, H2, T2, heat, err

    def _step_euler(self, dt: float, prev: tuple | None) -> tuple[bool, int, np.ndarray, np.ndarray, dict, float]:
        """One backward Euler step; error from the linear extrapolation of the last step."""
        bc = self.boundary(self.t + dt)
        if prev is None:
            H_guess, T_guess = self.H, self.T
        else:
            H_guess, T_guess = self._clipped_enthalpy(self.T + dt * prev[0], bc)
        ok, its, H, T = self._solve(dt, bc, self.H, H_guess, T_guess)
        if not ok:
            return False, its, H, T, {}, np.inf
        heat = {k: 0.0 for k in self.energy}
        rates = self.rates(T, bc)
        self._accumulate(dt, rates, heat)
        self.last_rates = rates
        self.bc = bc
        err = 0.0
        if prev is not None:
            # BE truncation error ~ dt/(dt + dt_prev) * (solution - linear extrapolation)
            H_lin = self.H + dt * prev[1]
            w = dt / (dt + prev[2])
            err = self._error(H, T, H + w * (H_lin - H))
        return True, its, H, T, heat, err

    # --- the loop -----------------------------------------------------------
    def run(self, t_end_s: float, on_step: Callable[["Stepper"], None],
            progress: Callable[[float, float], None] | None = None) -> dict:
        s = self.s
        step = self._step_sdirk2 if s.method == "sdirk2" else self._step_euler
        wall0 = time.perf_counter()
        bps = self.breakpoints[(self.breakpoints > 0.0) & (self.breakpoints < t_end_s)]
        bps = np.append(bps, t_end_s)
        on_step(self)
        fixed = s.fixed_step_s
        for bp in bps:
            dt = min(s.first_step_s if fixed is None else fixed, bp - self.t)
            prev = None  # (dT/dt, dH/dt, dt) of the previous step; reset where the BC jumps
            while self.t < bp - 1e-12 * max(1.0, bp):
                dt = min(dt, s.max_step_s) if fixed is None else fixed
                remaining = bp - self.t
                if fixed is not None:
                    dt = min(dt, remaining)
                elif remaining <= 1.2 * dt:
                    dt = remaining
                elif remaining < 2.0 * dt:
                    dt = 0.5 * remaining
                t_new = bp if dt >= remaining else self.t + dt
                bc_before = self.bc
                ok, its, H, T, heat, err = step(dt, prev)
                self.stats["newton_iterations"] += its
                if not ok:
                    self.bc = bc_before
                    self.stats["rejected_newton"] += 1
                    dt *= 0.25
                    if dt < s.min_step_s or fixed is not None:
                        raise ConvergenceError(
                            f"Newton's method failed at t = {self.t:.6g} s even with a step of {dt:.3g} s")
                    continue
                if fixed is not None:
                    err = 0.0
                if err > 3.0 and dt > 16 * s.min_step_s:
                    self.bc = bc_before
                    self.stats["rejected_error"] += 1
                    dt *= max(0.2, 0.9 * math.sqrt(1.0 / err))
                    continue
                factor = 2.0 if err == 0.0 else min(2.0, max(0.2, 0.9 * math.sqrt(1.0 / err)))
                for k, v in heat.items():
                    self.energy[k] += v
                prev = ((T - self.T) / dt, (H - self.H) / dt, dt)
                self.T, self.H, self.t = T, H, t_new
                self.stats["steps"] += 1
                on_step(self)
                if progress is not None:
                    progress(self.t, t_end_s)
                dt *= factor
        self.stats["wall_s"] = time.perf_counter() - wall0
        self.stats["krylov_iterations"] = int(self._lu_state[1])
        return dict(self.stats)
