"""Cryoprobe geometry and coolant.

A probe is a closed-tip needle: an *active tip* (the part cooled by the
expanding gas, flat end included) on an *insulated shaft* (vacuum jacket).
Its diameter comes from the needle gauge (ISO 9626 nominal outer diameters)
or is given directly.

The coolant, when named, sets the thermal floor: the tip cannot be colder
than the gas boiling point at the exhaust pressure, about -88 °C for N2O and
-79 °C for CO2 (seed document 002, "Point d'ébullition des gaz = plancher
thermique"; NIST Chemistry WebBook: normal boiling point of N2O 184.67 K,
sublimation point of CO2 194.69 K at 1 atm).

A probe may name a *design* (``design = "..."``, :mod:`cryosim.physics.catalogue`):
a Joule–Thomson device whose gas flow, pressures and wall set the heat drawn
from the tip (:mod:`cryosim.physics.device`); its floor is then the device's
coldest gas temperature, computed from CoolProp.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..checks import ScenarioError, check_choice, check_range

__all__ = ["ISO_9626_OUTER_DIAMETER_MM", "Coolant", "COOLANTS", "Probe"]

#: ISO 9626:2016 nominal outer diameter (mm) of needle tubing by gauge.
ISO_9626_OUTER_DIAMETER_MM = MappingProxyType({
    10: 3.40, 11: 3.05, 12: 2.77, 13: 2.41, 14: 2.11, 15: 1.83, 16: 1.65,
    17: 1.47, 18: 1.27, 19: 1.07, 20: 0.91, 21: 0.82, 22: 0.72, 23: 0.64,
    24: 0.57, 25: 0.51, 26: 0.46, 27: 0.41,
})


@dataclass(frozen=True)
class Coolant:
    """A cryogen and the coldest tip temperature it can give (°C)."""

    name: str
    boiling_point_C: float
    source: str


COOLANTS = MappingProxyType({
    "N2O": Coolant("N2O", -88.0, "seed 002 (N2O -88 °C); NIST WebBook Tb = 184.67 K"),
    "CO2": Coolant("CO2", -79.0, "seed 002 (CO2 -79 °C); NIST WebBook Tsub = 194.69 K"),
    "Argon": Coolant("Argon", -185.8, "NIST WebBook: normal boiling point of argon 87.30 K"),
})

TIP_SHAPES = ("flat", "rounded", "sharp")


#: Operating values of a Joule-Thomson design a probe may change (fields of both Probe and ProbeDesign).
#: The last five are the uncertain values the catalogue designs state ranges for (``catalogue.design_ranges``).
DESIGN_OVERRIDES = ("supply_pressure_Pa", "exhaust_pressure_Pa", "orifice_diameter_m", "mass_flow_kg_per_s",
                    "supply_temperature_C", "discharge_coefficient", "recuperator_effectiveness",
                    "gas_heat_transfer_multiplier", "boiling_heat_transfer_W_per_m2_K")


@dataclass(frozen=True)
class Probe:
    """A cryoprobe.

    Parameters
    ----------
    outer_diameter_m : float
        Outer diameter of the needle (0.2-6 mm).
    active_length_m : float
        Length of the cooled tip, measured from the distal end (0.5-50 mm).
    shaft_length_m : float
        Length of insulated shaft represented in the model (it leaves the
        domain through the far boundary; only its insulation matters).
    tip_shape : {"flat", "rounded", "sharp"}
        Shape of the distal end. The fast axisymmetric solver represents a
        flat end; rounded and sharp tips need the finite-element solver.
    shaft_heat_transfer_W_per_m2_K : float
        Coupling of the shaft to the coolant: 0 for an ideal vacuum jacket.
    gauge : int or None
        Needle gauge the diameter was taken from, if any.
    coolant : str or None
        "N2O", "CO2", "Argon" or None (no thermal floor enforced).
    design : str or None
        Name of a probe design of the catalogue (:func:`cryosim.physics.catalogue.list_designs`):
        the probe is then a Joule–Thomson device, driven by ``Freeze(..., gas="on")``
        steps; build it with :func:`cryosim.physics.catalogue.probe_from_design`.
    design_floor_C : float or None
        The design's coldest gas temperature (°C), set by ``probe_from_design``.
    supply_pressure_Pa, exhaust_pressure_Pa, orifice_diameter_m, mass_flow_kg_per_s : float or None
        Operating values that replace the design's (only with ``design``; None:
        the design's): absolute gas supply and exhaust pressures (Pa), the
        orifice diameter (m) or the mass flow of one needle (kg/s; giving one
        of these two drops the design's other). What a device engineer varies
        in a sweep (``probe.supply_pressure_Pa``); checked by the design's own
        checks (:class:`cryosim.physics.device.ProbeDesign`).
    supply_temperature_C, discharge_coefficient, recuperator_effectiveness, gas_heat_transfer_multiplier, boiling_heat_transfer_W_per_m2_K : float or None
        Uncertain design values that replace the design's (only with
        ``design``; None: the design's): gas temperature at the probe inlet
        (°C), the orifice's discharge coefficient, the counter-flow
        recuperator's effectiveness, the factor on the gas-side correlation and
        the boiling coefficient (W/m²/K). The catalogue states a plausible range
        for each (:func:`cryosim.physics.catalogue.design_ranges`): what a band,
        a study (``probe.recuperator_effectiveness``) or a calibration varies.
        A value outside the stated range is accepted (a new design) if the
        design's own checks accept it; the range is then dropped.
    """

    outer_diameter_m: float
    active_length_m: float
    shaft_length_m: float = 0.03
    tip_shape: str = "flat"
    shaft_heat_transfer_W_per_m2_K: float = 0.0
    gauge: int | None = None
    coolant: str | None = None
    design: str | None = None
    design_floor_C: float | None = None
    supply_pressure_Pa: float | None = None
    exhaust_pressure_Pa: float | None = None
    orifice_diameter_m: float | None = None
    mass_flow_kg_per_s: float | None = None
    supply_temperature_C: float | None = None
    discharge_coefficient: float | None = None
    recuperator_effectiveness: float | None = None
    gas_heat_transfer_multiplier: float | None = None
    boiling_heat_transfer_W_per_m2_K: float | None = None

    def __post_init__(self) -> None:
        check_range("probe.outer_diameter_m", self.outer_diameter_m, 0.2e-3, 6e-3, unit="m")
        check_range("probe.active_length_m", self.active_length_m, 0.5e-3, 50e-3, unit="m")
        check_range("probe.shaft_length_m", self.shaft_length_m, 1e-3, 0.3, unit="m")
        check_choice("probe.tip_shape", self.tip_shape, TIP_SHAPES)
        check_range("probe.shaft_heat_transfer_W_per_m2_K", self.shaft_heat_transfer_W_per_m2_K, 0.0, 1e4, unit="W/m2/K")
        if self.gauge is not None:
            check_choice("probe.gauge", self.gauge, ISO_9626_OUTER_DIAMETER_MM)
        if self.coolant is not None:
            check_choice("probe.coolant", self.coolant, COOLANTS)
        if self.design_floor_C is not None:
            check_range("probe.design_floor_C", self.design_floor_C, -273.15, 0.0, unit="°C")
        for key, value in self.design_overrides().items():
            if self.design is None:
                raise ScenarioError(f"probe.{key}", value, "no value without a probe design (design = \"...\", "
                                    "see `cryosim probes`): it changes a Joule-Thomson design's operation")
        if self.orifice_diameter_m is not None and self.mass_flow_kg_per_s is not None:
            raise ScenarioError("probe.mass_flow_kg_per_s", self.mass_flow_kg_per_s,
                                "either orifice_diameter_m or mass_flow_kg_per_s, not both")

    def design_overrides(self) -> dict[str, float]:
        """The operating values given (not None) that replace the design's (see the class docstring)."""
        return {k: float(getattr(self, k)) for k in DESIGN_OVERRIDES if getattr(self, k) is not None}

    @classmethod
    def from_gauge(cls, gauge: int, active_length_m: float, **kwargs: object) -> "Probe":
        """Probe whose diameter is the ISO 9626 nominal outer diameter of ``gauge``."""
        check_choice("probe.gauge", gauge, ISO_9626_OUTER_DIAMETER_MM)
        d = ISO_9626_OUTER_DIAMETER_MM[gauge] * 1e-3
        return cls(outer_diameter_m=d, active_length_m=active_length_m, gauge=gauge, **kwargs)  # type: ignore[arg-type]

    @property
    def radius_m(self) -> float:
        return 0.5 * self.outer_diameter_m

    @property
    def min_tip_temperature_C(self) -> float | None:
        """Thermal floor set by the coolant (a design: its coldest gas temperature, for a 37 °C tissue), or None."""
        if self.design_floor_C is not None:
            return self.design_floor_C
        return None if self.coolant is None else COOLANTS[self.coolant].boiling_point_C

    def check_tip_temperature(self, field: str, value_C: float) -> None:
        """Refuse a tip temperature colder than the coolant allows."""
        floor = self.min_tip_temperature_C
        if floor is not None and value_C < floor:
            raise ScenarioError(
                field, value_C,
                f"a tip temperature >= {floor:g} °C (boiling point of {self.coolant}, the thermal floor)"
                if self.design is None else
                f"a tip temperature >= {floor:.1f} °C (coldest gas temperature of design {self.design!r})",
            )
