r"""Ice-ball extent: where the temperature is at or below an isotherm.

For a field that is piecewise linear on triangles in the (r, z) half-plane
(fast axisymmetric solver, P1 finite elements) or on tetrahedra (3D finite
elements), every cell is clipped by ``T = iso`` exactly, so the measures are
exact for the P1 field and converge at the order of the field itself.
Measures, all for the region ``T <= iso`` outside the probe (:data:`MEASURES`):

``radius_m``
    largest distance from the probe axis (half the radial width);
``width_m``
    radial width, twice the radius;
``length_m``
    extent along the probe axis;
``area_m2``
    area of the longitudinal section through the axis (both sides; in 3D
    the section in the plane ``y = 0``, which holds the bone normal and the
    vessel offsets of :mod:`cryosim.physics.scene`);
``volume_m3``
    volume (the probe itself excluded);
``radius_mid_tip_m``
    largest distance from the axis on the cross-section ``z = z_mid_m``
    (the middle of the active tip, :func:`radius_at_m`);
``depth_below_tip_m``
    distance from the distal end of the probe (``z = 0``) down the axis to
    the isotherm, ``-min z`` over the axis points with ``T <= iso``
    (:func:`depth_below_tip_m`; 0 when the region does not reach below the tip).

Every point of a clipped cell is a convex combination of the clipped
polytope's corners (mesh vertices below the isotherm and points where an edge
crosses it), so radii and lengths are maxima over those corners. The
cross-sections ``y = 0`` and ``z = z_mid`` are taken :data:`SLICE_OFFSET_M`
away and the axis :data:`SLICE_OFFSET_M` off ``r = 0``, so that mesh
vertices lying exactly on them never make a cell count twice or drop out.

Under MPI (``comm`` given, each rank passing its owned cells), every rank
measures its cells and the results are reduced (max, min, sum) over ranks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numba
import numpy as np

__all__ = [
    "Extent", "MEASURES", "SLICE_OFFSET_M", "clip_triangles", "clip_tetrahedra", "extent_axisymmetric",
    "extent_3d", "extent_radial", "extent_of", "radius_at_m", "depth_below_tip_m",
]

MEASURES = ("radius_m", "width_m", "length_m", "area_m2", "volume_m3", "radius_mid_tip_m", "depth_below_tip_m")

#: Offset (m) of the sections and of the axis line from mesh-aligned planes
#: (see the module docstring); the error it makes is O(offset) ~ 1e-10 m.
SLICE_OFFSET_M = 1e-10


@dataclass(frozen=True)
class Extent:
    """Size of the region at or below one isotherm (SI units, see :data:`MEASURES`)."""

    radius_m: float
    length_m: float
    area_m2: float
    volume_m3: float
    radius_mid_tip_m: float = 0.0
    depth_below_tip_m: float = 0.0

    @property
    def width_m(self) -> float:
        return 2.0 * self.radius_m

    def as_dict(self) -> dict[str, float]:
        """Every measure of :data:`MEASURES` by name."""
        d = asdict(self)
        d["width_m"] = self.width_m
        return d

    @classmethod
    def empty(cls) -> "Extent":
        return cls(0.0, 0.0, 0.0, 0.0)


def _reduce(comm: Any, values: tuple, ops: str) -> tuple:
    """Reduce scalars over the ranks of ``comm`` (``ops``: one of ``+``, ``<``, ``>``, ``|`` per value)."""
    if comm is None or comm.size == 1:
        return values
    parts = comm.allgather(values)
    red = {"+": sum, "<": min, ">": max, "|": any}
    return tuple(red[op](p[k] for p in parts) for k, op in enumerate(ops))


# --- (r, z) triangles ---------------------------------------------------------
@numba.njit(cache=True)
def clip_triangles(r: np.ndarray, z: np.ndarray, tri: np.ndarray, T: np.ndarray, iso: float) -> tuple:
    """Clip every triangle to T <= iso; return (area, first r-moment, rmax, zmin, zmax)."""
    area = 0.0
    moment = 0.0
    rmax = 0.0
    zmin = math.inf
    zmax = -math.inf
    pr = np.empty(4)
    pz = np.empty(4)
    for e in range(tri.shape[0]):
        a, b, c = tri[e, 0], tri[e, 1], tri[e, 2]
        ta, tb, tc = T[a] - iso, T[b] - iso, T[c] - iso
        if ta > 0.0 and tb > 0.0 and tc > 0.0:
            continue
        n = 0
        idx = (a, b, c)
        tv = (ta, tb, tc)
        for k in range(3):
            i, j = idx[k], idx[(k + 1) % 3]
            ti, tj = tv[k], tv[(k + 1) % 3]
            if ti <= 0.0:
                pr[n] = r[i]
                pz[n] = z[i]
                n += 1
            if (ti <= 0.0) != (tj <= 0.0):
                s = ti / (ti - tj)
                pr[n] = r[i] + s * (r[j] - r[i])
                pz[n] = z[i] + s * (z[j] - z[i])
                n += 1
        if n < 3:
            continue
        a2 = 0.0
        m6 = 0.0
        for k in range(n):
            k1 = (k + 1) % n
            cross = pr[k] * pz[k1] - pr[k1] * pz[k]
            a2 += cross
            m6 += (pr[k] + pr[k1]) * cross
            rmax = max(rmax, pr[k])
            zmin = min(zmin, pz[k])
            zmax = max(zmax, pz[k])
        area += abs(0.5 * a2)
        moment += abs(m6 / 6.0)
    return area, moment, rmax, zmin, zmax


@numba.njit(cache=True)
def _line_section_triangles(u: np.ndarray, v: np.ndarray, tri: np.ndarray, T: np.ndarray, iso: float,
                            v0: float) -> tuple:
    """Range of ``u`` over ``{T <= iso}`` on the line ``v = v0`` of P1 triangles: (umin, umax, found).

    The line meets each triangle in a segment along which T is linear; the
    part at or below ``iso`` is clipped exactly.
    """
    umin = math.inf
    umax = -math.inf
    found = False
    pu = np.empty(3)
    pt = np.empty(3)
    for e in range(tri.shape[0]):
        n = 0
        for k in range(3):
            i, j = tri[e, k], tri[e, (k + 1) % 3]
            di, dj = v[i] - v0, v[j] - v0
            if di == 0.0:
                pu[n] = u[i]
                pt[n] = T[i] - iso
                n += 1
            elif (di < 0.0 and dj > 0.0) or (di > 0.0 and dj < 0.0):
                s = di / (di - dj)
                pu[n] = u[i] + s * (u[j] - u[i])
                pt[n] = (T[i] - iso) + s * (T[j] - T[i])
                n += 1
        if n == 0:
            continue
        a = 0
        b = 0
        for k in range(1, n):
            if pu[k] < pu[a]:
                a = k
            if pu[k] > pu[b]:
                b = k
        ua, ub, ta, tb = pu[a], pu[b], pt[a], pt[b]
        if ta <= 0.0:
            found = True
            umin = min(umin, ua)
            umax = max(umax, ua)
        if tb <= 0.0:
            found = True
            umin = min(umin, ub)
            umax = max(umax, ub)
        if (ta <= 0.0) != (tb <= 0.0):
            uc = ua + ta / (ta - tb) * (ub - ua)
            umin = min(umin, uc)
            umax = max(umax, uc)
    return umin, umax, found


def _as_arrays(points_m: np.ndarray, cells: np.ndarray, T_C: np.ndarray) -> tuple:
    return (np.ascontiguousarray(points_m, dtype=float), np.ascontiguousarray(cells, dtype=np.int64),
            np.ascontiguousarray(T_C, dtype=float))


def radius_at_m(points_m: np.ndarray, cells: np.ndarray, T_C: np.ndarray, iso_C: float, z_m: float,
                comm: Any = None) -> float:
    """Largest distance from the axis (m) of ``T <= iso_C`` on the cross-section at height ``z_m`` (m).

    ``points_m``: (n, 2) (r, z) with ``cells`` triangles, or (n, 3) (x, y, z)
    with ``cells`` tetrahedra; ``T_C`` nodal (°C). Exact for the P1 field
    (the section is taken :data:`SLICE_OFFSET_M` above ``z_m``). 0 when the
    section holds no such point.
    """
    X, C, T = _as_arrays(points_m, cells, T_C)
    if X.shape[1] == 2:
        _, rmax, found = _line_section_triangles(X[:, 0], X[:, 1], C, T, float(iso_C), float(z_m) + SLICE_OFFSET_M)
    else:
        rmax, found = _plane_section_radius(X, C, T, float(iso_C), float(z_m) + SLICE_OFFSET_M)
    rmax, found = _reduce(comm, (rmax, found), ">|")
    return float(rmax) if found else 0.0


def depth_below_tip_m(points_m: np.ndarray, cells: np.ndarray, T_C: np.ndarray, iso_C: float,
                      comm: Any = None) -> float:
    """Depth (m) of ``T <= iso_C`` below the distal end ``z = 0``, along the probe axis.

    ``-min z`` over the points of the axis (taken :data:`SLICE_OFFSET_M` off
    it) at or below the isotherm, exact for the P1 field; 0 when the region
    does not reach the axis below the tip. Arguments as :func:`radius_at_m`.
    """
    X, C, T = _as_arrays(points_m, cells, T_C)
    if X.shape[1] == 2:
        zmin, _, found = _line_section_triangles(X[:, 1], X[:, 0], C, T, float(iso_C), SLICE_OFFSET_M)
    else:
        zmin, found = _axis_section_tetrahedra(X, C, T, float(iso_C), SLICE_OFFSET_M)
    zmin, found = _reduce(comm, (zmin, found), "<|")
    return max(0.0, -float(zmin)) if found else 0.0


def extent_axisymmetric(r_m: np.ndarray, z_m: np.ndarray, triangles: np.ndarray, T_C: np.ndarray, iso_C: float,
                        z_mid_m: float | None = None, comm: Any = None) -> Extent:
    """Extent of ``T <= iso_C`` for a P1 field on (r, z) triangles, revolved about r = 0.

    ``radius_mid_tip_m`` is measured at height ``z_mid_m`` (m; NaN when None).
    """
    r, z = np.ascontiguousarray(r_m, dtype=float), np.ascontiguousarray(z_m, dtype=float)
    tri, T, iso = np.ascontiguousarray(triangles, dtype=np.int64), np.ascontiguousarray(T_C, dtype=float), float(iso_C)
    area, moment, rmax, zmin, zmax = _reduce(comm, clip_triangles(r, z, tri, T, iso), "++><>")
    if area == 0.0:
        return Extent.empty()
    mid = math.nan
    if z_mid_m is not None:
        _, rmid, found = _reduce(comm, _line_section_triangles(r, z, tri, T, iso, float(z_mid_m) + SLICE_OFFSET_M),
                                 "<>|")
        mid = float(rmid) if found else 0.0
    zaxis, _, found = _reduce(comm, _line_section_triangles(z, r, tri, T, iso, SLICE_OFFSET_M), "<>|")
    depth = max(0.0, -float(zaxis)) if found else 0.0
    return Extent(radius_m=rmax, length_m=zmax - zmin, area_m2=2.0 * area, volume_m3=2.0 * math.pi * moment,
                  radius_mid_tip_m=mid, depth_below_tip_m=depth)


# --- tetrahedra -------------------------------------------------------------------
@numba.njit(cache=True)
def _tet_volume(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> float:
    u0, u1, u2 = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    v0, v1, v2 = c[0] - a[0], c[1] - a[1], c[2] - a[2]
    w0, w1, w2 = d[0] - a[0], d[1] - a[1], d[2] - a[2]
    return abs(u0 * (v1 * w2 - v2 * w1) - u1 * (v0 * w2 - v2 * w0) + u2 * (v0 * w1 - v1 * w0)) / 6.0


@numba.njit(cache=True)
def _plane_section(P: np.ndarray, u: np.ndarray, axis: int, value: float, poly: np.ndarray) -> int:
    """Polygon where the plane ``x[axis] = value`` cuts the tetrahedron with corners ``P`` (4, 3).

    Fills ``poly[k] = (x, y, z, u)`` (``u``: the linear field) in convex
    order and returns the number of corners (0, 3 or 4).
    """
    lo = np.empty(4, np.int64)
    hi = np.empty(4, np.int64)
    nlo = 0
    nhi = 0
    for k in range(4):
        if P[k, axis] < value:
            lo[nlo] = k
            nlo += 1
        else:
            hi[nhi] = k
            nhi += 1
    if nlo == 0 or nlo == 4:
        return 0
    npoly = 0
    if nlo == 1 or nlo == 3:
        single = lo[0] if nlo == 1 else hi[0]
        for k in range(4):
            if k == single:
                continue
            t = (value - P[single, axis]) / (P[k, axis] - P[single, axis])
            for j in range(3):
                poly[npoly, j] = P[single, j] + t * (P[k, j] - P[single, j])
            poly[npoly, 3] = u[single] + t * (u[k] - u[single])
            npoly += 1
    else:  # 2-2: crossings on p-r, p-s, q-s, q-r form a convex quadrilateral in order
        pairs = ((lo[0], hi[0]), (lo[0], hi[1]), (lo[1], hi[1]), (lo[1], hi[0]))
        for (i, j) in pairs:
            t = (value - P[i, axis]) / (P[j, axis] - P[i, axis])
            for c in range(3):
                poly[npoly, c] = P[i, c] + t * (P[j, c] - P[i, c])
            poly[npoly, 3] = u[i] + t * (u[j] - u[i])
            npoly += 1
    return npoly


@numba.njit(cache=True)
def _clip_polygon(poly: np.ndarray, npoly: int, out: np.ndarray) -> int:
    """The part of the polygon ``poly[:npoly]`` where its column 3 is <= 0 (Sutherland-Hodgman), into ``out``."""
    nc = 0
    for k in range(npoly):
        k1 = (k + 1) % npoly
        ti, tj = poly[k, 3], poly[k1, 3]
        if ti <= 0.0:
            for c in range(4):
                out[nc, c] = poly[k, c]
            nc += 1
        if (ti <= 0.0) != (tj <= 0.0):
            s = ti / (ti - tj)
            for c in range(4):
                out[nc, c] = poly[k, c] + s * (poly[k1, c] - poly[k, c])
            nc += 1
    return nc


@numba.njit(cache=True)
def _corners(x: np.ndarray, tets: np.ndarray, T: np.ndarray, iso: float, e: int, P: np.ndarray, u: np.ndarray) -> None:
    for k in range(4):
        u[k] = T[tets[e, k]] - iso
        for j in range(3):
            P[k, j] = x[tets[e, k], j]


@numba.njit(cache=True)
def clip_tetrahedra(x: np.ndarray, tets: np.ndarray, T: np.ndarray, iso: float, y_plane: float) -> tuple:
    """Clip P1 tetrahedra at ``T <= iso``.

    Returns (volume, section area in the plane y = y_plane, max distance from
    the z axis, zmin, zmax, found) over the region; ``found`` is False when
    no cell has a vertex at or below ``iso``.
    """
    vol = 0.0
    area = 0.0
    rmax = 0.0
    zmin = math.inf
    zmax = -math.inf
    found = False
    P = np.empty((4, 3))
    u = np.empty(4)
    pts = np.empty((6, 3))
    neg = np.empty(4, np.int64)
    pos = np.empty(4, np.int64)
    poly = np.empty((4, 4))
    clip = np.empty((8, 4))
    for e in range(tets.shape[0]):
        _corners(x, tets, T, iso, e, P, u)
        nn = 0
        npos = 0
        for k in range(4):
            if u[k] <= 0.0:
                neg[nn] = k
                nn += 1
            else:
                pos[npos] = k
                npos += 1
        if nn == 0:
            continue
        found = True
        # corners of the clipped region: vertices below, and edge crossings
        m = 0
        for a in range(nn):
            pts[m] = P[neg[a]]
            m += 1
        for a in range(nn):
            for b in range(npos):
                ia, ib = neg[a], pos[b]
                s = u[ia] / (u[ia] - u[ib])
                for j in range(3):
                    pts[m, j] = P[ia, j] + s * (P[ib, j] - P[ia, j])
                m += 1
        for q in range(m):
            rr = math.sqrt(pts[q, 0] ** 2 + pts[q, 1] ** 2)
            if rr > rmax:
                rmax = rr
            if pts[q, 2] < zmin:
                zmin = pts[q, 2]
            if pts[q, 2] > zmax:
                zmax = pts[q, 2]
        V = _tet_volume(P[0], P[1], P[2], P[3])
        if nn == 4:
            vol += V
        elif nn == 1:
            # small tetrahedron at the lone cold vertex: pts[0] and three crossings
            vol += _tet_volume(pts[0], pts[1], pts[2], pts[3])
        elif nn == 3:
            # whole minus the small tetrahedron at the lone warm vertex
            ib = pos[0]
            c = np.empty((3, 3))
            for a in range(3):
                ia = neg[a]
                s = u[ib] / (u[ib] - u[ia])
                for j in range(3):
                    c[a, j] = P[ib, j] + s * (P[ia, j] - P[ib, j])
            vol += V - _tet_volume(P[ib], c[0], c[1], c[2])
        else:
            # prism between edges a-c, a-d (cold a) and b-c, b-d (cold b):
            # pts = [a, b, ac, ad, bc, bd]
            A0, A1, A2 = pts[0], pts[2], pts[3]
            B0, B1, B2 = pts[1], pts[4], pts[5]
            vol += (_tet_volume(A0, A1, A2, B2) + _tet_volume(A0, A1, B1, B2)
                    + _tet_volume(A0, B0, B1, B2))
        # section with the plane y = y_plane, clipped at the isotherm; area in (x, z)
        nc = _clip_polygon(poly, _plane_section(P, u, 1, y_plane, poly), clip)
        if nc < 3:
            continue
        a2 = 0.0
        for k in range(nc):
            k1 = (k + 1) % nc
            a2 += clip[k, 0] * clip[k1, 2] - clip[k1, 0] * clip[k, 2]
        area += abs(0.5 * a2)
    return vol, area, rmax, zmin, zmax, found


@numba.njit(cache=True)
def _plane_section_radius(x: np.ndarray, tets: np.ndarray, T: np.ndarray, iso: float, z_plane: float) -> tuple:
    """Largest distance from the z axis of ``T <= iso`` on the plane z = z_plane: (rmax, found)."""
    rmax = 0.0
    found = False
    P = np.empty((4, 3))
    u = np.empty(4)
    poly = np.empty((4, 4))
    clip = np.empty((8, 4))
    for e in range(tets.shape[0]):
        _corners(x, tets, T, iso, e, P, u)
        nc = _clip_polygon(poly, _plane_section(P, u, 2, z_plane, poly), clip)
        for k in range(nc):
            found = True
            rmax = max(rmax, math.sqrt(clip[k, 0] ** 2 + clip[k, 1] ** 2))
    return rmax, found


#: Barycentric tolerance when intersecting the axis line with a tetrahedron.
_BARY_TOL = 1e-12


@numba.njit(cache=True)
def _axis_section_tetrahedra(x: np.ndarray, tets: np.ndarray, T: np.ndarray, iso: float, off: float) -> tuple:
    """Lowest z of ``T <= iso`` on the line x = y = ``off``: (zmin, found).

    Along the line the barycentric coordinates of a tetrahedron, and so T,
    are linear in z: the line's segment inside the cell is where they are
    all non-negative, and its part at or below the isotherm is clipped exactly.
    """
    zmin = math.inf
    found = False
    P = np.empty((4, 3))
    u = np.empty(4)
    alpha = np.empty(4)
    beta = np.empty(4)
    for e in range(tets.shape[0]):
        _corners(x, tets, T, iso, e, P, u)
        if (min(P[0, 0], P[1, 0], P[2, 0], P[3, 0]) > off or max(P[0, 0], P[1, 0], P[2, 0], P[3, 0]) < off
                or min(P[0, 1], P[1, 1], P[2, 1], P[3, 1]) > off or max(P[0, 1], P[1, 1], P[2, 1], P[3, 1]) < off):
            continue
        # M = [b - a, c - a, d - a] (columns); lambda_{1..3} = M^-1 (p - a)
        m00, m01, m02 = P[1, 0] - P[0, 0], P[2, 0] - P[0, 0], P[3, 0] - P[0, 0]
        m10, m11, m12 = P[1, 1] - P[0, 1], P[2, 1] - P[0, 1], P[3, 1] - P[0, 1]
        m20, m21, m22 = P[1, 2] - P[0, 2], P[2, 2] - P[0, 2], P[3, 2] - P[0, 2]
        det = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20)
        if det == 0.0:
            continue
        i00, i01, i02 = (m11 * m22 - m12 * m21) / det, (m02 * m21 - m01 * m22) / det, (m01 * m12 - m02 * m11) / det
        i10, i11, i12 = (m12 * m20 - m10 * m22) / det, (m00 * m22 - m02 * m20) / det, (m02 * m10 - m00 * m12) / det
        i20, i21, i22 = (m10 * m21 - m11 * m20) / det, (m01 * m20 - m00 * m21) / det, (m00 * m11 - m01 * m10) / det
        dx, dy, dz = off - P[0, 0], off - P[0, 1], -P[0, 2]
        alpha[1], beta[1] = i00 * dx + i01 * dy + i02 * dz, i02
        alpha[2], beta[2] = i10 * dx + i11 * dy + i12 * dz, i12
        alpha[3], beta[3] = i20 * dx + i21 * dy + i22 * dz, i22
        alpha[0], beta[0] = 1.0 - alpha[1] - alpha[2] - alpha[3], -beta[1] - beta[2] - beta[3]
        zlo, zhi = -math.inf, math.inf
        inside = True
        for k in range(4):
            if beta[k] > 0.0:
                zlo = max(zlo, (-_BARY_TOL - alpha[k]) / beta[k])
            elif beta[k] < 0.0:
                zhi = min(zhi, (-_BARY_TOL - alpha[k]) / beta[k])
            elif alpha[k] < -_BARY_TOL:
                inside = False
        if not inside or zlo > zhi:
            continue
        A = alpha[0] * u[0] + alpha[1] * u[1] + alpha[2] * u[2] + alpha[3] * u[3]
        B = beta[0] * u[0] + beta[1] * u[1] + beta[2] * u[2] + beta[3] * u[3]
        if A + B * zlo <= 0.0:
            found = True
            zmin = min(zmin, zlo)
        elif B < 0.0 and -A / B <= zhi:
            found = True
            zmin = min(zmin, -A / B)
    return zmin, found


def extent_3d(x_m: np.ndarray, tets: np.ndarray, T_C: np.ndarray, iso_C: float, comm: Any = None,
              z_mid_m: float | None = None) -> Extent:
    """Extent of ``T <= iso_C`` for a P1 field on tetrahedra (``tets``: owned cells only under MPI).

    ``radius_mid_tip_m`` is measured at height ``z_mid_m`` (m; NaN when None).
    """
    X, C, T = _as_arrays(x_m, tets, T_C)
    vol, area, rmax, zmin, zmax, found = _reduce(
        comm, clip_tetrahedra(X, C, T, float(iso_C), SLICE_OFFSET_M), "++><>|")
    if not found or vol == 0.0:
        return Extent.empty()
    mid = math.nan if z_mid_m is None else radius_at_m(X, C, T, iso_C, z_mid_m, comm)
    return Extent(radius_m=rmax, length_m=zmax - zmin, area_m2=area, volume_m3=vol, radius_mid_tip_m=mid,
                  depth_below_tip_m=depth_below_tip_m(X, C, T, iso_C, comm))


# --- 1D -------------------------------------------------------------------------------
def extent_radial(x_m: np.ndarray, T_C: np.ndarray, iso_C: float, geometry: str) -> Extent:
    """Extent of ``T <= iso_C`` for a 1D radial profile starting at the probe surface.

    ``x_m`` are increasing node positions (first node on the probe surface) and
    ``T_C`` the temperatures there. ``radius_m`` is the front position (the
    first crossing, linearly interpolated), and so is ``radius_mid_tip_m``;
    ``volume_m3`` is per unit area (planar), per unit length (cylindrical) or
    absolute (spherical); area, length and depth are not defined in 1D and are 0.
    """
    x = np.asarray(x_m, float)
    d = np.asarray(T_C, float) - iso_C
    if d[0] > 0.0:
        return Extent.empty()
    above = np.nonzero(d > 0.0)[0]
    if above.size == 0:
        front = x[-1]
    else:
        j = above[0]
        front = x[j - 1] + d[j - 1] / (d[j - 1] - d[j]) * (x[j] - x[j - 1])
    x0 = x[0]
    if geometry == "planar":
        vol = front - x0
    elif geometry == "cylindrical":
        vol = math.pi * (front**2 - x0**2)
    else:
        vol = 4.0 / 3.0 * math.pi * (front**3 - x0**3)
    return Extent(radius_m=float(front), length_m=0.0, area_m2=0.0, volume_m3=float(vol),
                  radius_mid_tip_m=float(front))


def extent_of(points_m: np.ndarray, cells: np.ndarray, T_C: np.ndarray, iso_C: float, geometry: str, *,
              z_mid_m: float | None = None, comm: Any = None) -> Extent:
    """Extent of ``T <= iso_C`` for a nodal P1 field of any geometry.

    ``geometry``: "axisymmetric" (``points_m`` (n, 2) r, z; ``cells``
    triangles), "3d" ((n, 3) x, y, z; tetrahedra), or "planar",
    "cylindrical", "spherical" ((n, 1) increasing positions from the probe
    surface; ``cells`` unused). ``z_mid_m``: height of ``radius_mid_tip_m`` (m).
    """
    if geometry == "axisymmetric":
        return extent_axisymmetric(points_m[:, 0], points_m[:, 1], cells, T_C, iso_C, z_mid_m, comm)
    if geometry == "3d":
        return extent_3d(points_m, cells, T_C, iso_C, comm, z_mid_m)
    return extent_radial(points_m[:, 0], T_C, iso_C, geometry)
