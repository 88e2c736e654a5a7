r"""Exact solutions used to verify the solvers (and shown in the validation report).

All take volumetric properties (SI) and temperatures in °C, for a sharp
front at the freezing temperature ``T_f`` with constant properties in each
phase.

Neumann two-phase planar Stefan problem (Carslaw & Jaeger, Conduction of Heat
in Solids, 2nd ed. 1959, section 11.2): a semi-infinite liquid at ``T_0`` whose
surface is held at ``T_s < T_f`` freezes with front
:math:`s(t) = 2\lambda\sqrt{\alpha_s t}`, where

.. math::

    \frac{e^{-\lambda^2}}{\operatorname{erf}\lambda}
    - \frac{k_l}{k_s}\sqrt{\frac{\alpha_s}{\alpha_l}}\frac{T_0 - T_f}{T_f - T_s}
      \frac{e^{-\lambda^2\alpha_s/\alpha_l}}{\operatorname{erfc}(\lambda\sqrt{\alpha_s/\alpha_l})}
    = \frac{\lambda L_v \sqrt{\pi}}{C_s (T_f - T_s)}.

Line-sink cylindrical freezing (Paterson, Phil. Mag. 43 (1952) 275-289;
Carslaw & Jaeger section 11.2): a line sink extracting ``Q`` W per metre in
liquid at ``T_0`` gives :math:`R(t) = 2\lambda\sqrt{\alpha_s t}` with

.. math::

    \frac{Q}{4\pi} e^{-\lambda^2}
    - \frac{k_l (T_0 - T_f)\, e^{-\lambda^2 \alpha_s/\alpha_l}}{E_1(\lambda^2\alpha_s/\alpha_l)}
    = \lambda^2 \alpha_s L_v.

Steady ice ball around a spherical probe of radius :math:`r_p` at
:math:`T_p`, Pennes perfusion outside the ice, none inside,
:math:`m = \sqrt{\beta / k_u}` with :math:`\beta = w_b \rho_b c_b`:

.. math::

    \frac{k_f (T_f - T_p) r_p}{R - r_p} = k_u (T_a - T_f)(1 + m R).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf, erfc, exp1

__all__ = ["neumann_lambda", "neumann_front_m", "neumann_temperature_C", "paterson_lambda", "paterson_front_m",
           "paterson_temperature_C", "steady_sphere_radius_m"]


def neumann_lambda(k_s: float, k_l: float, C_s: float, C_l: float, L_v: float,
                   T_s: float, T_f: float, T_0: float) -> float:
    """Root of the Neumann transcendental equation (dimensionless)."""
    a_s, a_l = k_s / C_s, k_l / C_l
    nu = math.sqrt(a_s / a_l)

    def g(lam: float) -> float:
        left = math.exp(-lam**2) / erf(lam)
        right = (k_l / k_s) * nu * (T_0 - T_f) / (T_f - T_s) * math.exp(-(lam * nu) ** 2) / erfc(lam * nu)
        return left - right - lam * L_v * math.sqrt(math.pi) / (C_s * (T_f - T_s))

    return brentq(g, 1e-9, 3.0, xtol=1e-15, rtol=1e-14)


def neumann_front_m(t_s: float | np.ndarray, k_s: float, k_l: float, C_s: float, C_l: float, L_v: float,
                    T_s: float, T_f: float, T_0: float) -> float | np.ndarray:
    """Front position s(t) (m) of the Neumann problem."""
    lam = neumann_lambda(k_s, k_l, C_s, C_l, L_v, T_s, T_f, T_0)
    return 2.0 * lam * np.sqrt(k_s / C_s * np.asarray(t_s))


def neumann_temperature_C(x_m: np.ndarray, t_s: float, k_s: float, k_l: float, C_s: float, C_l: float,
                          L_v: float, T_s: float, T_f: float, T_0: float) -> np.ndarray:
    """Temperature profile of the Neumann problem at time ``t_s``."""
    lam = neumann_lambda(k_s, k_l, C_s, C_l, L_v, T_s, T_f, T_0)
    a_s, a_l = k_s / C_s, k_l / C_l
    x = np.asarray(x_m, float)
    s = 2 * lam * math.sqrt(a_s * t_s)
    sol = T_s + (T_f - T_s) * erf(x / (2 * math.sqrt(a_s * t_s))) / erf(lam)
    liq = T_0 - (T_0 - T_f) * erfc(x / (2 * math.sqrt(a_l * t_s))) / erfc(lam * math.sqrt(a_s / a_l))
    return np.where(x < s, sol, liq)


def paterson_lambda(Q_W_per_m: float, k_s: float, k_l: float, C_s: float, C_l: float, L_v: float,
                    T_f: float, T_0: float) -> float:
    """Root of Paterson's equation for a line sink extracting ``Q_W_per_m``."""
    a_s, a_l = k_s / C_s, k_l / C_l

    def g(lam: float) -> float:
        y = lam**2 * a_s / a_l
        return Q_W_per_m / (4 * math.pi) * math.exp(-lam**2) - k_l * (T_0 - T_f) * math.exp(-y) / exp1(y) - lam**2 * a_s * L_v

    hi = 1.0
    while g(hi) > 0:
        hi *= 2.0
    return brentq(g, 1e-12, hi, xtol=1e-15, rtol=1e-14)


def paterson_front_m(t_s: float | np.ndarray, Q_W_per_m: float, k_s: float, k_l: float, C_s: float, C_l: float,
                     L_v: float, T_f: float, T_0: float) -> float | np.ndarray:
    """Front radius R(t) (m) around a line sink."""
    lam = paterson_lambda(Q_W_per_m, k_s, k_l, C_s, C_l, L_v, T_f, T_0)
    return 2.0 * lam * np.sqrt(k_s / C_s * np.asarray(t_s))


def paterson_temperature_C(r_m: np.ndarray, t_s: float, Q_W_per_m: float, k_s: float, k_l: float, C_s: float,
                           C_l: float, L_v: float, T_f: float, T_0: float) -> np.ndarray:
    """Temperature around the line sink at ``t_s`` (frozen and liquid regions)."""
    lam = paterson_lambda(Q_W_per_m, k_s, k_l, C_s, C_l, L_v, T_f, T_0)
    a_s, a_l = k_s / C_s, k_l / C_l
    r = np.asarray(r_m, float)
    R = 2 * lam * math.sqrt(a_s * t_s)
    sol = T_f - Q_W_per_m / (4 * math.pi * k_s) * (exp1(r**2 / (4 * a_s * t_s)) - exp1(lam**2))
    liq = T_0 - (T_0 - T_f) * exp1(r**2 / (4 * a_l * t_s)) / exp1(lam**2 * a_s / a_l)
    return np.where(r < R, sol, liq)


def steady_sphere_radius_m(r_p_m: float, T_p: float, T_f: float, T_a: float, k_f: float, k_u: float,
                           beta_W_per_m3_K: float = 0.0) -> float:
    """Steady ice-ball radius around a spherical probe (m); perfusion beta outside the ice."""
    if beta_W_per_m3_K == 0.0:
        return r_p_m * (1.0 + k_f * (T_f - T_p) / (k_u * (T_a - T_f)))
    m = math.sqrt(beta_W_per_m3_K / k_u)

    def g(R: float) -> float:
        return k_f * (T_f - T_p) * r_p_m / (R - r_p_m) - k_u * (T_a - T_f) * (1.0 + m * R)

    R_max = steady_sphere_radius_m(r_p_m, T_p, T_f, T_a, k_f, k_u, 0.0)
    return brentq(g, r_p_m * (1 + 1e-12), R_max, xtol=1e-15)
