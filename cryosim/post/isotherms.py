"""Ice-ball extent: where the temperature is at or below an isotherm.

For a field that is piecewise linear on triangles in the (r, z) half-plane
(fast axisymmetric solver, P1 finite elements), each triangle is clipped by
the plane ``T = iso`` exactly, so the measures converge at the order of the
field itself. Measures, all for the region ``T <= iso`` outside the probe:

``radius_m``
    largest distance from the probe axis (half the radial width);
``width_m``
    radial width, twice the radius;
``length_m``
    extent along the probe axis;
``area_m2``
    area of the longitudinal section through the axis (both sides);
``volume_m3``
    volume (the probe itself excluded).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np

__all__ = ["Extent", "MEASURES", "extent_axisymmetric", "extent_radial"]

MEASURES = ("radius_m", "width_m", "length_m", "area_m2", "volume_m3")


@dataclass(frozen=True)
class Extent:
    """Size of the region at or below one isotherm (SI units)."""

    radius_m: float
    length_m: float
    area_m2: float
    volume_m3: float

    @property
    def width_m(self) -> float:
        return 2.0 * self.radius_m

    def as_dict(self) -> dict[str, float]:
        d = asdict(self)
        d["width_m"] = self.width_m
        return d

    @classmethod
    def empty(cls) -> "Extent":
        return cls(0.0, 0.0, 0.0, 0.0)


@numba.njit(cache=True)
def _clip_triangles(r: np.ndarray, z: np.ndarray, tri: np.ndarray, T: np.ndarray, iso: float) -> tuple:
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


def extent_axisymmetric(r_m: np.ndarray, z_m: np.ndarray, triangles: np.ndarray, T_C: np.ndarray, iso_C: float) -> Extent:
    """Extent of ``T <= iso_C`` for a P1 field on (r, z) triangles (axisymmetric)."""
    area, moment, rmax, zmin, zmax = _clip_triangles(
        np.ascontiguousarray(r_m, dtype=float), np.ascontiguousarray(z_m, dtype=float),
        np.ascontiguousarray(triangles, dtype=np.int64), np.ascontiguousarray(T_C, dtype=float), float(iso_C),
    )
    if area == 0.0:
        return Extent.empty()
    return Extent(radius_m=rmax, length_m=zmax - zmin, area_m2=2.0 * area, volume_m3=2.0 * math.pi * moment)


def extent_radial(x_m: np.ndarray, T_C: np.ndarray, iso_C: float, geometry: str) -> Extent:
    """Extent of ``T <= iso_C`` for a 1D radial profile starting at the probe surface.

    ``x_m`` are increasing node positions (first node on the probe surface) and
    ``T_C`` the temperatures there. ``radius_m`` is the front position (the
    first crossing, linearly interpolated); ``volume_m3`` is per unit area
    (planar), per unit length (cylindrical) or absolute (spherical); area and
    length are not defined in 1D and are 0.
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
    return Extent(radius_m=float(front), length_m=0.0, area_m2=0.0, volume_m3=float(vol))
