"""cryosim.meshing.grids: graded sizes, 1D radial grids and the structured (r, z) grid, exact geometry."""

import math

import numpy as np
import pytest

from cryosim.checks import ScenarioError
from cryosim.meshing.grids import ACTIVE, FAR, SHAFT, axisymmetric_grid, graded_sizes, radial_grid
from cryosim.post.isotherms import extent_axisymmetric


# --- graded_sizes -------------------------------------------------------------
def test_graded_sizes_exact_when_the_series_fits():
    # 0.1 + 0.2 + 0.4 = 0.7: no rescaling needed
    assert graded_sizes(0.7, 0.1, 2.0, 0.4) == pytest.approx([0.1, 0.2, 0.4], rel=1e-12)
    # growth 1: uniform
    assert graded_sizes(1.0, 0.1, 1.0, 0.1) == pytest.approx(np.full(10, 0.1), rel=1e-12)
    # capped at h_max: 0.1, 0.2, 0.3, 0.3, 0.3 = 1.2
    assert graded_sizes(1.2, 0.1, 2.0, 0.3) == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3], rel=1e-12)


@pytest.mark.parametrize("length, h0, growth, h_max", [(1e-2, 1e-4, 1.05, 1e-3), (3e-3, 7e-5, 1.3, 4e-4),
                                                       (5e-3, 1e-3, 1.0, 1e-3), (2e-4, 1e-3, 1.2, 1e-3)])
def test_graded_sizes_sum_growth_and_cap(length, h0, growth, h_max):
    s = graded_sizes(length, h0, growth, h_max)
    assert s.sum() == pytest.approx(length, rel=1e-13)
    assert np.all(s > 0) and s.max() <= h_max * (1 + 1e-12)
    assert np.all(s[1:] / s[:-1] <= growth * (1 + 1e-12))
    assert np.all(s[1:] >= s[:-1] * (1 - 1e-12))  # never shrinks
    # rescaling only shrinks, by less than one last cell: the first cell is h0 or just below
    assert min(h0, length) * (1 - s[-1] / length) <= s[0] <= min(h0, length) * (1 + 1e-12)


def test_graded_sizes_fine_zone_then_far_growth():
    s = graded_sizes(1.0, 0.01, 1.5, 0.2, fine_length_m=0.3, h_fine_m=0.03, growth_far=1.1)
    assert s.sum() == pytest.approx(1.0, rel=1e-13)
    faces = np.concatenate([[0.0], np.cumsum(s)])
    inside = faces[1:] <= 0.3
    assert s[inside].max() <= 0.03 * (1 + 1e-12)
    ratio = s[1:] / s[:-1]
    assert np.all(ratio[~inside[:-1]] <= 1.1 * (1 + 1e-12))


def test_graded_sizes_refuses_bad_input():
    with pytest.raises(ScenarioError, match="grid.growth"):
        graded_sizes(1.0, 0.1, 2.5, 0.4)
    with pytest.raises(ScenarioError, match="grid.length_m"):
        graded_sizes(-1.0, 0.1, 1.1, 0.4)


# --- radial_grid --------------------------------------------------------------
RI, RO = 0.6e-3, 12e-3


@pytest.mark.parametrize("geometry, volume, area", [
    ("planar", lambda a, b: b - a, lambda x: np.ones_like(x)),
    ("cylindrical", lambda a, b: math.pi * (b**2 - a**2), lambda x: 2 * math.pi * x),
    ("spherical", lambda a, b: 4 / 3 * math.pi * (b**3 - a**3), lambda x: 4 * math.pi * x**2),
])
def test_radial_grid_volumes_and_areas(geometry, volume, area):
    g = radial_grid(geometry, RI, RO, 5e-5, 1.1, 1e-3)
    n = g.n_cells
    assert g.volume_m3.sum() == pytest.approx(volume(RI, RO), rel=1e-12)
    # each face sits between its two centres at the fraction face_split of the way
    xc = g.centers_m[:, 0]
    dxc = np.diff(xc)
    assert np.all((g.face_split > 0) & (g.face_split < 1))
    x_faces = xc[:-1] + g.face_split * dxc
    x = np.concatenate([[RI], x_faces, [RO]])
    assert np.all(np.diff(x) > 0)
    assert g.volume_m3 == pytest.approx(volume(x[:-1], x[1:]), rel=1e-12)  # each cell is an exact shell
    # conductance weight = face area / centre-to-centre distance
    assert g.face_weight_m * dxc == pytest.approx(area(x[1:-1]), rel=1e-12)
    assert np.array_equal(g.face_cells, np.stack([np.arange(n - 1), np.arange(1, n)], axis=1))
    # boundaries: the probe surface (ACTIVE) at RI and the far field at RO, half a cell from the centres
    assert g.bface_group.tolist() == [ACTIVE, FAR] and g.bface_cell.tolist() == [0, n - 1]
    assert g.bface_area_m2 == pytest.approx(area(np.array([RI, RO])), rel=1e-14)
    assert g.bface_dist_m == pytest.approx([xc[0] - RI, RO - xc[-1]], rel=1e-12)
    assert g.group_area_m2(ACTIVE) == pytest.approx(float(area(np.array([RI]))[0]), rel=1e-14)


def test_radial_grid_without_far_boundary():
    g = radial_grid("spherical", RI, RO, 5e-5, 1.1, 1e-3, far_boundary=False)
    assert g.bface_group.tolist() == [ACTIVE] and g.group_area_m2(FAR) == 0.0


# --- axisymmetric_grid ----------------------------------------------------------
RP, LA, RD = 0.635e-3, 5e-3, 10e-3


@pytest.fixture(scope="module")
def grid():
    return axisymmetric_grid(RP, LA, RD, h0_m=0.1e-3, growth=1.25, h_max_m=1.5e-3, front_m=3e-3, h_front_m=0.5e-3)


def test_axisymmetric_volume_is_cylinder_minus_probe(grid):
    # medium 0 <= r <= RD, -RD <= z <= LA + RD, minus the probe r < RP, 0 < z <= LA + RD
    exact = math.pi * RD**2 * (LA + 2 * RD) - math.pi * RP**2 * (LA + RD)
    assert grid.volume_m3.sum() == pytest.approx(exact, rel=1e-12)
    assert np.all(grid.volume_m3 > 0)
    # no cell centre inside the probe
    c = grid.centers_m
    assert not np.any((c[:, 0] < RP) & (c[:, 1] > 0))


def test_axisymmetric_boundary_group_areas(grid):
    assert grid.group_area_m2(ACTIVE) == pytest.approx(2 * math.pi * RP * LA + math.pi * RP**2, rel=1e-12)
    assert grid.group_area_m2(SHAFT) == pytest.approx(2 * math.pi * RP * RD, rel=1e-12)
    far = 2 * math.pi * RD * (LA + 2 * RD) + math.pi * RD**2 + (math.pi * RD**2 - math.pi * RP**2)
    assert grid.group_area_m2(FAR) == pytest.approx(far, rel=1e-12)
    assert set(np.unique(grid.bface_group)) == {ACTIVE, SHAFT, FAR}


def test_axisymmetric_faces_are_consistent(grid):
    fc = grid.face_cells
    assert np.all(fc[:, 0] < fc[:, 1]) and np.all(np.diff(fc[:, 0] * grid.n_cells + fc[:, 1]) > 0)
    assert np.all(grid.face_weight_m > 0) and np.all((grid.face_split > 0) & (grid.face_split < 1))
    assert np.all(grid.bface_dist_m > 0)
    # faces are axis-aligned; weight x centre distance = face area
    d = grid.centers_m[fc[:, 1]] - grid.centers_m[fc[:, 0]]
    assert np.all((d[:, 0] == 0) | (d[:, 1] == 0))
    area = grid.face_weight_m * np.abs(d).sum(axis=1)
    # every cell away from the boundary has axial faces of its own ring area above and below
    net = np.zeros(grid.n_cells)
    axial = d[:, 1] != 0
    np.add.at(net, fc[axial, 0], area[axial])
    np.add.at(net, fc[axial, 1], -area[axial])
    inner = np.ones(grid.n_cells, bool)
    inner[grid.bface_cell] = False
    assert np.all(np.abs(net[inner]) <= 1e-12 * area.max())
    # radial faces: area 2 pi r_face dz, with r_face between the centres at face_split
    rad = ~axial
    r_face = grid.centers_m[fc[rad, 0], 0] + grid.face_split[rad] * d[rad, 0]
    dz_ring = area[rad] / (2 * math.pi * r_face)
    assert np.all(dz_ring > 0) and dz_ring.max() <= LA + 2 * RD


def test_axisymmetric_triangulation_covers_the_medium(grid):
    # a field below the isotherm everywhere: the triangles' section area and volume are the medium's
    T = -np.ones(grid.points_m.shape[0])
    e = extent_axisymmetric(grid.points_m[:, 0], grid.points_m[:, 1], grid.triangles, T, 0.0)
    exact = math.pi * RD**2 * (LA + 2 * RD) - math.pi * RP**2 * (LA + RD)
    assert e.volume_m3 == pytest.approx(exact, rel=1e-9)
    assert e.area_m2 == pytest.approx(2 * (RD * (LA + 2 * RD) - RP * (LA + RD)), rel=1e-9)
    assert e.radius_m == pytest.approx(RD, rel=1e-12) and e.length_m == pytest.approx(LA + 2 * RD, rel=1e-12)
    n_all = grid.n_cells + grid.bface_cell.size
    assert grid.point_source.min() >= 0 and grid.point_source.max() < n_all


# --- mesh classes: the mesh follows the geometry, not the exact protocol (issue 16, item 6) -------------------
def test_mesh_classes_round_durations_up_and_tips_down():
    from cryosim.physics.sizing import mesh_duration_s, mesh_tip_C

    assert [mesh_duration_s(t) for t in (1.0, 20.0, 30.0, 60.0, 61.0, 120.0, 121.0, 900.0)] == [
        60, 60, 60, 60, 120, 120, 240, 960]
    assert [mesh_tip_C(T) for T in (-20.0, -50.0, -90.0, -90.5, -120.0, -196.0)] == [-90, -90, -90, -120, -120, -210]


def _pair_scenario(tip_C, duration_s, resolution=0.3):
    import cryosim
    from cryosim import Numerics, Probe, Protocol

    return cryosim.default_scenario().with_(probe=Probe.from_gauge(20, active_length_m=3e-3), thermocouples=(),
                                            protocol=Protocol.single_freeze(duration_s, tip_C),
                                            numerics=Numerics(resolution=resolution))


def test_runs_differing_only_in_tip_temperature_or_duration_share_one_grid():
    """Each member of a pair got its own grid before (domain and fine zone followed the tip temperature and the
    duration); on coarse grids a colder tip then gave a smaller ice ball in 8 of 330 fuzz pairs."""
    from cryosim.fast.solver import axisymmetric_grid_for

    grids = [axisymmetric_grid_for(_pair_scenario(T, t)) for T in (-50.0, -70.0, -90.0) for t in (31.0, 45.0, 60.0)]
    assert all(g is grids[0] for g in grids)
    assert axisymmetric_grid_for(_pair_scenario(-70.0, 90.0)) is not grids[0]  # another duration class (120 s)
    with pytest.raises(ValueError):
        grids[0].volume_m3[0] = 1.0  # a cached grid is shared: read-only


def test_colder_tip_and_longer_freeze_grow_the_ice_ball_on_a_coarse_shared_grid():
    from cryosim.fast import run_axisymmetric

    v = {(T, t): run_axisymmetric(_pair_scenario(T, t, 0.25)).final(0.0, "volume_m3")
         for T in (-50.0, -60.0, -70.0) for t in (20.0, 40.0)}
    for t in (20.0, 40.0):
        assert v[(-50.0, t)] < v[(-60.0, t)] < v[(-70.0, t)]
    for T in (-50.0, -60.0, -70.0):
        assert v[(T, 20.0)] < v[(T, 40.0)]


def test_a_protocol_that_fits_the_largest_medium_still_fits_in_its_mesh_class():
    import cryosim
    from cryosim import Protocol
    from cryosim.physics.sizing import MAX_DOMAIN_RADIUS_M, domain_radius_m, mesh_duration_s

    s = cryosim.default_scenario()

    def radius_m(t):
        return domain_radius_m(s.probe, Protocol.single_freeze(t, -70.0), s.medium)

    # the longest protocol whose own medium fits (bisection on the refusal), then its class is twice as long
    lo, hi = 60.0, 1e7
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        try:
            radius_m(mid)
            lo = mid
        except ScenarioError:
            hi = mid
    assert mesh_duration_s(lo) > lo  # its class is longer: its own class radius would exceed the largest medium
    assert radius_m(lo) == MAX_DOMAIN_RADIUS_M
