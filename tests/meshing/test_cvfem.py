"""The CVFEM grid (vertex-centred finite volumes on a gmsh triangle mesh)."""

import math

import numpy as np
import pytest

import cryosim
from cryosim.fast import solver as fast
from cryosim.meshing.cvfem import p1_weights, unstructured_axisymmetric_grid
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


# --- p1_weights on two triangles, by hand -------------------------------------------
# The square [1, 2] x [0, 1] of the (r, z) plane: nodes 0 (1, 0), 1 (2, 0), 2 (2, 1), 3 (1, 1),
# triangles A = (0, 1, 2) and B = (0, 2, 3), each of area 1/2.
SQ_NODES = np.array([[1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0]])
SQ_TRI = np.array([[0, 1, 2], [0, 2, 3]])
# A: rbar = 5/3, phi0 = 2 - r, phi1 = r - 1 - z, phi2 = z; grad phi0.grad phi1 = -1, phi1.phi2 = -1, phi0.phi2 = 0,
#    so 2 pi rbar a = 5 pi / 3 gives w01 = w12 = 5 pi / 3.
# B: rbar = 4/3, phi0 = 1 - z, phi2 = r - 1, phi3 = 1 - r + z; phi2.phi3 = -1, phi3.phi0 = -1, phi0.phi2 = 0,
#    so w23 = w03 = 4 pi / 3; the diagonal edge 0-2 gets 0 from both.
SQ_EDGES = [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]]
SQ_W = [5 * math.pi / 3, 0.0, 4 * math.pi / 3, 5 * math.pi / 3, 4 * math.pi / 3]
# lumped V_i = sum_T 2 pi a (2 r_i + r_j + r_k) / 12 = int 2 pi r phi_i dV:
# A (r = 1, 2, 2): pi/2, 7pi/12, 7pi/12; B (r = 1, 2, 1 at nodes 0, 2, 3): 5pi/12, pi/2, 5pi/12
SQ_V = [11 * math.pi / 12, 7 * math.pi / 12, 13 * math.pi / 12, 5 * math.pi / 12]


def _stiffness(nodes, tri):
    """Axisymmetric P1 stiffness K_ij = int 2 pi r grad phi_i . grad phi_j dA, gradients from the
    inverse of the vertex matrix (independent of p1_weights' edge vectors)."""
    n = nodes.shape[0]
    K = np.zeros((n, n))
    for t in tri:
        M = np.column_stack([np.ones(3), nodes[t]])  # phi = c0 + c1 r + c2 z
        C = np.linalg.inv(M)  # column k: coefficients of phi_k
        G = C[1:, :]  # (2, 3) gradients
        a = 0.5 * abs(np.linalg.det(M))
        K[np.ix_(t, t)] += 2 * math.pi * nodes[t, 0].mean() * a * (G.T @ G)
    return K


def test_p1_weights_two_triangles_by_hand():
    edges, w, vol = p1_weights(SQ_NODES, SQ_TRI)
    assert edges.tolist() == SQ_EDGES
    assert w == pytest.approx(SQ_W, rel=1e-14, abs=1e-14)
    assert vol == pytest.approx(SQ_V, rel=1e-14)
    # sum of lumped volumes = the exact volume of the revolved square, pi (2^2 - 1^2) * 1
    assert vol.sum() == pytest.approx(3 * math.pi, rel=1e-14)
    # the orientation of a triangle does not matter
    e2, w2, v2 = p1_weights(SQ_NODES, SQ_TRI[:, [0, 2, 1]])
    assert e2.tolist() == SQ_EDGES and w2 == pytest.approx(w, rel=1e-14, abs=1e-14) and v2 == pytest.approx(vol)


def test_p1_weights_are_the_stiffness_off_diagonal(rng):
    """On a perturbed mesh: w_ij = -K_ij, and K annihilates a constant (the weights of a node sum to K_ii)."""
    r, z = np.meshgrid(np.linspace(0.0, 2.0, 4), np.linspace(-1.0, 1.0, 4))
    nodes = np.column_stack([r.ravel(), z.ravel()])
    inner = (nodes[:, 0] > 0) & (nodes[:, 0] < 2) & (np.abs(nodes[:, 1]) < 1)
    nodes[inner] += rng.uniform(-0.15, 0.15, size=(int(inner.sum()), 2))
    q = np.arange(16).reshape(4, 4)[:-1, :-1].ravel()
    tri = np.concatenate([np.column_stack([q, q + 1, q + 5]), np.column_stack([q, q + 5, q + 4])])
    edges, w, vol = p1_weights(nodes, tri)
    K = _stiffness(nodes, tri)
    assert np.abs(K.sum(axis=1)).max() < 1e-13 * np.abs(K).max()  # constant field: zero flux at every node
    assert w == pytest.approx(-K[edges[:, 0], edges[:, 1]], rel=1e-12, abs=1e-14)
    # every non-zero off-diagonal entry is an edge
    off = np.abs(K - np.diag(np.diag(K))) > 1e-14
    assert off.sum() == 2 * np.count_nonzero(np.abs(w) > 1e-14)
    diag = np.zeros(nodes.shape[0])
    np.add.at(diag, edges[:, 0], w)
    np.add.at(diag, edges[:, 1], w)
    assert diag == pytest.approx(np.diag(K), rel=1e-12)
    # lumped volumes: int 2 pi r phi_i, summing to the volume of revolution 2 pi int r dA (Pappus)
    P = nodes[tri]
    a = 0.5 * np.abs((P[:, 1, 0] - P[:, 0, 0]) * (P[:, 2, 1] - P[:, 0, 1])
                     - (P[:, 2, 0] - P[:, 0, 0]) * (P[:, 1, 1] - P[:, 0, 1]))
    assert vol.sum() == pytest.approx(2 * math.pi * np.sum(a * P[:, :, 0].mean(axis=1)), rel=1e-13)
    assert vol.sum() == pytest.approx(math.pi * 2.0**2 * 2.0, rel=1e-13)  # the cylinder r <= 2, |z| <= 1


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
        front = fast.FRONT_ZONE_FACTOR * s.expected_ice_distance_m()
        return unstructured_axisymmetric_grid(s.probe.radius_m, s.probe.active_length_m, s.domain_radius_m(),
                                              h_tip_m=0.14e-3, h_far_m=3e-3, front_m=front, h_front_m=0.4e-3)

    monkeypatch.setattr(fast, "axisymmetric_grid_for", grid_for)
    r = fast.run_axisymmetric(cryosim.default_scenario())
    assert r.final(0.0, "radius_m") == pytest.approx(4.778e-3, rel=0.015)
    assert r.final(0.0, "length_m") == pytest.approx(10.99e-3, rel=0.015)
    assert r.final(0.0, "volume_m3") == pytest.approx(530.2e-9, rel=0.015)
    assert r.energy_imbalance_relative < 1e-4


# --- Delaunay flips and fine grids ---------------------------------------------------
def test_delaunay_flips_replace_a_non_delaunay_diagonal():
    from cryosim.meshing.cvfem import delaunay_flips

    # a flat rhombus split along its long diagonal 0-2: the angles opposite it (at 1 and 3) are 2 x 127 degrees
    nodes = np.array([[1.0, 0.0], [1.5, 0.25], [2.0, 0.0], [1.5, -0.25]])
    tri = np.array([[0, 1, 2], [0, 2, 3]])
    edges, w, _ = p1_weights(nodes, tri)
    assert w[[list(e) for e in edges].index([0, 2])] < 0.0
    flipped, n = delaunay_flips(nodes, tri)
    assert n == 1
    edges, w, vol = p1_weights(nodes, flipped)
    assert [1, 3] in [list(e) for e in edges] and [0, 2] not in [list(e) for e in edges]
    assert np.all(w >= 0.0)
    assert vol.sum() == pytest.approx(p1_weights(nodes, tri)[2].sum(), rel=1e-12)  # same region
    # a Delaunay pair is left as it is
    assert delaunay_flips(nodes, flipped)[1] == 0


@pytest.mark.slow
def test_fine_grid_has_no_negative_weights_and_its_run_starts():
    """At resolution 4 gmsh left one non-Delaunay pair (angles 86 and 103 degrees: w = -0.0044 m) and PETSc's LU
    treated the smallest cell volumes (2e-14 m^3) as zero pivots: the default scenario failed at t = 0."""
    from cryosim import Protocol

    s = cryosim.default_scenario().with_(thermocouples=(), protocol=Protocol.single_freeze(0.2, -70.0), resolution=4.0)
    assert fast.axisymmetric_grid_for(s).negative_weights == 0
    small = s.with_(domain_radius_m=10e-3)  # the same tip cells in a small medium: a quick run
    r = fast.run_axisymmetric(small)
    assert r.final(0.0, "volume_m3") > 0.0
