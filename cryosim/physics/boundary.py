r"""Boundary conditions as objects, built once from the probe, the protocol and the scene.

Both solvers consume the same objects: at any time ``t`` each boundary
gives a :class:`SurfaceCondition`, one of

``TEMPERATURE``
    the surface is held at ``temperature_C`` (Dirichlet);
``CONVECTIVE``
    heat flux into the medium :math:`q = h (T_\infty - T_s)` with
    ``heat_transfer_W_per_m2_K`` = h and ``temperature_C`` = :math:`T_\infty`
    (a coolant seen through a wall, a vessel, warm gas);
``FLUX``
    a prescribed flux into the medium ``flux_W_per_m2`` (negative: drawn out);
``LIMITED_FLUX``
    a flux drawn out by a cooler of limited power that cannot cool below a
    floor: :math:`q = q_0\, \mathrm{ramp}((T_s - T_{floor}) / \Delta T)` with
    ``flux_W_per_m2`` = :math:`q_0 < 0`, ``temperature_C`` = :math:`T_{floor}`
    (the coolant's boiling point at the exhaust pressure, seed 002) and
    :math:`\mathrm{ramp}(x) = \min(1, \max(0, x))` over
    :data:`FLOOR_RAMP_K`: the power is delivered in full until the surface
    comes within a kelvin of the floor, and never takes it below;
``ADIABATIC``
    no flux.

Surfaces (one numbering for every solver and mesher): :class:`Surface`.

The *shaft rule* (one place): the insulated shaft exchanges heat with the
coolant through ``probe.shaft_heat_transfer_W_per_m2_K`` while the tip is
cooled by a coolant colder than the far field (a prescribed or convective
cooling tip); otherwise it is adiabatic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .probe import Probe
from .protocol import Freeze, Protocol, Thaw

__all__ = [
    "BCKind", "Surface", "SurfaceCondition", "BoundaryCondition", "FixedTemperature", "Adiabatic",
    "ProtocolTip", "Shaft", "BoundarySet", "probe_boundaries", "tip_boundaries", "FLOOR_RAMP_K", "N_SURFACES",
]

#: Width (K) of the ramp over which a power-limited cooler fades out above its
#: floor. A numerical regularisation of the kink (results change by less than
#: the ramp width in tip temperature), not a physical parameter.
FLOOR_RAMP_K = 1.0


class BCKind(IntEnum):
    TEMPERATURE = 0
    CONVECTIVE = 1
    FLUX = 2
    LIMITED_FLUX = 3
    ADIABATIC = 4


class Surface(IntEnum):
    """Boundary surfaces; the values are the gmsh physical tags too (which must be positive)."""

    ACTIVE = 1  # cooled tip of the main probe (flat end included)
    SHAFT = 2  # insulated shaft
    FAR = 3  # far boundary of the medium (held at the initial temperature)
    AXIS = 4  # symmetry axis of (r, z) meshes (natural: zero flux)


#: Size of per-surface arrays indexed by :class:`Surface` value (index 0 unused).
N_SURFACES = max(Surface) + 1


@dataclass(frozen=True)
class SurfaceCondition:
    """The condition on one surface at one instant (see the module docstring)."""

    kind: BCKind
    temperature_C: float = 0.0
    heat_transfer_W_per_m2_K: float = 0.0
    flux_W_per_m2: float = 0.0

    def flux_into_medium_W_per_m2(self, surface_temperature_C: float | np.ndarray) -> float | np.ndarray:
        """Flux into the medium for a given surface temperature (not for TEMPERATURE)."""
        Ts = surface_temperature_C
        if self.kind == BCKind.CONVECTIVE:
            return self.heat_transfer_W_per_m2_K * (self.temperature_C - Ts)
        if self.kind == BCKind.FLUX:
            return self.flux_W_per_m2 + 0.0 * Ts
        if self.kind == BCKind.LIMITED_FLUX:
            return self.flux_W_per_m2 * np.clip((Ts - self.temperature_C) / FLOOR_RAMP_K, 0.0, 1.0)
        if self.kind == BCKind.ADIABATIC:
            return 0.0 * Ts
        raise ValueError("a TEMPERATURE condition has no flux law: its flux is the reaction")


ADIABATIC_CONDITION = SurfaceCondition(BCKind.ADIABATIC)


class BoundaryCondition:
    """A condition on one :class:`Surface` over time."""

    surface: Surface

    def at(self, t_s: float) -> SurfaceCondition:  # pragma: no cover - interface
        raise NotImplementedError

    def breakpoints_s(self) -> list[float]:
        """Times where the condition jumps or changes slope."""
        return []


@dataclass(frozen=True)
class FixedTemperature(BoundaryCondition):
    surface: Surface
    temperature_C: float

    def at(self, t_s: float) -> SurfaceCondition:
        return SurfaceCondition(BCKind.TEMPERATURE, self.temperature_C)


@dataclass(frozen=True)
class Adiabatic(BoundaryCondition):
    surface: Surface

    def at(self, t_s: float) -> SurfaceCondition:
        return ADIABATIC_CONDITION


@dataclass(frozen=True)
class ProtocolTip(BoundaryCondition):
    """The active tip driven by a freeze / thaw protocol.

    Freeze: a prescribed tip temperature (the thermistor reading taken as
    the surface temperature), a coolant temperature through a coefficient,
    or a power drawn out down to ``floor_C``. Thaw: passive (adiabatic tip,
    the gas stopped) or active (tip held at the thaw temperature).
    ``active_area_m2`` converts a power into a flux.
    """

    protocol: Protocol
    active_area_m2: float
    floor_C: float
    surface: Surface = Surface.ACTIVE

    def at(self, t_s: float) -> SurfaceCondition:
        step, t_in = self.protocol.step_at(t_s)
        if isinstance(step, Thaw):
            if step.mode == "active":
                return SurfaceCondition(BCKind.TEMPERATURE, float(step.temperature_C))  # type: ignore[arg-type]
            return ADIABATIC_CONDITION
        assert isinstance(step, Freeze)
        if step.power_W is not None:
            return SurfaceCondition(BCKind.LIMITED_FLUX, self.floor_C, flux_W_per_m2=-step.power_W / self.active_area_m2)
        T = step.tip_temperature_at(t_in)
        if step.heat_transfer_W_per_m2_K is not None:
            return SurfaceCondition(BCKind.CONVECTIVE, T, step.heat_transfer_W_per_m2_K)
        return SurfaceCondition(BCKind.TEMPERATURE, T)

    def breakpoints_s(self) -> list[float]:
        return list(self.protocol.breakpoints_s())


@dataclass(frozen=True)
class Shaft(BoundaryCondition):
    """The shaft rule (module docstring): convective to the coolant while the tip cools, else adiabatic."""

    tip: ProtocolTip
    heat_transfer_W_per_m2_K: float
    far_temperature_C: float
    surface: Surface = Surface.SHAFT

    def at(self, t_s: float) -> SurfaceCondition:
        if self.heat_transfer_W_per_m2_K <= 0.0:
            return ADIABATIC_CONDITION
        c = self.tip.at(t_s)
        cooling = c.kind in (BCKind.TEMPERATURE, BCKind.CONVECTIVE) and c.temperature_C < self.far_temperature_C
        if not cooling:
            return ADIABATIC_CONDITION
        return SurfaceCondition(BCKind.CONVECTIVE, c.temperature_C, self.heat_transfer_W_per_m2_K)

    def breakpoints_s(self) -> list[float]:
        return self.tip.breakpoints_s()


@dataclass(frozen=True)
class BoundarySet:
    """Every boundary condition of a run, by surface."""

    conditions: tuple[BoundaryCondition, ...]

    def __post_init__(self) -> None:
        seen = [c.surface for c in self.conditions]
        if len(set(seen)) != len(seen):
            raise ValueError(f"one condition per surface, got {seen}")

    def __getitem__(self, surface: Surface) -> BoundaryCondition:
        for c in self.conditions:
            if c.surface == surface:
                return c
        raise KeyError(surface)

    def at(self, t_s: float) -> dict[Surface, SurfaceCondition]:
        return {c.surface: c.at(t_s) for c in self.conditions}

    def breakpoints_s(self) -> np.ndarray:
        pts: list[float] = []
        for c in self.conditions:
            pts += c.breakpoints_s()
        return np.unique(np.asarray(pts, float))

    def coldest_C(self) -> float:
        """Coldest temperature any condition can impose (for physical guards)."""
        temps = [c.at(t).temperature_C for c in self.conditions for t in self._sample_times()
                 if c.at(t).kind != BCKind.ADIABATIC]
        return float(min(temps)) if temps else np.inf

    def _sample_times(self) -> list[float]:
        bps = self.breakpoints_s()
        mids = 0.5 * (bps[:-1] + bps[1:]) if bps.size > 1 else np.array([])
        return sorted(set(bps.tolist()) | set(mids.tolist()) | {0.0})


#: Floor when no coolant is named: liquid nitrogen's normal boiling point,
#: -195.8 °C (NIST WebBook, N2: Tb = 77.35 K), the coldest cryogen in use.
LN2_BOILING_POINT_C = -195.8


def tip_boundaries(protocol: Protocol, active_area_m2: float, far_temperature_C: float, *, floor_C: float | None,
                   shaft_heat_transfer_W_per_m2_K: float = 0.0, far_field: bool = True) -> BoundarySet:
    """Tip driven by ``protocol``, the shaft rule, and the far field (held at ``far_temperature_C`` or adiabatic).

    ``floor_C``: coldest temperature the cooler can reach (None: liquid nitrogen's boiling point).
    """
    tip = ProtocolTip(protocol, active_area_m2, LN2_BOILING_POINT_C if floor_C is None else floor_C)
    far: BoundaryCondition = FixedTemperature(Surface.FAR, far_temperature_C) if far_field else Adiabatic(Surface.FAR)
    return BoundarySet((tip, Shaft(tip, shaft_heat_transfer_W_per_m2_K, far_temperature_C), far))


def probe_boundaries(probe: Probe, protocol: Protocol, active_area_m2: float, far_temperature_C: float) -> BoundarySet:
    """The probe's tip and shaft conditions and the far field, for a mesh whose active area is ``active_area_m2``."""
    return tip_boundaries(protocol, active_area_m2, far_temperature_C, floor_C=probe.min_tip_temperature_C,
                          shaft_heat_transfer_W_per_m2_K=probe.shaft_heat_transfer_W_per_m2_K)
