r"""Newton's method for one implicit stage, shared by both solvers.

One driver (:func:`solve_stage`) for :mod:`cryosim.fast.newton` (unknowns:
cell enthalpies, numba kernels) and :mod:`cryosim.fem.newton` (unknowns: nodal
temperatures, DOLFINx forms). A solver supplies a :class:`StageProblem`: its
residual and Jacobian, the linear solve, and the *safeguarded* reading of a
Newton correction across the freezing interval (the linearisation on one side
of the interval overshoots wildly on the other; each solver reads it in the
other variable and keeps the smaller change of enthalpy). The driver supplies
the rules:

* a line search that never accepts an increase of the merit
  :math:`\|r\|_2^2` of the scaled residual (kelvin of heat capacity): the
  step halves (1, 1/2, ..., :math:`2^{-}`:data:`MAX_HALVINGS`) first along the
  safeguarded correction, then along the plain one; when neither decreases
  it, old factors are refreshed once, then the stage fails (the step
  controller retries a smaller step);
* when to factorise (``refactor``, :data:`REFACTOR_CHOICES`): every iteration
  (``"exact"``), at the first iteration of a stage (``"stage"``), or kept
  across stages and steps (``"lagged"``), refreshed after an iteration that
  contracts the merit by less than :data:`LAG_CONTRACTION`;
* convergence when the largest scaled residual is at most ``tol_K``;
* a stage a modified iteration (``"stage"``, ``"lagged"``) cannot solve is
  retried from its guess with exact Newton (:func:`solve_stage_with_retry`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["LAG_CONTRACTION", "MAX_HALVINGS", "REFACTOR_CHOICES", "FactorState", "StageProblem", "check_refactor",
           "solve_stage", "solve_stage_with_retry"]

#: Largest number of step halvings in the line search (smallest step 2^-10 of
#: the Newton correction): far enough for the phase-change kinks, short of
#: chasing roundoff.
MAX_HALVINGS = 10
#: Residual reduction per iteration (new merit over old, the squared 2-norm) above which factors
#: computed at an earlier iterate are refreshed: a modified Newton iteration
#: that contracts less than tenfold costs more iterations than a factorisation saves.
LAG_CONTRACTION = 0.1
#: When the Jacobian is factorised: every iteration, once per stage, or lagged across stages and steps.
REFACTOR_CHOICES = ("exact", "stage", "lagged")


def check_refactor(refactor: str) -> str:
    """``refactor`` if it is one of :data:`REFACTOR_CHOICES`, else a ValueError naming the choices."""
    if refactor not in REFACTOR_CHOICES:
        raise ValueError(f"refactor must be one of {REFACTOR_CHOICES}, got {refactor!r}")
    return refactor


class StageProblem(Protocol):
    """What a solver gives :func:`solve_stage` for one stage.

    The problem holds the *iterate* (the guess at first) and the residual
    there; ``start`` evaluates it and returns (largest scaled residual (K),
    merit); ``factorise`` factorises the Jacobian at the iterate;
    ``direction`` solves for the Newton correction with the current factors;
    ``safeguard(d)`` returns the safeguarded correction, or None when it
    equals ``d``; ``trial(d, lam)`` evaluates the residual at iterate +
    ``lam`` d without committing and returns its (norm, merit); ``accept``
    makes the last trial the iterate.
    """

    def start(self) -> tuple[float, float]: ...
    def factorise(self) -> None: ...
    def direction(self) -> Any: ...
    def safeguard(self, d: Any) -> Any: ...
    def trial(self, d: Any, lam: float) -> tuple[float, float]: ...
    def accept(self) -> None: ...


@dataclass
class FactorState:
    """Whether factors from an earlier iterate are held (they outlive a stage under ``"lagged"``)."""

    have_factors: bool = False


def solve_stage(p: StageProblem, state: FactorState, refactor: str, tol_K: float, max_iter: int) -> tuple[bool, int, str]:
    """Newton iterations on ``p`` (module docstring): (converged, iterations, why not)."""
    norm, merit = p.start()
    if not (math.isfinite(norm) and math.isfinite(merit)):
        return False, 0, "non-finite residual at the initial guess"
    if refactor != "lagged":
        state.have_factors = False
    fresh = False  # are the factors those of the Jacobian at the iterate?
    for it in range(max_iter):
        if norm <= tol_K:
            return True, it, ""
        if not state.have_factors or refactor == "exact":
            p.factorise()
            state.have_factors = fresh = True
        while True:
            d = p.direction()
            limited = p.safeguard(d)
            accepted = False
            for cand in ((limited, d) if limited is not None else (d,)):
                lam = 1.0
                for _ in range(MAX_HALVINGS + 1):
                    norm_try, merit_try = p.trial(cand, lam)
                    if merit_try < merit:
                        accepted = True
                        break
                    lam *= 0.5
                if accepted:
                    break
            if accepted or fresh:
                break
            p.factorise()  # old factors gave no descent: retry with the Jacobian at the iterate
            state.have_factors = fresh = True
        if not accepted:
            state.have_factors = False
            return False, it + 1, f"no descent along the Newton direction (scaled residual {norm:.2e} K)"
        p.accept()
        if merit_try > LAG_CONTRACTION * merit:
            state.have_factors = False  # slow contraction: fresh factors next iteration
        norm, merit = norm_try, merit_try
        fresh = False
    if norm <= tol_K:
        return True, max_iter, ""
    return False, max_iter, f"{max_iter} iterations (scaled residual {norm:.2e} K)"


def solve_stage_with_retry(make_problem: Any, state: FactorState, refactor: str, tol_K: float, max_iter: int,
                           counters: dict[str, Any]) -> tuple[bool, int, str, Any]:
    """:func:`solve_stage` on ``make_problem()``; a failed modified iteration is retried with exact Newton on a
    fresh ``make_problem()`` (from the same guess; counted in ``counters["exact_retries"]``).
    Returns (converged, iterations, why not, the problem solved last)."""
    p = make_problem()
    ok, its, why = solve_stage(p, state, refactor, tol_K, max_iter)
    if ok or refactor == "exact":
        return ok, its, why, p
    counters["exact_retries"] += 1
    p = make_problem()
    ok, its2, why = solve_stage(p, state, "exact", tol_K, max_iter)
    return ok, its + its2, why, p
