r"""Phase change of tissue water: unfrozen fraction, enthalpy and conductivity.

These formulas are written **once** and compiled for every solver:

* :data:`NUMBA` holds numba-compiled scalar kernels used by the fast
  finite-volume solver;
* :func:`ufl_formulas` returns the same expressions built from UFL, used by
  the finite-element solver;
* the ``*_array`` helpers evaluate them on numpy arrays (plots, tests).

Model
-----
With :math:`f_u(T)` the unfrozen (liquid) fraction, :math:`C_f, C_u` the frozen
and unfrozen volumetric heat capacities and :math:`L_v` the volumetric latent
heat, the volumetric enthalpy (J/m^3, zero at 0 °C fully frozen) is

.. math::

    H(T) = C_f T + (C_u - C_f) \int_{-\infty}^{T} f_u(\tau)\,d\tau + L_v f_u(T),

so that :math:`dH/dT = C_f + (C_u - C_f) f_u + L_v f_u'` blends the capacities
and carries the latent heat. Conductivity blends the same way,

.. math::

    k(T) = k_f(T) (1 - f_u) + k_u f_u,\qquad
    k_f(T) = k_{f,0} \left(\frac{273.15}{T + 273.15}\right)^{p},

with :math:`p = 1` for ice (Slack 1980, :math:`k \propto 1/T`) and
:math:`p = 0` where no temperature dependence is documented.

Freezing curves (temperatures in °C, solidus :math:`T_s` < liquidus :math:`T_l`):

``LINEAR``
    :math:`f_u` rises linearly from 0 at :math:`T_s` to 1 at :math:`T_l`
    (the usual tissue model, e.g. Micromachines 2025, 16(12):1321).
``SMOOTH``
    cubic smoothstep :math:`s^2(3-2s)` of the same ramp; :math:`dH/dT` is
    then continuous, which helps Newton's method.
``SOLUTION``
    a dilute salt solution (0.9 % saline): lever rule
    :math:`f_u = T_l / T` between the liquidus (freezing point) and the
    eutectic :math:`T_s`, where the remaining brine freezes. The eutectic
    plateau is spread over :data:`EUTECTIC_RAMP_K` below :math:`T_s`
    (a numerical choice, not a physical one) so that :math:`H(T)` stays
    continuous.

What the model leaves out: supercooling, the density change on freezing, and
any dependence of the curve on the cooling rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = [
    "LINEAR",
    "SMOOTH",
    "SOLUTION",
    "CURVES",
    "EUTECTIC_RAMP_K",
    "ZERO_CELSIUS_K",
    "NUMBA",
    "ufl_formulas",
    "make_formulas",
]

LINEAR, SMOOTH, SOLUTION = 0, 1, 2
CURVES = {"linear": LINEAR, "smooth": SMOOTH, "solution": SOLUTION}

#: Width (K) over which the eutectic plateau of a SOLUTION curve is spread.
#: Numerical regularisation only; results are insensitive to it below ~2 K.
EUTECTIC_RAMP_K = 1.0
#: 0 °C in kelvin (definition of the Celsius scale, SI Brochure 9th ed.).
ZERO_CELSIUS_K = 273.15

# Column layout of the material property rows used by the compiled kernels.
P_CF, P_CU, P_L, P_TS, P_TL, P_CURVE, P_KF, P_KU, P_KEXP, P_BETA, P_QM = range(11)
N_PROPS = 11


def make_formulas(
    clip01: Callable, where: Callable, log: Callable, clamp: Callable, jit: Callable = lambda f: f
) -> dict:
    """Build the phase-change formulas on a given set of primitive operations.

    ``clip01(x)`` clips to [0, 1]; ``where(c, a, b)`` selects; ``log`` is the
    natural logarithm; ``clamp(x, lo, hi)`` clips to [lo, hi]. Passing numba
    scalars or UFL operators gives the two back-ends from the same source;
    ``jit`` decorates each formula (``numba.njit`` for the compiled back-end).
    """
    d = EUTECTIC_RAMP_K

    @jit
    def unfrozen_fraction(T: Any, Ts: float, Tl: float, curve: int) -> Any:
        if curve == SOLUTION:
            ramp = clip01((T - Ts + d) / d)
            return where(T < Ts, (Tl / Ts) * ramp, Tl / clamp(T, Ts, Tl))
        s = clip01((T - Ts) / (Tl - Ts))
        if curve == SMOOTH:
            return s * s * (3.0 - 2.0 * s)
        return s

    @jit
    def unfrozen_fraction_slope(T: Any, Ts: float, Tl: float, curve: int) -> Any:
        """d f_u / dT (1/K)."""
        if curve == SOLUTION:
            inside_ramp = where(T < Ts, where(T > Ts - d, 1.0, 0.0), 0.0)
            inside_lever = where(T < Tl, where(T >= Ts, 1.0, 0.0), 0.0)
            Tc = clamp(T, Ts, Tl)
            return inside_ramp * (Tl / Ts) / d - inside_lever * Tl / (Tc * Tc)
        s = clip01((T - Ts) / (Tl - Ts))
        inside = where(T > Ts, where(T < Tl, 1.0, 0.0), 0.0)
        if curve == SMOOTH:
            return inside * 6.0 * s * (1.0 - s) / (Tl - Ts)
        return inside / (Tl - Ts)

    @jit
    def integral_unfrozen(T: Any, Ts: float, Tl: float, curve: int) -> Any:
        """Integral of f_u from -inf to T (K)."""
        above = where(T > Tl, T - Tl, 0.0)
        if curve == SOLUTION:
            ramp = clip01((T - Ts + d) / d)
            return (Tl / Ts) * d * ramp * ramp / 2.0 + Tl * log(clamp(T, Ts, Tl) / Ts) + above
        s = clip01((T - Ts) / (Tl - Ts))
        if curve == SMOOTH:
            return (Tl - Ts) * (s * s * s - s * s * s * s / 2.0) + above
        return (Tl - Ts) * s * s / 2.0 + above

    @jit
    def enthalpy(T: Any, Cf: float, Cu: float, L: float, Ts: float, Tl: float, curve: int) -> Any:
        """Volumetric enthalpy H(T) (J/m^3), zero for fully frozen tissue at 0 °C."""
        return (
            Cf * T
            + (Cu - Cf) * integral_unfrozen(T, Ts, Tl, curve)
            + L * unfrozen_fraction(T, Ts, Tl, curve)
        )

    @jit
    def heat_capacity(T: Any, Cf: float, Cu: float, L: float, Ts: float, Tl: float, curve: int) -> Any:
        """Apparent volumetric heat capacity dH/dT (J/m^3/K)."""
        f = unfrozen_fraction(T, Ts, Tl, curve)
        return Cf + (Cu - Cf) * f + L * unfrozen_fraction_slope(T, Ts, Tl, curve)

    @jit
    def frozen_conductivity(T: Any, kf: float, kexp: float) -> Any:
        """Conductivity of the frozen phase, kf (273.15 K / T)^kexp (W/m/K)."""
        return kf * (ZERO_CELSIUS_K / (T + ZERO_CELSIUS_K)) ** kexp

    @jit
    def conductivity(T: Any, kf: float, ku: float, kexp: float, Ts: float, Tl: float, curve: int) -> Any:
        """Thermal conductivity k(T) (W/m/K)."""
        f = unfrozen_fraction(T, Ts, Tl, curve)
        kfrozen = frozen_conductivity(T, kf, kexp)
        return kfrozen * (1.0 - f) + ku * f

    @jit
    def conductivity_slope(T: Any, kf: float, ku: float, kexp: float, Ts: float, Tl: float, curve: int) -> Any:
        """dk/dT (W/m/K^2)."""
        return conductivity_and_slope(T, kf, ku, kexp, Ts, Tl, curve)[1]

    @jit
    def conductivity_and_slope(T: Any, kf: float, ku: float, kexp: float, Ts: float, Tl: float, curve: int) -> Any:
        """(k(T), dk/dT): the two with one evaluation of the frozen conductivity (a power, the costliest
        operation of the fast solver's residual)."""
        f = unfrozen_fraction(T, Ts, Tl, curve)
        fp = unfrozen_fraction_slope(T, Ts, Tl, curve)
        kfrozen = frozen_conductivity(T, kf, kexp)
        dkfrozen = -kexp * kfrozen / (T + ZERO_CELSIUS_K)
        return kfrozen * (1.0 - f) + ku * f, dkfrozen * (1.0 - f) + (ku - kfrozen) * fp

    return {
        "unfrozen_fraction": unfrozen_fraction,
        "unfrozen_fraction_slope": unfrozen_fraction_slope,
        "integral_unfrozen": integral_unfrozen,
        "enthalpy": enthalpy,
        "heat_capacity": heat_capacity,
        "conductivity": conductivity,
        "conductivity_slope": conductivity_slope,
        "conductivity_and_slope": conductivity_and_slope,
        "frozen_conductivity": frozen_conductivity,
    }


# --- numba back-end ---------------------------------------------------------
@numba.njit(cache=True)
def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


@numba.njit(cache=True)
def _where(c: bool, a: float, b: float) -> float:
    return a if c else b


@numba.njit(cache=True)
def _log(x: float) -> float:
    return math.log(x)


@numba.njit(cache=True)
def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


class _Kernels:
    """Namespace of numba-compiled formulas (attribute access only)."""

    def __init__(self) -> None:
        for name, fn in make_formulas(_clip01, _where, _log, _clamp, numba.njit).items():
            setattr(self, name, fn)


NUMBA = _Kernels()
_f_u = NUMBA.unfrozen_fraction
_H = NUMBA.enthalpy
_C = NUMBA.heat_capacity
_k = NUMBA.conductivity


@numba.njit(cache=False)
def solid_point_C(Ts: float, curve: int) -> float:
    """Temperature (°C) below which the material is fully frozen."""
    return Ts - EUTECTIC_RAMP_K if curve == SOLUTION else Ts


@numba.njit(cache=False)
def temperature_from_enthalpy(H: float, p: np.ndarray, T_guess: float) -> float:
    """Invert H(T) for one material row ``p`` (safeguarded Newton)."""
    Cf, Cu, L = p[P_CF], p[P_CU], p[P_L]
    Ts, Tl, curve = p[P_TS], p[P_TL], int(p[P_CURVE])
    T_lo = solid_point_C(Ts, curve)
    H_lo = Cf * T_lo
    if H <= H_lo:
        return H / Cf
    H_hi = _H(Tl, Cf, Cu, L, Ts, Tl, curve)
    if H >= H_hi:
        return Tl + (H - H_hi) / Cu
    a, b = T_lo, Tl
    T = min(max(T_guess, a), b)
    for _ in range(100):
        r = _H(T, Cf, Cu, L, Ts, Tl, curve) - H
        if r > 0.0:
            b = T
        else:
            a = T
        if abs(r) <= 1e-12 * (abs(H) + Cu) or b - a < 1e-13:
            return T
        slope = _C(T, Cf, Cu, L, Ts, Tl, curve)
        Tn = T - r / slope
        if not (a < Tn < b):
            Tn = 0.5 * (a + b)
        T = Tn
    return T


def _vectorise(fn: Callable, cols: tuple[int, ...]) -> Callable:
    def wrapped(T: Any, props: np.ndarray) -> np.ndarray:
        T = np.asarray(T, dtype=float)
        args = [props[c] if c != P_CURVE else int(props[c]) for c in cols]
        out = np.empty_like(T)
        flat_T, flat_out = T.ravel(), out.ravel()
        for i in range(flat_T.size):
            flat_out[i] = fn(flat_T[i], *args)
        return out

    return wrapped


_MAT = (P_CF, P_CU, P_L, P_TS, P_TL, P_CURVE)
_KMAT = (P_KF, P_KU, P_KEXP, P_TS, P_TL, P_CURVE)
_FMAT = (P_TS, P_TL, P_CURVE)
unfrozen_fraction_array = _vectorise(_f_u, _FMAT)
enthalpy_array = _vectorise(_H, _MAT)
heat_capacity_array = _vectorise(_C, _MAT)
conductivity_array = _vectorise(_k, _KMAT)


def temperature_from_enthalpy_array(H: Any, props: np.ndarray) -> np.ndarray:
    """Vectorised inverse of :func:`enthalpy_array` for one material row."""
    H = np.asarray(H, dtype=float)
    out = np.empty_like(H)
    for i, h in enumerate(H.ravel()):
        out.ravel()[i] = temperature_from_enthalpy(h, props, 0.0)
    return out


# --- UFL back-end -------------------------------------------------------------
def ufl_formulas() -> dict:
    """The same formulas built from UFL operators (for the finite-element solver)."""
    import ufl

    return make_formulas(
        lambda x: ufl.min_value(ufl.max_value(x, 0.0), 1.0),
        lambda c, a, b: ufl.conditional(c, a, b),
        ufl.ln,
        lambda x, lo, hi: ufl.min_value(ufl.max_value(x, lo), hi),
    )
