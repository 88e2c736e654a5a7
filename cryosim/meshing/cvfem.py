"""Vertex-centred finite volumes (CVFEM) on an unstructured triangle mesh.

The control-volume finite-element method: P1 finite elements with a lumped
mass matrix, written as a finite-volume graph so that the kernel of
:mod:`cryosim.fast.kernel` runs on it unchanged.

* The (r, z) half-plane domain ``[0, R] x [-R, L + R]`` minus the probe slot
  (``r < r_p, z > 0``) is meshed with gmsh triangles, refined by
  Distance + Threshold size fields around the active tip (finest at its two
  singular corners ``(r_p, 0)`` and ``(r_p, L)``) and across the zone the ice
  front crosses, coarse far away.
* Unknowns ("cells") are the mesh nodes not on a Dirichlet boundary (the
  active tip and the far boundary). Nodes on the insulated shaft and on the
  axis are ordinary unknowns (natural zero flux).
* Each mesh edge ``i-j`` between unknowns is a face of area ``w_ij`` and
  centre distances ``(1/2, 1/2)``, so the kernel's conductance is the
  harmonic mean of ``k_i, k_j`` times ``w_ij``, with the axisymmetric P1
  stiffness weight ``w_ij = -sum_T 2 pi rbar_T a_T grad phi_i . grad phi_j``.
* Each edge from an unknown ``i`` to a Dirichlet node ``b`` is a boundary
  face (group ACTIVE or FAR) of area ``w_ib`` and distance 1, so that the
  kernel's conductance ``A k_i / d`` is ``w_ib k_i``.
* Shaft nodes carry SHAFT boundary faces with their lumped wall area
  ``2 pi int r phi_i ds`` and a negligible distance: adiabatic by default,
  a lumped Robin condition when the shaft is convective.
* Volumes are lumped: ``V_i = sum_T 2 pi a_T (2 r_i + r_j + r_k) / 12``.
* Unknowns are numbered by reverse Cuthill-McKee (small band for the band LU
  preconditioner of the kernel).

The active tip must carry a prescribed temperature (the Dirichlet nodes are
eliminated): use the structured grid of :mod:`cryosim.meshing.grids` for convective,
power or adiabatic tip conditions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .grids import ACTIVE, FAR, SHAFT, FVGrid

__all__ = ["unstructured_axisymmetric_grid", "mesh_axisymmetric", "p1_weights", "SHAFT_FACE_DIST_M"]

#: Centre-to-wall distance given to the SHAFT faces (m): negligible next to
#: k/h, so a convective shaft acts as a lumped Robin condition ``h A (T_s - T_i)``.
SHAFT_FACE_DIST_M = 1e-12
#: Largest ratio of neighbouring mesh sizes per element (size-field slope).
SIZE_SLOPE = 0.3

_INTERIOR, _C_ACTIVE, _C_SHAFT, _C_FAR, _C_AXIS = -1, 0, 1, 2, 3


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
                      algorithm: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gmsh triangle mesh of the medium around the probe.

    Returns node coordinates ``(n, 2)`` (r, z in m), triangles ``(nt, 3)``
    and a per-node boundary code: -1 interior, 0 active tip, 1 shaft, 2 far
    boundary, 3 axis (Dirichlet codes 0 and 2 win over 1 and 3 at corners).
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
        xy = [(0.0, -R), (R, -R), (R, La + R), (rp, La + R), (rp, La), (rp, 0.0), (0.0, 0.0)]
        p = [geo.addPoint(x, y, 0.0) for x, y in xy]
        kinds = [_C_FAR, _C_FAR, _C_FAR, _C_SHAFT, _C_ACTIVE, _C_ACTIVE, _C_AXIS]
        lines = [geo.addLine(p[i], p[(i + 1) % len(p)]) for i in range(len(p))]
        loop = geo.addCurveLoop(lines)
        geo.addPlaneSurface([loop])
        geo.synchronize()
        active_curves = [lines[i] for i, k in enumerate(kinds) if k == _C_ACTIVE]
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
        code = np.full(tags.size, _INTERIOR, np.int64)
        # weaker codes first, Dirichlet ones last so they win at corners
        for want in (_C_AXIS, _C_SHAFT, _C_FAR, _C_ACTIVE):
            for c, k in zip(lines, kinds):
                if k == want:
                    nt, _, _ = gmsh.model.mesh.getNodes(1, c, includeBoundary=True)
                    code[pos[nt.astype(np.int64)]] = want
        gmsh.model.remove()
    finally:
        if own:
            gmsh.finalize()
    # counter-clockwise triangles
    P = nodes[tri]
    det = (P[:, 1, 0] - P[:, 0, 0]) * (P[:, 2, 1] - P[:, 0, 1]) - (P[:, 2, 0] - P[:, 0, 0]) * (P[:, 1, 1] - P[:, 0, 1])
    tri[det < 0] = tri[det < 0][:, [0, 2, 1]]
    return nodes, tri, code


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


def unstructured_axisymmetric_grid(probe_radius_m: float, active_length_m: float, domain_radius_m: float,
                                   h_tip_m: float, h_far_m: float, front_m: float, h_front_m: float,
                                   h_corner_m: float | None = None, slope: float = SIZE_SLOPE,
                                   algorithm: int = 6) -> FVGrid:
    """CVFEM grid (see the module docstring) as an :class:`~cryosim.meshing.grids.FVGrid`.

    Extra attributes set on the returned grid: ``negative_weights`` (number
    of edges with ``w_ij < 0``, non-Delaunay pairs of triangles) and
    ``all_volumes_m3`` (lumped volumes of every mesh node, Dirichlet ones
    included).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    nodes, tri, code = mesh_axisymmetric(probe_radius_m, active_length_m, domain_radius_m, h_tip_m, h_far_m,
                                         front_m, h_front_m, h_corner_m, slope, algorithm)
    edges, w, vol = p1_weights(nodes, tri)
    n_nodes = nodes.shape[0]
    dirichlet = (code == _C_ACTIVE) | (code == _C_FAR)
    unk = np.nonzero(~dirichlet)[0]
    n = unk.size
    # reverse Cuthill-McKee on the graph of unknowns
    first = -np.ones(n_nodes, np.int64)
    first[unk] = np.arange(n)
    both = ~dirichlet[edges[:, 0]] & ~dirichlet[edges[:, 1]]
    ie = first[edges[both]]
    A = coo_matrix((np.ones(ie.shape[0]), (ie[:, 0], ie[:, 1])), shape=(n, n)).tocsr()
    perm = np.asarray(reverse_cuthill_mckee((A + A.T).tocsr(), symmetric_mode=True), np.int64)
    new_of_node = -np.ones(n_nodes, np.int64)
    new_of_node[unk[perm]] = np.arange(n)
    unk = unk[perm]
    # interior faces
    fc = new_of_node[edges[both]]
    fc.sort(axis=1)
    fw = w[both]
    order = np.lexsort((fc[:, 1], fc[:, 0]))
    fc, fw = fc[order], fw[order]
    # boundary faces: edges from an unknown to a Dirichlet node
    mixed = dirichlet[edges[:, 0]] != dirichlet[edges[:, 1]]
    em = edges[mixed]
    b_node = np.where(dirichlet[em[:, 0]], em[:, 0], em[:, 1])
    i_node = np.where(dirichlet[em[:, 0]], em[:, 1], em[:, 0])
    bcell = new_of_node[i_node]
    barea = w[mixed]
    bgroup = np.where(code[b_node] == _C_ACTIVE, ACTIVE, FAR).astype(np.int64)
    bxy = nodes[b_node]
    bdist = np.ones(bcell.size)
    # shaft wall faces (lumped wall area; adiabatic unless the shaft is convective)
    shaft_nodes = np.nonzero(code == _C_SHAFT)[0]
    if shaft_nodes.size:
        on_wall = (code[edges] == _C_SHAFT) | (code[edges] == _C_ACTIVE) | (code[edges] == _C_FAR)
        wall = np.all(on_wall, axis=1) & np.all(np.abs(nodes[edges][:, :, 0] - probe_radius_m) < 1e-12, axis=1)
        wall &= np.any(code[edges] == _C_SHAFT, axis=1)
        area = np.zeros(n_nodes)
        we = edges[wall]
        seg = np.abs(nodes[we[:, 0], 1] - nodes[we[:, 1], 1])
        for k in range(2):
            np.add.at(area, we[:, k], math.pi * probe_radius_m * seg)
        sn = shaft_nodes
        bcell = np.concatenate([bcell, new_of_node[sn]])
        barea = np.concatenate([barea, area[sn]])
        bdist = np.concatenate([bdist, np.full(sn.size, SHAFT_FACE_DIST_M)])
        bgroup = np.concatenate([bgroup, np.full(sn.size, SHAFT, np.int64)])
        bxy = np.concatenate([bxy, nodes[sn]])
        b_node = np.concatenate([b_node, sn])
    # nodal values for measuring: unknowns by index, Dirichlet nodes through a boundary face
    source = -np.ones(n_nodes, np.int64)
    source[unk] = np.arange(n)
    n_dir_faces = int(mixed.sum())
    source[b_node[:n_dir_faces]] = n + np.arange(n_dir_faces)
    lonely = np.nonzero(source < 0)[0]
    for node in lonely:  # Dirichlet nodes with no unknown neighbour: nearest face of the same group
        g = ACTIVE if code[node] == _C_ACTIVE else FAR
        cand = np.nonzero(bgroup[:n_dir_faces] == g)[0]
        d = np.hypot(bxy[cand, 0] - nodes[node, 0], bxy[cand, 1] - nodes[node, 1])
        source[node] = n + cand[np.argmin(d)]
    grid = FVGrid(
        geometry="axisymmetric", volume_m3=vol[unk], material=np.zeros(n, np.int64), centers_m=nodes[unk].copy(),
        face_cells=fc.astype(np.int64), face_area_m2=fw, face_dist_m=np.full((fc.shape[0], 2), 0.5),
        bface_cell=bcell.astype(np.int64), bface_area_m2=barea, bface_dist_m=bdist,
        bface_group=bgroup, bface_xy_m=bxy, points_m=nodes, point_source=source, triangles=tri.astype(np.int64),
    )
    grid.negative_weights = int(np.sum(w < 0.0))  # type: ignore[attr-defined]
    grid.all_volumes_m3 = vol  # type: ignore[attr-defined]
    return grid
