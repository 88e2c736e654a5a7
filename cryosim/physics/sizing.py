r"""How big the ice ball and its thermal disturbance can get: one estimate for every mesher.

Used to size the medium (its far boundary must not feel the probe) and to
place the fine cells where the ice front passes. Both solvers use these
functions; only a coarse upper bound is needed, so they are analytic.
"""

from __future__ import annotations

import math

from ..checks import ScenarioError
from .exact import neumann_lambda, steady_sphere_radius_m
from .materials import Material
from .probe import Probe
from .protocol import Freeze, Protocol

__all__ = ["coldest_tip_C", "expected_ice_distance_m", "domain_radius_m", "mesh_duration_s", "mesh_tip_C",
           "MIN_DOMAIN_RADIUS_M", "MAX_DOMAIN_RADIUS_M", "TYPICAL_TIP_C"]

#: Smallest medium radius (m): room for the mesh grading around any probe.
MIN_DOMAIN_RADIUS_M = 10e-3
#: Largest medium radius (m), the limit of ``numerics.domain_radius_m`` too:
#: half a metre of tissue around a needle is more than any body part offers.
MAX_DOMAIN_RADIUS_M = 0.5
#: Tip reading assumed for a power-driven freeze without a coolant floor (°C):
#: cryoneurolysis probes run at -50 to -90 °C (seed 002); the middle of that range.
TYPICAL_TIP_C = -70.0
#: Frozen diffusion lengths and unfrozen ones in the domain radius: the ice
#: front stays within 2 frozen lengths (the Neumann constant is below 1 for
#: these Stefan numbers), the disturbance ahead of it falls below erfc(3) ~
#: 2e-5 of the temperature drop within 6 unfrozen lengths (Carslaw & Jaeger
#: 1959, section 2.4).
FROZEN_LENGTHS, UNFROZEN_LENGTHS = 2.0, 6.0

#: Mesh classes. The medium and its fine front zone are sized for the protocol's durations rounded up to
#: MESH_DURATION_BASE_S x 2^k (k >= 0) and its coldest tip rounded down to MESH_TIP_WARMEST_C or a multiple of
#: MESH_TIP_STEP_K below it, so that runs that differ only in tip temperature (-50 ... -90 °C: one class) or
#: in a duration within a factor of 2 share one mesh: a colder tip or a longer freeze is then compared on the
#: same cells, and sweeps reuse the mesh (numerical choices: the bounds only need to be upper bounds; a larger
#: class costs a few far cells). Before, each member of a pair got its own grid and on coarse grids
#: (resolution 0.25-0.35) a colder tip gave a smaller ice ball in 8 of 330 fuzz pairs.
MESH_DURATION_BASE_S = 60.0
MESH_TIP_WARMEST_C = -90.0
MESH_TIP_STEP_K = 30.0


def mesh_duration_s(duration_s: float) -> float:
    """``duration_s`` rounded up to its mesh class, :data:`MESH_DURATION_BASE_S` x 2^k (k >= 0: 60, 120, 240, ...
    s). Every protocol of a minute or less is one class: below it the grids are a few hundred cells at the
    coarsest resolutions, and two of them (a 6.8 s and a 10.2 s freeze of a 23 G probe in water at resolution
    0.25: 90 and 110 cells) gave a longer freeze a 3 % smaller ice ball."""
    if duration_s <= MESH_DURATION_BASE_S:
        return MESH_DURATION_BASE_S
    k = math.ceil(math.log2(duration_s / MESH_DURATION_BASE_S) - 1e-12)
    return MESH_DURATION_BASE_S * 2.0 ** k


def mesh_tip_C(tip_C: float) -> float:
    """``tip_C`` rounded down to its mesh class: :data:`MESH_TIP_WARMEST_C`, or a multiple of
    :data:`MESH_TIP_STEP_K` below it."""
    if tip_C >= MESH_TIP_WARMEST_C:
        return MESH_TIP_WARMEST_C
    return MESH_TIP_WARMEST_C - MESH_TIP_STEP_K * math.ceil((MESH_TIP_WARMEST_C - tip_C) / MESH_TIP_STEP_K - 1e-12)


def coldest_tip_C(probe: Probe, protocol: Protocol) -> float:
    """Coldest tip (or coolant) temperature the protocol commands (°C)."""
    temps = [T for s in protocol.steps if isinstance(s, Freeze) for T in s.temperatures_C()]
    if temps:
        return min(temps)
    floor = probe.min_tip_temperature_C
    return TYPICAL_TIP_C if floor is None else floor


def expected_ice_distance_m(probe: Probe, protocol: Protocol, medium: Material, initial_temperature_C: float,
                            mesh_class: bool = False) -> float:
    r"""Estimated largest distance (m) of the ice front from the active surface.

    The smaller of two upper bounds, for the coldest tip temperature
    :math:`T_p` of the protocol and the total freezing time :math:`t`:

    * steady ice ball around the sphere of equal area to the active tip,
      :math:`k_f (T_f - T_p) r_p / (R - r_p) = k_u (T_a - T_f)(1 + m R)`
      (:func:`cryosim.physics.exact.steady_sphere_radius_m`), minus that sphere's
      radius;
    * the planar Neumann front :math:`2 \lambda \sqrt{\alpha_f t}`
      (:func:`cryosim.physics.exact.neumann_lambda`), which a curved front never
      overtakes.

    At least two probe radii. Only used to place fine cells and size the domain. With ``mesh_class`` the tip
    temperature and the freezing time are those of the protocol's mesh class (:func:`mesh_tip_C`,
    :func:`mesh_duration_s`): the zone the meshers refine.
    """
    m, p = medium, probe
    Tp, Tf, Ta = coldest_tip_C(probe, protocol), m.liquidus_C, initial_temperature_C
    if mesh_class:
        Tp = mesh_tip_C(Tp)
    if Tp >= Tf:
        return 2.0 * p.radius_m
    area = 2.0 * math.pi * p.radius_m * p.active_length_m + math.pi * p.radius_m**2
    r_eq = math.sqrt(area / (4.0 * math.pi))
    beta = m.perfusion_beta_W_per_m3_K
    R = steady_sphere_radius_m(r_eq, Tp, Tf, Ta, m.conductivity_frozen_W_per_m_K, m.conductivity_unfrozen_W_per_m_K,
                               beta)
    t = sum(s.duration_s for s in protocol.steps if isinstance(s, Freeze))
    if mesh_class:
        t = mesh_duration_s(t)
    lam = neumann_lambda(m.conductivity_frozen_W_per_m_K, m.conductivity_unfrozen_W_per_m_K,
                         m.heat_capacity_frozen_J_per_m3_K, m.heat_capacity_unfrozen_J_per_m3_K,
                         m.latent_heat_J_per_m3, Tp, Tf, Ta)
    planar = 2.0 * lam * math.sqrt(m.diffusivity_frozen_m2_per_s * t)
    return max(min(R - r_eq, planar), 2.0 * p.radius_m)


def domain_radius_m(probe: Probe, protocol: Protocol, medium: Material, given_m: float | None = None) -> float:
    """Radius (m) of the medium around the probe (the axial extents default to it too).

    ``given_m`` (``numerics.domain_radius_m``) when set; else the probe radius plus
    :data:`FROZEN_LENGTHS` frozen and :data:`UNFROZEN_LENGTHS` unfrozen
    diffusion lengths over the protocol's duration rounded up to its mesh class
    (:func:`mesh_duration_s`), at least
    :data:`MIN_DOMAIN_RADIUS_M`. A protocol so long that this exceeds
    :data:`MAX_DOMAIN_RADIUS_M` is refused rather than silently cut short.
    """
    if given_m is not None:
        return given_m
    m = medium

    def radius_for(t: float) -> float:
        return max(MIN_DOMAIN_RADIUS_M, probe.radius_m + FROZEN_LENGTHS * math.sqrt(m.diffusivity_frozen_m2_per_s * t)
                   + UNFROZEN_LENGTHS * math.sqrt(m.diffusivity_unfrozen_m2_per_s * t))

    t = protocol.duration_s
    R = radius_for(t)
    if R > MAX_DOMAIN_RADIUS_M:
        raise ScenarioError("protocol.duration_s", t,
                            f"a protocol whose thermal disturbance fits in {MAX_DOMAIN_RADIUS_M:g} m of medium "
                            f"(this one needs {R:.2f} m); set numerics.domain_radius_m (at most "
                            f"{MAX_DOMAIN_RADIUS_M:g} m) to accept a far boundary that feels the probe")
    # the mesh class's radius, within the largest medium (a protocol that fits keeps fitting)
    R = min(radius_for(mesh_duration_s(t)), MAX_DOMAIN_RADIUS_M)
    return R
