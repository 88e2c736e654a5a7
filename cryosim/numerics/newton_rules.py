"""Rules shared by the two Newton solvers (:mod:`cryosim.fast.newton`, :mod:`cryosim.fem.newton`)."""

from __future__ import annotations

__all__ = ["MAX_HALVINGS", "LAG_CONTRACTION", "REFACTOR_CHOICES"]

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
