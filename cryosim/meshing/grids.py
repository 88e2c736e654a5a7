"""Finite-volume grids for the fast solver: 1D radial and 2D axisymmetric.

Geometry only: cell volumes, face conductance weights (see :class:`FVGrid`), the
boundary faces sorted into groups (active tip, insulated shaft, far field),
and the points and triangles on which the cell-centred field is read as a
piecewise-linear function (for isotherm measures and thermocouples).

Grids are graded: cells of size ``h0`` at the probe surface grow
geometrically by ``growth`` up to ``h_max``. In the axisymmetric grid the
probe occupies ``r < r_p, z > 0``; cells are refined towards the tip's end
(``z = 0``) and towards the end of the active length (``z = L``), where the
field is singular (re-entrant probe corner; change from cooled to insulated
wall).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_choice, check_positive, check_range
from ..physics.boundary import Surface

__all__ = ["ACTIVE", "SHAFT", "FAR", "FVGrid", "graded_sizes", "radial_grid", "axisymmetric_grid", "GEOMETRIES_1D"]

#: Boundary-face groups: the :class:`~cryosim.physics.boundary.Surface` numbering.
ACTIVE, SHAFT, FAR = int(Surface.ACTIVE), int(Surface.SHAFT), int(Surface.FAR)
GEOMETRIES_1D = ("planar", "cylindrical", "spherical")


@dataclass
class FVGrid:
    r"""Cells, faces and boundary faces of a finite-volume grid (SI units).

    Interior face ``e`` between cells ``i = face_cells[e, 0]`` and
    ``j = face_cells[e, 1]`` conducts

    .. math:: G_e = \frac{w_e}{\theta_e / k_i + (1 - \theta_e) / k_j}  \quad (W/K),

    with ``w_e = face_weight_m[e]`` (m) and ``theta_e = face_split[e]``: the
    conductivity-weighted harmonic mean, exact for a material interface on
    the face. A cell-centred face of area ``A`` at distances ``d_i, d_j``
    from the two centres has ``w = A / (d_i + d_j)`` and
    ``theta = d_i / (d_i + d_j)``; a CVFEM edge has the P1 stiffness weight
    ``w_ij`` and ``theta = 1/2``.

    Boundary entry ``b`` puts a piece of wall of area ``bface_area_m2[b]``
    on cell ``bface_cell[b]``, at distance ``bface_dist_m[b]`` from the
    cell's centre: positive for a cell-centred grid (the wall is a cell
    face), zero for a vertex-centred grid (the wall passes through the
    node, whose temperature is the wall temperature).
    """

    geometry: str
    volume_m3: np.ndarray
    material: np.ndarray
    centers_m: np.ndarray  # (n, 2): (r, z); z = 0 for 1D
    face_cells: np.ndarray  # (nf, 2), i < j
    face_weight_m: np.ndarray  # (nf,) conductance per unit conductivity for equal k on both sides
    face_split: np.ndarray  # (nf,) fraction of the centre-to-centre path on the side of face_cells[:, 0]
    bface_cell: np.ndarray
    bface_area_m2: np.ndarray
    bface_dist_m: np.ndarray  # cell centre to wall; 0 for a node on the wall
    bface_group: np.ndarray
    bface_xy_m: np.ndarray  # (nb, 2) wall point (face centre, or the node)
    points_m: np.ndarray | None = None  # (np, 2) plotting/measure nodes
    point_source: np.ndarray | None = None  # index into concat(T_cells, T_bfaces)
    triangles: np.ndarray | None = None
    kind: str = "structured"  # "structured" (cell-centred) or "cvfem" (vertex-centred)

    @property
    def n_cells(self) -> int:
        return int(self.volume_m3.size)

    def group_area_m2(self, group: int) -> float:
        return float(self.bface_area_m2[self.bface_group == group].sum())


def graded_sizes(length_m: float, h0_m: float, growth: float, h_max_m: float,
                 fine_length_m: float = 0.0, h_fine_m: float | None = None,
                 growth_far: float | None = None) -> np.ndarray:
    """Cell sizes from ``h0`` growing by ``growth``, summing to ``length``.

    Sizes are capped at ``h_fine`` over the first ``fine_length`` (the zone
    the ice front crosses), then grow on to ``h_max`` by ``growth_far``
    (default ``growth``).
    """
    check_positive("grid.length_m", length_m, unit="m")
    check_positive("grid.h0_m", h0_m, unit="m")
    check_range("grid.growth", growth, 1.0, 2.0)
    cap_fine = h_max_m if h_fine_m is None else min(h_fine_m, h_max_m)
    sizes: list[float] = []
    h, total = min(h0_m, length_m), 0.0
    g_far = growth if growth_far is None else growth_far
    while total < length_m * (1 - 1e-12):
        sizes.append(h)
        total += h
        inside = total < fine_length_m
        h = min(h * (growth if inside else g_far), cap_fine if inside else h_max_m)
    s = np.asarray(sizes)
    return s * (length_m / s.sum())


def _faces_from(x0: float, sizes: np.ndarray) -> np.ndarray:
    return x0 + np.concatenate([[0.0], np.cumsum(sizes)])


def _two_sided(length_m: float, h0_m: float, growth: float, h_max_m: float) -> np.ndarray:
    half = graded_sizes(0.5 * length_m, h0_m, growth, h_max_m, 0.5 * length_m, h_max_m)
    return np.concatenate([half, half[::-1]])


def radial_grid(
    geometry: str, inner_m: float, outer_m: float, h0_m: float, growth: float = 1.05,
    h_max_m: float | None = None, far_boundary: bool = True,
) -> FVGrid:
    """1D grid from ``inner_m`` (probe surface, ACTIVE) to ``outer_m`` (FAR).

    Volumes and areas are per unit area (planar), per unit length
    (cylindrical) or absolute (spherical). With ``far_boundary=False`` the
    outer end is adiabatic.
    """
    check_choice("geometry", geometry, GEOMETRIES_1D)
    check_range("grid.outer_m", outer_m, inner_m, None, low_open=True)
    x = _faces_from(inner_m, graded_sizes(outer_m - inner_m, h0_m, growth, h_max_m or (outer_m - inner_m)))
    xc = 0.5 * (x[:-1] + x[1:])
    if geometry == "planar":
        area, vol = np.ones_like(x), np.diff(x)
    elif geometry == "cylindrical":
        area, vol = 2 * math.pi * x, math.pi * np.diff(x**2)
    else:
        area, vol = 4 * math.pi * x**2, 4.0 / 3.0 * math.pi * np.diff(x**3)
    n = xc.size
    fc = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    fd = np.stack([x[1:-1] - xc[:-1], xc[1:] - x[1:-1]], axis=1)
    bcell = [0] + ([n - 1] if far_boundary else [])
    barea = [area[0]] + ([area[-1]] if far_boundary else [])
    bdist = [xc[0] - x[0]] + ([x[-1] - xc[-1]] if far_boundary else [])
    bgroup = [ACTIVE] + ([FAR] if far_boundary else [])
    bxy = [[x[0], 0.0]] + ([[x[-1], 0.0]] if far_boundary else [])
    return FVGrid(
        geometry=geometry, volume_m3=vol, material=np.zeros(n, dtype=np.int64),
        centers_m=np.stack([xc, np.zeros(n)], axis=1), face_cells=fc.astype(np.int64),
        face_weight_m=area[1:-1] / fd.sum(axis=1), face_split=fd[:, 0] / fd.sum(axis=1), bface_cell=np.asarray(bcell, np.int64),
        bface_area_m2=np.asarray(barea, float), bface_dist_m=np.asarray(bdist, float),
        bface_group=np.asarray(bgroup, np.int64), bface_xy_m=np.asarray(bxy, float),
    )


def axisymmetric_grid(
    probe_radius_m: float, active_length_m: float, domain_radius_m: float,
    h0_m: float, growth: float, h_max_m: float, axial_below_m: float | None = None,
    axial_above_m: float | None = None, front_m: float = 0.0, h_front_m: float | None = None,
    growth_far: float | None = None,
) -> FVGrid:
    """2D (r, z) grid around a probe with a flat distal end at z = 0.

    The medium spans ``0 <= r <= domain_radius_m`` and
    ``-axial_below_m <= z <= active_length_m + axial_above_m`` (both default
    to ``domain_radius_m``); the probe occupies ``r < r_p, z > 0``. Cells
    stay at most ``h_front_m`` within ``front_m`` of the probe surface,
    where the ice front passes.
    """
    rp, La = probe_radius_m, active_length_m
    below = domain_radius_m if axial_below_m is None else axial_below_m
    above = domain_radius_m if axial_above_m is None else axial_above_m
    # r faces: inside the probe radius graded from r_p inwards, then outwards.
    r_in = graded_sizes(rp, h0_m, growth, max(rp / 2, h0_m))[::-1]
    hf = h_front_m
    r_out = graded_sizes(domain_radius_m - rp, h0_m, growth, h_max_m, front_m, hf, growth_far)
    rf = _faces_from(0.0, np.concatenate([r_in, r_out]))
    rf[r_in.size] = rp
    z_below = graded_sizes(below, h0_m, growth, h_max_m, front_m, hf, growth_far)[::-1]
    z_tip = _two_sided(La, h0_m, growth, hf or h_max_m)
    z_above = graded_sizes(above, h0_m, growth, h_max_m, front_m, hf, growth_far)
    zf = _faces_from(-below, np.concatenate([z_below, z_tip, z_above]))
    i0, iL = z_below.size, z_below.size + z_tip.size
    zf[i0], zf[iL] = 0.0, La
    rc, zc = 0.5 * (rf[:-1] + rf[1:]), 0.5 * (zf[:-1] + zf[1:])
    nr, nz = rc.size, zc.size
    probe = (rc[None, :] < rp) & (zc[:, None] > 0.0)
    index = -np.ones((nz, nr), dtype=np.int64)
    index[~probe] = np.arange(int((~probe).sum()))
    ring = math.pi * np.diff(rf**2)  # annulus areas
    dz = np.diff(zf)
    jj, ii = np.nonzero(~probe)  # z index, r index (row-major order = cell order)
    volume = ring[ii] * dz[jj]
    centers = np.stack([rc[ii], zc[jj]], axis=1)

    fcells, farea, fdist = [], [], []
    bcell, barea, bdist, bgroup, bxy = [], [], [], [], []
    # radial faces between (j, i) and (j, i+1)
    for j in range(nz):
        for i in range(nr - 1):
            a, b = index[j, i], index[j, i + 1]
            A = 2 * math.pi * rf[i + 1] * dz[j]
            if a >= 0 and b >= 0:
                fcells.append((a, b)); farea.append(A); fdist.append((rf[i + 1] - rc[i], rc[i + 1] - rf[i + 1]))
            elif b >= 0:  # a is probe: wall at r = r_p
                bcell.append(b); barea.append(A); bdist.append(rc[i + 1] - rf[i + 1])
                bgroup.append(ACTIVE if zc[j] < La else SHAFT); bxy.append((rf[i + 1], zc[j]))
        b = index[j, nr - 1]
        if b >= 0:
            bcell.append(b); barea.append(2 * math.pi * rf[-1] * dz[j]); bdist.append(rf[-1] - rc[-1])
            bgroup.append(FAR); bxy.append((rf[-1], zc[j]))
    # axial faces between (j, i) and (j+1, i)
    for i in range(nr):
        for j in range(nz - 1):
            a, b = index[j, i], index[j + 1, i]
            if a >= 0 and b >= 0:
                fcells.append((a, b)); farea.append(ring[i]); fdist.append((zf[j + 1] - zc[j], zc[j + 1] - zf[j + 1]))
            elif a >= 0:  # b is probe: flat distal end at z = 0
                bcell.append(a); barea.append(ring[i]); bdist.append(zf[j + 1] - zc[j])
                bgroup.append(ACTIVE); bxy.append((rc[i], zf[j + 1]))
        for j, face, c in ((0, zf[0], zc[0]), (nz - 1, zf[-1], zc[-1])):
            a = index[j, i]
            if a >= 0:
                bcell.append(a); barea.append(ring[i]); bdist.append(abs(c - face))
                bgroup.append(FAR); bxy.append((rc[i], face))
    fc = np.asarray(fcells, np.int64)
    order = np.lexsort((fc[:, 1], fc[:, 0]))
    farea_m2, fdist_m = np.asarray(farea)[order], np.asarray(fdist)[order]
    grid = FVGrid(
        geometry="axisymmetric", volume_m3=volume, material=np.zeros(volume.size, np.int64),
        centers_m=centers, face_cells=fc[order], face_weight_m=farea_m2 / fdist_m.sum(axis=1),
        face_split=fdist_m[:, 0] / fdist_m.sum(axis=1), bface_cell=np.asarray(bcell, np.int64),
        bface_area_m2=np.asarray(barea), bface_dist_m=np.asarray(bdist),
        bface_group=np.asarray(bgroup, np.int64), bface_xy_m=np.asarray(bxy),
    )
    _add_triangulation(grid, rp, La, rf, zf, index, rc, zc)
    return grid


def _add_triangulation(grid: FVGrid, rp: float, La: float, rf: np.ndarray, zf: np.ndarray,
                       index: np.ndarray, rc: np.ndarray, zc: np.ndarray) -> None:
    """Nodes (cell centres, boundary-face centres, axis and corner points) and
    a Delaunay triangulation with the triangles inside the probe removed."""
    from scipy.spatial import Delaunay

    n = grid.n_cells
    pts = [grid.centers_m, grid.bface_xy_m]
    src = [np.arange(n), n + np.arange(grid.bface_cell.size)]
    # axis points (r = 0) carry the value of the first cell of their row
    axis_rows = [j for j in range(zc.size) if index[j, 0] >= 0]
    pts.append(np.array([[0.0, zc[j]] for j in axis_rows]))
    src.append(np.array([index[j, 0] for j in axis_rows]))
    # corners take the nearest boundary face value
    bxy = grid.bface_xy_m
    corners = np.array([[rp, 0.0], [rp, La], [0.0, 0.0], [0.0, zf[0]], [rf[-1], zf[0]], [rf[-1], zf[-1]], [rp, zf[-1]]])
    for c in corners:
        cand = np.arange(bxy.shape[0])
        if c[1] == 0.0 or c[1] == La:  # probe corners: take an ACTIVE face
            cand = np.nonzero(grid.bface_group == ACTIVE)[0]
        k = cand[np.argmin(np.hypot(bxy[cand, 0] - c[0], bxy[cand, 1] - c[1]))]
        pts.append(c[None, :])
        src.append(np.array([n + k]))
    points = np.concatenate(pts)
    source = np.concatenate(src).astype(np.int64)
    # scale to unit aspect for a well-shaped Delaunay, triangulate, drop probe triangles
    tri = Delaunay(points / np.ptp(points, axis=0), qhull_options="QJ").simplices
    P = points[tri]
    cen = P.mean(axis=1)
    inside_probe = (cen[:, 0] < rp) & (cen[:, 1] > 0.0)
    # drop the slivers Delaunay forms on collinear boundary points
    e1, e2 = P[:, 1] - P[:, 0], P[:, 2] - P[:, 0]
    area2 = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    longest2 = np.max(np.sum((P - np.roll(P, 1, axis=1)) ** 2, axis=2), axis=1)
    degenerate = area2 < 1e-6 * longest2
    grid.points_m = points
    grid.point_source = source
    grid.triangles = tri[~inside_probe & ~degenerate].astype(np.int64)
