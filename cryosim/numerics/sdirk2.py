r"""The two-stage SDIRK2 scheme both solvers integrate the enthalpy with (Alexander 1977).

L-stable, stiffly accurate, second order:

.. math::

    H_1 = H^n + \gamma\Delta t\, S(t_n + \gamma\Delta t, H_1),\qquad
    H^{n+1} = H_2 = H^n + (1-\gamma)\Delta t\, S_1 + \gamma\Delta t\, S(t_n + \Delta t, H_2),

with :math:`\gamma = 1 - 1/\sqrt 2` and :math:`S_1 = (H_1 - H^n)/(\gamma\Delta t)`; the
embedded first-order solution :math:`H_{low} = H^n + \Delta t\, S_1 = H^n + (H_1 - H^n)/\gamma`
gives the local error estimate (R. Alexander, SIAM J. Numer. Anal. 14 (1977) 1006-1021).

:func:`sdirk2_step` is the one step both solvers take (:class:`cryosim.fast.stepper.FVSystem`,
:class:`cryosim.fem.solver.FESystem`): the stage order and times, the first Newton
guesses, the heat terms integrated with the weights of the enthalpy update, and the
error ratio from the embedded solution. What it asks of a solver is
:class:`SDIRK2System`: set up and solve a stage, its heat rates, the embedded
solution and its differences from the step's result, in the solver's own unknowns.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from .stepsize import Attempt

__all__ = ["SDIRK_GAMMA", "STAGE2_C", "SDIRK2System", "sdirk2_step", "error_ratio", "temperature_tolerance_for"]

#: gamma = 1 - 1/sqrt(2).
SDIRK_GAMMA = 1.0 - 1.0 / math.sqrt(2.0)
#: Weight of the stage-1 increment in the second stage's H*: H*_2 = H^n + ((1 - gamma)/gamma) (H_1 - H^n).
STAGE2_C = (1.0 - SDIRK_GAMMA) / SDIRK_GAMMA
#: Factor of the stage-1 increment in the embedded first-order solution: H_low = H^n + (1/gamma) (H_1 - H^n).
EMBEDDED_C = 1.0 / SDIRK_GAMMA


class SDIRK2System(Protocol):
    """What :func:`sdirk2_step` asks of a solver (its committed state :math:`H^n` is left as it is).

    * ``enthalpy_rtol``, ``temperature_tolerance_K``: the tolerances of the error estimate;
    * ``committed_temperature()``: :math:`T^n` (the array the first guess extrapolates);
    * ``set_stage(i, t_s, gamma_dt_s)``: boundary data at ``t_s`` and the stage's
      :math:`H^*_i` (:math:`H^n`, or :math:`H^n + c_2 (H_1 - H^n)` from the stage-1 solution
      just solved, :data:`STAGE2_C`), so that stage i solves
      :math:`H_i - H^*_i = \\gamma\\Delta t\\, S(t_s, H_i)`;
    * ``solve_stage(guess_T)``: Newton from ``guess_T`` (temperatures, clipped by the solver to
      its committed range and the imposed temperatures; None: the committed state);
      (converged and finite, iterations, why not);
    * ``stage_rates()``: (the solver's rates at the stage just solved, the heat rates (W)
      into the medium in the order of :data:`cryosim.post.results.ENERGY_KEYS`);
    * ``embedded(c)``: :math:`H^n + c (H_1 - H^n)` node by node, in the solver's unknowns;
    * ``stage2_guess(low, dt_s)``: stage 2's Newton guess (temperatures, before clipping);
    * ``error_measures(low)`` after stage 2: (the total stored-energy difference between the
      step's result and ``low`` (J), the stored-energy change since t = 0 at the step's result
      and at :math:`t_n` (J), the largest temperature difference (K)); values the
      solver imposes (Dirichlet data) are taken from the result, they carry no time error;
    * ``guard_ratio(t_s, dt_s)``: an error ratio of the solver's own guards on the result
      (0 when it has none);
    * ``stage_state()``: what :meth:`~cryosim.numerics.stepsize.SteppedSystem.accept`
      needs to commit the stage-2 solution.
    """

    enthalpy_rtol: float
    temperature_tolerance_K: float

    def committed_temperature(self) -> Any: ...
    def set_stage(self, stage: int, t_s: float, gamma_dt_s: float) -> None: ...
    def solve_stage(self, guess_T: Any) -> tuple[bool, int, str]: ...
    def stage_rates(self) -> tuple[Any, tuple[float, ...]]: ...
    def embedded(self, c: float) -> Any: ...
    def stage2_guess(self, low: Any, dt_s: float) -> Any: ...
    def error_measures(self, low: Any) -> tuple[float, float, float, float]: ...
    def guard_ratio(self, t_s: float, dt_s: float) -> float: ...
    def stage_state(self) -> Any: ...


#: Sharp freezing fronts: a medium that freezes over less than SHARP_FRONT_RANGE_K (liquidus - solidus: water
#: 0.5 K, agar gel 0.9 K) is stepped with a temperature tolerance of at most SHARP_FRONT_TOLERANCE_K. A numerical
#: choice, measured (2026-12-04, fast solver, resolutions 0.25-0.35, 1200 fuzz runs, /tmp-free script in
#: benchmarks/RESULTS.md §14): with the default 50 K a long step across the front of water or agar warmed frozen
#: cells by 2-9 K and the 0 °C volume dipped by up to 2.7 % during a constant freeze; with 3.6 K up to 0.29 %;
#: with 2 K none of the 11 worst pairs dipped (at 4.4x their steps, which are cheap). Tissue (7 K) keeps 50 K:
#: there the tolerance moves the default scenario's 0 °C volume by 0.1 %.
SHARP_FRONT_RANGE_K = 1.0
SHARP_FRONT_TOLERANCE_K = 2.0


def temperature_tolerance_for(temperature_tolerance_K: float, freezing_range_K: float) -> float:
    """The temperature tolerance a step is held to (K): the user's ``numerics.temperature_tolerance_K``, at most
    :data:`SHARP_FRONT_TOLERANCE_K` for a medium that freezes over less than :data:`SHARP_FRONT_RANGE_K`, so that
    a sharp front is not stepped over."""
    if freezing_range_K < SHARP_FRONT_RANGE_K:
        return min(float(temperature_tolerance_K), SHARP_FRONT_TOLERANCE_K)
    return float(temperature_tolerance_K)


def error_ratio(dE_J: float, change_new_J: float, change_old_J: float, dT_K: float, enthalpy_rtol: float,
                temperature_tolerance_K: float) -> float:
    """The local error over its tolerance, the larger of two measures of the embedded solution's difference.

    The total stored-energy difference ``dE_J`` (the heat drawn, which sets the ice-ball size)
    relative to the change of stored energy since t = 0 (the larger of the step's result and the
    committed state), against ``enthalpy_rtol``; the largest temperature difference ``dT_K``
    against ``temperature_tolerance_K``.
    """
    scale = max(abs(change_new_J), abs(change_old_J), 1e-300)
    e_global = abs(dE_J) / scale / enthalpy_rtol
    e_local = dT_K / temperature_tolerance_K
    return max(e_global, e_local)


def sdirk2_step(system: SDIRK2System, t_s: float, dt_s: float, slope_K_per_s: Any = None) -> Attempt:
    r"""One SDIRK2 step of ``system`` from its committed state at ``t_s`` over ``dt_s`` (module docstring).

    Stage 1 at :math:`t + \gamma\Delta t` from the guess :math:`T^n + \gamma\Delta t\,\dot T`
    (``slope_K_per_s``: :math:`\dot T` of the last accepted step; None after a restart: the
    committed state), stage 2 at :math:`t + \Delta t` from the solver's
    :meth:`~SDIRK2System.stage2_guess`. The heat terms are the stage rates integrated with the
    weights of the enthalpy update, :math:`(1-\gamma)\Delta t` and :math:`\gamma\Delta t`, so the
    energy balance closes to the Newton tolerance; the error ratio is :func:`error_ratio` of the
    embedded first-order solution :math:`H^n + (H_1 - H^n)/\gamma`, raised to the solver's
    :meth:`~SDIRK2System.guard_ratio`. The payload: (the solver's :meth:`~SDIRK2System.stage_state`,
    the heats (J) per key, the solver's stage-2 rates, ``dt_s``).
    """
    g = SDIRK_GAMMA
    gdt = g * dt_s
    system.set_stage(1, t_s + gdt, gdt)
    guess = None if slope_K_per_s is None else system.committed_temperature() + gdt * slope_K_per_s
    ok, its1, why = system.solve_stage(guess)
    if not ok:
        return Attempt(False, iterations=its1, reason=f"stage 1: {why} after {its1} Newton iterations")
    _, q1 = system.stage_rates()
    system.set_stage(2, t_s + dt_s, gdt)
    low = system.embedded(EMBEDDED_C)
    ok, its2, why = system.solve_stage(system.stage2_guess(low, dt_s))
    if not ok:
        return Attempt(False, iterations=its1 + its2, reason=f"stage 2: {why} after {its2} Newton iterations")
    rates2, q2 = system.stage_rates()
    heat = tuple((1.0 - g) * dt_s * a + g * dt_s * b for a, b in zip(q1, q2))
    dE, change_new, change_old, dT = system.error_measures(low)
    err = error_ratio(dE, change_new, change_old, dT, system.enthalpy_rtol, system.temperature_tolerance_K)
    err = max(err, system.guard_ratio(t_s, dt_s))
    return Attempt(True, err, its1 + its2, payload=(system.stage_state(), heat, rates2, dt_s))
