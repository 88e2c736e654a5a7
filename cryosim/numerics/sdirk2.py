r"""The two-stage SDIRK2 scheme both solvers integrate the enthalpy with (Alexander 1977).

L-stable, stiffly accurate, second order:

.. math::

    H_1 = H^n + \gamma\Delta t\, S(t_n + \gamma\Delta t, H_1),\qquad
    H^{n+1} = H_2 = H^n + (1-\gamma)\Delta t\, S_1 + \gamma\Delta t\, S(t_n + \Delta t, H_2),

with :math:`\gamma = 1 - 1/\sqrt 2` and :math:`S_1 = (H_1 - H^n)/(\gamma\Delta t)`; the
embedded first-order solution :math:`H^n + \Delta t\, S_1` gives the local error
estimate (R. Alexander, SIAM J. Numer. Anal. 14 (1977) 1006-1021).
"""

import math

__all__ = ["SDIRK_GAMMA", "STAGE2_C"]

#: gamma = 1 - 1/sqrt(2).
SDIRK_GAMMA = 1.0 - 1.0 / math.sqrt(2.0)
#: Weight of the stage-1 increment in the second stage's H*: H*_2 = H^n + ((1 - gamma)/gamma) (H_1 - H^n).
STAGE2_C = (1.0 - SDIRK_GAMMA) / SDIRK_GAMMA
