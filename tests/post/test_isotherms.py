"""cryosim.post.isotherms: exact P1 extents on hand-made triangles and 1D profiles.

Reference values are derived by hand (in the comments) with exact fractions;
the volume is Pappus' theorem, V = 2 pi * (section area) * (centroid radius)
= 2 pi * int r dA over the half-section.
"""

import math
from fractions import Fraction as F

import numpy as np
import pytest

from cryosim.post.isotherms import MEASURES, Extent, extent_axisymmetric, extent_radial

RTOL = 1e-13

# the triangle (r, z) = (1, 0), (2, 0), (1, 1): r >= 1, z >= 0, r + z <= 2
R = np.array([1.0, 2.0, 1.0])
Z = np.array([0.0, 0.0, 1.0])
TRI = np.array([[0, 1, 2]])


def _check(e: Extent, radius, length, half_area, moment) -> None:
    """Compare with exact fractions: half_area = int dA, moment = int r dA over the half-section."""
    assert e.radius_m == pytest.approx(float(radius), rel=RTOL)
    assert e.width_m == pytest.approx(2 * float(radius), rel=RTOL)
    assert e.length_m == pytest.approx(float(length), rel=RTOL)
    assert e.area_m2 == pytest.approx(2 * float(half_area), rel=RTOL)  # both sides of the axis
    assert e.volume_m3 == pytest.approx(2 * math.pi * float(moment), rel=RTOL)


def test_triangle_fully_below():
    # area 1/2, centroid r = (1 + 2 + 1)/3 = 4/3: int r dA = 2/3, V = 4 pi / 3
    e = extent_axisymmetric(R, Z, TRI, np.array([-5.0, -1.0, -3.0]), 0.0)
    _check(e, 2, 1, F(1, 2), F(1, 2) * F(4, 3))
    assert e.volume_m3 == pytest.approx(4 * math.pi / 3, rel=RTOL)


def test_triangle_fully_above_is_empty():
    e = extent_axisymmetric(R, Z, TRI, np.array([0.1, 1.0, 3.0]), 0.0)
    assert e == Extent.empty()
    assert e.as_dict() == dict.fromkeys(MEASURES, 0.0)


def test_triangle_partly_below_clipped_by_linear_interpolation():
    # T = 4 r - 5 (nodal -1, 3, -1) is <= 0 for r <= 5/4: edge (1,0)-(2,0) is cut at s = 1/4 -> r = 5/4,
    # edge (2,0)-(1,1) at s = 3/4 -> (5/4, 3/4). Region: 1 <= r <= 5/4, 0 <= z <= 2 - r (a trapezoid).
    # int dA = int_1^{5/4} (2 - r) dr = 7/32; int r dA = int_1^{5/4} r (2 - r) dr = 47/192.
    e = extent_axisymmetric(R, Z, TRI, np.array([-1.0, 3.0, -1.0]), 0.0)
    _check(e, F(5, 4), 1, F(7, 32), F(47, 192))


def test_isotherm_level_shifts_the_field():
    # same field offset by -20 and measured at -20 C: the same region
    a = extent_axisymmetric(R, Z, TRI, np.array([-1.0, 3.0, -1.0]), 0.0)
    b = extent_axisymmetric(R, Z, TRI, np.array([-21.0, -17.0, -21.0]), -20.0)
    assert b.as_dict() == pytest.approx(a.as_dict(), rel=1e-13, nan_ok=True)


def test_triangle_one_corner_below():
    # T = -1 + 2 r + 2 z on (0,0), (1,0), (0,1): below for r + z <= 1/2, a right triangle of legs 1/2.
    # int dA = 1/8, centroid r = 1/6, int r dA = 1/48; reaches r = 1/2 and spans z in [0, 1/2].
    r, z = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    e = extent_axisymmetric(r, z, TRI, np.array([-1.0, 1.0, 1.0]), 0.0)
    _check(e, F(1, 2), F(1, 2), F(1, 8), F(1, 48))


def test_two_triangles_orientation_and_sign_do_not_matter():
    # the square [1, 2] x [-1, 0] as two triangles, one clockwise: int dA = 1, int r dA = 3/2, V = 3 pi
    r = np.array([1.0, 2.0, 2.0, 1.0])
    z = np.array([-1.0, -1.0, 0.0, 0.0])
    tri = np.array([[0, 1, 2], [0, 3, 2]])
    e = extent_axisymmetric(r, z, tri, np.full(4, -10.0), 0.0)
    _check(e, 2, 1, 1, F(3, 2))
    # T = z + 1/2 (node values): below for z <= -1/2, the lower half of the square
    e = extent_axisymmetric(r, z, tri, z + 0.5, 0.0)
    _check(e, 2, F(1, 2), F(1, 2), F(3, 4))


def test_a_node_exactly_on_the_isotherm_counts_as_below():
    # only the node (1, 1) at T = iso, the others above: the region is a point, nothing is measured
    assert extent_axisymmetric(R, Z, TRI, np.array([1.0, 1.0, 0.0]), 0.0) == Extent.empty()
    # the edge (1,0)-(1,1) at T = iso: a segment, still no area
    assert extent_axisymmetric(R, Z, TRI, np.array([0.0, 1.0, 0.0]), 0.0).area_m2 == 0.0


X = np.array([1.0, 2.0, 3.0, 4.0])
T1D = np.array([-10.0, -2.0, 6.0, 20.0])  # crosses 0 between x = 2 and 3 at 2 + 2/8 = 9/4


@pytest.mark.parametrize("geometry, volume", [
    ("planar", 9 / 4 - 1),                                     # per unit area
    ("cylindrical", math.pi * ((9 / 4) ** 2 - 1)),             # per unit length
    ("spherical", 4 / 3 * math.pi * ((9 / 4) ** 3 - 1)),
])
def test_extent_radial_front_and_volume(geometry, volume):
    e = extent_radial(X, T1D, 0.0, geometry)
    assert e.radius_m == pytest.approx(9 / 4, rel=RTOL)
    assert e.volume_m3 == pytest.approx(volume, rel=RTOL)
    assert e.length_m == 0.0 and e.area_m2 == 0.0


def test_extent_radial_other_isotherm_and_limits():
    # at -6 C the crossing is between x = 1 and 2: 1 + 4/8 = 3/2
    assert extent_radial(X, T1D, -6.0, "spherical").radius_m == pytest.approx(1.5, rel=RTOL)
    # surface above the isotherm: empty
    assert extent_radial(X, T1D, -11.0, "planar") == Extent.empty()
    # everything below: the front is the last node
    e = extent_radial(X, T1D, 25.0, "cylindrical")
    assert e.radius_m == 4.0 and e.volume_m3 == pytest.approx(math.pi * 15.0, rel=RTOL)
    # the first crossing counts, not a later re-freezing
    e = extent_radial(X, np.array([-1.0, 1.0, -1.0, -1.0]), 0.0, "planar")
    assert e.radius_m == pytest.approx(1.5, rel=RTOL) and e.volume_m3 == pytest.approx(0.5, rel=RTOL)
