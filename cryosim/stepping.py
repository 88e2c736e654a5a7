"""Adaptive implicit time stepping on a finite-volume grid.

Backward Euler on the enthalpy, with the step chosen from a local error
estimate: the difference between the implicit solution and the linear
extrapolation of the two previous steps, scaled to the Euler truncation
error, ``err = dt / (dt + dt_prev) * max|T - T_pred|`` (kelvin). Steps grow
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

from . import fv
from .grids import ACTIVE, FAR, SHAFT, FVGrid

__all__ = ["ConvergenceError", "BoundaryState", "StepperSettings", "Stepper"]

N_GROUPS = 3


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
    max_step_s: float = 10.0
    first_step_s: float = 1e-2
    min_step_s: float = 1e-7
    newton_tolerance_K: float = 1e-7
    newton_max_iter: int = 25


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
        self.props = np.ascontiguousarray(props, dtype=float)
        self.Ta = float(arterial_temperature_C)
        self.boundary = boundary
        self.breakpoints = np.unique(np.asarray(breakpoints, float))
        self.s = settings
        self.T = np.full(grid.n_cells, float(initial_temperature_C))
        self.H = fv.enthalpy_of(self.T, grid.material, self.props)
        self.H0_total = float(grid.volume_m3 @ self.H)
        self.t = 0.0
        self.energy = {"probe_J": 0.0, "far_boundary_J": 0.0, "perfusion_J": 0.0, "metabolic_J": 0.0}
        self.stats = {"steps": 0, "rejected_error": 0, "rejected_newton": 0, "newton_iterations": 0}
        self.bc = boundary(0.0)
        self.last_rates = (np.zeros(N_GROUPS), 0.0, 0.0)

    # --- one implicit step ----------------------------------------------------
    def _solve(self, dt: float, bc: BoundaryState, H_guess: np.ndarray, T_guess: np.ndarray) -> tuple[bool, int, np.ndarray, np.ndarray]:
        g = self.grid
        H, T = H_guess.copy(), T_guess.copy()
        ok, its = fv.stage_solve(
            H, T, self.H, dt, g.material, self.props, g.volume_m3, g.face_cells, g.face_area_m2,
            g.face_dist_m, g.bface_cell, g.bface_area_m2, g.bface_dist_m, g.bface_group,
            bc.kind, bc.temperature_C, bc.h_W_per_m2_K, bc.flux_W_per_m2, self.Ta, g.bandwidth,
            self.s.newton_tolerance_K, self.s.newton_max_iter,
        )
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
        return float(self.grid.volume_m3 @ self.H) - self.H0_total

    # --- the loop -----------------------------------------------------------
    def run(self, t_end_s: float, on_step: Callable[["Stepper"], None],
            progress: Callable[[float, float], None] | None = None) -> dict:
        s = self.s
        wall0 = time.perf_counter()
        bps = self.breakpoints[(self.breakpoints > 0.0) & (self.breakpoints < t_end_s)]
        bps = np.append(bps, t_end_s)
        dt = s.first_step_s
        prev: tuple[np.ndarray, float] | None = None  # (T at previous step, its dt)
        on_step(self)
        for bp in bps:
            dt = min(s.first_step_s, bp - self.t)
            prev = None
            while self.t < bp - 1e-12 * max(1.0, bp):
                dt = min(dt, s.max_step_s)
                remaining = bp - self.t
                if remaining <= 1.2 * dt:
                    dt = remaining
                elif remaining < 2.0 * dt:
                    dt = 0.5 * remaining
                t_new = bp if dt == remaining else self.t + dt
                bc = self.boundary(t_new)
                if prev is not None:
                    T_pred = self.T + (dt / prev[1]) * (self.T - prev[0])
                    lo = min(float(self.T.min()), float(bc.temperature_C.min()))
                    hi = max(float(self.T.max()), float(bc.temperature_C.max()), self.Ta)
                    H_guess = fv.enthalpy_of(np.clip(T_pred, lo, hi), self.grid.material, self.props)
                else:
                    T_pred, H_guess = self.T, self.H
                ok, its, H, T = self._solve(dt, bc, H_guess, T_pred)
                self.stats["newton_iterations"] += its
                if not ok:
                    self.stats["rejected_newton"] += 1
                    dt *= 0.25
                    if dt < s.min_step_s:
                        raise ConvergenceError(
                            f"Newton's method failed at t = {self.t:.6g} s even with a step of {dt:.3g} s")
                    continue
                factor = 2.0
                if prev is not None:
                    err = dt / (dt + prev[1]) * float(np.max(np.abs(T - T_pred)))
                    if err > 3.0 * s.temperature_tolerance_K and dt > 16 * s.min_step_s:
                        self.stats["rejected_error"] += 1
                        dt *= max(0.2, 0.9 * math.sqrt(s.temperature_tolerance_K / err))
                        continue
                    factor = 2.0 if err == 0.0 else min(2.0, max(0.2, 0.9 * math.sqrt(s.temperature_tolerance_K / err)))
                # accept
                Qb, Qp, Qm = self.rates(T, bc)
                self.energy["probe_J"] += dt * (Qb[ACTIVE] + Qb[SHAFT])
                self.energy["far_boundary_J"] += dt * Qb[FAR]
                self.energy["perfusion_J"] += dt * Qp
                self.energy["metabolic_J"] += dt * Qm
                self.last_rates = (Qb, Qp, Qm)
                prev = (self.T, dt)
                self.T, self.H, self.t, self.bc = T, H, t_new, bc
                self.stats["steps"] += 1
                on_step(self)
                if progress is not None:
                    progress(self.t, t_end_s)
                dt *= factor
        self.stats["wall_s"] = time.perf_counter() - wall0
        return dict(self.stats)
