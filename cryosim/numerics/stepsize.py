"""Adaptive time-step control shared by both solvers.

The controller knows nothing of the physics. A solver offers a
:class:`SteppedSystem`: it can *attempt* a step of a given size from its
current state without committing it, *accept* an attempt, and *restart* its
history where the boundary conditions jump. :func:`integrate` then

* lands exactly on every **milestone**: the protocol's breakpoints (where a
  boundary condition jumps or changes slope; the step restarts small after
  them, since the solution is not smooth there) and the requested output
  times (landed on, the step carries on);
* rejects a step whose local error estimate exceeds
  :attr:`StepSettings.reject_ratio` times the tolerance, or whose nonlinear
  solve failed, and retries it smaller: by the error rule, or by
  :attr:`StepSettings.failure_cut` after a failed solve, at most
  :attr:`StepSettings.max_consecutive_cuts` times in a row before it stops
  with a :class:`ConvergenceError` that names the time and the step tried;
* with a :class:`Bounds` (the physical guards' temperature bounds), rejects
  a step whose state lies beyond them by more than their tolerance, and
  retries it :data:`BOUNDS_CUT` as long: such an excursion is a
  time-discretisation error of a scheme that keeps its bounds (the explicit
  part of an SDIRK stage applies the first stage's rates for part of the
  step). While the cuts shrink it the step is cut further (down to
  :attr:`StepSettings.min_step_s`, at most :data:`BOUNDS_MAX_CUTS` times);
  an excursion that a cut
  does not shrink by :data:`BOUNDS_SHRINK` is not temporal (a spatial
  artefact of the mesh): the step is accepted and the breach left to the
  guard, which stops or flags the run; the bounds then cut no more steps
  (the run is the guard's, and a breach that grows with time would be cut
  at every step). The step after a bounds cut does not grow (Hairer et al.
  1993, II.4: no growth right after a rejection);
* grows or shrinks the next step by :func:`step_factor`, a pure function
  of the error ratio (the step-size rule of Hairer, Norsett & Wanner,
  *Solving ODEs I*, 2nd ed. 1993, section II.4, eq. 4.13).

Nothing here is tuned to a problem: the constants below are the usual
textbook choices, named so they can be studied.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..checks import check_range

__all__ = [
    "ConvergenceError", "WorkLimitError", "Attempt", "SteppedSystem", "StepSettings", "StepStats", "Bounds",
    "step_factor", "next_step_s", "integrate", "milestones_between", "step_settings", "FIRST_STEP_S", "MIN_STEP_S",
    "BOUNDS_CUT", "BOUNDS_SHRINK", "BOUNDS_MAX_CUTS",
]


class ConvergenceError(RuntimeError):
    """The solver could not advance the solution; nothing is passed off as a result."""


class WorkLimitError(ConvergenceError):
    """A run stopped on its wall-clock or memory limit (``numerics.max_wall_s``, ``numerics.max_memory_GiB``;
    :class:`cryosim.numerics.budget.RunLimits`)."""


@dataclass
class Attempt:
    """Outcome of one tried step.

    ``error_ratio`` is the local error estimate over its tolerance (accept at
    or below :attr:`StepSettings.reject_ratio`); ``ok`` is False when the
    nonlinear solve failed (then ``error_ratio`` is ignored); ``payload`` is
    whatever the system needs to commit the step; ``reason`` says why a
    failed solve failed.
    """

    ok: bool
    error_ratio: float = 0.0
    iterations: int = 0
    payload: Any = None
    reason: str = ""


class SteppedSystem(Protocol):
    """What a solver offers the controller."""

    def attempt(self, t_s: float, dt_s: float) -> Attempt:
        """Try a step from the committed state at ``t_s``; must not change that state."""

    def accept(self, attempt: Attempt, t_new_s: float) -> None:
        """Commit ``attempt``: the state is now the one at ``t_new_s``."""

    def restart(self) -> None:
        """Forget step history (extrapolations) after a boundary-condition jump."""


#: Default safety factor on the predicted optimal step (Hairer et al. 1993, II.4: 0.8-0.9).
SAFETY = 0.9
#: Largest growth and strongest shrink of one step (Hairer et al. 1993, II.4: facmax 1.5-5, facmin ~0.2).
MAX_GROWTH = 2.0
MIN_SHRINK = 0.2


#: Step cut after a step rejected for its bounds (numerical choice: an excursion that is a first-order time
#: error halves with the step, so each cut halves the overshoot beyond the committed state).
BOUNDS_CUT = 0.5
#: A bounds cut must shrink the overshoot beyond the committed state's to this fraction of the previous try's
#: (numerical choice: a first-order time error gives 0.5, a second-order one 0.25; a spatial artefact of the
#: mesh barely changes, ~1), else the excursion is taken as not temporal and the step is accepted.
BOUNDS_SHRINK = 0.75
#: Most bounds cuts of one step (numerical choice: 16x shorter, enough for a first-order overshoot 16 times the
#: tolerance; a breach that grows with time on the spatially discrete problem itself also shrinks with each cut
#: and would otherwise be cut to the smallest step).
BOUNDS_MAX_CUTS = 4


@dataclass(frozen=True)
class Bounds:
    """Bounds an attempted state must keep (the physical guards' temperature bounds, :mod:`cryosim.post.guards`).

    ``excursion_K(attempt)``: how far the attempt's state lies beyond its bounds (K; <= 0 within them);
    ``tolerance_K``: the excursion allowed.
    """

    excursion_K: Callable[[Attempt], float]
    tolerance_K: float


def step_factor(error_ratio: float, order: int = 2, *, safety: float = SAFETY, max_growth: float = MAX_GROWTH,
                min_shrink: float = MIN_SHRINK) -> float:
    """Factor for the next step from the error ratio ``err / tol`` of the last one.

    ``order`` is the power of the step size in the error estimate (2 for the
    SDIRK2 / first-order embedded pair: the difference is O(dt^2)). The
    optimal step makes the ratio 1: ``factor = safety * ratio^(-1/order)``,
    clipped to ``[min_shrink, max_growth]``; a zero error grows by
    ``max_growth``; a non-finite one shrinks by ``min_shrink``.
    """
    if not math.isfinite(error_ratio):
        return min_shrink
    if error_ratio <= 0.0:
        return max_growth
    return min(max_growth, max(min_shrink, safety * error_ratio ** (-1.0 / order)))


def next_step_s(dt_s: float, t_s: float, milestone_s: float, max_step_s: float) -> tuple[float, bool]:
    """Step to try from ``t_s`` towards the next milestone, and whether it lands on it.

    The step is capped by ``max_step_s``; within 1.2 steps of the milestone
    it is stretched to land on it; within 2 steps it takes half the rest, so
    that no sliver of a step is left before the milestone.
    """
    dt = min(dt_s, max_step_s)
    remaining = milestone_s - t_s
    if remaining <= 1.2 * dt:
        return remaining, True
    if remaining < 2.0 * dt:
        return 0.5 * remaining, False
    return dt, False


def milestones_between(times_s: Iterable[float], t_end_s: float) -> np.ndarray:
    """Sorted unique times strictly inside (0, t_end_s), then t_end_s."""
    t = np.unique(np.asarray([float(x) for x in times_s], float))
    t = t[(t > 0.0) & (t < t_end_s * (1.0 - 1e-12))]
    return np.append(t, float(t_end_s))


@dataclass(frozen=True)
class StepSettings:
    """Step-control settings (s).

    ``fixed_step_s`` turns the adaptive control off (convergence studies):
    every step has that size except the last one before a milestone; a
    failed solve then stops the run. ``max_steps`` bounds the work.
    """

    first_step_s: float = 1e-2
    min_step_s: float = 1e-7
    max_step_s: float = 30.0
    fixed_step_s: float | None = None
    order: int = 2
    #: reject a step whose error ratio exceeds this (accepting up to a few
    #: tolerances avoids rejecting steps the next one would correct anyway)
    reject_ratio: float = 2.0
    #: step cut after a failed nonlinear solve
    failure_cut: float = 0.25
    max_consecutive_cuts: int = 12
    max_steps: int = 200_000
    #: wall-clock limit (s) of the stepping, None: none
    max_wall_s: float | None = None
    #: resident-memory limit (GiB) of the run, all MPI ranks together; None: none
    max_memory_GiB: float | None = None

    def __post_init__(self) -> None:
        check_range("first_step_s", self.first_step_s, 0.0, None, unit="s", low_open=True)
        check_range("min_step_s", self.min_step_s, 0.0, self.first_step_s, unit="s", low_open=True)
        check_range("max_step_s", self.max_step_s, self.min_step_s, None, unit="s")
        if self.fixed_step_s is not None:
            check_range("fixed_step_s", self.fixed_step_s, self.min_step_s, None, unit="s")


#: Defaults of a run (s): first step after a boundary jump (small: the solution is singular there) and
#: the smallest step the controller may cut to before it gives up.
FIRST_STEP_S = 1e-2
MIN_STEP_S = 1e-7


def step_settings(numerics: Any, first_step_s: float = FIRST_STEP_S) -> StepSettings:
    """Step control of a run from its ``numerics`` (``max_step_s``, ``fixed_step_s``, ``max_wall_s``, and
    ``max_memory_GiB``, else the machine's memory: :func:`cryosim.numerics.budget.memory_limit_bytes`), for
    either solver."""
    from .budget import GiB, memory_limit_bytes

    fixed = numerics.fixed_step_s
    memory = memory_limit_bytes(numerics)
    return StepSettings(first_step_s=min(first_step_s, fixed or first_step_s), max_step_s=numerics.max_step_s,
                        fixed_step_s=fixed, min_step_s=min(MIN_STEP_S, fixed or MIN_STEP_S),
                        max_wall_s=getattr(numerics, "max_wall_s", None),
                        max_memory_GiB=None if math.isinf(memory) else memory / GiB)


@dataclass
class StepStats:
    steps: int = 0
    rejected_error: int = 0
    rejected_solve: int = 0
    #: steps rejected because their state broke the :class:`Bounds` (retried shorter)
    rejected_bounds: int = 0
    #: 1 once a step was accepted beyond the :class:`Bounds` that cutting it did not bring back (the breach is
    #: the guard's; no step is cut for the bounds after it), else 0
    bounds_kept: int = 0
    iterations: int = 0
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "rejected_error": self.rejected_error, "rejected_newton": self.rejected_solve,
                "rejected_bounds": self.rejected_bounds, "bounds_kept": self.bounds_kept,
                "newton_iterations": self.iterations, "wall_s": self.wall_s, **self.extra}


def integrate(system: SteppedSystem, t_end_s: float, settings: StepSettings, *,
              breaks_s: Iterable[float] = (), outputs_s: Iterable[float] = (),
              on_accept: Callable[[float, bool], None] | None = None,
              t_start_s: float = 0.0, bounds: Bounds | None = None, limits: Any = None) -> StepStats:
    """Advance ``system`` from ``t_start_s`` to ``t_end_s``.

    ``breaks_s``: times where the boundary conditions jump or change slope
    (landed on; the history is restarted and the step restarts from
    ``first_step_s``). ``outputs_s``: times to land on exactly (the step
    carries on). ``on_accept(t, is_output)`` is called after every accepted
    step, with ``is_output`` True on a requested output time. ``bounds``: the
    state bounds whose breaches are retried shorter (module docstring; not
    with fixed steps, where a breach is left to the guard).

    ``limits``: the run's :class:`cryosim.numerics.budget.RunLimits` (None: built from ``settings.max_wall_s``
    and ``settings.max_memory_GiB``, one process), held after every step attempt, accepted or not: beyond
    either limit the run stops with a :class:`WorkLimitError`. A solver under MPI passes one with its
    communicator, so that every rank stops at the same attempt; the FE solver also holds it inside Newton.
    """
    s = settings
    wall0 = time.perf_counter()
    if limits is None:
        from .budget import GiB, RunLimits

        limits = RunLimits(s.max_wall_s, None if s.max_memory_GiB is None else s.max_memory_GiB * GiB)
    stats = StepStats()
    breaks = set(milestones_between(breaks_s, t_end_s).tolist())
    outputs = set(milestones_between(outputs_s, t_end_s).tolist()) - {float(t_end_s)}
    milestones = sorted(breaks | outputs)
    t = float(t_start_s)
    fixed = s.fixed_step_s
    dt = s.first_step_s if fixed is None else fixed
    committed_exc = 0.0  # excursion of the committed state (the initial state lies within its bounds)
    for ms in milestones:
        if ms <= t:
            continue
        cuts = 0
        bounds_try: float | None = None  # excursion of the last try rejected for its bounds
        bounds_cuts = 0
        while t < ms - 1e-12 * max(1.0, ms):
            if fixed is not None:
                dt_try, lands = (ms - t, True) if ms - t <= dt * (1 + 1e-9) else (dt, False)
            else:
                dt_try, lands = next_step_s(dt, t, ms, s.max_step_s)
            att = system.attempt(t, dt_try)
            stats.iterations += att.iterations
            limits.check(f"at t = {t:.6g} s of {t_end_s:g} s ({stats.steps} steps)")
            if not att.ok:
                stats.rejected_solve += 1
                cuts += 1
                if fixed is not None:
                    raise ConvergenceError(f"the nonlinear solve failed at t = {t:.6g} s with the fixed step "
                                           f"{dt_try:.3g} s ({att.reason or 'no convergence'}); "
                                           "use a smaller numerics.fixed_step_s or adaptive stepping")
                new_dt = dt_try * s.failure_cut
                if cuts > s.max_consecutive_cuts or new_dt < s.min_step_s:
                    raise ConvergenceError(
                        f"the nonlinear solve failed at t = {t:.6g} s: {cuts} tries in a row, the last with a "
                        f"step of {dt_try:.3g} s ({att.reason or 'no convergence'}); nothing is returned")
                dt = new_dt
                continue
            ratio = att.error_ratio
            if fixed is None and ratio > s.reject_ratio:
                stats.rejected_error += 1
                cuts += 1
                new_dt = dt_try * step_factor(ratio, s.order)
                if cuts > s.max_consecutive_cuts or new_dt < s.min_step_s:
                    raise ConvergenceError(
                        f"the local error stays {ratio:.3g} times the tolerance at t = {t:.6g} s after {cuts} "
                        f"step cuts (last step {dt_try:.3g} s); nothing is returned")
                dt = new_dt
                continue
            cut_for_bounds = bounds_try is not None
            if bounds is not None and not stats.bounds_kept:
                exc = float(bounds.excursion_K(att))
                if exc > bounds.tolerance_K:
                    shrinks = bounds_try is None or exc - committed_exc <= BOUNDS_SHRINK * (bounds_try - committed_exc)
                    new_dt = dt_try * BOUNDS_CUT
                    if fixed is None and shrinks and bounds_cuts < BOUNDS_MAX_CUTS and new_dt >= s.min_step_s:
                        stats.rejected_bounds += 1
                        bounds_cuts += 1
                        bounds_try, dt = exc, new_dt
                        continue
                    # not removed by a shorter step: the guard stops or flags the run, and further cuts would
                    # only slow it (a breach that grows with time shrinks with every cut, at every step)
                    stats.bounds_kept = 1
                committed_exc = exc
            cuts = bounds_cuts = 0
            bounds_try = None
            t_new = ms if lands else t + dt_try
            system.accept(att, t_new)
            t = t_new
            stats.steps += 1
            if stats.steps > s.max_steps:
                raise ConvergenceError(f"more than {s.max_steps} steps by t = {t:.6g} s of {t_end_s:g} s: "
                                       "the run would not end in reasonable time (numerics.max_step_s or "
                                       "the tolerances are too small)")
            if on_accept is not None:
                on_accept(t, lands and ms in outputs)
            if fixed is None:
                factor = step_factor(ratio, s.order)
                # a step shortened only to land on a milestone does not let the next one grow from it
                dt = dt * min(1.0, factor) if (lands and dt_try < dt) else dt_try * factor
                if cut_for_bounds:
                    dt = min(dt, dt_try)
        if ms in breaks:
            system.restart()
            if fixed is None:
                dt = s.first_step_s
    stats.wall_s = time.perf_counter() - wall0
    return stats
