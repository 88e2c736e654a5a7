r"""Ice-ball measures and virtual thermocouples on P1 finite-element fields.

Isotherm extents follow :mod:`cryosim.post.isotherms`: for the region
:math:`\{T \le T_{iso}\}` of a piecewise-linear field,

* ``radius_m``: largest distance from the main probe axis (the z axis);
* ``length_m``: extent along that axis;
* ``area_m2``: area of the longitudinal section. In 3D this is the section
  in the plane ``y = 0`` through the probe axis (the plane that holds the
  bone normal and vessel offsets of :mod:`cryosim.physics.scene`), computed by
  slicing every tetrahedron with that plane and clipping the slice polygon
  at the isotherm -- exact for the P1 field;
* ``volume_m3``: each tetrahedron is clipped at the isotherm exactly.

Every point of the clipped region is a convex combination of the clipped
polytopes' corners (mesh vertices below the isotherm and points where an edge
crosses it), so radius and length are maxima over those corners, exact for
the P1 field. On (r, z) triangles :func:`cryosim.post.isotherms.extent_axisymmetric`
does the same. Under MPI every rank measures its owned cells and the results
are reduced (max, min, sum).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from ..post.isotherms import Extent, _clip_triangles

__all__ = ["clip_tetrahedra", "extent_3d", "extent_rz", "PointProbe"]

#: The section plane is y = SLICE_OFFSET_M instead of y = 0, so that mesh
#: vertices lying exactly in the symmetry plane (common: the probe axis, OCC
#: seams) never make a face count twice. The area error is O(offset) ~ 1e-12 m^2.
SLICE_OFFSET_M = 1e-10


@numba.njit(cache=True)
def _tet_volume(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> float:
    u0, u1, u2 = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    v0, v1, v2 = c[0] - a[0], c[1] - a[1], c[2] - a[2]
    w0, w1, w2 = d[0] - a[0], d[1] - a[1], d[2] - a[2]
    return abs(u0 * (v1 * w2 - v2 * w1) - u1 * (v0 * w2 - v2 * w0) + u2 * (v0 * w1 - v1 * w0)) / 6.0


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
    pts = np.empty((6, 3))
    neg = np.empty(4, np.int64)
    pos = np.empty(4, np.int64)
    poly = np.empty((4, 3))  # slice polygon: x, z, T
    polyT = np.empty(4)
    clip = np.empty((8, 2))
    for e in range(tets.shape[0]):
        u = np.empty(4)
        nn = 0
        npos = 0
        for k in range(4):
            u[k] = T[tets[e, k]] - iso
            for j in range(3):
                P[k, j] = x[tets[e, k], j]
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
            ia = neg[a]
            pts[m] = P[ia]
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
        # --- section with the plane y = y_plane --------------------------------
        nlo = 0
        for k in range(4):
            if P[k, 1] < y_plane:
                nlo += 1
        if nlo == 0 or nlo == 4:
            continue
        lo = np.empty(4, np.int64)
        hi = np.empty(4, np.int64)
        a_ = 0
        b_ = 0
        for k in range(4):
            if P[k, 1] < y_plane:
                lo[a_] = k
                a_ += 1
            else:
                hi[b_] = k
                b_ += 1
        npoly = 0
        if nlo == 1 or nlo == 3:
            single = lo[0] if nlo == 1 else hi[0]
            for k in range(4):
                if k == single:
                    continue
                t = (y_plane - P[single, 1]) / (P[k, 1] - P[single, 1])
                poly[npoly, 0] = P[single, 0] + t * (P[k, 0] - P[single, 0])
                poly[npoly, 1] = P[single, 2] + t * (P[k, 2] - P[single, 2])
                polyT[npoly] = u[single] + t * (u[k] - u[single])
                npoly += 1
        else:  # 2-2: crossings on p-r, p-s, q-s, q-r form a convex quadrilateral in order
            pr = ((lo[0], hi[0]), (lo[0], hi[1]), (lo[1], hi[1]), (lo[1], hi[0]))
            for (i, j) in pr:
                t = (y_plane - P[i, 1]) / (P[j, 1] - P[i, 1])
                poly[npoly, 0] = P[i, 0] + t * (P[j, 0] - P[i, 0])
                poly[npoly, 1] = P[i, 2] + t * (P[j, 2] - P[i, 2])
                polyT[npoly] = u[i] + t * (u[j] - u[i])
                npoly += 1
        # clip the polygon at T <= iso (Sutherland-Hodgman, one plane)
        nc = 0
        for k in range(npoly):
            k1 = (k + 1) % npoly
            ti, tj = polyT[k], polyT[k1]
            if ti <= 0.0:
                clip[nc, 0] = poly[k, 0]
                clip[nc, 1] = poly[k, 1]
                nc += 1
            if (ti <= 0.0) != (tj <= 0.0):
                s = ti / (ti - tj)
                clip[nc, 0] = poly[k, 0] + s * (poly[k1, 0] - poly[k, 0])
                clip[nc, 1] = poly[k, 1] + s * (poly[k1, 1] - poly[k, 1])
                nc += 1
        if nc < 3:
            continue
        a2 = 0.0
        for k in range(nc):
            k1 = (k + 1) % nc
            a2 += clip[k, 0] * clip[k1, 1] - clip[k1, 0] * clip[k, 1]
        area += abs(0.5 * a2)
    return vol, area, rmax, zmin, zmax, found


def _reduce(comm: Any, vol: float, area: float, rmax: float, zmin: float, zmax: float, found: bool) -> tuple:
    from mpi4py import MPI

    if comm is None or comm.size == 1:
        return vol, area, rmax, zmin, zmax, found
    vol, area = comm.allreduce(vol, MPI.SUM), comm.allreduce(area, MPI.SUM)
    rmax, zmax = comm.allreduce(rmax, MPI.MAX), comm.allreduce(zmax, MPI.MAX)
    zmin = comm.allreduce(zmin, MPI.MIN)
    found = comm.allreduce(bool(found), MPI.LOR)
    return vol, area, rmax, zmin, zmax, found


def extent_3d(x_m: np.ndarray, tets: np.ndarray, T_C: np.ndarray, iso_C: float, comm: Any = None) -> Extent:
    """Extent of ``T <= iso_C`` for a P1 field on tetrahedra (``tets``: owned cells only under MPI)."""
    vol, area, rmax, zmin, zmax, found = clip_tetrahedra(
        np.ascontiguousarray(x_m, float), np.ascontiguousarray(tets, np.int64),
        np.ascontiguousarray(T_C, float), float(iso_C), SLICE_OFFSET_M)
    vol, area, rmax, zmin, zmax, found = _reduce(comm, vol, area, rmax, zmin, zmax, found)
    if not found or vol == 0.0:
        return Extent.empty()
    return Extent(radius_m=rmax, length_m=zmax - zmin, area_m2=area, volume_m3=vol)


def extent_rz(rz_m: np.ndarray, triangles: np.ndarray, T_C: np.ndarray, iso_C: float, comm: Any = None) -> Extent:
    """Extent of ``T <= iso_C`` on (r, z) triangles, revolved about r = 0.

    Serial: :func:`cryosim.post.isotherms.extent_axisymmetric`; under MPI the same
    triangle clipping per rank, reduced.
    """
    from ..post.isotherms import extent_axisymmetric

    if comm is None or comm.size == 1:
        return extent_axisymmetric(rz_m[:, 0], rz_m[:, 1], triangles, T_C, iso_C)
    a, mom, rmax, zmin, zmax = _clip_triangles(
        np.ascontiguousarray(rz_m[:, 0], float), np.ascontiguousarray(rz_m[:, 1], float),
        np.ascontiguousarray(triangles, np.int64), np.ascontiguousarray(T_C, float), float(iso_C))
    found = a > 0.0
    mom, a, rmax, zmin, zmax, found = _reduce(comm, mom, a, rmax, zmin, zmax, found)
    if not found or a == 0.0:
        return Extent.empty()
    return Extent(radius_m=rmax, length_m=zmax - zmin, area_m2=2.0 * a, volume_m3=2.0 * math.pi * mom)


class PointProbe:
    """Virtual thermocouples: P1 interpolation of the field at fixed points.

    Each point is located once (DOLFINx bounding-box tree); its value is then
    a fixed barycentric combination of nodal values, summed over the ranks
    (each point is evaluated by exactly one rank, the lowest that owns a
    cell containing it). A point outside the medium (inside a probe, a
    vessel or beyond the far boundary) reads NaN.
    """

    def __init__(self, V: Any, points_m: np.ndarray) -> None:
        import dolfinx.geometry as dg
        from mpi4py import MPI

        msh = V.mesh
        self.comm = msh.comm
        gdim = msh.geometry.dim
        pts = np.zeros((len(points_m), 3))
        pts[:, :gdim] = np.asarray(points_m, float).reshape(len(points_m), gdim)
        n = len(pts)
        self.dofs = np.zeros((n, gdim + 1), np.int32)
        self.w = np.zeros((n, gdim + 1))
        tdim = msh.topology.dim
        n_owned = msh.topology.index_map(tdim).size_local
        mine = np.zeros(n, bool)
        if n:
            tree = dg.bb_tree(msh, tdim)
            cand = dg.compute_collisions_points(tree, pts)
            hits = dg.compute_colliding_cells(msh, cand, pts)
            dofmap = V.dofmap.list
            X = V.tabulate_dof_coordinates()
            for i in range(n):
                cells = [c for c in hits.links(i) if c < n_owned]
                if not cells:
                    continue
                c = cells[0]
                d = dofmap[c]
                A = np.vstack([X[d, :gdim].T, np.ones(gdim + 1)])
                b = np.append(pts[i, :gdim], 1.0)
                self.w[i] = np.linalg.solve(A, b)
                self.dofs[i] = d
                mine[i] = True
        # one rank per point: the lowest holding it
        owner = np.where(mine, self.comm.rank, self.comm.size).astype(np.int32)
        owner_all = np.empty_like(owner)
        self.comm.Allreduce(owner, owner_all, op=MPI.MIN)
        self.mine = owner_all == self.comm.rank
        self.missing = owner_all == self.comm.size

    def read(self, T_local: np.ndarray) -> np.ndarray:
        from mpi4py import MPI

        vals = np.where(self.mine, np.sum(self.w * T_local[self.dofs], axis=1), 0.0)
        out = np.empty_like(vals)
        self.comm.Allreduce(vals, out, op=MPI.SUM)
        out[self.missing] = np.nan
        return out
