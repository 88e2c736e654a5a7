r"""Vertex-centred finite volumes (CVFEM) on an unstructured triangle mesh.

The control-volume finite-element method: P1 finite elements with a lumped
mass matrix, written as a finite-volume graph (:class:`~cryosim.meshing.grids.FVGrid`)
so that the kernel of :mod:`cryosim.fast.kernel` runs on it unchanged.

* The (r, z) half-plane domain ``[0, R] x [-below, L + above]`` (both default to R) minus the probe slot
  (``r < r_p, z > 0``) is meshed with gmsh triangles, refined by
  Distance + Threshold size fields around the active tip (finest at its two
  singular corners ``(r_p, 0)`` and ``(r_p, L)``) and across the zone the ice
  front crosses, coarse far away.
* Every mesh node is an unknown ("cell"), wall nodes included: whatever the
  condition on a wall (prescribed temperature, convective, flux, adiabatic),
  the kernel applies it at the wall nodes (a prescribed temperature as a
  node constraint whose heat is the reaction). The axis is natural (zero flux).
* Each mesh edge ``i-j`` is a face of conductance weight ``w_ij`` (m) and
  split 1/2, so the kernel's conductance is ``w_ij`` times the harmonic mean
  of ``k_i, k_j``, with the axisymmetric P1 stiffness weight

  .. math:: w_{ij} = -\sum_T 2\pi \bar r_T\, a_T\, \nabla\phi_i \cdot \nabla\phi_j .

* Each wall node carries, per surface it lies on (ACTIVE, SHAFT, FAR), a
  boundary entry of area :math:`A_i = 2\pi \int_{wall} r \phi_i\, ds`
  (exact for P1: a segment of length ``l`` adds ``2 pi l (2 r_i + r_j) / 6``
  to node ``i``) at distance 0: the wall passes through the node. The areas
  of a surface sum to its exact area.
* Volumes are lumped: ``V_i = sum_T 2 pi a_T (2 r_i + r_j + r_k) / 12``.
* Unknowns are numbered by reverse Cuthill-McKee (memory locality).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .grids import ACTIVE, FAR, SHAFT, FVGrid

__all__ = ["unstructured_axisymmetric_grid", "mesh_axisymmetric", "delaunay_flips", "p1_weights", "wall_areas"]

#: Largest ratio of neighbouring mesh sizes per element (size-field slope).
SIZE_SLOPE = 0.3

#: Curve kinds of the outline; the axis (natural, zero flux) carries no wall entries.
_C_AXIS = 0


def threshold_field(fld: Any, in_field: int, size_min: float, size_max: float, dist_min: float, dist_max: float) -> int:
    """A gmsh Threshold field: ``size_min`` within ``dist_min`` of ``in_field``, ``size_max`` beyond ``dist_max``."""
    t = fld.add("Threshold")
    fld.setNumber(t, "InField", in_field)
    fld.setNumber(t, "SizeMin", size_min)
    fld.setNumber(t, "SizeMax", size_max)
    fld.setNumber(t, "DistMin", dist_min)
    fld.setNumber(t, "DistMax", dist_max)
    return t


def mesh_axisymmetric(probe_radius_m: float, active_length_m: float, domain_radius_m: float,
                      h_tip_m: float, h_far_m: float, front_m: float, h_front_m: float,
                      h_corner_m: float | None = None, slope: float = SIZE_SLOPE,
                      algorithm: int = 6, axial_below_m: float | None = None, axial_above_m: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """gmsh triangle mesh of the medium around the probe.

    Returns node coordinates ``(n, 2)`` (r, z in m), triangles ``(nt, 3)``,
    the wall segments ``(ns, 2)`` (node pairs on the outline, axis excluded)
    and the :class:`~cryosim.physics.boundary.Surface` value of each
    (ACTIVE, SHAFT or FAR).
    """
    import gmsh

    rp, La, R = probe_radius_m, active_length_m, domain_radius_m
    hc = h_tip_m if h_corner_m is None else h_corner_m
    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add("cryosim_cvfem")
        geo = gmsh.model.geo
        below = R if axial_below_m is None else axial_below_m
        above = R if axial_above_m is None else axial_above_m
        xy = [(0.0, -below), (R, -below), (R, La + above), (rp, La + above), (rp, La), (rp, 0.0), (0.0, 0.0)]
        p = [geo.addPoint(x, y, 0.0) for x, y in xy]
        kinds = [FAR, FAR, FAR, SHAFT, ACTIVE, ACTIVE, _C_AXIS]
        lines = [geo.addLine(p[i], p[(i + 1) % len(p)]) for i in range(len(p))]
        loop = geo.addCurveLoop(lines)
        geo.addPlaneSurface([loop])
        geo.synchronize()
        active_curves = [lines[i] for i, k in enumerate(kinds) if k == ACTIVE]
        fld = gmsh.model.mesh.field
        # distance to the active surface: fine near it, h_front across the front zone
        d_act = fld.add("Distance")
        fld.setNumbers(d_act, "CurvesList", active_curves)
        fld.setNumber(d_act, "Sampling", 200)
        t_tip = threshold_field(fld, d_act, h_tip_m, h_far_m, 0.0, (h_far_m - h_tip_m) / slope)
        t_front = threshold_field(fld, d_act, h_front_m, h_far_m, front_m, front_m + (h_far_m - h_front_m) / slope)
        # the two singular corners of the active tip
        d_cor = fld.add("Distance")
        fld.setNumbers(d_cor, "PointsList", [p[4], p[5]])
        t_cor = threshold_field(fld, d_cor, hc, h_far_m, 0.0, (h_far_m - hc) / slope)
        fmin = fld.add("Min")
        fld.setNumbers(fmin, "FieldsList", [t_tip, t_front, t_cor])
        fld.setAsBackgroundMesh(fmin)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.Algorithm", algorithm)
        gmsh.model.mesh.generate(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        pos = np.full(int(tags.max()) + 1, -1, np.int64)
        pos[tags.astype(np.int64)] = np.arange(tags.size)
        nodes = coords.reshape(-1, 3)[:, :2].copy()
        _, etags = gmsh.model.mesh.getElementsByType(2)
        tri = pos[etags.astype(np.int64)].reshape(-1, 3)
        segs, seg_surface = [], []
        for c, k in zip(lines, kinds):
            if k == _C_AXIS:
                continue
            _, ltags = gmsh.model.mesh.getElementsByType(1, c)
            pairs = pos[ltags.astype(np.int64)].reshape(-1, 2)
            segs.append(pairs)
            seg_surface.append(np.full(pairs.shape[0], k, np.int64))
        walls, wall_surface = np.concatenate(segs), np.concatenate(seg_surface)
        gmsh.model.remove()
    finally:
        if own:
            gmsh.finalize()
    # counter-clockwise triangles
    P = nodes[tri]
    det = (P[:, 1, 0] - P[:, 0, 0]) * (P[:, 2, 1] - P[:, 0, 1]) - (P[:, 2, 0] - P[:, 0, 0]) * (P[:, 1, 1] - P[:, 0, 1])
    tri[det < 0] = tri[det < 0][:, [0, 2, 1]]
    return nodes, tri, walls, wall_surface


def p1_weights(nodes: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axisymmetric P1 edge weights and lumped volumes.

    Returns ``edges (ne, 2)`` (sorted pairs), ``w (ne,)`` with
    ``w_ij = -sum_T 2 pi rbar a grad phi_i . grad phi_j`` (m, so that
    ``k w_ij (T_j - T_i)`` is a heat rate) and the lumped nodal volumes
    ``V_i = sum_T 2 pi a (2 r_i + r_j + r_k) / 12`` (m^3).
    """
    P = nodes[tri]  # (nt, 3, 2)
    r = P[:, :, 0]
    # edge vectors opposite each vertex: e_k = P_{k+2} - P_{k+1}
    e = np.roll(P, -2, axis=1) - np.roll(P, -1, axis=1)
    area2 = e[:, 1, 0] * e[:, 2, 1] - e[:, 1, 1] * e[:, 2, 0]  # 2a
    a = 0.5 * np.abs(area2)
    # grad phi_k = rot90(e_k) / (2a); grad phi_i . grad phi_j = e_i . e_j / (4 a^2)
    rbar = r.mean(axis=1)
    rows, cols, vals = [], [], []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        dot = np.sum(e[:, i] * e[:, j], axis=1) / (4.0 * a * a)
        rows.append(tri[:, i]); cols.append(tri[:, j]); vals.append(-2.0 * math.pi * rbar * a * dot)
    I = np.concatenate(rows); J = np.concatenate(cols); W = np.concatenate(vals)
    lo, hi = np.minimum(I, J), np.maximum(I, J)
    n = nodes.shape[0]
    key = lo * n + hi
    uk, inv = np.unique(key, return_inverse=True)
    w = np.bincount(inv, weights=W)
    edges = np.stack([uk // n, uk % n], axis=1)
    vol = np.zeros(n)
    for k in range(3):
        np.add.at(vol, tri[:, k], 2.0 * math.pi * a * (2.0 * r[:, k] + r[:, (k + 1) % 3] + r[:, (k + 2) % 3]) / 12.0)
    return edges, w, vol


#: Passes of edge flips in :func:`delaunay_flips` (each flips every non-Delaunay edge whose triangles no other flip
#: of the pass touched; gmsh leaves a handful, so two passes usually suffice).
MAX_FLIP_PASSES = 20


def delaunay_flips(nodes: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, int]:
    """``tri`` made Delaunay by Lawson's edge flips (C. L. Lawson, "Software for C1 surface interpolation", 1977).

    An interior edge whose two opposite angles sum to more than pi is replaced by the other diagonal of its
    (then convex) quadrilateral; the outline and its wall segments are kept. gmsh's frontal-Delaunay mesher leaves
    a few non-Delaunay pairs after its optimisation; each gives a negative P1 edge weight (cot a + cot b < 0), a
    positive off-diagonal in the conduction matrix: the scheme loses its maximum principle there, and at
    resolution 4 one such edge (angles 86 and 103 degrees) made the first Newton step of the default scenario
    non-finite. Returns the triangles and the number of flips.
    """
    tri = np.array(tri, dtype=np.int64, copy=True)
    flips = 0
    for _ in range(MAX_FLIP_PASSES):
        e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
        opp = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])
        tid = np.tile(np.arange(tri.shape[0]), 3)
        e.sort(axis=1)
        order = np.lexsort((e[:, 1], e[:, 0]))
        e, opp, tid = e[order], opp[order], tid[order]
        k = np.nonzero(np.all(e[1:] == e[:-1], axis=1))[0]  # interior edges: rows k and k + 1

        def angle(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            u, v = nodes[a] - nodes[o], nodes[b] - nodes[o]
            return np.arctan2(np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]), np.sum(u * v, axis=1))

        excess = angle(opp[k], e[k, 0], e[k, 1]) + angle(opp[k + 1], e[k, 0], e[k, 1]) - math.pi
        bad = np.nonzero(excess > 1e-12)[0]
        if bad.size == 0:
            break
        touched = np.zeros(tri.shape[0], bool)
        done = 0
        for m in bad[np.argsort(-excess[bad])]:
            i = k[m]
            t1, t2 = tid[i], tid[i + 1]
            if touched[t1] or touched[t2]:
                continue
            a, b, o1, o2 = e[i, 0], e[i, 1], opp[i], opp[i + 1]
            # convex quadrilateral: the new diagonal o1-o2 separates a from b
            d = nodes[o2] - nodes[o1]
            side_a = d[0] * (nodes[a][1] - nodes[o1][1]) - d[1] * (nodes[a][0] - nodes[o1][0])
            side_b = d[0] * (nodes[b][1] - nodes[o1][1]) - d[1] * (nodes[b][0] - nodes[o1][0])
            if side_a * side_b >= 0.0:
                continue
            tri[t1] = (o1, o2, a)
            tri[t2] = (o2, o1, b)
            touched[t1] = touched[t2] = True
            done += 1
        flips += done
        if done == 0:
            break
    return tri, flips


def wall_areas(nodes: np.ndarray, walls: np.ndarray, wall_surface: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lumped wall areas ``A_i = 2 pi int r phi_i ds`` per (node, surface).

    A straight segment ``i-j`` of length ``l`` adds ``2 pi l (2 r_i + r_j) / 6``
    to node ``i`` (exact for the linear ``r`` and ``phi_i``). Returns the
    nodes, their surfaces and their areas (m^2), sorted by surface then node.
    """
    r = nodes[:, 0]
    a, b = walls[:, 0], walls[:, 1]
    length = np.hypot(*(nodes[a] - nodes[b]).T)
    node = np.concatenate([a, b])
    surf = np.concatenate([wall_surface, wall_surface])
    area = np.concatenate([2.0 * math.pi * length * (2.0 * r[a] + r[b]) / 6.0,
                           2.0 * math.pi * length * (r[a] + 2.0 * r[b]) / 6.0])
    n = nodes.shape[0]
    key, inv = np.unique(surf * n + node, return_inverse=True)
    return key % n, key // n, np.bincount(inv, weights=area)


def unstructured_axisymmetric_grid(probe_radius_m: float, active_length_m: float, domain_radius_m: float,
                                   h_tip_m: float, h_far_m: float, front_m: float, h_front_m: float,
                                   h_corner_m: float | None = None, slope: float = SIZE_SLOPE,
                                   algorithm: int = 6, axial_below_m: float | None = None,
                                   axial_above_m: float | None = None) -> FVGrid:
    """CVFEM grid (see the module docstring) as an :class:`~cryosim.meshing.grids.FVGrid`.

    Cells are the mesh nodes (``point_source`` maps each node to its cell);
    boundary entries are the wall nodes, one per surface they lie on, at
    distance 0. Extra attribute on the returned grid: ``negative_weights``
    (number of edges with ``w_ij < 0``: what the radius weighting leaves after :func:`delaunay_flips`) and
    ``delaunay_flips`` (edges flipped).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    nodes, tri, walls, wall_surface = mesh_axisymmetric(probe_radius_m, active_length_m, domain_radius_m, h_tip_m,
                                                        h_far_m, front_m, h_front_m, h_corner_m, slope, algorithm,
                                                        axial_below_m, axial_above_m)
    tri, flips = delaunay_flips(nodes, tri)
    edges, w, vol = p1_weights(nodes, tri)
    n = nodes.shape[0]
    A = coo_matrix((np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    perm = np.asarray(reverse_cuthill_mckee((A + A.T).tocsr(), symmetric_mode=True), np.int64)
    cell_of_node = np.empty(n, np.int64)
    cell_of_node[perm] = np.arange(n)
    fc = cell_of_node[edges]
    fc.sort(axis=1)
    order = np.lexsort((fc[:, 1], fc[:, 0]))
    b_node, b_surface, b_area = wall_areas(nodes, walls, wall_surface)
    grid = FVGrid(
        geometry="axisymmetric", volume_m3=vol[perm], material=np.zeros(n, np.int64), centers_m=nodes[perm].copy(),
        face_cells=fc[order].astype(np.int64), face_weight_m=w[order], face_split=np.full(fc.shape[0], 0.5),
        bface_cell=cell_of_node[b_node], bface_area_m2=b_area, bface_dist_m=np.zeros(b_node.size),
        bface_group=b_surface.astype(np.int64), bface_xy_m=nodes[b_node].copy(), points_m=nodes,
        point_source=cell_of_node, triangles=tri.astype(np.int64), kind="cvfem",
    )
    grid.negative_weights = int(np.sum(w < 0.0))  # type: ignore[attr-defined]
    grid.delaunay_flips = flips  # type: ignore[attr-defined]
    return grid
