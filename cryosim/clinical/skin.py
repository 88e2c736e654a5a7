r"""Surface cryotherapy (seed 000): a layered body cooled at the skin, on the fast 1D machinery.

The body is a planar stack from the skin surface (``x = 0``) inwards:
skin (epidermis and dermis), subcutaneous fat and muscle, each a
:class:`~cryosim.physics.materials.Material` (IT'IS v4.1 properties, with
freezing by the enthalpy method, so frostbite is latent heat and all). The
deep end is held at the arterial temperature (37 °C, the body core; with
muscle perfusion the cooling decays within about 15 mm, well inside
:data:`DEFAULT_LAYERS`). Pennes perfusion and metabolic heat act at their
basal values: **cold-induced vasoconstriction is not modelled** (skin blood
flow falls several-fold when the skin is cooled; basal perfusion rewarms
more than the real skin, so the model errs on the warm side; the perfusion
scale of :func:`simulate` can be set to 0 for the other bound).

Before the therapy the body sits in still room air (:data:`ROOM_AIR_C`,
:data:`ROOM_H_W_PER_M2_K`) until steady: the skin is then at about 33 °C.
During the therapy the skin surface sees one :class:`SurfaceTherapy`:

* ``co2_jet`` -- CO2 micro-crystals at the sublimation point, -78.5 °C
  (seed: -78 °C), by convection with the coefficient of an impinging round
  jet (:func:`impinging_jet_h_W_per_m2_K`, Martin 1977) plus the
  sublimation of the snow deposited on the skin, a heat flux
  :math:`\dot m'' L_{sub}` drawn while the jet sprays. The two combine into
  one convective condition with an equivalent coolant temperature
  :math:`T_{eq} = T_{jet} - \dot m'' L_{sub} / h` (exact: both are affine in
  the surface temperature); ``duty_cycle`` < 1 models a jet swept over an
  area (time-averaged coefficient and flux);
* ``ice_pack`` -- melting ice at 0 °C through a contact conductance (bag
  film, meltwater film, partial contact); the pack's latent heat limits the
  duration: :attr:`SkinResult.ice_used_fraction` says how much of it the
  application used, and a run that would melt the whole pack is refused;
* ``cold_air`` -- air at -30 °C blown on the skin, convection only (Martin
  1977 again, with air properties).

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

from ..checks import ScenarioError, check_range
from ..fast.stepper import FVSystem, StepTolerances
from ..meshing.grids import radial_grid
from ..numerics.stepsize import StepSettings, integrate
from ..physics.boundary import (BCKind, BoundaryCondition, BoundarySet, FixedTemperature, Surface,
                                SurfaceCondition)
from ..physics.materials import Material, get_material

__all__ = [
    "Layer", "SurfaceTherapy", "SkinResult", "DEFAULT_LAYERS", "co2_jet", "ice_pack", "cold_air",
    "impinging_jet_h_W_per_m2_K", "simulate", "rank_therapies", "ANALGESIA_SKIN_C", "FROSTBITE_SKIN_C",
    "CO2_SUBLIMATION_C", "CO2_SUBLIMATION_J_PER_KG",
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


def co2_jet(duration_s: float = 30.0, *, snow_deposition_kg_per_m2_s: float = 5e-3, duty_cycle: float = 1.0,
            nozzle_m: float = 8e-3, standoff_m: float = 96e-3, spot_radius_m: float = 20e-3,
            velocity_m_per_s: float = 30.0) -> SurfaceTherapy:
    """The CO2 micro-crystal jet of neurocryostimulation (seed 000), held on one spot (``duty_cycle`` 1).

    Assumed (no measurement of this device's jet was found): the jet
    reaches the skin 96 mm from the nozzle with an effective diameter of
    8 mm (widened by entrainment) at 30 m/s over a 20 mm-radius spot -- the
    largest standoff Martin's correlation covers (H/D = 12); clinical use
    sprays from about 10 cm, so this is at the edge of the correlation. It
    gives h of about 180 W/m2/K. Snow deposition 5 g/m2/s (assumed order
    of magnitude: a thin deposit that sublimates as it lands; the
    sensitivity is shown in examples/surface_cryotherapy.py) adds about
    2.9 kW/m2. ``duty_cycle`` < 1: the operator sweeps the jet ("balayer la
    zone", seed 000), so a point of skin is under it that share of the
    time; coefficient and flux are time-averaged.
    """
    check_range("co2_jet.duty_cycle", duty_cycle, 0.0, 1.0, low_open=True)
    check_range("co2_jet.snow_deposition_kg_per_m2_s", snow_deposition_kg_per_m2_s, 0.0, 1.0, unit="kg/m2/s")
    h = impinging_jet_h_W_per_m2_K(CO2_GAS_M78, nozzle_m, standoff_m, spot_radius_m, velocity_m_per_s)
    return SurfaceTherapy(
        "CO2 jet" if duty_cycle == 1.0 else f"CO2 jet, swept ({duty_cycle:.0%} on spot)", duration_s,
        CO2_SUBLIMATION_C, duty_cycle * h, duty_cycle * snow_deposition_kg_per_m2_s * CO2_SUBLIMATION_J_PER_KG,
        sources=("jet at the CO2 sublimation point -78.5 °C (NIST WebBook; seed 000: -78 °C)",
                 f"h = {duty_cycle * h:.0f} W/m2/K: Martin, Adv Heat Transfer 1977;13:1-60, single round nozzle, "
                 f"with the assumed jet of co2_jet's docstring; CO2 gas properties: Vesovic et al. 1990",
                 f"sublimation {CO2_SUBLIMATION_J_PER_KG / 1e3:.0f} kJ/kg (CRC Handbook: 25.2 kJ/mol) of an assumed "
                 f"{1e3 * snow_deposition_kg_per_m2_s:g} g/m2/s of snow"))


def ice_pack(duration_s: float = 1200.0, *, contact_conductance_W_per_m2_K: float = 240.0, ice_mass_kg: float = 0.6,
             contact_area_m2: float = 0.18 * 0.23) -> SurfaceTherapy:
    """Melting ice in a bag on the skin (0 °C through a contact conductance); 20 min by default.

    Contact conductance 240 W/m2/K (assumed, from the layers in series:
    a 50 µm polyethylene bag, k 0.33 W/m/K, 6600 W/m2/K; a 0.5 mm meltwater
    film, k 0.57, 1140 W/m2/K; together about 970 W/m2/K over full contact,
    times an assumed 25 % of the area where ice touches through water --
    cubed ice leaves air pockets). The pack (0.6 kg on 18 x 23 cm, the pack of
    Janwantanakul, Physiotherapy 2009;95:120-125) can absorb
    ``ice_mass_kg * 334 kJ/kg`` over its area.
    """
    check_range("ice_pack.ice_mass_kg", ice_mass_kg, 0.0, 10.0, unit="kg", low_open=True)
    check_range("ice_pack.contact_area_m2", contact_area_m2, 1e-4, 1.0, unit="m2")
    return SurfaceTherapy(
        "ice pack", duration_s, 0.0, contact_conductance_W_per_m2_K,
        capacity_J_per_m2=ice_mass_kg * ICE_MELTING_J_PER_KG / contact_area_m2,
        sources=("melting ice at 0 °C", f"contact conductance {contact_conductance_W_per_m2_K:g} W/m2/K (assumed, "
                 "see ice_pack's docstring)", "pack 0.6 kg on 18 x 23 cm: Janwantanakul, Physiotherapy 2009;95:120"))


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
#: halving them in tests/test_clinical.py (surface temperature within 0.5 K).
FIRST_CELL_M = 20e-6
GROWTH = 1.08
MAX_CELL_M = 0.5e-3
#: Time in room air before the therapy, to reach the steady skin temperature (s): many times the
#: perfusion time constant of skin and muscle (rho c / beta, about 20-25 min).
PRECONDITION_S = 4.0 * 3600.0


def simulate(therapy: SurfaceTherapy, *, layers: Sequence[Layer] = DEFAULT_LAYERS, after_s: float = 300.0,
             core_C: float = 37.0, perfusion_scale: float = 1.0, resolution: float = 1.0,
             temperature_tolerance_K: float = 0.2, max_step_s: float = 5.0, room_air_C: float = ROOM_AIR_C,
             room_h_W_per_m2_K: float = ROOM_H_W_PER_M2_K) -> SkinResult:
    """Cool the layered body with ``therapy``, then ``after_s`` of rewarming in room air.

    ``perfusion_scale`` multiplies every layer's perfusion (1: basal; 0: no
    perfusion, the full-vasoconstriction bound). ``resolution`` divides the
    cell sizes. Refuses a run whose surface goes below the therapy's floor
    (its model broke) or that uses more than the coolant's latent capacity.
    """
    layers = tuple(layers)
    if not layers:
        raise ScenarioError("layers", [], "at least one layer")
    check_range("perfusion_scale", perfusion_scale, 0.0, 10.0)
    check_range("after_s", after_s, 0.0, 86400.0, unit="s")
    check_range("resolution", resolution, 0.25, 16.0)
    check_range("core_C", core_C, 30.0, 42.0, unit="°C")
    check_range("room_air_C", room_air_C, -40.0, 45.0, unit="°C")
    check_range("room_h_W_per_m2_K", room_h_W_per_m2_K, 1.0, 100.0, unit="W/m2/K")
    mats = [L.material if perfusion_scale == 1.0 else
            L.material.with_(perfusion_per_s=L.material.perfusion_per_s * perfusion_scale,
                             perfusion_coefficient_W_per_m3_K=None) for L in layers]
    depth = float(sum(L.thickness_m for L in layers))
    grid = radial_grid("planar", 0.0, depth, FIRST_CELL_M / resolution, 1.0 + (GROWTH - 1.0) / resolution,
                       MAX_CELL_M / resolution, far_boundary=True)
    bounds = np.cumsum([L.thickness_m for L in layers])
    grid.material[:] = np.minimum(np.searchsorted(bounds, grid.centers_m[:, 0]), len(layers) - 1)
    props = np.vstack([m.property_row() for m in mats])
    tol = StepTolerances(temperature_tolerance_K=temperature_tolerance_K, enthalpy_rtol=1e-3)
    # 1. steady state in room air
    room = BoundarySet((_SkinSurface(therapy, math.inf, room_air_C, room_h_W_per_m2_K),
                        FixedTemperature(Surface.FAR, core_C)))
    pre = FVSystem(grid, props, core_C, core_C, room, tol)
    integrate(pre, PRECONDITION_S, StepSettings(max_step_s=600.0))
    # 2. therapy from t = 0, then room air
    bcs = BoundarySet((_SkinSurface(therapy, 0.0, room_air_C, room_h_W_per_m2_K), FixedTemperature(Surface.FAR, core_C)))
    st = FVSystem(grid, props, pre.T, core_C, bcs, tol)
    times, surf, rows = [0.0], [float(pre.surface_temperatures()[0])], [pre.T.copy()]
    drawn = {"J": 0.0}

    def on_accept(t: float, _: bool) -> None:
        times.append(t)
        surf.append(float(st.surface_temperatures()[0]))
        rows.append(st.T.copy())
        if t <= therapy.duration_s + 1e-9:
            drawn["J"] = -st.energy["probe_J"]

    integrate(st, therapy.duration_s + after_s, StepSettings(max_step_s=max_step_s, first_step_s=1e-3),
              breaks_s=bcs.breakpoints_s(), on_accept=on_accept)
    res = SkinResult(therapy, layers, np.asarray(times), np.asarray(surf), grid.centers_m[:, 0].copy(),
                     np.asarray(rows), dict(st.energy, enthalpy_change_J=st.enthalpy_change_J), drawn["J"])
    if res.surface_C.min() < therapy.floor_C - 1e-6:
        raise ScenarioError(f"therapy[{therapy.name}]", f"surface down to {res.surface_C.min():.1f} °C",
                            f"a surface that stays above the coolant floor {therapy.floor_C:g} °C (the snow or coolant "
                            "cannot cool below it: lower the deposition rate or shorten the therapy)")
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
