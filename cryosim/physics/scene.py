"""What surrounds the probe: a bone plate, vessels, more probes.

Coordinates (m): the main probe's distal end is at the origin and its axis
points along +z towards the shaft. Objects are placed relative to it.
Any object other than a bone plate perpendicular to the probe breaks the
axial symmetry and calls for the 3D finite-element solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..checks import ScenarioError, check_range
from .materials import BLOOD

__all__ = ["BonePlate", "Vessel", "ProbePlacement", "BLOOD_VISCOSITY_PA_S", "LAMINAR_NUSSELT"]

#: Fully developed laminar flow in a tube at constant wall temperature has
#: Nu = 3.66, at constant wall heat flux Nu = 4.36 (Incropera & DeWitt,
#: Fundamentals of Heat and Mass Transfer, 6th ed., section 8.4); PHYSICS.md
#: uses 4.36.
LAMINAR_NUSSELT = 4.36
#: Whole-blood dynamic viscosity at 37 °C and high shear, about 3.5 mPa s
#: (Fung, Biomechanics: Mechanical Properties of Living Tissues, 1993, ch. 3).
BLOOD_VISCOSITY_PA_S = 3.5e-3
#: Laminar-turbulent transition Reynolds number in a tube (Incropera & DeWitt 8.1).
TRANSITION_REYNOLDS = 2300.0


@dataclass(frozen=True)
class BonePlate:
    """A flat bone: cortical / cancellous / cortical layers.

    The near surface is the plane at ``distance_m`` from the probe's distal
    end; ``angle_deg`` is the angle between the probe axis and the plate:
    0 for a probe lying parallel to the bone (the plate is then at
    ``distance_m`` from the axis, on the +x side), 90 for a probe pointing at
    it (the plate is below the tip, at ``z = -distance_m``). Plane normal,
    pointing into the bone: ``(cos a, 0, -sin a)``.
    """

    distance_m: float
    angle_deg: float = 0.0
    cortical_thickness_m: float = 1.5e-3
    cancellous_thickness_m: float = 6.0e-3

    def __post_init__(self) -> None:
        check_range("bone.distance_m", self.distance_m, 0.5e-3, 50e-3, unit="m")
        check_range("bone.angle_deg", self.angle_deg, 0.0, 90.0, unit="deg")
        check_range("bone.cortical_thickness_m", self.cortical_thickness_m, 0.2e-3, 10e-3, unit="m")
        check_range("bone.cancellous_thickness_m", self.cancellous_thickness_m, 0.0, 50e-3, unit="m")

    @property
    def normal(self) -> tuple[float, float, float]:
        a = math.radians(self.angle_deg)
        return (math.cos(a), 0.0, -math.sin(a))

    @property
    def thickness_m(self) -> float:
        return 2 * self.cortical_thickness_m + self.cancellous_thickness_m

    @property
    def axisymmetric(self) -> bool:
        return self.angle_deg == 90.0


@dataclass(frozen=True)
class Vessel:
    """A straight blood vessel: blood at ``blood_temperature_C`` behind a convective wall.

    ``distance_m`` is from the probe axis to the vessel axis, measured along
    +x at the height ``z_m``; ``angle_deg`` is between the vessel and the probe axis
    (0 parallel, 90 crossing in the x = distance plane, running along y).
    The wall coefficient is ``h = Nu k_blood / D``, with Nu = 4.36 for
    laminar fully developed flow, or from ``flow_rate_m3_per_s`` via the
    Reynolds number (laminar: 4.36; turbulent: Dittus-Boelter,
    Nu = 0.023 Re^0.8 Pr^0.4, Incropera & DeWitt eq. 8.60).
    """

    diameter_m: float
    distance_m: float
    angle_deg: float = 0.0
    z_m: float = 0.0
    blood_temperature_C: float = 37.0
    flow_rate_m3_per_s: float | None = None
    nusselt: float | None = None

    def __post_init__(self) -> None:
        check_range("vessel.diameter_m", self.diameter_m, 0.1e-3, 30e-3, unit="m")
        check_range("vessel.distance_m", self.distance_m, 0.0, 50e-3, unit="m")
        check_range("vessel.angle_deg", self.angle_deg, 0.0, 90.0, unit="deg")
        check_range("vessel.z_m", self.z_m, -50e-3, 50e-3, unit="m")
        check_range("vessel.blood_temperature_C", self.blood_temperature_C, 20.0, 45.0, unit="°C")
        if self.flow_rate_m3_per_s is not None:
            check_range("vessel.flow_rate_m3_per_s", self.flow_rate_m3_per_s, 0.0, 1e-3, unit="m3/s", low_open=True)
        if self.nusselt is not None:
            check_range("vessel.nusselt", self.nusselt, 1.0, 1e4)
            if self.flow_rate_m3_per_s is not None:
                raise ScenarioError("vessel.nusselt", self.nusselt, "either nusselt or flow_rate_m3_per_s, not both")

    @property
    def reynolds(self) -> float | None:
        if self.flow_rate_m3_per_s is None:
            return None
        rho = BLOOD.density_kg_per_m3
        return 4.0 * self.flow_rate_m3_per_s * rho / (math.pi * self.diameter_m * BLOOD_VISCOSITY_PA_S)

    @property
    def nusselt_number(self) -> float:
        if self.nusselt is not None:
            return self.nusselt
        re = self.reynolds
        if re is None or re < TRANSITION_REYNOLDS:
            return LAMINAR_NUSSELT
        c_b = BLOOD.heat_capacity_unfrozen_J_per_m3_K / BLOOD.density_kg_per_m3
        pr = c_b * BLOOD_VISCOSITY_PA_S / BLOOD.conductivity_unfrozen_W_per_m_K
        return 0.023 * re**0.8 * pr**0.4

    @property
    def heat_transfer_W_per_m2_K(self) -> float:
        """Wall coefficient h = Nu k_blood / D (W/m^2/K)."""
        return self.nusselt_number * BLOOD.conductivity_unfrozen_W_per_m_K / self.diameter_m

    @property
    def direction(self) -> tuple[float, float, float]:
        a = math.radians(self.angle_deg)
        return (0.0, math.sin(a), math.cos(a))

    @property
    def center_m(self) -> tuple[float, float, float]:
        return (self.distance_m, 0.0, self.z_m)


def _vector3(field: str, value: object, low: float, high: float) -> tuple[float, float, float]:
    """``value`` as three floats in [low, high] (m), else a ScenarioError naming ``field``."""
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ScenarioError(field, value, f"three numbers [x, y, z] in [{low:g}, {high:g}]")
    x, y, z = (check_range(f"{field}[{i}]", v, low, high) for i, v in enumerate(value))
    return (x, y, z)


@dataclass(frozen=True)
class ProbePlacement:
    """Another probe of the same model: distal end at ``position_m``, axis ``direction``."""

    position_m: tuple[float, float, float]
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        pos = _vector3("extra_probes.position_m", self.position_m, -0.05, 0.05)
        d = _vector3("extra_probes.direction", self.direction, -1e3, 1e3)
        n = math.sqrt(sum(v * v for v in d))
        if n == 0.0:
            raise ScenarioError("extra_probes.direction", self.direction, "a non-zero 3-vector")
        object.__setattr__(self, "position_m", pos)
        object.__setattr__(self, "direction", tuple(v / n for v in d))


#: Smallest gap (m) allowed between two objects of a scene (probe, bone,
#: vessel): a mesh needs a few cells between two surfaces, and the finest
#: cells are 0.02-0.05 mm at resolution 1 (fem/geometry.py SIZES_2D_M).
CLEARANCE_M = 0.1e-3


def _ray_line_distance_m(p0: tuple[float, ...], u: tuple[float, ...], q0: tuple[float, ...], v: tuple[float, ...],
                         line_is_ray: bool = False) -> float:
    """Shortest distance between the ray p0 + s u (s >= 0) and the line (or ray) q0 + t v (unit vectors)."""
    import numpy as np

    p0a, ua, q0a, va = (np.asarray(x, float) for x in (p0, u, q0, v))
    w = p0a - q0a
    b = float(ua @ va)
    d, e = float(ua @ w), float(va @ w)
    den = 1.0 - b * b
    candidates = []
    if den > 1e-12:
        s = (b * e - d) / den
        t = (e - b * d) / den
        candidates.append((max(s, 0.0), t))
    # ends: s = 0 with the best t; and, for a ray, t = 0 with the best s
    candidates.append((0.0, e))
    if line_is_ray:
        candidates.append((max(-d, 0.0), 0.0))
    best = np.inf
    for s, t in candidates:
        if line_is_ray:
            t = max(t, 0.0)
            s = max(float(ua @ (q0a + t * va - p0a)), 0.0)
        elif den > 1e-12 or s == 0.0:
            t = float(va @ (p0a + s * ua - q0a))
        best = min(best, float(np.linalg.norm(p0a + s * ua - q0a - t * va)))
    return best


def check_clearances(probe_radius_m: float, bone: BonePlate | None, vessels: tuple[Vessel, ...],
                     extra_probes: tuple[ProbePlacement, ...]) -> None:
    """Refuse a scene whose objects intersect or touch (closer than :data:`CLEARANCE_M`).

    Every probe is a ray of radius ``probe_radius_m`` from its distal end up its
    axis (the shaft leaves the medium); vessels are infinite cylinders; the bone
    is the half-space beyond its near plane.
    """
    rp = probe_radius_m
    probes = [((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), "probe")] + [
        (p.position_m, p.direction, f"extra_probes[{i}]") for i, p in enumerate(extra_probes)]
    if bone is not None:
        n = bone.normal
        for pos, d, name in probes:
            # highest point of the probe's cylinder along the bone normal (the ray runs away from the bone or along it)
            along = sum(a * b for a, b in zip(d, n))
            radial = math.sqrt(max(0.0, 1.0 - along * along)) * rp
            reach = sum(a * b for a, b in zip(pos, n)) + radial + (math.inf if along > 1e-12 else 0.0)
            if reach > bone.distance_m - CLEARANCE_M:
                raise ScenarioError("bone.distance_m", bone.distance_m,
                                    f"a bone that clears {name} by at least {CLEARANCE_M:g} m (the probe reaches "
                                    f"{reach:.3g} m along the bone normal)")
    for i, v in enumerate(vessels):
        for pos, d, name in probes:
            gap = _ray_line_distance_m(pos, d, v.center_m, v.direction) - rp - 0.5 * v.diameter_m
            if gap < CLEARANCE_M:
                raise ScenarioError(f"vessels[{i}].distance_m", v.distance_m,
                                    f"a vessel clear of {name} by at least {CLEARANCE_M:g} m (the gap is {gap:.3g} m)")
    for i in range(len(probes)):
        for j in range(i + 1, len(probes)):
            (p, d, a), (q, e, b) = probes[i], probes[j]
            gap = _ray_line_distance_m(p, d, q, e, line_is_ray=True) - 2.0 * rp
            if gap < CLEARANCE_M:
                raise ScenarioError(f"{b}.position_m", q,
                                    f"a probe clear of {a} by at least {CLEARANCE_M:g} m (the gap is {gap:.3g} m)")
