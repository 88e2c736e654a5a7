r"""A Joule–Thomson cryoprobe as a device: from its design data to a surface flux law.

The solvers never call CoolProp. From a :class:`ProbeDesign` (geometry,
gas, pressures, flow) :func:`jt_device` computes once a :class:`JTDevice`:
the heat the gas draws from the active surface as a function of the wall
temperature, ``Q_drawn(T_wall)`` (W per needle), tabulated on
:data:`TABLE_POINTS` temperatures from the coldest gas temperature up to the
initial tissue temperature (piecewise linear, increasing in ``T_wall``,
exactly 0 at and below the coldest temperature), plus the wall's heat
capacity and the thermistor's place.

The model (steady gas side: the gas crosses the tip in milliseconds, the
tissue changes over seconds)
------------------------------------------------------------------------
Supply :math:`(P_s, T_s)`, exhaust :math:`P_e` (absolute), mass flow
:math:`\dot m` per needle, :math:`h_{in} = h(P_s, T_s)`.

1. Coldest gas temperature :math:`T_x`. Single pass (no recuperator,
   :math:`\varepsilon_r = 0`): the isenthalpic expansion temperature
   :math:`T_{exp} = T(P_e, h_{in})`, which is the saturation temperature
   :math:`T_{sat}(P_e)` (the *floor*) when the expanded coolant is two-phase.
   With a counter-flow recuperator of effectiveness :math:`\varepsilon_r`
   (the return gas precools the supply), the energy balance around tip and
   recuperator at zero load gives :math:`T_x = (T_{exp} - \varepsilon_r T_s)/(1 - \varepsilon_r)`
   for an all-gas return, bounded below by :math:`T_{sat}` where liquid (or,
   CO2 below 5.18 bar, dry ice) accumulates at the tip: the Linde–Hampson
   cycle (Barron, *Cryogenic Systems*, 2nd ed., Oxford 1985, §3.3; Maytal &
   Pfotenhauer, *Miniature Joule–Thomson Cryocooling*, Springer 2013, ch. 2).
   Argon from room temperature expands to about -48 °C in one pass, far above
   its boiling point (-185.8 °C at 1 atm): without a recuperator its tip
   cannot go below that; the argon designs therefore state a recuperator.

2. Gas-side exchange over the inner wall of the active tip, area
   :math:`A_g` (:meth:`ProbeDesign.gas_area_m2`): the return vapour leaves the
   tip at :math:`T_{out} = T_x + \varepsilon\,(T_w - T_x)`, with
   :math:`\varepsilon = 1 - e^{-NTU}`, :math:`NTU = h_v A_g / (\dot m c_p)`
   (an isothermal wall, Incropera et al., *Fundamentals of Heat and Mass
   Transfer*, 6th ed., eq. 8.45b). :math:`h_v`: laminar :math:`Nu = 4.36`
   below Re = 2300, Gnielinski above 3000 (Incropera eqs. 8.53, 8.62),
   linear in between, with the lumen as hydraulic diameter (the supply
   capillary neglected), vapour properties at :math:`(P_e, T_x)`, times
   the design's ``gas_heat_transfer_multiplier`` (1 by default: a fully
   developed pipe-flow correlation ignores the jet leaving the orifice and
   impinging on the tip and the entry length, both of which raise it, and
   frost or oil films, which lower it; the multiplier states that uncertainty).

3. Heat drawn: the energy balance from the supply to the warm end of the
   return, :math:`Q_{gas} = \dot m\,[h(P_e, T_r) - h_{in}]`,
   :math:`T_r = T_{out} + \varepsilon_r (T_s - T_{out})` (single pass:
   :math:`Q = \dot m [h(P_e, T_{out}) - h_{in}]`). While liquid boils at the
   tip the wall can only pass :math:`h_b A_g (T_w - T_{sat})` to it, with an
   evaporation coefficient :math:`h_b` stated per design:
   :math:`Q = \min(Q_{gas}, h_b A_g (T_w - T_x))`. Both terms increase with
   :math:`T_w`; :math:`Q = 0` for :math:`T_w \le T_x`. So the flux never takes
   the wall below the floor.

4. The wall (stainless steel 304, ρ = 7900 kg/m³, c = 477 J/kg/K at 300 K,
   Incropera Table A.1) stores :math:`C_w = \rho c (r_o^2 - r_i^2)/(2 r_o)`
   per unit outer area (J/m²/K): the cool-down lag. (c of 304 falls to
   about 400 J/kg/K at 200 K: the lag is slightly overestimated.)

5. The thermistor sits inside the tip on the wall's gas side; its reading is
   :math:`T_{th} = T_s + q_{in}\,R_{th}`, with :math:`q_{in}` the flux into the
   medium (negative while heat is drawn) and :math:`R_{th}` (m²K/W) the
   resistance between the surface and the bead, stated per design;
   :math:`R_{th} = 0`: the reading is the surface temperature.

Left out: the boiling crisis (:math:`h_b` is taken constant to any wall
superheat; nucleate boiling cannot pass more than the critical heat flux,
about 2.1e5 W/m² for argon and 1.8e5 W/m² for nitrogen in pool boiling at
1 atm by Zuber's correlation, Incropera et al. 6th ed. eq. 10.7 with CoolProp
properties; the catalogue 2.4 mm argon design reaches it, flow boiling with
the orifice's jet can pass more: ``validation/littrup2009/diagnosis.md``),
pressure drop along the return (the exhaust pressure is taken at
the tip; a back-pressure is stated as the exhaust pressure's range), the cool-down of the recuperator itself, frost, the supply tube's
own capacity, heat conducted along the shaft, interaction between the
needles of a multi-needle handpiece (each needle gets ``mass flow / needles``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from ..checks import ScenarioError, check_range
from . import coolant as cl

__all__ = [
    "ProbeDesign", "JTDevice", "jt_device", "TABLE_POINTS", "STEEL_304_DENSITY_KG_PER_M3",
    "STEEL_304_SPECIFIC_HEAT_J_PER_KG_K", "STEEL_304_CONDUCTIVITY_W_PER_M_K", "thermistor_reading_C",
    "gas_heat_transfer_W_per_m2_K", "RANGED_FIELDS",
]

#: Temperatures in a device's flux table.
TABLE_POINTS = 64
#: AISI 304 at 300 K (Incropera, DeWitt, Bergman & Lavine, 6th ed., Table A.1).
STEEL_304_DENSITY_KG_PER_M3 = 7900.0
STEEL_304_SPECIFIC_HEAT_J_PER_KG_K = 477.0
STEEL_304_CONDUCTIVITY_W_PER_M_K = 14.9
_K = 273.15
#: Fields of :class:`ProbeDesign` that may carry a stated range of plausible values (``ranges``).
RANGED_FIELDS = (
    "outer_diameter_m", "wall_thickness_m", "active_length_m", "supply_pressure_Pa", "supply_temperature_C",
    "exhaust_pressure_Pa", "boiling_heat_transfer_W_per_m2_K", "mass_flow_kg_per_s", "orifice_diameter_m",
    "discharge_coefficient", "recuperator_effectiveness", "thermistor_resistance_m2_K_per_W",
    "gas_heat_transfer_multiplier",
)


@dataclass(frozen=True)
class ProbeDesign:
    """A Joule–Thomson probe's design data (one needle; ``needles`` identical ones share the flow).

    Give the mass flow per needle, or an orifice (diameter and discharge
    coefficient) and it follows from the choked real-gas flow
    (:func:`cryosim.physics.coolant.choked_mass_flow_kg_per_s`). ``sources``
    maps each field to where its value comes from (a citation or "assumed: ...").
    ``ranges`` maps an uncertain field (:data:`RANGED_FIELDS`) to its stated
    plausible interval ``(low, high)`` in SI units, the value inside it (refused
    otherwise): what a band, a study or a calibration may vary it over.
    ``gas_heat_transfer_multiplier`` scales the gas-side coefficient of the
    correlation (1: the correlation as it stands; module docstring, item 2).
    Pressures absolute (Pa).
    """

    name: str
    gas: str
    outer_diameter_m: float
    wall_thickness_m: float
    active_length_m: float
    supply_pressure_Pa: float
    supply_temperature_C: float
    exhaust_pressure_Pa: float
    boiling_heat_transfer_W_per_m2_K: float
    needles: int = 1
    gauge: int | None = None
    mass_flow_kg_per_s: float | None = None
    orifice_diameter_m: float | None = None
    discharge_coefficient: float = 1.0
    recuperator_effectiveness: float = 0.0
    thermistor_resistance_m2_K_per_W: float = 0.0
    gas_heat_transfer_multiplier: float = 1.0
    description: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        w = f"design {self.name!r}"
        try:
            cl.coolprop_name(self.gas)
        except ValueError as e:
            raise ScenarioError(f"{w}.gas", self.gas, str(e)) from None
        check_range(f"{w}.outer_diameter_m", self.outer_diameter_m, 0.2e-3, 6e-3, unit="m")
        check_range(f"{w}.wall_thickness_m", self.wall_thickness_m, 0.02e-3, 0.45 * self.outer_diameter_m, unit="m",
                    low_open=True)
        check_range(f"{w}.active_length_m", self.active_length_m, 0.5e-3, 50e-3, unit="m")
        check_range(f"{w}.supply_pressure_Pa", self.supply_pressure_Pa, 2e5, 5e7, unit="Pa")
        check_range(f"{w}.supply_temperature_C", self.supply_temperature_C, -60.0, 60.0, unit="°C")
        check_range(f"{w}.exhaust_pressure_Pa", self.exhaust_pressure_Pa, 1e4, 0.5 * self.supply_pressure_Pa, unit="Pa")
        check_range(f"{w}.boiling_heat_transfer_W_per_m2_K", self.boiling_heat_transfer_W_per_m2_K, 10.0, 1e6,
                    unit="W/m2/K")
        check_range(f"{w}.needles", self.needles, 1, 20)
        check_range(f"{w}.discharge_coefficient", self.discharge_coefficient, 0.0, 1.0, unit="", low_open=True)
        check_range(f"{w}.recuperator_effectiveness", self.recuperator_effectiveness, 0.0, 0.99, unit="")
        check_range(f"{w}.thermistor_resistance_m2_K_per_W", self.thermistor_resistance_m2_K_per_W, 0.0, 1e-2,
                    unit="m2 K/W")
        check_range(f"{w}.gas_heat_transfer_multiplier", self.gas_heat_transfer_multiplier, 0.05, 20.0, unit="")
        if (self.mass_flow_kg_per_s is None) == (self.orifice_diameter_m is None):
            raise ScenarioError(f"{w}.mass_flow_kg_per_s", self.mass_flow_kg_per_s,
                                "exactly one of mass_flow_kg_per_s and orifice_diameter_m")
        if self.mass_flow_kg_per_s is not None:
            check_range(f"{w}.mass_flow_kg_per_s", self.mass_flow_kg_per_s, 0.0, 0.05, unit="kg/s", low_open=True)
        if self.orifice_diameter_m is not None:
            check_range(f"{w}.orifice_diameter_m", self.orifice_diameter_m, 5e-6, 1e-3, unit="m")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "ranges", MappingProxyType(self._checked_ranges()))

    def _checked_ranges(self) -> dict[str, tuple[float, float]]:
        """``ranges`` as {field: (low, high)} floats; each field numeric, low < high, the value inside, both
        ends valid values of the field (the design's own checks at each end). A range on a field left None (the
        flow law not used: a mass flow given instead of an orifice) is dropped."""
        import dataclasses

        w = f"design {self.name!r}"
        out: dict[str, tuple[float, float]] = {}
        for key, rng in dict(self.ranges).items():
            if key not in RANGED_FIELDS:
                raise ScenarioError(f"{w}.{key}.range", rng, f"a range only on the numeric fields {list(RANGED_FIELDS)}")
            value = getattr(self, key)
            ok = (isinstance(rng, (list, tuple)) and len(rng) == 2
                  and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in rng))
            if not ok or not rng[0] < rng[1]:
                raise ScenarioError(f"{w}.{key}.range", rng, "[low, high], two finite numbers with low < high (SI)")
            lo, hi = float(rng[0]), float(rng[1])
            if value is None:  # the flow law this design does not use (an orifice replaced by a mass flow)
                continue
            if not lo <= value <= hi:
                raise ScenarioError(f"{w}.{key}", value, f"a value inside its stated range [{lo:g}, {hi:g}]")
            for end in (lo, hi):
                try:
                    dataclasses.replace(self, **{key: end}, ranges={})
                except ScenarioError as e:
                    raise ScenarioError(f"{w}.{key}.range", [lo, hi],
                                        f"ends that are valid values of {key} ({e.allowed})") from None
            out[key] = (lo, hi)
        return out

    @property
    def inner_diameter_m(self) -> float:
        return self.outer_diameter_m - 2.0 * self.wall_thickness_m

    @property
    def active_area_m2(self) -> float:
        """Outer cooled area of one needle: side of the active length and the flat end (m²)."""
        d = self.outer_diameter_m
        return math.pi * d * self.active_length_m + 0.25 * math.pi * d * d

    @property
    def gas_area_m2(self) -> float:
        """Inner (gas-side) area of the active length and the end (m²): the exchange area."""
        d = self.inner_diameter_m
        return math.pi * d * (self.active_length_m - self.wall_thickness_m) + 0.25 * math.pi * d * d

    @property
    def wall_heat_capacity_J_per_m2_K(self) -> float:
        r"""Heat capacity of the 304 wall per unit outer area, :math:`\rho c (r_o^2 - r_i^2) / (2 r_o)` (J/m²/K)."""
        ro, ri = 0.5 * self.outer_diameter_m, 0.5 * self.inner_diameter_m
        return STEEL_304_DENSITY_KG_PER_M3 * STEEL_304_SPECIFIC_HEAT_J_PER_KG_K * (ro * ro - ri * ri) / (2.0 * ro)

    @property
    def mass_flow_per_needle_kg_per_s(self) -> float:
        """Given, or choked through the orifice (kg/s, each needle)."""
        if self.mass_flow_kg_per_s is not None:
            return self.mass_flow_kg_per_s
        return cl.choked_mass_flow_kg_per_s(self.gas, self.supply_pressure_Pa, self.supply_temperature_C,
                                            self.exhaust_pressure_Pa, self.orifice_diameter_m,  # type: ignore[arg-type]
                                            self.discharge_coefficient)

    def probe(self, **kwargs: object) -> "object":
        """The :class:`cryosim.physics.probe.Probe` of one needle of this design."""
        from .probe import COOLANTS, Probe

        gas = self.gas if self.gas in COOLANTS else None
        return Probe(outer_diameter_m=self.outer_diameter_m, active_length_m=self.active_length_m, gauge=self.gauge,
                     coolant=gas, design=self.name, design_floor_C=jt_device(self).coldest_C,
                     **kwargs)  # type: ignore[arg-type]


def gas_heat_transfer_W_per_m2_K(fluid: str, pressure_Pa: float, temperature_C: float, mass_flow_kg_per_s: float,
                                 diameter_m: float) -> float:
    """Vapour-side coefficient (W/m²/K) in a tube of ``diameter_m`` (laminar Nu = 4.36 / Gnielinski, Incropera 8.53, 8.62).

    Nitrous oxide has no transport model in CoolProp: its viscosity and
    conductivity are taken from carbon dioxide at the same temperature (the
    two are isoelectronic with the same molar mass and near-equal critical
    constants: corresponding states, Poling, Prausnitz & O'Connell, *The
    Properties of Gases and Liquids*, 5th ed. 2001, ch. 9-10), an assumption.
    """
    try:
        p = cl.vapour_properties(fluid, pressure_Pa, temperature_C)
    except ValueError:
        p = cl.vapour_properties("CO2", pressure_Pa, temperature_C)
    re = 4.0 * mass_flow_kg_per_s / (math.pi * diameter_m * p["viscosity_Pa_s"])
    pr = p["prandtl"]

    def gnielinski(r: float) -> float:
        f = (0.790 * math.log(r) - 1.64) ** -2
        return (f / 8.0) * (r - 1000.0) * pr / (1.0 + 12.7 * math.sqrt(f / 8.0) * (pr ** (2.0 / 3.0) - 1.0))

    if re <= 2300.0:
        nu = 4.36
    elif re >= 3000.0:
        nu = max(gnielinski(re), 4.36)
    else:
        a = (re - 2300.0) / 700.0
        nu = (1.0 - a) * 4.36 + a * max(gnielinski(3000.0), 4.36)
    return nu * p["conductivity_W_per_m_K"] / diameter_m


def thermistor_reading_C(surface_temperature_C: float | np.ndarray, flux_into_medium_W_per_m2: float | np.ndarray,
                         resistance_m2_K_per_W: float) -> float | np.ndarray:
    """Thermistor reading: surface temperature + flux into the medium × internal resistance (°C).

    The flux into the medium is negative while the gas draws heat, so the
    thermistor, inside the tip, reads colder than the surface. Zero
    resistance: the reading is the surface temperature.
    """
    return surface_temperature_C + flux_into_medium_W_per_m2 * resistance_m2_K_per_W


@dataclass(frozen=True)
class JTDevice:
    """What the solvers need from a :class:`ProbeDesign`, computed once by :func:`jt_device` (per needle)."""

    design: ProbeDesign
    mass_flow_kg_per_s: float
    expansion: cl.ExpansionState
    floor_C: float
    coldest_C: float
    liquid_at_tip: bool
    liquid_yield: float
    vapour_heat_transfer_W_per_m2_K: float
    effectiveness: float
    table_T_C: tuple[float, ...]
    table_heat_W: tuple[float, ...]

    @property
    def wall_heat_capacity_J_per_m2_K(self) -> float:
        return self.design.wall_heat_capacity_J_per_m2_K

    @property
    def thermistor_resistance_m2_K_per_W(self) -> float:
        return self.design.thermistor_resistance_m2_K_per_W

    @property
    def max_heat_W(self) -> float:
        """Heat drawn with the wall at the initial tissue temperature (W, per needle): the largest the table holds."""
        return self.table_heat_W[-1]

    def heat_drawn_W(self, wall_temperature_C: float | np.ndarray) -> float | np.ndarray:
        """Q_drawn(T_wall) per needle (W), piecewise linear in the table; 0 at and below the coldest temperature."""
        return np.interp(wall_temperature_C, self.table_T_C, self.table_heat_W, left=0.0)

    def flux_table(self, active_area_m2: float | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(temperatures °C, flux INTO the medium W/m², <= 0) over ``active_area_m2`` (default: the design's outer area)."""
        a = self.design.active_area_m2 if active_area_m2 is None else active_area_m2
        return self.table_T_C, tuple(-q / a for q in self.table_heat_W)

    def gas_used_kg(self, gas_on_s: float) -> float:
        """Coolant used by the whole handpiece (all needles) in ``gas_on_s`` seconds of gas flow (kg)."""
        return self.mass_flow_kg_per_s * self.design.needles * gas_on_s


def _coldest_gas_C(design: ProbeDesign, st: cl.ExpansionState) -> tuple[float, bool]:
    """(T_x °C, liquid at the tip) at zero load (module docstring, item 1)."""
    er, Ts = design.recuperator_effectiveness, design.supply_temperature_C
    Tsat = st.floor_C
    if math.isnan(Tsat):  # exhaust above the critical pressure: no liquid
        return (st.temperature_C - er * Ts) / (1.0 - er), False
    # liquid accumulates when the vapour leaving at T_sat still has capacity after the recuperator
    h_r = cl.enthalpy_J_per_kg(design.gas, design.exhaust_pressure_Pa, Tsat + er * (Ts - Tsat))
    if h_r > st.enthalpy_in_J_per_kg:
        return Tsat, True
    return max((st.temperature_C - er * Ts) / (1.0 - er), Tsat), False


def _heat_W(design: ProbeDesign, mdot: float, st: cl.ExpansionState, Tx: float, liquid: bool, eps: float,
            T_wall_C: np.ndarray) -> np.ndarray:
    er, Ts = design.recuperator_effectiveness, design.supply_temperature_C
    out = np.zeros_like(T_wall_C, dtype=float)
    for i, Tw in enumerate(T_wall_C):
        if Tw <= Tx:
            continue
        T_out = Tx + eps * (Tw - Tx)
        T_r = T_out + er * (Ts - T_out)
        q = mdot * (cl.enthalpy_J_per_kg(design.gas, design.exhaust_pressure_Pa, T_r) - st.enthalpy_in_J_per_kg)
        if liquid:
            q = min(q, design.boiling_heat_transfer_W_per_m2_K * design.gas_area_m2 * (Tw - Tx))
        out[i] = max(q, 0.0)
    return np.maximum.accumulate(out)


@lru_cache(maxsize=64)
def jt_device(design: ProbeDesign, tissue_temperature_C: float = 37.0, n_points: int = TABLE_POINTS) -> JTDevice:
    """Compute a design's flux law once (CoolProp calls happen here only)."""
    st = cl.expansion_state(design.gas, float(design.supply_pressure_Pa), float(design.supply_temperature_C),
                            float(design.exhaust_pressure_Pa))
    mdot = design.mass_flow_per_needle_kg_per_s
    Tx, liquid = _coldest_gas_C(design, st)
    if tissue_temperature_C <= Tx + 1.0:
        raise ScenarioError(f"design {design.name!r}", tissue_temperature_C,
                            f"a tissue temperature above the device's coldest gas temperature {Tx:.1f} °C")
    hv = design.gas_heat_transfer_multiplier * gas_heat_transfer_W_per_m2_K(
        design.gas, design.exhaust_pressure_Pa, Tx, mdot, design.inner_diameter_m)
    cp = _vapour_cp(design.gas, design.exhaust_pressure_Pa, Tx)
    eps = 1.0 - math.exp(-hv * design.gas_area_m2 / (mdot * cp))
    T = np.linspace(Tx, tissue_temperature_C, int(n_points))
    Q = _heat_W(design, mdot, st, Tx, liquid, eps, T)
    Q[0] = 0.0
    if liquid:
        h_r0 = cl.enthalpy_J_per_kg(design.gas, design.exhaust_pressure_Pa,
                                    Tx + design.recuperator_effectiveness * (design.supply_temperature_C - Tx))
        y = (h_r0 - st.enthalpy_in_J_per_kg) / (h_r0 - st.saturated_condensed_enthalpy_J_per_kg)
    else:
        y = 0.0
    return JTDevice(design, mdot, st, st.floor_C, float(Tx), liquid, float(y), hv, eps,
                    tuple(float(t) for t in T), tuple(float(q) for q in Q))


def _vapour_cp(fluid: str, pressure_Pa: float, temperature_C: float) -> float:
    """cp of the vapour (J/kg/K) at (P, T), just above saturation, not below the equation's range."""
    import CoolProp.CoolProp as CP

    name = cl.coolprop_name(fluid)
    Tsat = cl.saturation_temperature_C(fluid, pressure_Pa)
    T = max(temperature_C + _K, CP.PropsSI("Tmin", name) + 1e-3)
    if not math.isnan(Tsat):
        T = max(T, Tsat + _K + 0.01)
    return CP.PropsSI("C", "P", pressure_Pa, "T", T, name)
