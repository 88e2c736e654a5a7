"""Radius at a height and depth below the tip: exact values on hand-made P1 meshes."""

import math

import numpy as np
import pytest

from cryosim.post.isotherms import (
    MEASURES,
    SLICE_OFFSET_M,
    depth_below_tip_m,
    extent_3d,
    extent_axisymmetric,
    extent_of,
    extent_radial,
    radius_at_m,
)

#: The sections are taken SLICE_OFFSET_M off the nominal lines: values agree to that order.
TOL_M = 10 * SLICE_OFFSET_M


def _square_rz(T_nodes):
    """Unit square r in [0, 1], z in [-1, 0], two triangles with different gradients."""
    points = np.array([(0.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0)])
    cells = np.array([(0, 1, 2), (0, 2, 3)])
    return points, cells, np.asarray(T_nodes, float)


def test_radius_at_height_on_two_triangles():
    # triangle (0, 2, 3) at z = -0.5: T from -1 (r = 0, edge 0-3) to 2 (r = 0.5, edge 0-2): crossing at r = 1/6
    points, cells, T = _square_rz([1.0, 1.0, 3.0, -3.0])
    assert radius_at_m(points, cells, T, 0.0, -0.5) == pytest.approx(1.0 / 6.0, abs=TOL_M)
    # a colder isotherm: T <= -0.5 on the same line up to r = 0.5 * 0.5 / 3
    assert radius_at_m(points, cells, T, -0.5, -0.5) == pytest.approx(0.5 / 6.0, abs=TOL_M)
    # nothing at or below -5 °C
    assert radius_at_m(points, cells, T, -5.0, -0.5) == 0.0
    # everything below 10 °C: the whole line, out to r = 1
    assert radius_at_m(points, cells, T, 10.0, -0.5) == pytest.approx(1.0, abs=TOL_M)


def test_depth_below_tip_on_two_triangles():
    # axis r = 0: T from 1 (z = -1) to -3 (z = 0): 0 °C at z = -0.75
    points, cells, T = _square_rz([1.0, 1.0, 3.0, -3.0])
    assert depth_below_tip_m(points, cells, T, 0.0) == pytest.approx(0.75, abs=TOL_M)
    assert depth_below_tip_m(points, cells, T, -2.0) == pytest.approx(0.25, abs=TOL_M)
    assert depth_below_tip_m(points, cells, T, -5.0) == 0.0
    # cold only above z = 0 (shifted mesh): no depth below the tip
    assert depth_below_tip_m(points + [0.0, 2.0], cells, T, 0.0) == 0.0


def _grid_rz(n=8):
    r, z = np.meshgrid(np.linspace(0.0, 2.0, n + 1), np.linspace(-2.0, 2.0, 2 * n + 1), indexing="ij")
    points = np.column_stack([r.ravel(), z.ravel()])
    idx = np.arange(points.shape[0]).reshape(r.shape)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return points, np.vstack([np.column_stack([a, b, c]), np.column_stack([a, c, d])])


def test_linear_field_measures_in_rz():
    """T = r - z - 1: the region r <= 1 + z, exact for P1 whatever the mesh."""
    points, cells = _grid_rz()
    T = points[:, 0] - points[:, 1] - 1.0
    e = extent_axisymmetric(points[:, 0], points[:, 1], cells, T, 0.0, z_mid_m=0.5)
    assert e.radius_mid_tip_m == pytest.approx(1.5, abs=TOL_M)
    assert e.depth_below_tip_m == pytest.approx(1.0, abs=TOL_M)
    assert e.radius_m == pytest.approx(2.0) and e.length_m == pytest.approx(3.0)
    # the same through the dispatcher, and NaN when no height is asked for
    assert extent_of(points, cells, T, 0.0, "axisymmetric", z_mid_m=0.5) == e
    assert math.isnan(extent_axisymmetric(points[:, 0], points[:, 1], cells, T, 0.0).radius_mid_tip_m)
    assert set(e.as_dict()) == set(MEASURES)


def _cube_tets(n=2):
    """[-1, 1]^3 in n^3 cubes, each split into 6 tetrahedra (Kuhn)."""
    g = np.linspace(-1.0, 1.0, n + 1)
    X = np.array([(x, y, z) for x in g for y in g for z in g])

    def node(i, j, k):
        return (i * (n + 1) + j) * (n + 1) + k

    tets = []
    perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    for i in range(n):
        for j in range(n):
            for k in range(n):
                for p in perms:
                    v = [0, 0, 0]
                    path = [node(i, j, k)]
                    for axis in p:
                        v[axis] += 1
                        path.append(node(i + v[0], j + v[1], k + v[2]))
                    tets.append(path)
    return X, np.array(tets)


def test_measures_on_tetrahedra():
    X, tets = _cube_tets()
    # T = -z - 0.4: cold for z >= -0.4; the section z = 0 is the whole square
    T = -X[:, 2] - 0.4
    assert radius_at_m(X, tets, T, 0.0, 0.0) == pytest.approx(math.sqrt(2.0), abs=TOL_M)
    assert radius_at_m(X, tets, T, 0.0, -0.6) == 0.0
    assert depth_below_tip_m(X, tets, T, 0.0) == pytest.approx(0.4, abs=TOL_M)
    # P1 interpolant of |x|^2 - 1/4: 0 °C at 1/4 from the centre along the axes and the z axis edge
    T2 = (X**2).sum(axis=1) - 0.25
    assert radius_at_m(X, tets, T2, 0.0, 0.0) == pytest.approx(0.25, abs=TOL_M)
    assert depth_below_tip_m(X, tets, T2, 0.0) == pytest.approx(0.25, abs=TOL_M)
    e = extent_3d(X, tets, T, 0.0, z_mid_m=0.0)
    assert e.volume_m3 == pytest.approx(4.0 * 1.4, rel=1e-12)
    assert e.radius_mid_tip_m == pytest.approx(math.sqrt(2.0), abs=TOL_M)
    assert e.depth_below_tip_m == pytest.approx(0.4, abs=TOL_M)


def test_radial_profile_measures():
    x = np.linspace(1e-3, 11e-3, 11)
    T = (x - 4.5e-3) * 1e4  # 0 °C at 4.5 mm
    e = extent_radial(x, T, 0.0, "cylindrical")
    assert e.radius_m == pytest.approx(4.5e-3, rel=1e-12) and e.radius_mid_tip_m == e.radius_m
    assert e.depth_below_tip_m == 0.0
    assert extent_of(x[:, None], np.zeros((0, 2), int), T, 0.0, "cylindrical") == e
