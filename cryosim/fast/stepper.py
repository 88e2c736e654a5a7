r"""SDIRK2 time integration of the finite-volume enthalpy system.

:class:`FVSystem` is the fast solver's :class:`~cryosim.numerics.stepsize.SteppedSystem`:
one step is the two-stage, second-order, L-stable, stiffly accurate SDIRK2
of Alexander (1977) on the enthalpy; its local error is estimated against
the first-order solution of the same step, measured both on the total
enthalpy change (relative, against ``enthalpy_rtol``) and on cell
temperatures (against ``temperature_tolerance_K``). The step controller of
:mod:`cryosim.numerics.stepsize` decides what to accept.

The heat through every boundary, perfusion and metabolism is accumulated with
the same SDIRK weights as the enthalpy update, so the energy balance closes to
the Newton tolerance whatever the step.

A probe wall with a heat capacity (``wall_heat_capacity_J_per_m2_K`` of a
device's conditions, :meth:`~cryosim.physics.boundary.BoundarySet.wall_heat_capacity_J_per_m2_K`)
is lumped onto the cells that carry its boundary entries,
:math:`C_{w,i} = \sum_b C_w A_b` (J/K, fixed for the run), so each stage
solves :math:`V (H - H^*) + C_w (T - T^*) = \gamma\Delta t\, S`, with
:math:`T^*` combined from past temperatures as :math:`H^*` is from past
enthalpies. The stored energy is then
:math:`E = \sum_i V_i H_i + C_{w,i} T_i`; its change is what
``enthalpy_change_J`` reports (medium enthalpy plus the wall's sensible heat,
:attr:`FVSystem.probe_wall_J` being the wall's part), and the heat terms are
the heat through the boundaries (for a device: what the gas draws from the
wall), so the balance stays exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..numerics.sdirk2 import SDIRK_GAMMA, STAGE2_C, sdirk2_step
from ..numerics.stepsize import Attempt
from ..physics.boundary import N_SURFACES, BCKind, BoundarySet, Surface
from ..meshing.grids import FVGrid
from ..post.results import ENERGY_KEYS
from . import kernel as fv
from .newton import LinearSolverSettings, NewtonSolver

__all__ = ["BoundaryState", "FVSystem", "SDIRK_GAMMA", "ENERGY_KEYS"]

#: Undershoot below the coldest previous or imposed temperature that rejects a step (K): the 0.5 K of issue 11.
UNDERSHOOT_SLACK_K = 0.5
#: Error ratio given to such a step: above the controller's rejection ratio, so it is cut (by about half).
UNDERSHOOT_REJECT_RATIO = 4.0
#: Which Newton guess a stage tries first at the start of a run: the unextrapolated one (False;
#: stage 1: the committed state, stage 2: the stage-1 solution) or the extrapolation that
#: :func:`~cryosim.numerics.sdirk2.sdirk2_step` offers (stage 1: T^n + gamma dt dT/dt of the last
#: step; stage 2: T^n + (T_1 - T^n)/gamma). The other one is the fallback when the first fails, and
#: a stage that fails from the first and converges from the fallback makes the fallback the first
#: choice of the next stages (:meth:`FVSystem.solve_stage`). Unextrapolated first: under the step
#: controller an extrapolation carries the cells next to the ice front across the freezing interval
#: before the front gets there (their temperature falls steadily to the liquidus, then stalls), a
#: latent-heat-sized residual (tens of kelvin of heat capacity) that factors lagged from where those
#: cells were still on the other side cannot remove; from the unextrapolated guess they still
#: contract. Default scenario: 134 instead of 170 factorisations, 608 instead of 642 iterations,
#: the same results (benchmarks/RESULTS.md, section 14). Long fixed steps through a ramped tip
#: temperature are the other way round (1D planar, 20 s steps while the tip ramps 37 -> -70 °C in
#: 60 s, test_time_convergence_order: 158 factorisations extrapolated, 758 unextrapolated, 183
#: with the switch).
EXTRAPOLATE_FIRST = False


@dataclass
class BoundaryState:
    """Per-surface boundary arrays for the kernel (index: :class:`Surface` value).

    A TABULATED_FLUX surface ``j`` has its table in row ``j`` of the padded
    arrays ``table_T_C`` and ``table_flux_W_per_m2`` (the first
    ``table_n[j]`` entries; ``table_n`` is 0 for other kinds).
    """

    kind: np.ndarray = field(default_factory=lambda: np.full(N_SURFACES, int(BCKind.ADIABATIC), np.int64))
    temperature_C: np.ndarray = field(default_factory=lambda: np.zeros(N_SURFACES))
    h_W_per_m2_K: np.ndarray = field(default_factory=lambda: np.ones(N_SURFACES))
    flux_W_per_m2: np.ndarray = field(default_factory=lambda: np.zeros(N_SURFACES))
    table_T_C: np.ndarray = field(default_factory=lambda: np.zeros((N_SURFACES, 1)))
    table_flux_W_per_m2: np.ndarray = field(default_factory=lambda: np.zeros((N_SURFACES, 1)))
    table_n: np.ndarray = field(default_factory=lambda: np.zeros(N_SURFACES, np.int64))

    @classmethod
    def from_set(cls, bcs: BoundarySet, t_s: float) -> "BoundaryState":
        st = cls()
        conditions = bcs.at(t_s)
        n_max = max([len(c.table_T_C) for c in conditions.values()] + [1])
        st.table_T_C = np.zeros((N_SURFACES, n_max))
        st.table_flux_W_per_m2 = np.zeros((N_SURFACES, n_max))
        for surface, c in conditions.items():
            j = int(surface)
            st.kind[j] = int(c.kind)
            st.temperature_C[j] = c.temperature_C
            st.h_W_per_m2_K[j] = max(c.heat_transfer_W_per_m2_K, 1.0)
            st.flux_W_per_m2[j] = c.flux_W_per_m2
            if c.kind == BCKind.TABULATED_FLUX:
                n = len(c.table_T_C)
                st.table_n[j] = n
                st.table_T_C[j, :n] = c.table_T_C
                st.table_flux_W_per_m2[j, :n] = c.table_flux_W_per_m2
        return st

    def bounds_C(self) -> tuple[float, float]:
        """Coldest and warmest temperature imposed (TEMPERATURE, CONVECTIVE) or floored (LIMITED_FLUX, TABULATED_FLUX)."""
        used = self.kind != int(BCKind.ADIABATIC)
        used &= self.kind != int(BCKind.FLUX)
        if not used.any():
            return math.inf, -math.inf
        return float(self.temperature_C[used].min()), float(self.temperature_C[used].max())


@dataclass(frozen=True)
class StepTolerances:
    temperature_tolerance_K: float = 50.0
    enthalpy_rtol: float = 2e-2
    #: Newton stops when every cell residual is below this many kelvin of heat capacity; far below
    #: the step tolerances so that solver noise never enters the error estimate (issue 11: 1e-5 K
    #: swallowed metabolic heat and made the embedded error estimate noise-dominated)
    newton_tolerance_K: float = 1e-8
    newton_max_iter: int = 25


class FVSystem:
    """The enthalpy field of a grid under a :class:`BoundarySet`, advanced by SDIRK2 steps."""

    def __init__(self, grid: FVGrid, props: np.ndarray, initial_temperature_C: float | np.ndarray,
                 arterial_temperature_C: float, boundaries: BoundarySet, tolerances: StepTolerances,
                 linear_solver: LinearSolverSettings = LinearSolverSettings()) -> None:
        self.grid = grid
        self.props = np.ascontiguousarray(props, dtype=float)
        self.Ta = float(arterial_temperature_C)
        self.boundaries = boundaries
        self.tol = tolerances
        #: the error estimate's tolerances (:class:`~cryosim.numerics.sdirk2.SDIRK2System`)
        self.enthalpy_rtol = tolerances.enthalpy_rtol
        self.temperature_tolerance_K = tolerances.temperature_tolerance_K
        self.T = np.broadcast_to(np.asarray(initial_temperature_C, float), (grid.n_cells,)).copy()
        self.H = fv.enthalpy_of(self.T, grid.material, self.props)
        self.H0_total = float(fv.total(grid.volume_m3, self.H))
        #: probe-wall heat capacity lumped on each cell (J/K), see the module docstring
        cw = np.zeros(N_SURFACES)
        for s in Surface:
            cw[int(s)] = boundaries.wall_heat_capacity_J_per_m2_K(s)
        self.wall_capacity_J_per_K = np.bincount(grid.bface_cell, weights=cw[grid.bface_group] * grid.bface_area_m2,
                                                 minlength=grid.n_cells)
        self.T0 = self.T.copy()
        self.t = 0.0
        self.energy = {k: 0.0 for k in ENERGY_KEYS}
        # Jacobian pattern, buffers and factors of the stage solves, built once for the grid
        self.newton = NewtonSolver(grid, self.props, self.Ta, tolerances.newton_tolerance_K,
                                   tolerances.newton_max_iter, linear_solver, self.wall_capacity_J_per_K)
        self.counters = self.newton.counters
        self.bc = BoundaryState.from_set(boundaries, 0.0)
        self.last_rates = self.rates(self.T, self.bc)
        self._prev: tuple[np.ndarray, float] | None = None  # (dT/dt, dt) of the last step
        self._extrapolate_first = EXTRAPOLATE_FIRST  # which Newton guess a stage tries first (solve_stage)

    # --- kernel calls -----------------------------------------------------
    def _solve(self, gdt: float, bc: BoundaryState, Hstar: np.ndarray, Tstar: np.ndarray, H_guess: np.ndarray,
               T_guess: np.ndarray) -> tuple[bool, int, np.ndarray, np.ndarray]:
        """Solve V (H - H*) + Cw (T(H) - T*) = gdt S(H) for H from a guess (:class:`~cryosim.fast.newton.NewtonSolver`)."""
        ok, its, H, T = self.newton.solve(H_guess, T_guess, Hstar, Tstar, gdt, bc)
        return bool(ok and np.all(np.isfinite(H))), int(its), H, T

    def rates(self, T: np.ndarray, bc: BoundaryState,
              stage: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None) -> tuple[np.ndarray, float, float]:
        """Heat rates (W) into the medium: per surface, perfusion, metabolism.

        ``stage = (H, H*, T*, gdt)`` of the converged stage that gave ``T``: the
        heat through node constraints (prescribed wall temperatures on a
        vertex-centred grid) is then the stage's reaction
        (:func:`~cryosim.fast.kernel.reactions`); without it, it counts as 0.
        """
        g = self.grid
        Qb, Qp, Qm = fv.heat_rates(T, g.material, self.props, g.volume_m3, g.bface_cell, g.bface_area_m2,
                                   g.bface_dist_m, g.bface_group, bc.kind, bc.temperature_C, bc.h_W_per_m2_K,
                                   bc.flux_W_per_m2, bc.table_T_C, bc.table_flux_W_per_m2, bc.table_n, self.Ta,
                                   N_SURFACES)
        if stage is not None:
            H, Hstar, Tstar, gdt = stage
            Qb = Qb + self.newton.reactions(H, T, Hstar, Tstar, gdt, bc, N_SURFACES)
        return Qb, Qp, Qm

    def _with_constraints(self, H_low: np.ndarray, H_new: np.ndarray, bc: BoundaryState) -> np.ndarray:
        """``H_low`` with the node-constrained cells set to their imposed values in ``H_new``:
        an imposed enthalpy is exact, it carries no integration error."""
        g = self.grid
        fixed = (g.bface_dist_m == 0.0) & (bc.kind[g.bface_group] == int(BCKind.TEMPERATURE))
        if fixed.any():
            cells = g.bface_cell[fixed]
            H_low[cells] = H_new[cells]
        return H_low

    def surface_temperatures(self, T: np.ndarray | None = None, bc: "BoundaryState | None" = None) -> np.ndarray:
        """Temperature on every boundary entry (°C): the node temperature on a vertex-centred grid.

        Of the committed state, or of cell temperatures ``T`` under ``bc`` (an attempted step's)."""
        g = self.grid
        T = self.T if T is None else T
        bc = self.bc if bc is None else bc
        return fv.surface_temperatures(T, g.material, self.props, g.bface_cell, g.bface_area_m2,
                                       g.bface_dist_m, g.bface_group, bc.kind, bc.temperature_C,
                                       bc.h_W_per_m2_K, bc.flux_W_per_m2, bc.table_T_C, bc.table_flux_W_per_m2,
                                       bc.table_n)

    def surface_rates_W(self) -> dict[Surface, float]:
        """Heat rate into the medium through each surface at the last accepted step (W)."""
        Qb = self.last_rates[0]
        return {s: float(Qb[int(s)]) for s in Surface if int(s) < Qb.size}

    @property
    def probe_wall_J(self) -> float:
        r"""Change of the probe wall's sensible heat since the start, :math:`\sum_i C_{w,i} (T_i - T^0_i)` (J)."""
        return float(fv.total(self.wall_capacity_J_per_K, self.T - self.T0))

    @property
    def enthalpy_change_J(self) -> float:
        """Change of the stored energy (J): the medium's enthalpy plus the probe wall's sensible heat."""
        return float(fv.total(self.grid.volume_m3, self.H)) - self.H0_total + self.probe_wall_J

    def _clipped_enthalpy(self, T_guess: np.ndarray, bc: BoundaryState) -> tuple[np.ndarray, np.ndarray]:
        """An initial Newton guess from extrapolated temperatures, kept within physical bounds."""
        lo_bc, hi_bc = bc.bounds_C()
        lo = min(float(self.T.min()), lo_bc)
        hi = max(float(self.T.max()), hi_bc, self.Ta)
        T = np.clip(T_guess, lo, hi)
        return fv.enthalpy_of(T, self.grid.material, self.props), T

    # --- SDIRK2System (cryosim.numerics.sdirk2) ---------------------------
    def committed_temperature(self) -> np.ndarray:
        return self.T

    def set_stage(self, stage: int, t_s: float, gamma_dt_s: float) -> None:
        """Boundary data at ``t_s`` and the stage's H*_i, T*_i (stage 2: combined from the stage-1 solution)."""
        self._gdt, self._stage_no = gamma_dt_s, stage
        self._stage_bc = bc = BoundaryState.from_set(self.boundaries, t_s)
        if stage == 1:
            self._Hstar, self._Tstar = self.H, self.T
            self._bc1 = bc
            return
        H1, T1 = self._stage_H, self._stage_T
        self._stage1 = (H1, T1)
        self._Hstar = self.H + STAGE2_C * (H1 - self.H)
        self._Tstar = self.T + STAGE2_C * (T1 - self.T)  # the wall's share of E*_2, combined as H*_2

    def solve_stage(self, guess_T: np.ndarray | None) -> tuple[bool, int, str]:
        """Solve V (H - H*) + Cw (T(H) - T*) = gamma dt S(H) from the unextrapolated guess (stage 1: the committed
        state, stage 2: the stage-1 solution) and the extrapolated ``guess_T`` (clipped; None: none), the one
        preferred first (:data:`EXTRAPOLATE_FIRST`), the other if that fails; a stage solved only from the
        second makes it the preferred one."""
        def plain() -> tuple[np.ndarray, np.ndarray]:
            return (self.H, self.T) if self._stage_no == 1 else self._stage1

        def extrapolated() -> tuple[np.ndarray, np.ndarray]:
            return self._clipped_enthalpy(guess_T, self._stage_bc)  # type: ignore[arg-type]

        order = [(False, plain)] + ([] if guess_T is None else [(True, extrapolated)])
        if self._extrapolate_first:
            order.reverse()
        total = 0
        for k, (is_extrapolated, guess) in enumerate(order):
            if k > 0:
                self.counters["guess_retries"] += 1
            ok, its, H, T = self._solve(self._gdt, self._stage_bc, self._Hstar, self._Tstar, *guess())
            total += its
            if ok:
                if k > 0:
                    self._extrapolate_first = is_extrapolated
                break
        self._stage_H, self._stage_T = H, T
        return ok, total, "" if ok else "Newton failed"

    def stage_rates(self) -> tuple[tuple[np.ndarray, float, float], tuple[float, float, float, float]]:
        """The stage's rates (:meth:`rates`) and its heat rates in the order of :data:`ENERGY_KEYS`."""
        rates = self.rates(self._stage_T, self._stage_bc, (self._stage_H, self._Hstar, self._Tstar, self._gdt))
        Qb, Qp, Qm = rates
        return rates, (Qb[int(Surface.ACTIVE)] + Qb[int(Surface.SHAFT)], Qb[int(Surface.FAR)], Qp, Qm)

    def embedded(self, c: float) -> np.ndarray:
        """H^n + c (H_1 - H^n) (call after :meth:`set_stage` of stage 2)."""
        return self.H + c * (self._stage1[0] - self.H)

    def stage2_guess(self, low: np.ndarray, dt_s: float) -> np.ndarray:
        """Stage 2's extrapolated guess, T^n + (T_1 - T^n)/gamma (the fallback of :meth:`solve_stage`)."""
        T1 = self._stage1[1]
        return self.T + dt_s * ((T1 - self.T) / (SDIRK_GAMMA * dt_s))

    def error_measures(self, low: np.ndarray) -> tuple[float, float, float, float]:
        """The differences of the stage-2 solution from the embedded ``low`` (node-constrained cells set to the result).

        The total enthalpy difference (J), the medium's enthalpy change at the result and the stored-energy
        change at t_n (J), and the largest cell temperature difference (K).
        """
        H_new, T_new = self._stage_H, self._stage_T
        H_low = self._with_constraints(low, H_new, self._stage_bc)
        V = self.grid.volume_m3
        E_new = float(fv.total(V, H_new)) - self.H0_total
        dE = float(fv.total(V, H_new - H_low))
        T_low = fv.temperatures_of(H_low, self.grid.material, self.props, T_new)
        return dE, E_new, self.enthalpy_change_J, float(np.max(np.abs(T_new - T_low)))

    def guard_ratio(self, t_s: float, dt_s: float) -> float:
        """:data:`UNDERSHOOT_REJECT_RATIO` when a cell ends colder than the coldest of the previous field and the
        imposed temperatures by more than :data:`UNDERSHOOT_SLACK_K`, else 0.

        A discrete maximum principle the exact step obeys: a step that breaks it is too long, whatever the
        error estimate says (issue 11: undershoots of up to 11.8 K in water).
        """
        coldest = min(float(self.T.min()), self._bc1.bounds_C()[0], self._stage_bc.bounds_C()[0])
        if coldest - float(self._stage_T.min()) > UNDERSHOOT_SLACK_K:
            return UNDERSHOOT_REJECT_RATIO
        return 0.0

    def stage_state(self) -> tuple[np.ndarray, np.ndarray, BoundaryState]:
        return self._stage_H, self._stage_T, self._stage_bc

    # --- SteppedSystem ----------------------------------------------------
    def attempt(self, t_s: float, dt_s: float) -> Attempt:
        """One SDIRK2 step (Alexander 1977) from the committed state: :func:`cryosim.numerics.sdirk2.sdirk2_step`.

        Stage i solves V (H_i - H*_i) + Cw (T_i - T*_i) = gamma dt S(H_i); the
        update E^{n+1} - E^n = dt [(1 - gamma) S_1 + gamma S_2] of the stored
        energy E = V H + Cw T is what the energy terms integrate. The error is
        estimated against H^n + dt S_1 / V = H^n + (H_1 - H^n)/gamma.
        """
        return sdirk2_step(self, t_s, dt_s, None if self._prev is None else self._prev[0])

    def accept(self, attempt: Attempt, t_new_s: float) -> None:
        (H, T, bc), heat, rates, dt = attempt.payload
        for k, v in zip(ENERGY_KEYS, heat):
            self.energy[k] += v
        self._prev = ((T - self.T) / dt, dt)
        self.T, self.H, self.t = T, H, t_new_s
        self.last_rates, self.bc = rates, bc

    def restart(self) -> None:
        self._prev = None
