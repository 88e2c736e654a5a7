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

from ..physics.boundary import FLOOR_RAMP_K, BCKind
from ..physics.phase_change import NUMBA, P_BETA, P_CF, P_CU, P_CURVE, P_KEXP, P_KF, P_KU, P_L, P_QM, P_TL, P_TS, temperature_from_enthalpy

__all__ = ["BC_TEMPERATURE", "BC_CONVECTIVE", "BC_FLUX", "BC_LIMITED_FLUX", "BC_ADIABATIC", "stage_solve", "heat_rates", "enthalpy_of", "surface_temperatures"]

#: Boundary kinds: the values of :class:`cryosim.physics.boundary.BCKind`.
BC_TEMPERATURE, BC_CONVECTIVE, BC_FLUX, BC_LIMITED_FLUX, BC_ADIABATIC = (
    int(BCKind.TEMPERATURE), int(BCKind.CONVECTIVE), int(BCKind.FLUX), int(BCKind.LIMITED_FLUX), int(BCKind.ADIABATIC))
RAMP_K = FLOOR_RAMP_K
#: GMRES settings (numerical choices): Krylov space size, relative tolerance
#: of each Newton correction, and the iteration count above which the lagged
#: LU preconditioner is rebuilt.
GMRES_MAX = 12
GMRES_RTOL = 1e-4
GMRES_REFACTOR = 6

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
def _ramp(T, floor):
    """Fraction of a limited power delivered at temperature ``T`` above ``floor``, and its slope (1/K)."""
    x = (T - floor) / RAMP_K
    if x <= 0.0:
        return 0.0, 0.0
    if x >= 1.0:
        return 1.0, 0.0
    return x, 1.0 / RAMP_K


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
        if kind == BC_LIMITED_FLUX:
            s, ds = _ramp(T[i], bc_T[g])
            R[i] -= gdt * barea[e] * bc_q[g] * s
            if want_jac:
                band[i, bw] -= gdt * barea[e] * bc_q[g] * ds * dTdH[i]
            continue
        G, dGdk = _boundary_conductance(kind, barea[e], bdist[e], k[i], bc_h[g])
        dT = bc_T[g] - T[i]
        R[i] -= gdt * G * dT
        if want_jac:
            band[i, bw] -= gdt * (-G + dT * dGdk * dk[i]) * dTdH[i]


@numba.njit(cache=True, fastmath=True)
def _band_lu(band, bw):
    """In-place LU of a band matrix without pivoting (diagonally dominant)."""
    n = band.shape[0]
    for kk in range(n - 1):
        inv = 1.0 / band[kk, bw]
        top = min(bw, n - 1 - kk)
        pivot_row = band[kk, bw + 1: bw + 1 + top]
        for r in range(1, top + 1):
            row = band[kk + r]
            l = row[bw - r] * inv
            row[bw - r] = l
            if l != 0.0:
                seg = row[bw - r + 1: bw - r + 1 + top]
                for c in range(top):
                    seg[c] -= l * pivot_row[c]


@numba.njit(cache=True, fastmath=True)
def _band_solve(band, bw, b):
    """Forward and back substitution with the factors of :func:`_band_lu` (in place)."""
    n = band.shape[0]
    for i in range(n):
        lo = max(0, i - bw)
        row = band[i, bw + lo - i: bw]
        s = 0.0
        for c in range(i - lo):
            s += row[c] * b[lo + c]
        b[i] -= s
    for i in range(n - 1, -1, -1):
        hi = min(n, i + bw + 1)
        row = band[i, bw + 1: bw + hi - i]
        s = 0.0
        for c in range(hi - i - 1):
            s += row[c] * b[i + 1 + c]
        b[i] = (b[i] - s) / band[i, bw]


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


@numba.njit(cache=True, fastmath=True)
def _band_matvec(band, bw, x, y):
    n = band.shape[0]
    for i in range(n):
        lo = max(0, i - bw)
        hi = min(n, i + bw + 1)
        row = band[i, bw + lo - i: bw + hi - i]
        s = 0.0
        for c in range(hi - lo):
            s += row[c] * x[lo + c]
        y[i] = s


@numba.njit(cache=True, fastmath=True)
def _dot(a, b):
    """Dot product as a plain loop: no BLAS call (and no BLAS threads) in the hot path."""
    s = 0.0
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@numba.njit(cache=True)
def _gmres(jac, lu, bw, b, x, m, rtol):
    """Right-preconditioned GMRES(m) for jac x = b with the factors ``lu``.

    Returns the number of iterations and whether ``rtol`` was reached.
    """
    n = b.size
    Vb = np.zeros((m + 1, n))
    Hh = np.zeros((m + 1, m))
    cs = np.zeros(m)
    sn = np.zeros(m)
    g = np.zeros(m + 1)
    z = np.empty(n)
    w = np.empty(n)
    beta = np.sqrt(_dot(b, b))
    x[:] = 0.0
    if beta == 0.0:
        return 0, True
    Vb[0] = b / beta
    g[0] = beta
    k = 0
    done = False
    for j in range(m):
        z[:] = Vb[j]
        _band_solve(lu, bw, z)
        _band_matvec(jac, bw, z, w)
        for i in range(j + 1):
            Hh[i, j] = _dot(w, Vb[i])
            w -= Hh[i, j] * Vb[i]
        Hh[j + 1, j] = np.sqrt(_dot(w, w))
        if Hh[j + 1, j] > 0.0:
            Vb[j + 1] = w / Hh[j + 1, j]
        for i in range(j):
            t = cs[i] * Hh[i, j] + sn[i] * Hh[i + 1, j]
            Hh[i + 1, j] = -sn[i] * Hh[i, j] + cs[i] * Hh[i + 1, j]
            Hh[i, j] = t
        den = np.hypot(Hh[j, j], Hh[j + 1, j])
        cs[j] = Hh[j, j] / den
        sn[j] = Hh[j + 1, j] / den
        Hh[j, j] = den
        Hh[j + 1, j] = 0.0
        g[j + 1] = -sn[j] * g[j]
        g[j] = cs[j] * g[j]
        k = j + 1
        if abs(g[j + 1]) <= rtol * beta:
            done = True
            break
    y = np.zeros(k)
    for i in range(k - 1, -1, -1):
        y[i] = (g[i] - _dot(Hh[i, i + 1:k], y[i + 1:k])) / Hh[i, i]
    z[:] = 0.0
    for i in range(k):
        z += y[i] * Vb[i]
    _band_solve(lu, bw, z)
    x[:] = z
    return k, done


@numba.njit(cache=True)
def stage_solve(H, T, Hstar, gdt, mat, props, V, fc, fa, fd, bcell, barea, bdist, bgroup,
                bc_kind, bc_T, bc_h, bc_q, Ta, bw, tol_K, max_iter, lu, lu_state):
    """Solve one implicit stage in place (``H``, ``T`` hold the initial guess).

    Newton-Krylov: each Newton correction solves J dH = -R by GMRES with the
    exact Jacobian J (band storage) and, as preconditioner, the band LU
    factors ``lu`` of an earlier Jacobian. The factors persist between calls
    (``lu_state[0]`` is 1 when they are valid) and are rebuilt only when
    GMRES needs more than ``GMRES_REFACTOR`` iterations. A backtracking line
    search on the residual guards each update.

    Convergence: every cell residual below ``tol_K`` kelvin-equivalents of
    unfrozen heat capacity. Returns (converged, iterations, factorisations).
    """
    n = H.size
    k = np.empty(n)
    dk = np.empty(n)
    dTdH = np.empty(n)
    R = np.empty(n)
    jac = np.empty((n, 2 * bw + 1))
    nojac = np.empty((1, 1))
    dH = np.empty(n)
    rhs = np.empty(n)
    Htry = np.empty(n)
    Ttry = np.empty(n)
    Rtry = np.empty(n)
    scale = props[0, P_CU]
    for m in range(props.shape[0]):
        scale = max(scale, props[m, P_CU])
    n_factor = 0
    _update_T(H, T, mat, props)
    for it in range(max_iter):
        _cell_props(T, mat, props, k, dk, dTdH)
        _residual(H, Hstar, gdt, T, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea, bdist,
                  bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, R, jac, bw, True)
        norm = _scaled_norm(R, V, scale)
        if norm <= tol_K:
            return True, it, n_factor
        for i in range(n):
            rhs[i] = -R[i]
        solved = False
        if lu_state[0] == 1.0:
            its, solved = _gmres(jac, lu, bw, rhs, dH, GMRES_MAX, GMRES_RTOL)
            lu_state[1] += its
            if its > GMRES_REFACTOR:
                lu_state[0] = 0.0  # solved, but slowly: refresh the preconditioner next time
        if not solved:
            lu[:, :] = jac
            _band_lu(lu, bw)
            lu_state[0] = 1.0
            n_factor += 1
            dH[:] = rhs
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
                      bdist, bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, Rtry, nojac, bw, False)
            if _scaled_norm(Rtry, V, scale) < norm or lam < 0.01:
                accepted = True
                break
            lam *= 0.5
        if not accepted:
            return False, it, n_factor
        for i in range(n):
            H[i] = Htry[i]
            T[i] = Ttry[i]
    _cell_props(T, mat, props, k, dk, dTdH)
    _residual(H, Hstar, gdt, T, k, dk, dTdH, mat, props, V, fc, fa, fd, bcell, barea, bdist,
              bgroup, bc_kind, bc_T, bc_h, bc_q, Ta, R, nojac, bw, False)
    return _scaled_norm(R, V, scale) <= tol_K, max_iter, n_factor


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
        elif kind == BC_LIMITED_FLUX:
            Qb[g] += barea[e] * bc_q[g] * _ramp(T[i], bc_T[g])[0]
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
        elif kind == BC_LIMITED_FLUX:
            out[e] = T[i] + bc_q[g] * _ramp(T[i], bc_T[g])[0] * bdist[e] / ki
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
def total(V, H):
    """Sum of V_i H_i (no BLAS)."""
    return _dot(V, H)


@numba.njit(cache=True)
def enthalpy_of(T, mat, props):
    H = np.empty(T.size)
    for i in range(T.size):
        p = props[mat[i]]
        H[i] = _H(T[i], p[P_CF], p[P_CU], p[P_L], p[P_TS], p[P_TL], int(p[P_CURVE]))
    return H
