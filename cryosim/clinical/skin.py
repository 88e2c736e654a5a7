r"""Surface cryotherapy (seed 000): a layered body cooled at the skin, on the fast 1D machinery.

The body is a planar stack from the skin surface (``x = 0``) inwards:
skin (epidermis and dermis), subcutaneous fat and muscle, each a
:class:`~cryosim.physics.materials.Material` (IT'IS v4.1 properties, with
freezing by the enthalpy method, so frostbite is latent heat and all). The
deep end is held at the arterial temperature (37 °C, the body core; with
muscle perfusion the cooling decays within about 15 mm, well inside
:data:`DEFAULT_LAYERS`). Pennes perfusion starts at its basal value and
follows **cold-induced vasoconstriction** (on by default): each cell's
perfusion is multiplied by :math:`2^{(T - T_0)/10}` (Stolwijk 1971, NASA
CR-1855; :func:`vasoconstriction_factor`), :math:`T_0` its pre-therapy
temperature, at once when it cools, released with a 2 h time constant when it
rewarms (Khoshnevis et al., J Biomech Eng 2016: the constriction persists).
Metabolic heat stays basal.

Before the therapy the body sits in still room air (:data:`ROOM_AIR_C`,
:data:`ROOM_H_W_PER_M2_K`) until steady: the skin is then at about 34.5 °C (``baseline_skin_C`` of
:func:`simulate` sets a measured baseline instead, through the room air).
During the therapy the skin surface sees one :class:`SurfaceTherapy`:

* ``co2_jet`` -- CO2 micro-crystals at the sublimation point, -78.5 °C
  (seed: -78 °C), by convection with the coefficient of an impinging round
  jet (:func:`impinging_jet_h_W_per_m2_K`, Martin 1977) plus the
  sublimation of the snow deposited on the skin, a heat flux
  :math:`\dot m'' L_{sub}` drawn while the jet sprays. The two combine into
  one convective condition with an equivalent coolant temperature
  :math:`T_{eq} = T_{jet} - \dot m'' L_{sub} / h` (exact: both are affine in
  the surface temperature). The jet is swept over the area as the seed
  prescribes ("balayer la zone"): ``duty_cycle`` (default 0.2, from the
  spot / swept-area geometry) time-averages coefficient and flux; held on one
  spot (``duty_cycle=1``) it freezes the skin within seconds
  (validation/skin_cooling/diagnosis.md);
* ``ice_pack`` -- melting ice at 0 °C through a contact conductance (bag
  film, meltwater film, the wet towel of the usual set-up, partial contact:
  100 W/m2/K, range 40-250); the pack's latent heat limits the
  duration: :attr:`SkinResult.ice_used_fraction` says how much of it the
  application used, and a run that would melt the whole pack is refused;
* ``cold_air`` -- air at -30 °C blown on the skin, convection only (Martin
  1977 again, with air properties).

The unknown inputs are stated ranges (:data:`THERAPY_RANGES`,
:data:`SIMULATE_RANGES`, sources in :data:`RANGE_SOURCES`); :func:`prediction_band`
runs a therapy at its defaults and at the corners of its ranges.

After the therapy the skin is back in room air. Everything runs through
:class:`~cryosim.fast.stepper.FVSystem` (SDIRK2 on the enthalpy) and the
shared step controller :func:`~cryosim.numerics.stepsize.integrate`, so the
energy balance closes as in the probe runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..checks import ScenarioError, check_choice, check_range
from ..fast.stepper import FVSystem, StepTolerances
from ..meshing.grids import radial_grid
from ..numerics.stepsize import StepSettings, integrate
from ..physics.boundary import (BCKind, BoundaryCondition, BoundarySet, FixedTemperature, Surface,
                                SurfaceCondition)
from ..physics.materials import Material, get_material
from ..physics.phase_change import P_BETA

__all__ = [
    "Layer", "SurfaceTherapy", "SkinResult", "DEFAULT_LAYERS", "co2_jet", "ice_pack", "cold_air",
    "impinging_jet_h_W_per_m2_K", "simulate", "rank_therapies", "ANALGESIA_SKIN_C", "FROSTBITE_SKIN_C",
    "CO2_SUBLIMATION_C", "CO2_SUBLIMATION_J_PER_KG", "THERAPY_RANGES", "SIMULATE_RANGES", "RANGE_SOURCES",
    "FACTORIES", "Band", "prediction_band", "vasoconstriction_factor", "VASOCONSTRICTION_Q10",
    "VASOCONSTRICTION_RELEASE_S",
    "CO2_JET_DUTY_CYCLE", "ICE_PACK_CONTACT_W_PER_M2_K",
]

# --- constants, each with its source --------------------------------------------------
#: CO2 sublimation point at 1 atm, -78.5 °C (194.7 K; NIST Chemistry WebBook, CO2 phase-change data).
CO2_SUBLIMATION_C = -78.5
#: Molar mass of CO2, 44.01 g/mol (IUPAC).
CO2_MOLAR_MASS_KG_PER_MOL = 44.01e-3
#: Enthalpy of sublimation of CO2 at 194.7 K, 25.2 kJ/mol (CRC Handbook of Chemistry and Physics, 97th ed.;
#: NIST WebBook): 573 kJ/kg. The seed's "15 kJ/mole de neige carbonique" is close to the enthalpy of
#: *vaporisation* of liquid CO2 at the triple point (about 15.3 kJ/mol, same sources), not that of the snow,
#: which sublimates; the handbook value is used.
CO2_SUBLIMATION_J_PER_MOL = 25.2e3
CO2_SUBLIMATION_J_PER_KG = CO2_SUBLIMATION_J_PER_MOL / CO2_MOLAR_MASS_KG_PER_MOL
#: Latent heat of melting ice, 334 kJ/kg (CRC Handbook, as in cryosim.physics.materials).
ICE_MELTING_J_PER_KG = 334.0e3

#: Room before and after a therapy: still air at 23 °C (assumed: a treatment room) with a combined
#: convective and radiative coefficient of 8 W/m2/K (de Dear et al., Int J Biometeorol 1997;40:141-156:
#: whole-body natural convection about 3-4 and radiation about 4.5 W/m2/K).
ROOM_AIR_C = 23.0
ROOM_H_W_PER_M2_K = 8.0

#: Skin temperature for local analgesia, 13.6 °C (Bugaj R, Phys Ther 1975;55:11-19, as cited by
#: Kanlayanaphotporn & Janwantanakul 2005), used as the "how deep the cooling reaches" marker.
ANALGESIA_SKIN_C = 13.6
#: Skin frostbite (freezing) threshold, -2 °C: human skin freezes at about -0.5 °C and, supercooled, by
#: about -4.8 °C (Keatinge & Cannon, Lancet 1960;1:11-14; Danielsson, Int J Circumpolar Health
#: 1996;55:87, the frostbite criterion of the wind-chill charts); -2 °C is taken inside that range
#: (assumed). Also the model's tissue is freezing below its -1 °C liquidus.
FROSTBITE_SKIN_C = -2.0

# Gas properties at 1 atm for the jet correlation (as recalled from tables; not re-checked):
#: air at -30 °C: k 0.0220 W/m/K, kinematic viscosity 1.09e-5 m2/s, Pr 0.72 (Incropera & DeWitt,
#: Fundamentals of Heat and Mass Transfer, table A.4, interpolated).
AIR_M30 = (0.0220, 1.09e-5, 0.72)
#: CO2 gas at -78.5 °C: k 0.0096 W/m/K, kinematic viscosity 3.6e-6 m2/s (mu 9.9e-6 Pa s, rho 2.75 kg/m3
#: ideal gas), Pr 0.78 (Vesovic et al., J Phys Chem Ref Data 1990;19:763, extrapolated to the
#: sublimation point).
CO2_GAS_M78 = (0.0096, 3.6e-6, 0.78)


def impinging_jet_h_W_per_m2_K(gas: tuple[float, float, float], nozzle_m: float, standoff_m: float,
                               spot_radius_m: float, velocity_m_per_s: float) -> float:
    """Area-mean heat-transfer coefficient under a single round impinging jet (W/m2/K).

    Martin H., "Heat and mass transfer between impinging gas jets and solid
    surfaces", Adv Heat Transfer 1977;13:1-60 (also VDI Heat Atlas, G10):
    :math:`Nu / Pr^{0.42} = G(r/D, H/D)\\, F(Re)` with
    :math:`F = 2 Re^{1/2} (1 + 0.005 Re^{0.55})^{1/2}` and
    :math:`G = (D/r)(1 - 1.1 D/r) / (1 + 0.1 (H/D - 6) D/r)`, valid for
    2000 <= Re <= 400 000, 2 <= H/D <= 12, 2.5 <= r/D <= 7.5 (refused
    outside). ``gas`` = (k W/m/K, kinematic viscosity m2/s, Pr).
    """
    k, nu, pr = gas
    re = velocity_m_per_s * nozzle_m / nu
    check_range("jet Reynolds number", re, 2000.0, 4e5)
    check_range("jet standoff / nozzle diameter", standoff_m / nozzle_m, 2.0, 12.0)
    check_range("jet spot radius / nozzle diameter", spot_radius_m / nozzle_m, 2.5, 7.5)
    d_r, h_d = nozzle_m / spot_radius_m, standoff_m / nozzle_m
    G = d_r * (1.0 - 1.1 * d_r) / (1.0 + 0.1 * (h_d - 6.0) * d_r)
    F = 2.0 * math.sqrt(re) * math.sqrt(1.0 + 0.005 * re**0.55)
    return G * F * pr**0.42 * k / nozzle_m


@dataclass(frozen=True)
class Layer:
    """One layer of the body: a material over a thickness (m)."""

    name: str
    material: Material
    thickness_m: float

    def __post_init__(self) -> None:
        if not isinstance(self.material, Material):
            raise TypeError(f"layers[{self.name}].material = {self.material!r} is not allowed: expected a Material "
                            "(cryosim.get_material(name))")
        check_range(f"layers[{self.name}].thickness_m", self.thickness_m, 1e-5, 0.2, unit="m")


def _default_layers() -> tuple[Layer, ...]:
    """Skin 2.08 mm (epidermis 0.08 + dermis 2 mm), fat 10 mm, muscle to 40 mm depth.

    Thicknesses of the three-layer skin model of Jiang SC, Ma N, Li HJ, Zhang
    XX, Burns 2002;28:713-717 (as recalled); the epidermis is merged with the
    dermis (one IT'IS "skin" material). The muscle depth is a domain size
    (assumed), not anatomy: the deep end stands for the 37 °C core.
    """
    return (Layer("skin", get_material("skin"), 2.08e-3), Layer("fat", get_material("fat"), 10e-3),
            Layer("muscle", get_material("muscle"), 27.92e-3))


DEFAULT_LAYERS = _default_layers()


@dataclass(frozen=True)
class SurfaceTherapy:
    """A cooling applied to the skin surface for ``duration_s``.

    Flux into the skin :math:`h (T_c - T_s) - q_x` with ``coolant_C`` =
    :math:`T_c`, ``heat_transfer_W_per_m2_K`` = h and ``extra_flux_out_W_per_m2``
    = :math:`q_x` (>= 0, drawn out whatever the surface temperature: the
    sublimating snow). ``floor_C``: the coldest the surface can physically
    get under this therapy (the snow's sublimation point, the coolant
    otherwise); a run whose surface goes below it is refused (the model's
    assumptions broke). ``capacity_J_per_m2``: the latent heat the coolant
    can absorb per skin area (an ice pack; None: unlimited). ``sources``:
    where each number comes from.
    """

    name: str
    duration_s: float
    coolant_C: float
    heat_transfer_W_per_m2_K: float
    extra_flux_out_W_per_m2: float = 0.0
    capacity_J_per_m2: float | None = None
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        f = f"therapy[{self.name}]"
        check_range(f + ".duration_s", self.duration_s, 0.0, 7200.0, unit="s", low_open=True)
        check_range(f + ".coolant_C", self.coolant_C, -200.0, 30.0, unit="°C")
        check_range(f + ".heat_transfer_W_per_m2_K", self.heat_transfer_W_per_m2_K, 1.0, 1e5, unit="W/m2/K")
        check_range(f + ".extra_flux_out_W_per_m2", self.extra_flux_out_W_per_m2, 0.0, 1e6, unit="W/m2")
        if self.capacity_J_per_m2 is not None:
            check_range(f + ".capacity_J_per_m2", self.capacity_J_per_m2, 0.0, 1e9, unit="J/m2", low_open=True)

    @property
    def equivalent_coolant_C(self) -> float:
        """Coolant temperature of the one convective condition equal to convection plus the extra flux (°C)."""
        return self.coolant_C - self.extra_flux_out_W_per_m2 / self.heat_transfer_W_per_m2_K

    @property
    def floor_C(self) -> float:
        return self.coolant_C


#: Default share of the time a point of skin is under the swept jet: the jet's spot (the 20 mm-radius
#: area of the correlation, 12.6 cm2) over the area swept. The seed sweeps the zone ("balayer la zone",
#: 30 s for a small area to 90 s for a knee or a shoulder); Mourot et al. 2007 sprayed the dorsal hand
#: (about 8 x 9 cm, 70 cm2: 0.18). Range 0.1-0.35: a swept area of 126 to 36 cm2 (10 x 12 to 6 x 6 cm);
#: 0.2 is taken in it (assumed; chosen from the geometry, not from the temperatures).
CO2_JET_DUTY_CYCLE = 0.2


def co2_jet(duration_s: float = 30.0, *, snow_deposition_kg_per_m2_s: float = 5e-3,
            duty_cycle: float = CO2_JET_DUTY_CYCLE, nozzle_m: float = 8e-3, standoff_m: float = 96e-3,
            spot_radius_m: float = 20e-3, velocity_m_per_s: float = 30.0) -> SurfaceTherapy:
    """The CO2 micro-crystal jet of neurocryostimulation (seed 000), swept over the treated area.

    Assumed jet (no measurement of this device's jet was found): it reaches
    the skin 96 mm from the nozzle with an effective diameter of 8 mm
    (widened by entrainment) at 30 m/s over a 20 mm-radius spot -- the
    largest standoff Martin's correlation covers (H/D = 12; clinical use
    sprays from about 10 cm). Under the spot h is about 180 W/m2/K. Snow
    deposition 5 g/m2/s (assumed order of magnitude, the middle of the stated
    range 0-10 g/m2/s: 0 when the crystals bounce off or sublimate in flight
    on their own vapour, as dry ice does on any warm surface) adds about
    2.9 kW/m2 under the spot. ``duty_cycle``: the share of the time a point
    of skin is under the jet while the operator sweeps it (default
    :data:`CO2_JET_DUTY_CYCLE`, 0.2, from the swept-area geometry); coefficient
    and flux are time-averaged (the sweep passes a point every few seconds,
    shorter than the skin's thermal time over the cooled depth). ``duty_cycle
    = 1`` holds the jet on one spot: the skin freezes within seconds
    (validation/skin_cooling/diagnosis.md), which no published measurement shows.
    Stated ranges of the unknowns: :data:`THERAPY_RANGES`.
    """
    check_range("co2_jet.duty_cycle", duty_cycle, 0.0, 1.0, low_open=True)
    check_range("co2_jet.snow_deposition_kg_per_m2_s", snow_deposition_kg_per_m2_s, 0.0, 1.0, unit="kg/m2/s")
    h = impinging_jet_h_W_per_m2_K(CO2_GAS_M78, nozzle_m, standoff_m, spot_radius_m, velocity_m_per_s)
    return SurfaceTherapy(
        "CO2 jet, held on one spot" if duty_cycle == 1.0 else f"CO2 jet, swept ({duty_cycle:.0%} on spot)",
        duration_s, CO2_SUBLIMATION_C, duty_cycle * h,
        duty_cycle * snow_deposition_kg_per_m2_s * CO2_SUBLIMATION_J_PER_KG,
        sources=("jet at the CO2 sublimation point -78.5 °C (NIST WebBook; seed 000: -78 °C)",
                 f"h = {duty_cycle * h:.0f} W/m2/K: Martin, Adv Heat Transfer 1977;13:1-60, single round nozzle, "
                 f"with the assumed jet of co2_jet's docstring; CO2 gas properties: Vesovic et al. 1990",
                 f"sublimation {CO2_SUBLIMATION_J_PER_KG / 1e3:.0f} kJ/kg (CRC Handbook: 25.2 kJ/mol) of an assumed "
                 f"{1e3 * snow_deposition_kg_per_m2_s:g} g/m2/s of snow",
                 f"swept: {duty_cycle:g} of the time under the jet (spot area / swept area; see CO2_JET_DUTY_CYCLE)"))


#: Contact conductance of an ice bag wrapped in a wet towel, the usual clinical set-up (Kanlayanaphotporn
#: & Janwantanakul 2005; "crushed ice in a wet towel", Physiother Theory Pract 2010;26:393) (W/m2/K).
#: Layers in series (assumed values): a 50 µm polyethylene bag, k 0.33 W/m/K, 6600 W/m2/K; a 0.5 mm
#: meltwater film, k 0.57, 1140 W/m2/K (bag and water: about 970 W/m2/K over full contact); a wrung-out
#: wet cotton towel 1.5-3 mm thick with k 0.15-0.45 W/m/K (between dry fabric, about 0.05, and water,
#: 0.6): 50-300 W/m2/K; ice touching through water over 50-100 % of the area. Range 40-250 W/m2/K (the
#: towel dominates); 100 is its geometric middle. Without a towel (bag on bare skin) the estimate is
#: 240-970 W/m2/K (the value of issue 15, 240, assumed 25 % contact).
ICE_PACK_CONTACT_W_PER_M2_K = 100.0


def ice_pack(duration_s: float = 1200.0, *, contact_conductance_W_per_m2_K: float = ICE_PACK_CONTACT_W_PER_M2_K,
             ice_mass_kg: float = 0.6, contact_area_m2: float = 0.18 * 0.23) -> SurfaceTherapy:
    """Melting ice in a bag wrapped in a wet towel on the skin (0 °C through a contact conductance); 20 min.

    Contact conductance :data:`ICE_PACK_CONTACT_W_PER_M2_K` (100 W/m2/K, the
    middle of the stated range 40-250 for a bag in a wet towel; a bag on bare
    skin is nearer 240-970). The pack (0.6 kg on 18 x 23 cm, the pack of
    Janwantanakul, Physiotherapy 2009;95:120-125) can absorb
    ``ice_mass_kg * 334 kJ/kg`` over its area. Not modelled: the pack warming
    (it stays at 0 °C until used up; Janwantanakul 2009 measured the coldest
    interface after 8-9 min and a 0.3 kg pack 2-3 K warmer than 0.6 kg).
    """
    check_range("ice_pack.ice_mass_kg", ice_mass_kg, 0.0, 10.0, unit="kg", low_open=True)
    check_range("ice_pack.contact_area_m2", contact_area_m2, 1e-4, 1.0, unit="m2")
    return SurfaceTherapy(
        "ice pack", duration_s, 0.0, contact_conductance_W_per_m2_K,
        capacity_J_per_m2=ice_mass_kg * ICE_MELTING_J_PER_KG / contact_area_m2,
        sources=("melting ice at 0 °C", f"contact conductance {contact_conductance_W_per_m2_K:g} W/m2/K (bag in a wet "
                 "towel: ICE_PACK_CONTACT_W_PER_M2_K, range in THERAPY_RANGES)",
                 "pack 0.6 kg on 18 x 23 cm: Janwantanakul, Physiotherapy 2009;95:120"))


def cold_air(duration_s: float = 180.0, *, air_C: float = -30.0, nozzle_m: float = 25e-3, standoff_m: float = 100e-3,
             spot_radius_m: float = 62.5e-3, velocity_m_per_s: float = 15.0) -> SurfaceTherapy:
    """Cold air at -30 °C blown at the skin (seed 000, "aérothérapie"), convection only; 3 min by default.

    Assumed blower (no device data found): a 25 mm hose end 10 cm from the
    skin, 15 m/s, over a 62.5 mm-radius area, within Martin's correlation:
    h about 110 W/m2/K. Air properties at -30 °C: Incropera & DeWitt table A.4.
    """
    h = impinging_jet_h_W_per_m2_K(AIR_M30, nozzle_m, standoff_m, spot_radius_m, velocity_m_per_s)
    return SurfaceTherapy("cold air", duration_s, air_C, h,
                          sources=(f"air at {air_C:g} °C (seed 000)",
                                   f"h = {h:.0f} W/m2/K: Martin 1977 with the assumed blower of cold_air's docstring"))


#: Stated ranges (low, high) of the unknown keyword arguments of each therapy factory, with their
#: sources; the factory's default lies inside (the middle, or the best-supported value). A prediction
#: is reported with the band these ranges give (:func:`prediction_band`), and ``cryosim calibrate`` may
#: fit a keyword within its range by name.
THERAPY_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "co2_jet": {
        "duty_cycle": (0.1, 0.35),
        "snow_deposition_kg_per_m2_s": (0.0, 10e-3),
        "velocity_m_per_s": (15.0, 45.0),
    },
    "ice_pack": {
        "contact_conductance_W_per_m2_K": (40.0, 250.0),
    },
    "cold_air": {
        "velocity_m_per_s": (10.0, 20.0),
    },
}
#: Stated ranges of the unknown keyword arguments of :func:`simulate` used in every band.
SIMULATE_RANGES: dict[str, tuple[float, float]] = {"vasoconstriction_q10": (1.0, 3.0),
                                                   "vasoconstriction_release_s": (1800.0, 36000.0)}
#: Where each range comes from.
RANGE_SOURCES: dict[str, str] = {
    "co2_jet.duty_cycle": "spot area (12.6 cm2) / swept area 36-126 cm2 (CO2_JET_DUTY_CYCLE; seed 000 sweeps the zone)",
    "co2_jet.snow_deposition_kg_per_m2_s": "assumed: 0 (crystals bounce or sublimate in flight) to twice the 5 g/m2/s "
                                           "order of magnitude; no measurement found",
    "co2_jet.velocity_m_per_s": "assumed: a free jet 10 cm from a sonic nozzle decays to a few tens of m/s "
                                "(centre-line decay u ~ 6 u0 D/x); default 30 m/s",
    "ice_pack.contact_conductance_W_per_m2_K": "bag in a wet towel, layers in series (ICE_PACK_CONTACT_W_PER_M2_K)",
    "cold_air.velocity_m_per_s": "assumed blower (cold_air's docstring), default 15 m/s",
    "simulate.vasoconstriction_q10": "1 = none (issue 15) to 3; Stolwijk 1971: 2 (VASOCONSTRICTION_Q10)",
    "simulate.vasoconstriction_release_s": "Khoshnevis et al. 2016: persistent over 120 min of rewarming "
                                           "(VASOCONSTRICTION_RELEASE_S); 30 min to 10 h assumed",
}
FACTORIES = {"co2_jet": co2_jet, "ice_pack": ice_pack, "cold_air": cold_air}


class _SkinSurface(BoundaryCondition):
    """The skin surface: room air, then the therapy over [t_on, t_on + duration), then room air."""

    surface = Surface.ACTIVE

    def __init__(self, therapy: SurfaceTherapy, t_on_s: float, room_air_C: float = ROOM_AIR_C,
                 room_h_W_per_m2_K: float = ROOM_H_W_PER_M2_K) -> None:
        self.therapy, self.t_on_s = therapy, t_on_s
        self._room = SurfaceCondition(BCKind.CONVECTIVE, room_air_C, room_h_W_per_m2_K)
        self._on = SurfaceCondition(BCKind.CONVECTIVE, therapy.equivalent_coolant_C, therapy.heat_transfer_W_per_m2_K)

    def at(self, t_s: float) -> SurfaceCondition:
        return self._on if self.t_on_s <= t_s < self.t_on_s + self.therapy.duration_s else self._room

    def breakpoints_s(self) -> list[float]:
        return [self.t_on_s, self.t_on_s + self.therapy.duration_s]


@dataclass
class SkinResult:
    """A surface-cooling run. Times from the start of the therapy (s), depths from the skin surface (m)."""

    therapy: SurfaceTherapy
    layers: tuple[Layer, ...]
    time_s: np.ndarray
    surface_C: np.ndarray
    depth_m: np.ndarray  # cell centres
    T_C: np.ndarray  # steps x cells
    energy_J_per_m2: dict[str, float]
    heat_drawn_during_therapy_J_per_m2: float
    #: room air before and after the therapy (°C): the one asked for, or the one that gave ``baseline_skin_C``
    room_air_C: float = ROOM_AIR_C
    #: perfusion of each cell at the end of the run as a fraction of its basal value (vasoconstriction)
    final_perfusion_fraction: np.ndarray | None = None

    @property
    def energy_imbalance_relative(self) -> float:
        """|change of enthalpy - sum of the heat terms| / |heat through the skin surface|."""
        e = self.energy_J_per_m2
        imb = e["enthalpy_change_J"] - sum(e[k] for k in ("probe_J", "far_boundary_J", "perfusion_J", "metabolic_J"))
        return abs(imb) / max(abs(e["probe_J"]), 1e-300)

    @property
    def initial_surface_C(self) -> float:
        return float(self.surface_C[0])

    def surface_at_C(self, t_s: float) -> float:
        return float(np.interp(t_s, self.time_s, self.surface_C))

    def profile_at_C(self, t_s: float) -> np.ndarray:
        """Temperature against :attr:`depth_m` at ``t_s`` (linear between steps)."""
        return np.array([np.interp(t_s, self.time_s, self.T_C[:, i]) for i in range(self.depth_m.size)])

    def time_to_surface_s(self, threshold_C: float) -> float | None:
        """First time the skin surface is at or below ``threshold_C`` (s; None: never)."""
        below = np.nonzero(self.surface_C <= threshold_C)[0]
        if below.size == 0:
            return None
        j = int(below[0])
        if j == 0:
            return 0.0
        t0, t1, T0, T1 = self.time_s[j - 1], self.time_s[j], self.surface_C[j - 1], self.surface_C[j]
        return float(t0 + (threshold_C - T0) / (T1 - T0) * (t1 - t0))

    def time_below_s(self, threshold_C: float) -> float:
        """Time the skin surface spent at or below ``threshold_C`` (s)."""
        from ..post.nerve import time_below_s

        return float(time_below_s(self.time_s, self.surface_C, threshold_C)[0])

    def depth_reached_m(self, threshold_C: float = ANALGESIA_SKIN_C) -> float:
        """Deepest point cooled to ``threshold_C`` or below at some time (m; 0: not even the surface layer).

        Per step, the depth down to which the tissue is at or below the
        threshold without interruption from the surface (linear between cell
        centres); the largest over the run.
        """
        best = 0.0
        x = np.concatenate([[0.0], self.depth_m])
        for Ts, row in zip(self.surface_C, self.T_C):
            T = np.concatenate([[Ts], row]) - threshold_C
            if T[0] > 0:
                continue
            above = np.nonzero(T > 0)[0]
            if above.size == 0:
                return float(x[-1])
            j = int(above[0])
            best = max(best, float(x[j - 1] + (0 - T[j - 1]) / (T[j] - T[j - 1]) * (x[j] - x[j - 1])))
        return best

    @property
    def ice_used_fraction(self) -> float | None:
        """Share of the coolant's latent capacity used by the therapy (None: unlimited coolant)."""
        cap = self.therapy.capacity_J_per_m2
        return None if cap is None else self.heat_drawn_during_therapy_J_per_m2 / cap

    def summary(self) -> dict[str, float | str | None]:
        """The figures clinicians read, for one therapy."""
        d = self.therapy.duration_s
        return {
            "therapy": self.therapy.name,
            "duration_s": d,
            "initial_surface_C": self.initial_surface_C,
            "surface_end_C": self.surface_at_C(d),
            "coldest_surface_C": float(self.surface_C.min()),
            "time_to_analgesia_s": self.time_to_surface_s(ANALGESIA_SKIN_C),
            "depth_analgesia_m": self.depth_reached_m(ANALGESIA_SKIN_C),
            "time_below_frostbite_s": self.time_below_s(FROSTBITE_SKIN_C),
            "heat_drawn_J_per_m2": self.heat_drawn_during_therapy_J_per_m2,
            "ice_used_fraction": self.ice_used_fraction,
            "energy_imbalance_relative": self.energy_imbalance_relative,
        }


#: Grid: first cell at the skin surface (m), growth, largest cell (m): numerical choices, checked by
#: halving them in tests/clinical/test_skin.py (surface temperature within 0.5 K).
FIRST_CELL_M = 20e-6
GROWTH = 1.08
MAX_CELL_M = 0.5e-3
#: Time in room air before the therapy, to reach the steady skin temperature (s): many times the
#: perfusion time constant of skin and muscle (rho c / beta, about 20-25 min).
PRECONDITION_S = 4.0 * 3600.0


#: Cold-induced vasoconstriction: local temperature coefficient of skin blood flow. Stolwijk JAJ, "A
#: mathematical model of physiological temperature regulation in man", NASA CR-1855, 1971: the blood flow
#: of each skin compartment is multiplied by 2^((T - T0)/10), T0 its thermoneutral temperature (a Q10 of 2;
#: the same local factor in Fiala D, Lomas KJ, Stohrer M, Int J Biometeorol 2001;45:143-159, and, as the
#: formulation most models use, Severens NMW et al., Physiol Meas 2007;28:1221). Applied here to every
#: cell's Pennes coefficient with T0 its own pre-therapy (steady) temperature, cooling only (the factor
#: is capped at 1). Range (1, 3): 1 = no local vasoconstriction (the model of issue 15); 3 = a stronger
#: response than Stolwijk's (assumed upper end: Khoshnevis et al., ASME J Med Diagn 2018;1:041007, measured
#: cutaneous vascular conductance falling more the colder the skin, 27.3 to 16.6 °C, without a Q10).
VASOCONSTRICTION_Q10 = 2.0
#: Time constant of the release of cold-induced vasoconstriction when the tissue rewarms (s). Khoshnevis
#: S, Craik NK, Brothers RM, Diller KR, J Biomech Eng 2016;138:031004: after 60 min of cooling at the knee,
#: cutaneous vascular conductance stayed significantly depressed throughout 120 min of passive rewarming
#: while the skin temperature returned toward baseline (hysteresis); likewise Khoshnevis, Craik, Diller,
#: Knee Surg Sports Traumatol Arthrosc 2015;23:2475 (perfusion unchanged during rewarming). 7200 s (the
#: observed persistence) is taken; range 1800 s to 10 h (assumed). Constriction itself follows the law at
#: once.
VASOCONSTRICTION_RELEASE_S = 7200.0


def vasoconstriction_factor(T_C: np.ndarray | float, reference_C: np.ndarray | float,
                            q10: float = VASOCONSTRICTION_Q10) -> np.ndarray:
    """Perfusion multiplier of a tissue at ``T_C`` whose thermoneutral temperature is ``reference_C``.

    Stolwijk 1971 (NASA CR-1855): ``q10 ** ((T - T0) / 10)``, capped at 1 (cold-induced
    vasoconstriction only; no hyperaemia above the reference). At 10 K below the reference, 1/q10.
    """
    return np.minimum(1.0, float(q10) ** ((np.asarray(T_C, float) - np.asarray(reference_C, float)) / 10.0))


def _precondition(grid, props, core_C: float, therapy: SurfaceTherapy, room_air_C: float, room_h: float,
                  tol: StepTolerances) -> FVSystem:
    room = BoundarySet((_SkinSurface(therapy, math.inf, room_air_C, room_h), FixedTemperature(Surface.FAR, core_C)))
    pre = FVSystem(grid, props, core_C, core_C, room, tol)
    integrate(pre, PRECONDITION_S, StepSettings(max_step_s=600.0))
    return pre


def simulate(therapy: SurfaceTherapy, *, layers: Sequence[Layer] = DEFAULT_LAYERS, after_s: float = 300.0,
             core_C: float = 37.0, perfusion_scale: float = 1.0, resolution: float = 1.0,
             temperature_tolerance_K: float = 0.2, max_step_s: float = 5.0, room_air_C: float = ROOM_AIR_C,
             room_h_W_per_m2_K: float = ROOM_H_W_PER_M2_K, vasoconstriction: bool = True,
             vasoconstriction_q10: float = VASOCONSTRICTION_Q10,
             vasoconstriction_release_s: float = VASOCONSTRICTION_RELEASE_S,
             baseline_skin_C: float | None = None) -> SkinResult:
    """Cool the layered body with ``therapy``, then ``after_s`` of rewarming in room air.

    ``perfusion_scale`` multiplies every layer's basal perfusion (1: basal; 0: no perfusion, the
    full-vasoconstriction bound). ``vasoconstriction`` (on by default): each cell's perfusion follows
    its temperature by :func:`vasoconstriction_factor` (Stolwijk 1971, ``vasoconstriction_q10``) when it
    cools, and relaxes back towards the law with the time constant ``vasoconstriction_release_s`` when it
    rewarms (Khoshnevis et al. 2016; 0: at once); updated after every accepted step (lagged by one step of
    at most ``max_step_s``; the energy balance stays exact, each step using one coefficient).
    ``baseline_skin_C``: a measured pre-therapy skin temperature; the room air is then set so that the
    steady skin is at it (the problem is linear before the therapy, so two trial runs give it exactly)
    -- a stand-in for whatever makes a limb's skin cooler or warmer than this 1D body; the same room
    air is used after the therapy.
    ``resolution`` divides the cell sizes. Refuses a run whose surface goes below the therapy's floor
    (its model broke) or that uses more than the coolant's latent capacity.
    """
    if not isinstance(therapy, SurfaceTherapy):
        raise TypeError(f"simulate: therapy = {therapy!r} is not allowed: expected a SurfaceTherapy "
                        "(co2_jet(...), ice_pack(...), cold_air(...))")
    if isinstance(layers, (str, bytes, Layer)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"simulate: layers = {layers!r} is not allowed: expected a list of Layer")
    layers = tuple(layers)
    if not layers:
        raise ScenarioError("layers", [], "at least one layer")
    for i, L in enumerate(layers):
        if not isinstance(L, Layer):
            raise TypeError(f"simulate: layers[{i}] = {L!r} is not allowed: expected a Layer(name, material, "
                            "thickness_m)")
    check_range("perfusion_scale", perfusion_scale, 0.0, 10.0)
    check_range("after_s", after_s, 0.0, 86400.0, unit="s")
    check_range("resolution", resolution, 0.25, 16.0)
    check_range("core_C", core_C, 30.0, 42.0, unit="°C")
    check_range("room_air_C", room_air_C, -40.0, 45.0, unit="°C")
    check_range("room_h_W_per_m2_K", room_h_W_per_m2_K, 1.0, 100.0, unit="W/m2/K")
    check_range("vasoconstriction_q10", vasoconstriction_q10, 1.0, 10.0)
    check_range("vasoconstriction_release_s", vasoconstriction_release_s, 0.0, 1e6, unit="s")
    if baseline_skin_C is not None:
        check_range("baseline_skin_C", baseline_skin_C, 15.0, 37.0, unit="°C")
    mats = [L.material if perfusion_scale == 1.0 else
            L.material.with_(perfusion_per_s=L.material.perfusion_per_s * perfusion_scale,
                             perfusion_coefficient_W_per_m3_K=None) for L in layers]
    depth = float(sum(L.thickness_m for L in layers))
    grid = radial_grid("planar", 0.0, depth, FIRST_CELL_M / resolution, 1.0 + (GROWTH - 1.0) / resolution,
                       MAX_CELL_M / resolution, far_boundary=True)
    bounds = np.cumsum([L.thickness_m for L in layers])
    layer_of = np.minimum(np.searchsorted(bounds, grid.centers_m[:, 0]), len(layers) - 1)
    # one property row per cell, so that the perfusion coefficient can follow each cell's temperature
    props = np.ascontiguousarray(np.vstack([m.property_row() for m in mats])[layer_of])
    grid.material[:] = np.arange(grid.n_cells)
    tol = StepTolerances(temperature_tolerance_K=temperature_tolerance_K, enthalpy_rtol=1e-3)
    # 1. steady state in room air (optionally at a measured baseline skin temperature)
    pre = _precondition(grid, props, core_C, therapy, room_air_C, room_h_W_per_m2_K, tol)
    if baseline_skin_C is not None:
        T1 = float(pre.surface_temperatures()[0])
        trial = _precondition(grid, props, core_C, therapy, room_air_C + 10.0, room_h_W_per_m2_K, tol)
        slope = (float(trial.surface_temperatures()[0]) - T1) / 10.0
        room_air_C = room_air_C + (baseline_skin_C - T1) / slope
        check_range("room air that gives baseline_skin_C", room_air_C, -40.0, 45.0, unit="°C")
        pre = _precondition(grid, props, core_C, therapy, room_air_C, room_h_W_per_m2_K, tol)
    # 2. therapy from t = 0, then room air
    bcs = BoundarySet((_SkinSurface(therapy, 0.0, room_air_C, room_h_W_per_m2_K),
                       FixedTemperature(Surface.FAR, core_C)))
    st = FVSystem(grid, props, pre.T, core_C, bcs, tol)
    times, surf, rows = [0.0], [float(pre.surface_temperatures()[0])], [pre.T.copy()]
    drawn = {"J": 0.0}
    T_ref, beta0 = pre.T.copy(), props[:, P_BETA].copy()
    state = {"t": 0.0, "f": np.ones(grid.n_cells)}

    def on_accept(t: float, _: bool) -> None:
        times.append(t)
        surf.append(float(st.surface_temperatures()[0]))
        rows.append(st.T.copy())
        if t <= therapy.duration_s + 1e-9:
            drawn["J"] = -st.energy["probe_J"]
        if vasoconstriction:  # in place: the solver reads this array (st.props is props)
            law = vasoconstriction_factor(st.T, T_ref, vasoconstriction_q10)
            dt, state["t"] = t - state["t"], t
            # constriction follows the law at once; its release lags (Khoshnevis et al. 2016: hysteresis)
            relax = 1.0 if vasoconstriction_release_s <= 0.0 else -math.expm1(-dt / vasoconstriction_release_s)
            state["f"] = np.where(law < state["f"], law, state["f"] + (law - state["f"]) * relax)
            st.props[:, P_BETA] = beta0 * state["f"]

    integrate(st, therapy.duration_s + after_s, StepSettings(max_step_s=max_step_s, first_step_s=1e-3),
              breaks_s=bcs.breakpoints_s(), on_accept=on_accept)
    res = SkinResult(therapy, layers, np.asarray(times), np.asarray(surf), grid.centers_m[:, 0].copy(),
                     np.asarray(rows), dict(st.energy, enthalpy_change_J=st.enthalpy_change_J), drawn["J"],
                     room_air_C, st.props[:, P_BETA] / np.where(beta0 > 0, beta0, 1.0))
    if res.surface_C.min() < therapy.floor_C - 1e-6:
        raise ScenarioError(f"therapy[{therapy.name}]", f"surface down to {res.surface_C.min():.1f} °C",
                            f"a surface that stays above the coolant floor {therapy.floor_C:g} °C (the snow or "
                            "coolant cannot cool below it: lower the deposition rate or shorten the therapy)")
    used = res.ice_used_fraction
    if used is not None and used > 1.0:
        raise ScenarioError(f"therapy[{therapy.name}].duration_s", therapy.duration_s,
                            f"a duration the pack's ice lasts (this one melts {used:.0%} of it)")
    return res


def rank_therapies(results: Sequence[SkinResult]) -> list[tuple[int, str, str]]:
    """Rank therapies: (rank, name, reason), best first.

    Therapies that froze the skin (surface at or below
    :data:`FROSTBITE_SKIN_C`) come last, whatever else they did. The others
    are ordered by the depth cooled to the analgesia threshold
    (:data:`ANALGESIA_SKIN_C`), then by how fast the surface got there.
    """
    def key(r: SkinResult) -> tuple[bool, float, float]:
        t = r.time_to_surface_s(ANALGESIA_SKIN_C)
        return (r.time_below_s(FROSTBITE_SKIN_C) > 0.0, -r.depth_reached_m(ANALGESIA_SKIN_C),
                math.inf if t is None else t)

    out = []
    for k, r in enumerate(sorted(results, key=key)):
        frost = r.time_below_s(FROSTBITE_SKIN_C)
        t = r.time_to_surface_s(ANALGESIA_SKIN_C)
        why = (f"skin frozen ({frost:.0f} s at or below {FROSTBITE_SKIN_C:g} °C); " if frost > 0 else "") + \
              (f"{ANALGESIA_SKIN_C:g} °C reached {1e3 * r.depth_reached_m():.2f} mm deep, at the surface after "
               f"{t:.0f} s" if t is not None else f"surface never at {ANALGESIA_SKIN_C:g} °C")
        out.append((k + 1, r.therapy.name, why))
    return out


@dataclass
class Band:
    """A prediction from the defaults and its min-max band over the stated ranges (corners of the box).

    ``default_C`` / ``low_C`` / ``high_C``: the quantity at each of ``times_s``; ``corners``: the
    parameter sets run (those refused by :func:`simulate`, e.g. a surface below the coolant floor, are
    listed in ``refused``); ``initial_C``: the default run's pre-therapy skin.
    """

    therapy: str
    times_s: tuple[float, ...]
    default_C: np.ndarray
    low_C: np.ndarray
    high_C: np.ndarray
    initial_C: float
    default: SkinResult
    corners: list[dict[str, float]]
    refused: list[dict[str, float]]


def prediction_band(therapy: str, duration_s: float, times_s: Sequence[float], *, quantity: str = "surface_C",
                    ranges: dict[str, tuple[float, float]] | None = None, **simulate_kwargs) -> Band:
    """Run ``therapy`` (a key of :data:`FACTORIES`) at its defaults and at every corner of its stated ranges.

    ``ranges``: the box, default :data:`THERAPY_RANGES` [therapy] plus :data:`SIMULATE_RANGES` (keys of
    the latter go to :func:`simulate`). ``quantity``: ``surface_C`` or ``surface_drop_K`` (initial skin
    minus the surface). ``simulate_kwargs`` (``after_s``, ``baseline_skin_C``, ``resolution`` ...) apply
    to every run. The band is the min-max over the corners and the default (monotone responses have their
    extremes at corners; 2^k runs for k ranged keywords).
    """
    import itertools

    check_choice("therapy", therapy, FACTORIES)
    check_choice("quantity", quantity, ("surface_C", "surface_drop_K"))
    box = dict(THERAPY_RANGES[therapy]) | {f"simulate.{k}": v for k, v in SIMULATE_RANGES.items()} \
        if ranges is None else dict(ranges)
    times = tuple(float(t) for t in times_s)
    after = max(0.0, max(times) - duration_s)
    simulate_kwargs.setdefault("after_s", after)

    def one(p: dict[str, float]) -> tuple[np.ndarray, SkinResult]:
        fk = {k: v for k, v in p.items() if not k.startswith("simulate.")}
        sk = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith("simulate.")}
        r = simulate(FACTORIES[therapy](duration_s, **fk), **(simulate_kwargs | sk))
        T = np.array([r.surface_at_C(t) for t in times])
        return (T if quantity == "surface_C" else r.initial_surface_C - T), r

    base, r0 = one({})
    vals, corners, refused = [base], [], []
    for combo in itertools.product(*[(lo, hi) for lo, hi in box.values()]):
        p = dict(zip(box, combo))
        try:
            vals.append(one(p)[0])
            corners.append(p)
        except ScenarioError:
            refused.append(p)
    V = np.vstack(vals)
    return Band(therapy, times, base, V.min(axis=0), V.max(axis=0), r0.initial_surface_C, r0, corners, refused)
