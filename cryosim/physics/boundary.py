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
    no flux;
``TABULATED_FLUX``
    a Joule–Thomson device (:mod:`cryosim.physics.device`): the flux into
    the medium is the piecewise-linear table ``table_flux_W_per_m2`` (<= 0)
    over the surface temperatures ``table_T_C`` (increasing), 0 below the
    first temperature (the device's coldest gas temperature, also in
    ``temperature_C``), the last value above the last temperature.
    ``wall_heat_capacity_J_per_m2_K`` is the probe wall's heat capacity per
    unit active area: the surface obeys
    :math:`C_w\, dT_s/dt = q_{tissue \to wall} + q_{table}(T_s)`
    (solvers lump it onto the surface nodes). ADIABATIC conditions given by
    a device carry it too (the wall is still there when the gas stops).

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
    "ProtocolTip", "DeviceTip", "Shaft", "BoundarySet", "probe_boundaries", "tip_boundaries", "FLOOR_RAMP_K", "N_SURFACES",
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
    TABULATED_FLUX = 5


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
    table_T_C: tuple[float, ...] = ()
    table_flux_W_per_m2: tuple[float, ...] = ()
    wall_heat_capacity_J_per_m2_K: float = 0.0

    def flux_into_medium_W_per_m2(self, surface_temperature_C: float | np.ndarray) -> float | np.ndarray:
        """Flux into the medium for a given surface temperature (not for TEMPERATURE)."""
        Ts = surface_temperature_C
        if self.kind == BCKind.TABULATED_FLUX:
            return np.interp(Ts, self.table_T_C, self.table_flux_W_per_m2, left=0.0)
        if self.kind == BCKind.CONVECTIVE:
            return self.heat_transfer_W_per_m2_K * (self.temperature_C - Ts)
        if self.kind == BCKind.FLUX:
            return self.flux_W_per_m2 + 0.0 * Ts
        if self.kind == BCKind.LIMITED_FLUX:
            return self.flux_W_per_m2 * np.clip((Ts - self.temperature_C) / FLOOR_RAMP_K, 0.0, 1.0)
        if self.kind == BCKind.ADIABATIC:
            return 0.0 * Ts
        raise ValueError("a TEMPERATURE condition has no flux law: its flux is the reaction")

    def flux_slope_W_per_m2_K(self, surface_temperature_C: float | np.ndarray) -> float | np.ndarray:
        """d(flux into the medium)/d(surface temperature) of a TABULATED_FLUX condition (for Newton Jacobians).

        The slope of the table segment holding the temperature (right-hand
        segment at a table point); 0 below the first and above the last point.
        """
        if self.kind != BCKind.TABULATED_FLUX:
            raise ValueError("flux_slope_W_per_m2_K is for TABULATED_FLUX conditions")
        T = np.asarray(self.table_T_C)
        q = np.asarray(self.table_flux_W_per_m2)
        slopes = np.concatenate([[0.0], np.diff(q) / np.diff(T), [0.0]])
        out = slopes[np.searchsorted(T, surface_temperature_C, side="right")]
        return float(out) if np.ndim(out) == 0 else out


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


def _gas_on(step: object) -> bool:
    return isinstance(step, Freeze) and getattr(step, "gas", None) == "on"


@dataclass(frozen=True)
class DeviceTip(BoundaryCondition):
    """The active tip of a Joule–Thomson probe design driven by a protocol.

    ``Freeze(gas="on")``: :data:`BCKind.TABULATED_FLUX` with the device's
    table over ``active_area_m2`` (the solver's active area, so that the heat
    drawn in watts is the device's whatever the mesh). Other freeze steps and
    thaws: as :class:`ProtocolTip` (floor: the device's coldest gas
    temperature); ADIABATIC conditions carry the wall's heat capacity.
    ``device``: a :class:`cryosim.physics.device.JTDevice`.

    What a solver or tracker records, all pure: :meth:`heat_drawn_W`,
    :meth:`thermistor_C`, :meth:`gas_used_kg`.
    """

    protocol: Protocol
    device: object
    active_area_m2: float
    surface: Surface = Surface.ACTIVE

    def __post_init__(self) -> None:
        dev = self.device
        T, q = dev.flux_table(self.active_area_m2)  # type: ignore[attr-defined]
        cw = dev.wall_heat_capacity_J_per_m2_K  # type: ignore[attr-defined]
        object.__setattr__(self, "_gas", SurfaceCondition(BCKind.TABULATED_FLUX, float(T[0]), table_T_C=T,
                                                         table_flux_W_per_m2=q, wall_heat_capacity_J_per_m2_K=cw))
        object.__setattr__(self, "_off", SurfaceCondition(BCKind.ADIABATIC, wall_heat_capacity_J_per_m2_K=cw))
        object.__setattr__(self, "_other", ProtocolTip(self.protocol, self.active_area_m2, float(T[0]), self.surface))

    def at(self, t_s: float) -> SurfaceCondition:
        step, _ = self.protocol.step_at(t_s)
        if _gas_on(step):
            return self._gas  # type: ignore[attr-defined,no-any-return]
        c = self._other.at(t_s)  # type: ignore[attr-defined]
        return self._off if c.kind == BCKind.ADIABATIC else c  # type: ignore[attr-defined,no-any-return]

    def breakpoints_s(self) -> list[float]:
        return list(self.protocol.breakpoints_s())

    def heat_drawn_W(self, t_s: float, surface_temperature_C: float) -> float:
        """Heat drawn from the medium through the active area at ``t_s`` for a surface temperature (W; >= 0).

        0 when the gas is off; for other conditions than the table use the solver's own flux.
        """
        c = self.at(t_s)
        if c.kind != BCKind.TABULATED_FLUX:
            return 0.0
        return -float(c.flux_into_medium_W_per_m2(surface_temperature_C)) * self.active_area_m2

    def thermistor_C(self, surface_temperature_C: float, flux_into_medium_W_per_m2: float) -> float:
        """Thermistor reading (°C) for a surface temperature and the flux into the medium (< 0 while cooling)."""
        from .device import thermistor_reading_C

        return float(thermistor_reading_C(surface_temperature_C, flux_into_medium_W_per_m2,
                                          self.device.thermistor_resistance_m2_K_per_W))  # type: ignore[attr-defined]

    def gas_on_s(self, t_s: float) -> float:
        """Seconds of gas flow from 0 to ``t_s`` (s)."""
        starts = self.protocol.step_starts_s()
        total = 0.0
        for t0, t1, step in zip(starts[:-1], starts[1:], self.protocol.steps):
            if _gas_on(step):
                total += max(0.0, min(t_s, t1) - t0)
        return total

    def gas_used_kg(self, t_s: float) -> float:
        """Coolant used by the handpiece (all its needles) from 0 to ``t_s`` (kg)."""
        return float(self.device.gas_used_kg(self.gas_on_s(t_s)))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Shaft(BoundaryCondition):
    """The shaft rule (module docstring): convective to the coolant while the tip cools, else adiabatic."""

    tip: ProtocolTip | DeviceTip
    heat_transfer_W_per_m2_K: float
    far_temperature_C: float
    surface: Surface = Surface.SHAFT

    def at(self, t_s: float) -> SurfaceCondition:
        if self.heat_transfer_W_per_m2_K <= 0.0:
            return ADIABATIC_CONDITION
        c = self.tip.at(t_s)
        cooling = c.kind in (BCKind.TEMPERATURE, BCKind.CONVECTIVE) and c.temperature_C < self.far_temperature_C
        # a device's return gas runs up the shaft; its temperature is taken as the coldest gas temperature
        cooling = cooling or c.kind == BCKind.TABULATED_FLUX
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

    def wall_heat_capacity_J_per_m2_K(self, surface: Surface) -> float:
        """Heat capacity per area (J/m²/K) of the probe wall on ``surface``, for the whole run.

        The wall is there whatever the condition of the moment: the largest
        ``wall_heat_capacity_J_per_m2_K`` its conditions carry (a device's
        prescribed-temperature or convective steps carry none); 0 when no
        condition of ``surface`` carries one.
        """
        try:
            bc = self[surface]
        except KeyError:
            return 0.0
        return float(max(bc.at(t).wall_heat_capacity_J_per_m2_K for t in self._sample_times()))

    def table_of(self, surface: Surface) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(``table_T_C``, ``table_flux_W_per_m2``) of the TABULATED_FLUX condition of ``surface``, or None.

        One table per run (a device's gas-on law); a solver that compiles it
        once checks that every TABULATED_FLUX condition it meets carries it.
        """
        try:
            bc = self[surface]
        except KeyError:
            return None
        for t in self._sample_times():
            c = bc.at(t)
            if c.kind == BCKind.TABULATED_FLUX:
                return c.table_T_C, c.table_flux_W_per_m2
        return None

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


def probe_boundaries(probe: Probe, protocol: Protocol, active_area_m2: float, far_temperature_C: float, *,
                     device_tip: bool = False) -> BoundarySet:
    """The probe's tip and shaft conditions and the far field, for a mesh whose active area is ``active_area_m2``.

    A protocol with ``Freeze(gas="on")`` steps needs a probe design and a
    solver that consumes :data:`BCKind.TABULATED_FLUX`: such a solver passes
    ``device_tip=True`` and gets a :class:`DeviceTip` (its table spans the
    coldest gas temperature to ``far_temperature_C``); otherwise this refuses.
    """
    if any(_gas_on(s) for s in protocol.steps):
        if probe.design is None:
            raise ValueError('Freeze(gas="on") needs a probe design (probe.design)')
        if not device_tip:
            raise NotImplementedError('this solver does not consume the device model (BCKind.TABULATED_FLUX) yet: '
                                      'Freeze(gas="on") steps cannot run with it')
        from .catalogue import design_of
        from .device import jt_device

        dev = jt_device(design_of(probe), float(max(far_temperature_C, 0.0)))
        tip = DeviceTip(protocol, dev, active_area_m2)
        return BoundarySet((tip, Shaft(tip, probe.shaft_heat_transfer_W_per_m2_K, far_temperature_C),
                            FixedTemperature(Surface.FAR, far_temperature_C)))
    return tip_boundaries(protocol, active_area_m2, far_temperature_C, floor_C=probe.min_tip_temperature_C,
                          shaft_heat_transfer_W_per_m2_K=probe.shaft_heat_transfer_W_per_m2_K)
