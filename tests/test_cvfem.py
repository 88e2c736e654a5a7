"""The CVFEM grid (vertex-centred finite volumes on a gmsh triangle mesh)."""

import math

import numpy as np
import pytest

import cryosim
from cryosim.fast import solver as fast
from cryosim.meshing.cvfem import unstructured_axisymmetric_grid
from cryosim.meshing.grids import ACTIVE, FAR, SHAFT

RP, LA, RD = 0.635e-3, 5e-3, 10e-3


@pytest.fixture(scope="module")
def grid():
    return unstructured_axisymmetric_grid(RP, LA, RD, h_tip_m=0.3e-3, h_far_m=2e-3, front_m=3e-3, h_front_m=0.6e-3)


def _balance(g, T_nodes):
    """sum_j w_ij (T_j - T_i) over the faces, per node."""
    Tc = T_nodes(g.centers_m)
    out = np.zeros(g.n_cells)
    i, j = g.face_cells[:, 0], g.face_cells[:, 1]
    flux = g.face_weight_m * (Tc[j] - Tc[i])
    np.add.at(out, i, flux)
    np.add.at(out, j, -flux)
    return out


def _off_walls(g):
    off = np.ones(g.n_cells, bool)
    off[g.bface_cell] = False
    return off


def test_lumped_volumes_fill_the_medium(grid):
    whole = math.pi * RD**2 * (LA + 2 * RD) - math.pi * RP**2 * (LA + RD)
    assert grid.volume_m3.sum() == pytest.approx(whole, rel=1e-12)
    assert np.all(grid.volume_m3 > 0)


def test_graph_is_consistent(grid):
    fc = grid.face_cells
    assert grid.kind == "cvfem"
    assert np.all(fc[:, 0] < fc[:, 1])
    assert np.all(np.diff(fc[:, 0] * grid.n_cells + fc[:, 1]) > 0)  # sorted, no duplicates
    assert np.all(grid.face_split == 0.5)
    assert grid.negative_weights <= 0.005 * fc.shape[0]
    # every mesh node is a cell, once
    assert np.array_equal(np.sort(grid.point_source), np.arange(grid.n_cells))
    assert np.allclose(grid.points_m[np.argsort(grid.point_source)], grid.centers_m)
    # wall entries sit on their nodes (distance 0) and on their own wall
    assert np.all(grid.bface_dist_m == 0.0)
    assert np.allclose(grid.bface_xy_m, grid.centers_m[grid.bface_cell])
    p = grid.bface_xy_m
    act = grid.bface_group == ACTIVE
    on_active = ((np.abs(p[:, 0] - RP) < 1e-12) & (p[:, 1] >= 0) & (p[:, 1] <= LA + 1e-12)) | (
        (np.abs(p[:, 1]) < 1e-12) & (p[:, 0] <= RP + 1e-12))
    assert np.all(on_active[act])
    sh = grid.bface_group == SHAFT
    assert np.all(np.abs(p[sh, 0] - RP) < 1e-12) and np.all(p[sh, 1] >= LA - 1e-12)


def test_wall_areas_are_exact(grid):
    """Lumped areas 2 pi int r phi_i ds sum to each surface's exact area."""
    assert grid.group_area_m2(ACTIVE) == pytest.approx(2 * math.pi * RP * LA + math.pi * RP**2, rel=1e-12)
    assert grid.group_area_m2(SHAFT) == pytest.approx(2 * math.pi * RP * RD, rel=1e-12)
    far = 2 * math.pi * RD * (LA + 2 * RD) + math.pi * RD**2 + math.pi * (RD**2 - RP**2)
    assert grid.group_area_m2(FAR) == pytest.approx(far, rel=1e-12)


def test_linear_field_in_z_is_balanced(grid):
    """grad T = e_z: the axisymmetric weighted Laplacian is exactly zero at every unknown."""
    bal = _balance(grid, lambda xy: xy[:, 1])
    scale = np.abs(grid.face_weight_m).max() * RD
    assert np.max(np.abs(bal[_off_walls(grid)])) < 1e-10 * scale


def test_linear_field_in_r_matches_its_source(grid):
    """T = r: div(r grad T) = 1, so the balance is 2 pi int phi_i dA (off the shaft wall)."""
    bal = _balance(grid, lambda xy: xy[:, 0])
    P = grid.points_m[grid.triangles]
    a = 0.5 * np.abs((P[:, 1, 0] - P[:, 0, 0]) * (P[:, 2, 1] - P[:, 0, 1])
                     - (P[:, 2, 0] - P[:, 0, 0]) * (P[:, 1, 1] - P[:, 0, 1]))
    lump = np.zeros(grid.points_m.shape[0])
    for k in range(3):
        np.add.at(lump, grid.triangles[:, k], a / 3.0)
    node_of_cell = np.argsort(grid.point_source)
    off_wall = _off_walls(grid)
    expect = 2 * math.pi * lump[node_of_cell]
    assert bal[off_wall] == pytest.approx(expect[off_wall], rel=1e-9, abs=1e-12 * expect.max())


def test_default_scenario_on_cvfem_grid_matches_reference(monkeypatch):
    """0 °C ice ball at 120 s within 1.5 % of the converged reference."""
    def grid_for(s):
        front = fast.FRONT_ZONE_FACTOR * fast.expected_ice_radius_m(s)
        return unstructured_axisymmetric_grid(s.probe.radius_m, s.probe.active_length_m, fast.domain_radius_m(s),
                                              h_tip_m=0.14e-3, h_far_m=3e-3, front_m=front, h_front_m=0.4e-3)

    monkeypatch.setattr(fast, "axisymmetric_grid_for", grid_for)
    r = fast.run_axisymmetric(cryosim.default_scenario())
    assert r.final(0.0, "radius_m") == pytest.approx(4.778e-3, rel=0.015)
    assert r.final(0.0, "length_m") == pytest.approx(10.99e-3, rel=0.015)
    assert r.final(0.0, "volume_m3") == pytest.approx(530.2e-9, rel=0.015)
    assert r.energy_imbalance_relative < 1e-4
