r"""Implicit finite-volume kernel for the enthalpy form of the Pennes equation.

For every cell ``i`` of volume :math:`V_i` one implicit stage solves, for the
cell enthalpies :math:`H_i` (J/m^3),

.. math::

    V_i (H_i - H_i^*) - \gamma\Delta t\, S_i(T(H)) = 0,

    S_i = \sum_{f} G_f (T_j - T_i) + \sum_{b} Q_b
          + V_i f_u(T_i)\,[\beta (T_a - T_i) + q_m],

with :math:`G_f = A_f / (d_i/k_i + d_j/k_j)` the face conductance (harmonic
in k, exact across material interfaces) and :math:`Q_b` the boundary heat
rates (prescribed temperature, convective, prescribed flux or adiabatic).
Backward Euler is :math:`\gamma = 1, H^* = H^n`. Enthalpy is the unknown:
:math:`T(H)` is monotone and Lipschitz, so Newton's method stays robust across
the freezing interval and latent heat is conserved exactly whatever the step.

The Jacobian (with the dk/dT terms) is assembled in band storage and
factorised without pivoting: it is column diagonally dominant (a weighted
Laplacian times the diagonal dT/dH, plus a positive diagonal). A backtracking
line search on the residual guards each Newton update; a stage that does not
converge reports it, and the time stepper retries with a smaller step.
"""

from __future__ import annotations

import numba
import numpy as np

from .phase_change import NUMBA, P_BETA, P_CF, P_CU, P_CURVE, P_KEXP, P_KF, P_KU, P_L, P_QM, P_TL, P_TS, temperature_from_enthalpy

__all__ = ["BC_TEMPERATURE", "BC_CONVECTIVE", "BC_FLUX", "BC_ADIABATIC", "stage_solve", "heat_rates", "enthalpy_of", "surface_temperatures"]

BC_TEMPERATURE, BC_CONVECTIVE, BC_FLUX, BC_ADIABATIC = 0, 1, 2, 3
#: A chord (frozen-Jacobian) iteration must cut the residual at least this
#: much, else the Jacobian is rebuilt (numerical choice).
CHORD_CONTRACTION = 0.3

_f = NUMBA.unfrozen_fraction
_fp = NUMBA.unfrozen_fraction_slope
_C = NUMBA.heat_capacity
_H = NUMBA.enthalpy
_k = NUMBA.conductivity
_dk = NUMBA.conductivity_slope


@numba.njit(cache=True)
def _cell_props(T, mat, props, k, dk, dTdH):
    for i in range(T.size):
        p = props[mat[i]]
        Ts, Tl, cv = p[P_TS], p[P_TL], int(p[P_CURVE])
        k[i] = _k(T[i], p[P_KF], p[P_KU], p[P_KEXP], Ts, Tl, cv)
        dk[i] = _dk(T[i], p[P_KF], p[P_KU], p[P_KEXP], Ts, Tl, cv)
        dTdH[i] = 1.0 / _C(T[i], p[P_CF], p[P_CU], p[P_L], Ts, Tl, cv)


@numba.njit(cache=True)
def _boundary_conductance(kind, A, d, k, h):
    """Conductance (W/K) of a boundary face and its derivative with respect to k."""
    if kind == BC_TEMPERATURE:
        return A * k / d, A / d
    if kind == BC_CONVECTIVE:
        den = d / k + 1.0 / h
        G = A / den
        return G, G * G * d / (A * k * k)
    return 0.0, 0.0


@numba.njit(cache=True)
def _residual(H, Hstar, gdt, T, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea, bdist, bgroup,
              bc_kind, bc_T, bc_h, bc_q, Ta, R, band, bw, want_jac):
    """Residual R (J) and, if ``want_jac``, the Jacobian dR/dH in band storage."""
    n = H.size
    if want_jac:
        band[:, :] = 0.0
    for i in range(n):
        p = props[mat[i]]
        Ts, Tl, cv = p[P_TS], p[P_TL], int(p[P_CURVE])
        f = _f(T[i], Ts, Tl, cv)
        src = f * (p[P_BETA] * (Ta - T[i]) + p[P_QM])
        R[i] = V[i] * (H[i] - Hstar[i]) - gdt * V[i] * src
        if want_jac:
            dsrc = _fp(T[i], Ts, Tl, cv) * (p[P_BETA] * (Ta - T[i]) + p[P_QM]) - f * p[P_BETA]
            band[i, bw] += V[i] - gdt * V[i] * dsrc * dTdH[i]
    for e in range(fc.shape[0]):
        i, j = fc[e, 0], fc[e, 1]
        A, di, dj = fa[e], fd[e, 0], fd[e, 1]
        den = di / k[i] + dj / k[j]
        G = A / den
        dT = T[j] - T[i]
        flux = G * dT  # into i
        R[i] -= gdt * flux
        R[j] += gdt * flux
        if want_jac:
            dGi = G * G * di / (A * k[i] * k[i]) * dk[i]  # dG/dT_i
            dGj = G * G * dj / (A * k[j] * k[j]) * dk[j]
            dflux_dTi = -G + dT * dGi
            dflux_dTj = G + dT * dGj
            band[i, bw] -= gdt * dflux_dTi * dTdH[i]
            band[i, bw + j - i] -= gdt * dflux_dTj * dTdH[j]
            band[j, bw + i - j] += gdt * dflux_dTi * dTdH[i]
            band[j, bw] += gdt * dflux_dTj * dTdH[j]
    for e in range(bcell.size):
        i, g = bcell[e], bgroup[e]
        kind = bc_kind[g]
        if kind == BC_ADIABATIC:
            continue
        if kind == BC_FLUX:
            R[i] -= gdt * barea[e] * bc_q[g]
            continue
        G, dGdk = _boundary_conductance(kind, barea[e], bdist[e], k[i], bc_h[g])
        dT = bc_T[g] - T[i]
        R[i] -= gdt * G * dT
        if want_jac:
            band[i, bw] -= gdt * (-G + dT * dGdk * dk[i]) * dTdH[i]


@numba.njit(cache=True)
def _band_lu(band, bw):
    """In-place LU of a band matrix without pivoting (diagonally dominant)."""
    n = band.shape[0]
    for kk in range(n - 1):
        piv = band[kk, bw]
        top = min(bw, n - 1 - kk)
        for r in range(1, top + 1):
            row = kk + r
            l = band[row, bw - r] / piv
            if l == 0.0:
                continue
            band[row, bw - r] = l
            for c in range(1, top + 1):
                band[row, bw - r + c] -= l * band[kk, bw + c]


@numba.njit(cache=True)
def _band_solve(band, bw, b):
    n = band.shape[0]
    for i in range(n):
        s = b[i]
        for c in range(max(0, i - bw), i):
            s -= band[i, bw + c - i] * b[c]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for c in range(i + 1, min(n, i + bw + 1)):
            s -= band[i, bw + c - i] * b[c]
        b[i] = s / band[i, bw]


@numba.njit(cache=True)
def _update_T(H, T, mat, props):
    for i in range(H.size):
        T[i] = temperature_from_enthalpy(H[i], props[mat[i]], T[i])


@numba.njit(cache=True)
def _scaled_norm(R, V, scale):
    m = 0.0
    for i in range(R.size):
        m = max(m, abs(R[i]) / (V[i] * scale))
    return m


@numba.njit(cache=True)
def stage_solve(H, T, Hstar, gdt, mat, props, V, fc, fa, fd, bcell, barea, bdist, bgroup,
                bc_kind, bc_T, bc_h, bc_q, Ta, bw, tol_K, max_iter):
    """Solve one implicit stage in place (``H``, ``T`` hold the initial guess).

    Convergence: every cell residual below ``tol_K`` kelvin-equivalents of
    unfrozen heat capacity. Returns (converged, iterations).
    """
    n = H.size
    k = np.empty(n)
    dk = np.empty(n)
    dTdH = np.empty(n)
    R = np.empty(n)
    band = np.empty((1, 1))  # unused: residual-only evaluations
    lu = np.empty((n, 2 * bw + 1))
    dH = np.empty(n)
    Htry = np.empty(n)
    Ttry = np.empty(n)
    Rtry = np.empty(n)
    scale = props[0, P_CU]
    for m in range(props.shape[0]):
        scale = max(scale, props[m, P_CU])
    _update_T(H, T, mat, props)
    need_factor = True
    last_norm = np.inf
    for it in range(max_iter):
        _cell_props(T, mat, props, k, dk, dTdH)
        _residual(H, Hstar, gdt, T, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea, bdist,
                  bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, R, lu, bw, need_factor)
        norm = _scaled_norm(R, V, scale)
        if norm <= tol_K:
            return True, it
        # chord iterations reuse the factorisation while they contract fast;
        # a slow contraction triggers a fresh Jacobian on the next pass
        if not need_factor and norm > CHORD_CONTRACTION * last_norm:
            need_factor = True
            _residual(H, Hstar, gdt, T, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea, bdist,
                      bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, R, lu, bw, True)
        if need_factor:
            _band_lu(lu, bw)
            need_factor = False
        for i in range(n):
            dH[i] = -R[i]
        _band_solve(lu, bw, dH)
        lam = 1.0
        accepted = False
        for _ls in range(8):
            for i in range(n):
                Htry[i] = H[i] + lam * dH[i]
                Ttry[i] = T[i]
            _update_T(Htry, Ttry, mat, props)
            _cell_props(Ttry, mat, props, k, dk, dTdH)
            _residual(Htry, Hstar, gdt, Ttry, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea,
                      bdist, bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, Rtry, band, bw, False)
            if _scaled_norm(Rtry, V, scale) < norm or lam < 0.01:
                accepted = True
                break
            lam *= 0.5
        if not accepted:
            return False, it
        if lam < 1.0:
            need_factor = True
        last_norm = norm
        for i in range(n):
            H[i] = Htry[i]
            T[i] = Ttry[i]
    _cell_props(T, mat, props, k, dk, dTdH)
    _residual(H, Hstar, gdt, T, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea, bdist,
              bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, R, band, bw, False)
    return _scaled_norm(R, V, scale) <= tol_K, max_iter


@numba.njit(cache=True)
def heat_rates(T, mat, props, V, bcell, barea, bdist, bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, n_groups):
    """Heat rates (W) into the medium: per boundary group, perfusion, metabolism."""
    Qb = np.zeros(n_groups)
    Qp = 0.0
    Qm = 0.0
    for i in range(T.size):
        p = props[mat[i]]
        f = _f(T[i], p[P_TS], p[P_TL], int(p[P_CURVE]))
        Qp += V[i] * f * p[P_BETA] * (Ta - T[i])
        Qm += V[i] * f * p[P_QM]
    for e in range(bcell.size):
        i, g = bcell[e], bgroup[e]
        kind = bc_kind[g]
        if kind == BC_FLUX:
            Qb[g] += barea[e] * bc_q[g]
        elif kind != BC_ADIABATIC:
            p = props[mat[i]]
            ki = _k(T[i], p[P_KF], p[P_KU], p[P_KEXP], p[P_TS], p[P_TL], int(p[P_CURVE]))
            G, _ = _boundary_conductance(kind, barea[e], bdist[e], ki, bc_h[g])
            Qb[g] += G * (bc_T[g] - T[i])
    return Qb, Qp, Qm


@numba.njit(cache=True)
def surface_temperatures(T, mat, props, bcell, barea, bdist, bgroup, bc_kind, bc_T, bc_h, bc_q):
    """Temperature on each boundary face from its flux balance."""
    out = np.empty(bcell.size)
    for e in range(bcell.size):
        i, g = bcell[e], bgroup[e]
        kind = bc_kind[g]
        if kind == BC_TEMPERATURE:
            out[e] = bc_T[g]
            continue
        p = props[mat[i]]
        ki = _k(T[i], p[P_KF], p[P_KU], p[P_KEXP], p[P_TS], p[P_TL], int(p[P_CURVE]))
        if kind == BC_ADIABATIC:
            out[e] = T[i]
        elif kind == BC_FLUX:
            out[e] = T[i] + bc_q[g] * bdist[e] / ki
        else:
            G, _ = _boundary_conductance(kind, barea[e], bdist[e], ki, bc_h[g])
            out[e] = T[i] + G * (bc_T[g] - T[i]) * bdist[e] / (barea[e] * ki)
    return out


@numba.njit(cache=True)
def temperatures_of(H, mat, props, T_guess):
    T = T_guess.copy()
    _update_T(H, T, mat, props)
    return T


@numba.njit(cache=True)
def enthalpy_of(T, mat, props):
    H = np.empty(T.size)
    for i in range(T.size):
        p = props[mat[i]]
        H[i] = _H(T[i], p[P_CF], p[P_CU], p[P_L], p[P_TS], p[P_TL], int(p[P_CURVE]))
    return H
