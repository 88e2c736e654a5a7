r"""Real-gas thermodynamics of a Joule–Thomson cryoprobe's coolant, from CoolProp.

Every property comes from the reference equations of state in CoolProp
(Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498): nitrous oxide (Lemmon &
Span 2006), carbon dioxide (Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996)
1509), argon (Tegeler, Span & Wagner 1999). Nothing is fitted by hand. The
functions are called once per probe design, never inside a solver's Newton
iterations (:mod:`cryosim.physics.device` tabulates what the solvers need).

Pressures are absolute (Pa), temperatures in °C at the interface, kelvin
inside. Coolants: ``"N2O"``, ``"CO2"``, ``"Argon"`` or any CoolProp fluid name.

What is computed
----------------
* the isenthalpic (Joule–Thomson) expansion of the supply state
  :math:`h_{in} = h(P_s, T_s)` to the exhaust pressure :math:`P_e`: the
  temperature and vapour quality right after the orifice
  (:func:`expansion_state`);
* the **floor**: the saturation temperature at the exhaust pressure, the
  coldest the boiling coolant can be. Carbon dioxide below its triple-point
  pressure (5.18 bar) forms dry ice: the floor is then the *sublimation*
  temperature, outside the range of CoolProp's CO2 equation of state, from
  Span & Wagner (1996) eq. (3.12) (:func:`co2_sublimation_pressure_Pa`,
  -78.5 °C at 1 atm). Argon at these pressures saturates far below its
  single-pass expansion temperature: :func:`expansion_state` then reports a
  superheated gas (quality ``None``) and the device model takes the
  expansion temperature as the floor (:mod:`cryosim.physics.device`);
* the **cooling capacity** :math:`Q(T_{out}) = \dot m\,[h(P_e, T_{out}) - h_{in}]`
  for return gas leaving at :math:`T_{out}` (:func:`cooling_capacity_W`);
* the **mass flow** through a choked orifice (:func:`choked_mass_flow_kg_per_s`),
  from the real-gas isentropic nozzle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, minimize_scalar

__all__ = [
    "ATMOSPHERE_PA", "PSI_PA", "coolprop_name", "saturation_temperature_C", "co2_sublimation_pressure_Pa",
    "co2_sublimation_temperature_C", "enthalpy_J_per_kg", "ExpansionState", "expansion_state",
    "cooling_capacity_W", "choked_mass_flux_kg_per_m2_s", "choked_mass_flow_kg_per_s",
    "ideal_gas_choked_mass_flux_kg_per_m2_s", "vapour_properties",
]

#: Standard atmosphere (Pa).
ATMOSPHERE_PA = 101325.0
#: One pound-force per square inch (Pa), NIST SP 811 (2008) appendix B.
PSI_PA = 6894.757293168
_K = 273.15

#: Short names accepted for CoolProp's fluids.
_ALIASES = {"N2O": "NitrousOxide", "CO2": "CarbonDioxide", "AR": "Argon", "ARGON": "Argon"}

#: Span & Wagner (1996), eq. (3.12): sublimation pressure of CO2,
#: ln(p_sub/p_t) = (T_t/T) [a1 (1 - T/T_t) + a2 (1 - T/T_t)^1.9 + a3 (1 - T/T_t)^2.9],
#: with the triple point T_t = 216.592 K, p_t = 0.51795 MPa (their eq. 3.1 / Table 3).
CO2_TRIPLE_T_K, CO2_TRIPLE_P_PA = 216.592, 0.51795e6
_CO2_SUB_A = (-14.740846, 2.4327015, -5.3061778)
_CO2_SUB_EXP = (1.0, 1.9, 2.9)


def coolprop_name(fluid: str) -> str:
    """CoolProp's name for ``fluid`` ("N2O" -> "NitrousOxide"; other names pass through, checked)."""
    import CoolProp.CoolProp as CP

    name = _ALIASES.get(fluid.strip().upper(), fluid.strip())
    try:
        CP.PropsSI("Tcrit", name)
    except ValueError as e:
        raise ValueError(f"unknown coolant {fluid!r} (CoolProp: {e})") from None
    return name


def _is_co2(name: str) -> bool:
    return name == "CarbonDioxide"


def co2_sublimation_pressure_Pa(temperature_K: float) -> float:
    """Sublimation pressure of CO2 at ``temperature_K`` below the triple point (Span & Wagner 1996, eq. 3.12)."""
    T = float(temperature_K)
    if not 0.0 < T <= CO2_TRIPLE_T_K:
        raise ValueError(f"CO2 sublimation needs 0 < T <= {CO2_TRIPLE_T_K} K, got {T}")
    th = 1.0 - T / CO2_TRIPLE_T_K
    s = sum(a * th**e for a, e in zip(_CO2_SUB_A, _CO2_SUB_EXP))
    return CO2_TRIPLE_P_PA * math.exp(CO2_TRIPLE_T_K / T * s)


def _co2_dlnp_dT(T: float) -> float:
    """d ln(p_sub)/dT of eq. (3.12), analytic (1/K)."""
    Tt = CO2_TRIPLE_T_K
    th = 1.0 - T / Tt
    s = sum(a * th**e for a, e in zip(_CO2_SUB_A, _CO2_SUB_EXP))
    ds_dT = sum(-a * e * th ** (e - 1.0) / Tt for a, e in zip(_CO2_SUB_A, _CO2_SUB_EXP))
    return -Tt / T**2 * s + Tt / T * ds_dT


def co2_sublimation_temperature_C(pressure_Pa: float) -> float:
    """Temperature (°C) where CO2 sublimes at ``pressure_Pa`` (below the triple-point pressure 5.18 bar)."""
    if not 0.0 < pressure_Pa <= CO2_TRIPLE_P_PA:
        raise ValueError(f"CO2 sublimes only below its triple-point pressure {CO2_TRIPLE_P_PA:g} Pa")
    T = brentq(lambda T: math.log(co2_sublimation_pressure_Pa(T) / pressure_Pa), 80.0, CO2_TRIPLE_T_K, xtol=1e-10)
    return T - _K


@lru_cache(maxsize=256)
def saturation_temperature_C(fluid: str, pressure_Pa: float) -> float:
    """The floor: temperature (°C) at which ``fluid`` boils (or, CO2 below 5.18 bar, sublimes) at ``pressure_Pa``.

    Above the critical pressure there is no phase change: ``nan``. Below the
    triple-point pressure only CO2's sublimation is known here (Span & Wagner
    eq. 3.12); other fluids raise ``ValueError``.
    """
    import CoolProp.CoolProp as CP

    name = coolprop_name(fluid)
    p_t, p_c = CP.PropsSI("ptriple", name), CP.PropsSI("pcrit", name)
    if pressure_Pa >= p_c:
        return math.nan
    if pressure_Pa < p_t:
        if _is_co2(name):
            return co2_sublimation_temperature_C(pressure_Pa)
        raise ValueError(f"{fluid} at {pressure_Pa:g} Pa is below its triple-point pressure ({p_t:g} Pa): it would "
                         "sublimate, and no sublimation equation is provided for it")
    return CP.PropsSI("T", "P", pressure_Pa, "Q", 1, name) - _K


def _co2_low_vapour(pressure_Pa: float) -> tuple[float, float, float]:
    """CO2 vapour at a pressure below the triple point: (T_min K, h(P, T_min) J/kg, cp(P, T_min) J/kg/K).

    CoolProp's CO2 equation is valid from the triple-point temperature up; at
    these pressures (<= 5.18 bar) the vapour is nearly ideal, and below
    T_min = 216.59 K its enthalpy is extrapolated linearly with cp at T_min
    (cp of the ideal gas changes by about 2 % between 195 and 217 K, which
    moves the enthalpy by < 0.2 kJ/kg: an assumption, stated here).
    """
    import CoolProp.CoolProp as CP

    Tm = CP.PropsSI("Tmin", "CarbonDioxide") + 1e-6
    return Tm, CP.PropsSI("H", "P", pressure_Pa, "T", Tm, "CarbonDioxide"), CP.PropsSI("C", "P", pressure_Pa, "T", Tm, "CarbonDioxide")


def enthalpy_J_per_kg(fluid: str, pressure_Pa: float, temperature_C: float) -> float:
    """Specific enthalpy h(P, T) (J/kg, CoolProp's reference state).

    At a saturation temperature the saturated *vapour* is returned (the gas
    leaving a tip at the floor has just finished evaporating). CO2 vapour
    below its triple-point temperature: see :func:`_co2_low_vapour`.
    """
    import CoolProp.CoolProp as CP

    name = coolprop_name(fluid)
    T = temperature_C + _K
    if _is_co2(name) and pressure_Pa < CO2_TRIPLE_P_PA:
        Tm, hm, cpm = _co2_low_vapour(pressure_Pa)
        if T < Tm:
            return hm + cpm * (T - Tm)
    try:
        return CP.PropsSI("H", "P", pressure_Pa, "T", T, name)
    except ValueError:
        # exactly on the saturation line: saturated vapour
        Tsat = saturation_temperature_C(fluid, pressure_Pa) + _K
        if abs(T - Tsat) < 1e-3:
            return CP.PropsSI("H", "P", pressure_Pa, "Q", 1, name)
        raise


def _solid_and_vapour_enthalpy_co2(pressure_Pa: float) -> tuple[float, float]:
    """(h of dry ice, h of vapour) at the sublimation temperature for ``pressure_Pa`` (J/kg).

    Sublimation enthalpy from Clapeyron's equation on the sublimation curve,
    Δh = T v_vap dp/dT (solid volume neglected), v_vap = Z R T / p with the
    compressibility Z of the vapour at the same pressure and 216.6 K (the
    lowest temperature of CoolProp's CO2 equation; Z ≈ 0.99 at 1 atm):
    Δh = Z R T² d ln p/dT, with eq. (3.12). At 1 atm this gives about 579
    kJ/kg, 1.1 % above the calorimetric 573 kJ/kg (25.2 kJ/mol, NIST WebBook,
    Giauque & Egan 1937) because Z is taken 22 K too warm: an assumption.
    """
    import CoolProp.CoolProp as CP

    T = co2_sublimation_temperature_C(pressure_Pa) + _K
    R = CP.PropsSI("gas_constant", "CarbonDioxide") / CP.PropsSI("molar_mass", "CarbonDioxide")
    Tm = CP.PropsSI("Tmin", "CarbonDioxide") + 1e-6
    Z = pressure_Pa / (CP.PropsSI("D", "P", pressure_Pa, "T", Tm, "CarbonDioxide") * R * Tm)
    dh = Z * R * T**2 * _co2_dlnp_dT(T)
    hv = enthalpy_J_per_kg("CO2", pressure_Pa, T - _K)
    return hv - dh, hv


@dataclass(frozen=True)
class ExpansionState:
    """The coolant right after isenthalpic expansion through the orifice (single pass, no precooling).

    ``quality``: vapour mass fraction in (0, 1) when two-phase (for CO2 below
    5.18 bar the rest is dry-ice snow); ``None`` when the expanded gas is
    superheated (then ``temperature_C`` > ``floor_C``) or the liquid is
    sub-cooled. ``floor_C``: saturation (or sublimation) temperature at the
    exhaust pressure.
    """

    fluid: str
    supply_pressure_Pa: float
    supply_temperature_C: float
    exhaust_pressure_Pa: float
    enthalpy_in_J_per_kg: float
    temperature_C: float
    quality: float | None
    floor_C: float
    saturated_vapour_enthalpy_J_per_kg: float
    saturated_condensed_enthalpy_J_per_kg: float

    @property
    def two_phase(self) -> bool:
        return self.quality is not None


@lru_cache(maxsize=256)
def expansion_state(fluid: str, supply_pressure_Pa: float, supply_temperature_C: float,
                    exhaust_pressure_Pa: float) -> ExpansionState:
    """Isenthalpic expansion h_in = h(P_s, T_s) to P_e: temperature, quality and floor."""
    import CoolProp.CoolProp as CP

    name = coolprop_name(fluid)
    if not exhaust_pressure_Pa < supply_pressure_Pa:
        raise ValueError("the exhaust pressure must be below the supply pressure")
    h_in = CP.PropsSI("H", "P", supply_pressure_Pa, "T", supply_temperature_C + _K, name)
    floor = saturation_temperature_C(fluid, exhaust_pressure_Pa)
    if _is_co2(name) and exhaust_pressure_Pa < CO2_TRIPLE_P_PA:
        h_s, h_v = _solid_and_vapour_enthalpy_co2(exhaust_pressure_Pa)
    else:
        h_s = CP.PropsSI("H", "P", exhaust_pressure_Pa, "Q", 0, name)
        h_v = CP.PropsSI("H", "P", exhaust_pressure_Pa, "Q", 1, name)
    if h_s < h_in < h_v:
        return ExpansionState(fluid, supply_pressure_Pa, supply_temperature_C, exhaust_pressure_Pa, h_in, floor,
                              (h_in - h_s) / (h_v - h_s), floor, h_v, h_s)
    if h_in >= h_v and _is_co2(name) and exhaust_pressure_Pa < CO2_TRIPLE_P_PA:
        Tm, hm, cpm = _co2_low_vapour(exhaust_pressure_Pa)
        T = Tm + (h_in - hm) / cpm if h_in < hm else CP.PropsSI("T", "P", exhaust_pressure_Pa, "H", h_in, name)
    else:
        T = CP.PropsSI("T", "P", exhaust_pressure_Pa, "H", h_in, name)
    return ExpansionState(fluid, supply_pressure_Pa, supply_temperature_C, exhaust_pressure_Pa, h_in, T - _K, None,
                          floor, h_v, h_s)


def cooling_capacity_W(state: ExpansionState, mass_flow_kg_per_s: float, outlet_temperature_C: float) -> float:
    r"""Heat (W) the coolant takes up between the expansion state and return gas leaving at ``outlet_temperature_C``.

    :math:`Q = \dot m\,[h(P_e, T_{out}) - h_{in}]` (steady open-system energy
    balance on the tip, kinetic energy neglected).
    """
    h_out = enthalpy_J_per_kg(state.fluid, state.exhaust_pressure_Pa, outlet_temperature_C)
    return mass_flow_kg_per_s * (h_out - state.enthalpy_in_J_per_kg)


def vapour_properties(fluid: str, pressure_Pa: float, temperature_C: float) -> dict[str, float]:
    """Vapour cp (J/kg/K), viscosity (Pa s), conductivity (W/m/K), Prandtl number at (P, T).

    For the gas-side heat-transfer correlation. Raises ``ValueError`` when
    CoolProp has no transport model for the fluid (nitrous oxide in CoolProp 6-8).
    Below CO2's triple-point temperature the values at 216.6 K are used.
    """
    import CoolProp.CoolProp as CP

    name = coolprop_name(fluid)
    T = max(temperature_C + _K, CP.PropsSI("Tmin", name) + 1e-3)
    Tsat = saturation_temperature_C(fluid, pressure_Pa) + _K
    if not math.isnan(Tsat):
        T = max(T, Tsat + 0.01)
    cp = CP.PropsSI("C", "P", pressure_Pa, "T", T, name)
    mu = CP.PropsSI("V", "P", pressure_Pa, "T", T, name)
    k = CP.PropsSI("L", "P", pressure_Pa, "T", T, name)
    return {"cp_J_per_kg_K": cp, "viscosity_Pa_s": mu, "conductivity_W_per_m_K": k, "prandtl": cp * mu / k}


# ---------------------------------------------------------------------------------------------------------------
# Mass flow through the orifice


@lru_cache(maxsize=256)
def choked_mass_flux_kg_per_m2_s(fluid: str, supply_pressure_Pa: float, supply_temperature_C: float,
                                 exhaust_pressure_Pa: float) -> float:
    r"""Largest mass flux (kg/m²/s) of an ideal isentropic nozzle fed from the supply state (real gas).

    Along the isentrope :math:`s = s_0` from the stagnation state
    :math:`(P_s, T_s)`, the flux is :math:`G(P) = \rho(P, s_0)\,\sqrt{2\,[h_0 - h(P, s_0)]}`;
    the throat passes :math:`\max_{P \ge P_e} G(P)` (the critical or choked
    flow, where the velocity equals the sound speed; e.g. ISO 9300:2022 §
    "critical flow function" for the real-gas form, Saad, *Compressible
    Fluid Flow*, 1993, ch. 3 for the ideal-gas one). When the maximum lies at
    :math:`P_e` the flow is not choked and :math:`G(P_e)` is returned. A state
    that enters the two-phase dome on the way is treated as a homogeneous
    equilibrium mixture (CoolProp's P-S flash), the usual HEM model of
    flashing flow.
    """
    import CoolProp.CoolProp as CP

    name = coolprop_name(fluid)
    T0 = supply_temperature_C + _K
    h0 = CP.PropsSI("H", "P", supply_pressure_Pa, "T", T0, name)
    s0 = CP.PropsSI("S", "P", supply_pressure_Pa, "T", T0, name)
    p_low = max(exhaust_pressure_Pa, 1.001 * CP.PropsSI("ptriple", name))

    def G(p: float) -> float:
        h = CP.PropsSI("H", "P", p, "S", s0, name)
        rho = CP.PropsSI("D", "P", p, "S", s0, name)
        return rho * math.sqrt(max(2.0 * (h0 - h), 0.0))

    # the flux is unimodal in log(p): bracket on a coarse grid, then refine
    xs = np.linspace(math.log(p_low), math.log(supply_pressure_Pa * 0.999), 41)
    gs = [G(math.exp(x)) for x in xs]
    i = int(np.argmax(gs))
    if i == 0:
        return gs[0]
    lo, hi = xs[max(i - 1, 0)], xs[min(i + 1, len(xs) - 1)]
    res = minimize_scalar(lambda x: -G(math.exp(x)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return float(max(-res.fun, gs[i]))


def ideal_gas_choked_mass_flux_kg_per_m2_s(fluid: str, supply_pressure_Pa: float, supply_temperature_C: float) -> float:
    r"""Ideal-gas critical flux :math:`G^* = \sqrt{\gamma \rho_0 P_0}\,(2/(\gamma+1))^{(\gamma+1)/(2(\gamma-1))}`.

    With the real-gas density and :math:`\gamma = c_p/c_v` at the supply
    state (Saad 1993, ch. 3; the form :math:`P_0 \sqrt{\gamma/(R T_0)}` with
    :math:`R T_0 = P_0/\rho_0`). A cross-check of :func:`choked_mass_flux_kg_per_m2_s`
    for nearly ideal gases.
    """
    import CoolProp.CoolProp as CP

    name = coolprop_name(fluid)
    T0 = supply_temperature_C + _K
    rho = CP.PropsSI("D", "P", supply_pressure_Pa, "T", T0, name)
    g = CP.PropsSI("C", "P", supply_pressure_Pa, "T", T0, name) / CP.PropsSI("O", "P", supply_pressure_Pa, "T", T0, name)
    return math.sqrt(g * rho * supply_pressure_Pa) * (2.0 / (g + 1.0)) ** ((g + 1.0) / (2.0 * (g - 1.0)))


def choked_mass_flow_kg_per_s(fluid: str, supply_pressure_Pa: float, supply_temperature_C: float,
                              exhaust_pressure_Pa: float, orifice_diameter_m: float,
                              discharge_coefficient: float = 1.0) -> float:
    """Mass flow (kg/s) through a round orifice: ``C_d * area * choked flux`` (:func:`choked_mass_flux_kg_per_m2_s`)."""
    if orifice_diameter_m <= 0.0 or not 0.0 < discharge_coefficient <= 1.0:
        raise ValueError("orifice diameter > 0 and 0 < discharge coefficient <= 1")
    area = 0.25 * math.pi * orifice_diameter_m**2
    return discharge_coefficient * area * choked_mass_flux_kg_per_m2_s(
        fluid, float(supply_pressure_Pa), float(supply_temperature_C), float(exhaust_pressure_Pa))
