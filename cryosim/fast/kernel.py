r"""Implicit finite-volume kernel for the enthalpy form of the Pennes equation.

For every cell ``i`` of volume :math:`V_i` one implicit stage solves, for the
cell enthalpies :math:`H_i` (J/m^3),

.. math::

    R_i = V_i (H_i - H_i^*) + C_{w,i} (T_i - T_i^*) - \gamma\Delta t\, S_i(T(H)) = 0,

    S_i = \sum_{f} G_f (T_j - T_i) + \sum_{b} Q_b
          + V_i f_u(T_i)\,[\beta (T_a - T_i) + q_m],

with :math:`G_f = w_f / (\theta_f / k_i + (1 - \theta_f) / k_j)` the face
conductance (see :class:`~cryosim.meshing.grids.FVGrid`; harmonic in k, exact
across material interfaces) and :math:`Q_b` the heat rates of the boundary
entries of cell ``i``, for an entry of area ``A`` at distance ``d`` from the
cell centre:

* CONVECTIVE: :math:`Q = A (T_\infty - T_i) / (d / k_i + 1 / h)` (``d = 0``: :math:`h A (T_\infty - T_i)`);
* TEMPERATURE with ``d > 0``: :math:`Q = A k_i (T_b - T_i) / d` (a cell face held at :math:`T_b`);
* FLUX: :math:`Q = q A`; LIMITED_FLUX: :math:`Q = q A\, \mathrm{ramp}((T_i - T_{floor}) / 1\,K)`;
* TABULATED_FLUX (a Joule-Thomson device, :mod:`cryosim.physics.device`):
  :math:`Q = A\, q_{tab}(T_i)`, :math:`q_{tab}` the surface's piecewise-linear
  table (0 below its first temperature, the last value above its last),
  passed as padded per-surface arrays ``tab_T[g, :tab_n[g]]``,
  ``tab_q[g, :tab_n[g]]``. On a vertex-centred wall node (``d = 0``)
  :math:`T_i` is the surface temperature (exact); on a cell-centred face
  (``d > 0``) the table is read at the cell temperature, as LIMITED_FLUX
  does (the surface is colder by :math:`|q| d / k`: the flux is slightly
  overestimated near the floor, by less than the table's slope times that
  difference);
* ADIABATIC: nothing.

:math:`C_{w,i}` (J/K, ``Cw``) is the heat capacity of a probe wall lumped
onto cell ``i`` (:math:`\sum_b C_w A_b` over its boundary entries on a wall
with a heat capacity per area :math:`C_w`; 0 elsewhere): the wall's sensible
heat is stored with the cell's, at the cell's temperature, and
:math:`T^*` is combined from past temperatures exactly as :math:`H^*` is from
past enthalpies. On a vertex-centred grid the wall nodes are on the wall; on
a cell-centred grid the wall is lumped onto the cells next to it.

A TEMPERATURE entry at ``d = 0`` (a vertex-centred node on the wall) is a
*node constraint*: the cell's residual row becomes
:math:`R_i = V_i (H_i - H(T_b))` (Jacobian row: :math:`V_i` on the diagonal),
and the heat through that wall is the *reaction*
:math:`Q_i = [V_i (H_i - H^*_i) - \gamma\Delta t\, S^{other}_i] / (\gamma\Delta t)`,
with :math:`S^{other}_i` every other term of :math:`S_i` (:func:`reactions`),
so the energy balance closes exactly.

Backward Euler is :math:`\gamma = 1, H^* = H^n`. Enthalpy is the unknown:
:math:`T(H)` is monotone and Lipschitz, so Newton's method stays robust across
the freezing interval and latent heat is conserved exactly whatever the step.

The exact Newton Jacobian :math:`\partial R / \partial H` (with the dk/dT
terms and :math:`dT/dH = 1/C(T)`) is written into the ``data`` array of a
compressed-sparse-row matrix whose pattern is fixed per grid
(:class:`JacobianPattern`, built once per grid); the factorisation and the Newton loop are in
:mod:`cryosim.fast.newton`.
"""

from __future__ import annotations

import numba
import numpy as np

from ..physics.boundary import FLOOR_RAMP_K, BCKind
from ..physics.phase_change import NUMBA, P_BETA, P_CF, P_CU, P_CURVE, P_KEXP, P_KF, P_KU, P_L, P_QM, P_TL, P_TS, temperature_from_enthalpy

__all__ = ["BC_TEMPERATURE", "BC_CONVECTIVE", "BC_FLUX", "BC_LIMITED_FLUX", "BC_ADIABATIC", "BC_TABULATED_FLUX",
           "JacobianPattern", "tabulated_flux",
           "evaluate", "step_and_evaluate", "constrained_cells", "safeguard_correction", "reactions", "heat_rates", "enthalpy_of", "surface_temperatures",
           "temperatures_of", "total"]

#: Boundary kinds: the values of :class:`cryosim.physics.boundary.BCKind`.
BC_TEMPERATURE, BC_CONVECTIVE, BC_FLUX, BC_LIMITED_FLUX, BC_ADIABATIC, BC_TABULATED_FLUX = (
    int(BCKind.TEMPERATURE), int(BCKind.CONVECTIVE), int(BCKind.FLUX), int(BCKind.LIMITED_FLUX), int(BCKind.ADIABATIC),
    int(BCKind.TABULATED_FLUX))
RAMP_K = FLOOR_RAMP_K

_f = NUMBA.unfrozen_fraction
_fp = NUMBA.unfrozen_fraction_slope
_C = NUMBA.heat_capacity
_H = NUMBA.enthalpy
_k = NUMBA.conductivity
_k_dk = NUMBA.conductivity_and_slope


class JacobianPattern:
    """Fixed CSR sparsity pattern of the Jacobian of a grid (structurally symmetric).

    ``indptr``, ``indices``: the CSR arrays (each cell and its face
    neighbours, diagonal included, columns sorted); ``diag_slot[i]``:
    position of :math:`J_{ii}` in ``data``; ``face_slot[e] = (slot of J_ij,
    slot of J_ji)`` for face ``e = (i, j)``.
    """

    def __init__(self, n_cells: int, face_cells: np.ndarray) -> None:
        n = n_cells
        i, j = face_cells[:, 0], face_cells[:, 1]
        diag = np.arange(n)
        rows = np.concatenate([diag, i, j])
        cols = np.concatenate([diag, j, i])
        key = np.unique(rows * n + cols)  # row-major order: the CSR layout
        self.n = n
        self.indices = (key % n).astype(np.int32)
        self.indptr = np.zeros(n + 1, np.int32)
        np.cumsum(np.bincount(key // n, minlength=n), out=self.indptr[1:])

        def slot(r: np.ndarray, c: np.ndarray) -> np.ndarray:
            return np.searchsorted(key, r * n + c).astype(np.int64)

        self.diag_slot = slot(diag, diag)
        self.face_slot = np.stack([slot(i, j), slot(j, i)], axis=1)

    @property
    def nnz(self) -> int:
        return int(self.indices.size)


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
def tabulated_flux(T, tT, tq, n):
    """Flux into the medium (W/m^2) of a piecewise-linear table at temperature ``T`` and its slope (W/m^2/K).

    ``tT[:n]`` increasing, ``tq[:n]`` the fluxes there: 0 below ``tT[0]``,
    ``tq[n-1]`` from ``tT[n-1]`` up, linear in between; the slope is that of
    the segment on the right of a table point (as
    :meth:`cryosim.physics.boundary.SurfaceCondition.flux_slope_W_per_m2_K`).
    """
    if T < tT[0]:
        return 0.0, 0.0
    if T >= tT[n - 1]:
        return tq[n - 1], 0.0
    lo, hi = 0, n - 1  # tT[lo] <= T < tT[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tT[mid] <= T:
            lo = mid
        else:
            hi = mid
    s = (tq[hi] - tq[lo]) / (tT[hi] - tT[lo])
    return tq[lo] + s * (T - tT[lo]), s


@numba.njit(cache=True)
def _boundary_conductance(kind, A, d, k, h):
    """Conductance (W/K) of a TEMPERATURE (d > 0) or CONVECTIVE entry and its derivative in k."""
    if kind == BC_TEMPERATURE:
        return A * k / d, A / d
    den = d / k + 1.0 / h
    G = A / den
    return G, G * G * d / (A * k * k)


@numba.njit(cache=True)
def _is_constraint(kind, d):
    """A TEMPERATURE entry on a node of the wall (d = 0) constrains the node."""
    return kind == BC_TEMPERATURE and d == 0.0


@numba.njit(cache=True)
def _constraints(n, bcell, bdist, bgroup, bc_kind, bc_T, fixed_T, fixed_group):
    """Mark constrained cells: ``fixed_group[i]`` is the group of the first constraining entry, else -1."""
    for i in range(n):
        fixed_group[i] = -1
    for e in range(bcell.size):
        g = bgroup[e]
        i = bcell[e]
        if _is_constraint(bc_kind[g], bdist[e]) and fixed_group[i] < 0:
            fixed_group[i] = g
            fixed_T[i] = bc_T[g]


@numba.njit(cache=True)
def evaluate(H, T, Hstar, Tstar, gdt, mat, props, V, Cw, fc, fw, fs, bcell, barea, bdist, bgroup,
             bc_kind, bc_T, bc_h, bc_q, tab_T, tab_q, tab_n, Ta, scale, diag_slot, face_slot, R, data, want_jac,
             constrain):
    r"""Residual of a stage at ``H`` and, if ``want_jac``, its Jacobian.

    Updates ``T = T(H)`` in place (``T`` on entry: the inversion's guess),
    fills ``R`` (J) and, if ``want_jac``, the CSR ``data`` (J/(J/m^3) = m^3)
    at the slots of :class:`JacobianPattern`. With ``constrain`` the node
    constraints replace their rows; without, ``R`` is the plain balance
    (used for the reactions). Returns two norms (K) of the scaled residual
    :math:`r_i = R_i / (V_i\, C_{scale})`: :math:`\max_i |r_i|` (the
    convergence test) and :math:`\|r\|_2` (the line search's merit: the
    Newton direction descends it, which the max norm does not guarantee).
    """
    n = H.size
    fixed_T = np.empty(n)
    fixed_group = np.empty(n, np.int64)
    if constrain:
        _constraints(n, bcell, bdist, bgroup, bc_kind, bc_T, fixed_T, fixed_group)
    else:
        fixed_group[:] = -1
    k = np.empty(n)
    dk = np.empty(n)
    dTdH = np.empty(n)
    if want_jac:
        data[:] = 0.0
    for i in range(n):
        p = props[mat[i]]
        Ts, Tl, cv = p[P_TS], p[P_TL], int(p[P_CURVE])
        T[i] = temperature_from_enthalpy(H[i], p, T[i])
        k[i], dk[i] = _k_dk(T[i], p[P_KF], p[P_KU], p[P_KEXP], Ts, Tl, cv)
        dTdH[i] = 1.0 / _C(T[i], p[P_CF], p[P_CU], p[P_L], Ts, Tl, cv)
        if fixed_group[i] >= 0:
            R[i] = V[i] * (H[i] - _H(fixed_T[i], p[P_CF], p[P_CU], p[P_L], Ts, Tl, cv))
            if want_jac:
                data[diag_slot[i]] = V[i]
            continue
        f = _f(T[i], Ts, Tl, cv)
        src = f * (p[P_BETA] * (Ta - T[i]) + p[P_QM])
        R[i] = V[i] * (H[i] - Hstar[i]) + Cw[i] * (T[i] - Tstar[i]) - gdt * V[i] * src
        if want_jac:
            dsrc = _fp(T[i], Ts, Tl, cv) * (p[P_BETA] * (Ta - T[i]) + p[P_QM]) - f * p[P_BETA]
            data[diag_slot[i]] += V[i] + (Cw[i] - gdt * V[i] * dsrc) * dTdH[i]
    for e in range(fc.shape[0]):
        i, j = fc[e, 0], fc[e, 1]
        w, th = fw[e], fs[e]
        den = th / k[i] + (1.0 - th) / k[j]
        G = w / den
        dT = T[j] - T[i]
        flux = G * dT  # into i
        free_i = fixed_group[i] < 0
        free_j = fixed_group[j] < 0
        if free_i:
            R[i] -= gdt * flux
        if free_j:
            R[j] += gdt * flux
        if want_jac:
            dGi = G * G * th / (w * k[i] * k[i]) * dk[i]  # dG/dT_i
            dGj = G * G * (1.0 - th) / (w * k[j] * k[j]) * dk[j]
            dflux_i = (-G + dT * dGi) * dTdH[i]  # d flux / dH_i
            dflux_j = (G + dT * dGj) * dTdH[j]
            if free_i:
                data[diag_slot[i]] -= gdt * dflux_i
                data[face_slot[e, 0]] -= gdt * dflux_j
            if free_j:
                data[face_slot[e, 1]] += gdt * dflux_i
                data[diag_slot[j]] += gdt * dflux_j
    for e in range(bcell.size):
        i, g = bcell[e], bgroup[e]
        kind = bc_kind[g]
        if kind == BC_ADIABATIC or fixed_group[i] >= 0 or _is_constraint(kind, bdist[e]):
            continue
        if kind == BC_FLUX:
            R[i] -= gdt * barea[e] * bc_q[g]
            continue
        if kind == BC_LIMITED_FLUX:
            s, ds = _ramp(T[i], bc_T[g])
            R[i] -= gdt * barea[e] * bc_q[g] * s
            if want_jac:
                data[diag_slot[i]] -= gdt * barea[e] * bc_q[g] * ds * dTdH[i]
            continue
        if kind == BC_TABULATED_FLUX:
            q, dq = tabulated_flux(T[i], tab_T[g], tab_q[g], tab_n[g])
            R[i] -= gdt * barea[e] * q
            if want_jac:
                data[diag_slot[i]] -= gdt * barea[e] * dq * dTdH[i]
            continue
        G, dGdk = _boundary_conductance(kind, barea[e], bdist[e], k[i], bc_h[g])
        dT = bc_T[g] - T[i]
        R[i] -= gdt * G * dT
        if want_jac:
            data[diag_slot[i]] -= gdt * (-G + dT * dGdk * dk[i]) * dTdH[i]
    m = 0.0
    s2 = 0.0
    for i in range(n):
        r = abs(R[i]) / (V[i] * scale)
        m = max(m, r)
        s2 += r * r
    return m, np.sqrt(s2)


@numba.njit(cache=True)
def constrained_cells(n, bcell, bdist, bgroup, bc_kind, bc_T):
    """Boolean mask of the cells held by a node constraint."""
    fixed_T = np.empty(n)
    fixed_group = np.empty(n, np.int64)
    _constraints(n, bcell, bdist, bgroup, bc_kind, bc_T, fixed_T, fixed_group)
    return fixed_group >= 0


@numba.njit(cache=True)
def safeguard_correction(H, T, dH, mat, props, fixed, out):
    r"""The Newton correction ``dH`` with, cell by cell, the smaller of two
    readings of the same linearisation.

    Newton's system fixes for each cell a change :math:`\delta H_i` and the
    temperature change it was linearised with,
    :math:`\delta T_i = \delta H_i / C(T_i)`. Within one region of
    :math:`H(T)` both agree; across the freezing interval they part: a mushy
    cell (large apparent :math:`C`) predicted to lose more heat than its
    remaining latent heat would plunge tens of kelvin below the solidus with
    :math:`H + \delta H`, while :math:`H(T + \delta T)` stays just past the
    solidus; an unfrozen cell entering the interval is the converse. The
    update that changes the enthalpy less is kept:
    :math:`\delta H_i \leftarrow H(T_i + \delta T_i) - H_i` when that is
    smaller in magnitude. Constrained cells (``fixed``) are linear and keep
    their correction. Returns the number of cells changed.
    """
    n_changed = 0
    for i in range(H.size):
        out[i] = dH[i]
        if fixed[i]:
            continue
        p = props[mat[i]]
        Cf, Cu, L, Ts, Tl, cv = p[P_CF], p[P_CU], p[P_L], p[P_TS], p[P_TL], int(p[P_CURVE])
        T_lin = T[i] + dH[i] / _C(T[i], Cf, Cu, L, Ts, Tl, cv)
        dH_T = _H(T_lin, Cf, Cu, L, Ts, Tl, cv) - H[i]
        if abs(dH_T) < abs(dH[i]) * (1.0 - 1e-12):
            out[i] = dH_T
            n_changed += 1
    return n_changed


@numba.njit(cache=True)
def step_and_evaluate(H, dH, lam, Hnew, Tnew, Hstar, Tstar, gdt, mat, props, V, Cw, fc, fw, fs, bcell, barea, bdist,
                      bgroup, bc_kind, bc_T, bc_h, bc_q, tab_T, tab_q, tab_n, Ta, scale, diag_slot, face_slot, R, data,
                      want_jac):
    """``Hnew = H + lam dH``, then :func:`evaluate` there (constraints on); returns its two norms (K)."""
    for i in range(H.size):
        Hnew[i] = H[i] + lam * dH[i]
    return evaluate(Hnew, Tnew, Hstar, Tstar, gdt, mat, props, V, Cw, fc, fw, fs, bcell, barea, bdist, bgroup,
                    bc_kind, bc_T, bc_h, bc_q, tab_T, tab_q, tab_n, Ta, scale, diag_slot, face_slot, R, data,
                    want_jac, True)


@numba.njit(cache=True)
def reactions(H, T, Hstar, Tstar, gdt, mat, props, V, Cw, fc, fw, fs, bcell, barea, bdist, bgroup,
              bc_kind, bc_T, bc_h, bc_q, tab_T, tab_q, tab_n, Ta, n_groups):
    r"""Heat rates (W) into the medium through the node constraints, per boundary group.

    For every constrained node :math:`Q_i = R^{plain}_i / (\gamma\Delta t)`,
    :math:`R^{plain}` the balance without the constraint (:func:`evaluate`
    with ``constrain=False``) at the converged stage ``H``, ``H*``, ``gdt``.
    """
    n = H.size
    fixed_T = np.empty(n)
    fixed_group = np.empty(n, np.int64)
    _constraints(n, bcell, bdist, bgroup, bc_kind, bc_T, fixed_T, fixed_group)
    Q = np.zeros(n_groups)
    if np.all(fixed_group < 0):
        return Q
    R = np.empty(n)
    Tw = T.copy()
    nodata = np.empty(0)
    noslot = np.empty((0, 2), np.int64)
    evaluate(H, Tw, Hstar, Tstar, gdt, mat, props, V, Cw, fc, fw, fs, bcell, barea, bdist, bgroup, bc_kind, bc_T,
             bc_h, bc_q, tab_T, tab_q, tab_n, Ta, 1.0, noslot[:, 0], noslot, R, nodata, False, False)
    for i in range(n):
        if fixed_group[i] >= 0:
            Q[fixed_group[i]] += R[i] / gdt
    return Q


@numba.njit(cache=True)
def heat_rates(T, mat, props, V, bcell, barea, bdist, bgroup, bc_kind, bc_T, bc_h, bc_q, tab_T, tab_q, tab_n, Ta,
               n_groups):
    """Heat rates (W) into the medium: per boundary group (node constraints excluded: see
    :func:`reactions`), perfusion, metabolism."""
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
        if kind == BC_ADIABATIC or _is_constraint(kind, bdist[e]):
            continue
        if kind == BC_FLUX:
            Qb[g] += barea[e] * bc_q[g]
        elif kind == BC_LIMITED_FLUX:
            Qb[g] += barea[e] * bc_q[g] * _ramp(T[i], bc_T[g])[0]
        elif kind == BC_TABULATED_FLUX:
            Qb[g] += barea[e] * tabulated_flux(T[i], tab_T[g], tab_q[g], tab_n[g])[0]
        else:
            p = props[mat[i]]
            ki = _k(T[i], p[P_KF], p[P_KU], p[P_KEXP], p[P_TS], p[P_TL], int(p[P_CURVE]))
            G, _ = _boundary_conductance(kind, barea[e], bdist[e], ki, bc_h[g])
            Qb[g] += G * (bc_T[g] - T[i])
    return Qb, Qp, Qm


@numba.njit(cache=True)
def surface_temperatures(T, mat, props, bcell, barea, bdist, bgroup, bc_kind, bc_T, bc_h, bc_q, tab_T, tab_q, tab_n):
    """Temperature on each boundary entry: the node's own (d = 0), else from the face's flux balance."""
    out = np.empty(bcell.size)
    for e in range(bcell.size):
        i, g = bcell[e], bgroup[e]
        kind = bc_kind[g]
        if bdist[e] == 0.0 or kind == BC_ADIABATIC:
            out[e] = T[i]
            continue
        if kind == BC_TEMPERATURE:
            out[e] = bc_T[g]
            continue
        p = props[mat[i]]
        ki = _k(T[i], p[P_KF], p[P_KU], p[P_KEXP], p[P_TS], p[P_TL], int(p[P_CURVE]))
        if kind == BC_FLUX:
            out[e] = T[i] + bc_q[g] * bdist[e] / ki
        elif kind == BC_LIMITED_FLUX:
            out[e] = T[i] + bc_q[g] * _ramp(T[i], bc_T[g])[0] * bdist[e] / ki
        elif kind == BC_TABULATED_FLUX:
            out[e] = T[i] + tabulated_flux(T[i], tab_T[g], tab_q[g], tab_n[g])[0] * bdist[e] / ki
        else:
            G, _ = _boundary_conductance(kind, barea[e], bdist[e], ki, bc_h[g])
            out[e] = T[i] + G * (bc_T[g] - T[i]) * bdist[e] / (barea[e] * ki)
    return out


@numba.njit(cache=True)
def temperatures_of(H, mat, props, T_guess):
    T = T_guess.copy()
    for i in range(H.size):
        T[i] = temperature_from_enthalpy(H[i], props[mat[i]], T[i])
    return T


@numba.njit(cache=True)
def total(V, H):
    """Sum of V_i H_i (a plain loop: no BLAS call in the hot path)."""
    s = 0.0
    for i in range(V.size):
        s += V[i] * H[i]
    return s


@numba.njit(cache=True)
def enthalpy_of(T, mat, props):
    H = np.empty(T.size)
    for i in range(T.size):
        p = props[mat[i]]
        H[i] = _H(T[i], p[P_CF], p[P_CU], p[P_L], p[P_TS], p[P_TL], int(p[P_CURVE]))
    return H
