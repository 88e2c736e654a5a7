"""Material parameter sets: thermal properties of tissues, bone, blood and test media.

A :class:`Material` stores volumetric properties in SI units (temperatures in °C).
Parameter sets are built by functions that state where each number comes
from; :func:`get_material` looks one up by name and :func:`citations` lists the
sources a run used.

Frozen properties of tissues are rarely measured. Where no measurement is
cited, they are *estimated* from the unfrozen value and the tissue's water
mass fraction by the parallel mixing rule used in cryosurgery modelling
(replace the water's contribution by that of ice; see Choi & Bischof,
Cryobiology 2010;60:52-70, section 3): ``k_f = k_u + phi_w (k_ice - k_water)``
with ``phi_w`` the water volume fraction, and ``c_f = c_u - w (c_water - c_ice)``
with ``w`` the water mass fraction; the latent heat is ``w * L_water``.
These estimates are marked as such in each set's ``sources``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..checks import ScenarioError, check_choice, check_range
from .phase_change import CURVES, N_PROPS, P_BETA, P_CF, P_CU, P_CURVE, P_KEXP, P_KF, P_KU, P_L, P_QM, P_TL, P_TS

__all__ = ["Material", "get_material", "material_names", "citations", "BLOOD", "WATER_ICE"]

# --- Reference constants (each with its source) ------------------------------
#: Water at 0-20 °C and ice at 0 °C. Water k: 0.561 W/m/K at 0 °C, 0.598 at
#: 20 °C (NBS/NRC Steam Tables, Haar, Gallagher & Kell 1984); ice k = 2.22
#: W/m/K at 0 °C from the fit of Yen et al. 1991 (CRREL report 91-1),
#: k = 1.16 (1.91 - 8.66e-3 T + 2.97e-5 T^2), which rises to 2.67 at -40 °C,
#: close to the 1/T(K) scaling of Slack, Phys. Rev. B 22 (1980) 3065; c of water
#: 4180 J/kg/K, of ice 2090 J/kg/K; latent heat of fusion 334 kJ/kg; ice
#: density 917 kg/m^3 (CRC Handbook of Chemistry and Physics, 97th ed.).
K_WATER_W_PER_M_K = 0.60
K_ICE_W_PER_M_K = 2.22
C_WATER_J_PER_KG_K = 4180.0
C_ICE_J_PER_KG_K = 2090.0
L_WATER_J_PER_KG = 334.0e3
RHO_WATER_KG_PER_M3 = 1000.0
RHO_ICE_KG_PER_M3 = 917.0
#: Ice conductivity scales about as 1/T(K) (Slack 1980): exponent 1.
ICE_CONDUCTIVITY_EXPONENT = 1.0

#: Cryoscopic constant of water (K kg/mol), CRC Handbook 97th ed.
CRYOSCOPIC_CONSTANT_K_KG_PER_MOL = 1.86
#: Molar mass of NaCl (g/mol), IUPAC atomic weights.
NACL_MOLAR_MASS_G_PER_MOL = 58.44
#: Osmotic coefficient of 0.15 mol/kg NaCl, about 0.93 (Robinson & Stokes,
#: Electrolyte Solutions, 2nd ed. 1959, appendix 8.10).
NACL_OSMOTIC_COEFFICIENT = 0.93
#: NaCl-water eutectic temperature, -21.1 °C (Drebushchak, Ogienko & Yunoshev,
#: Thermochim Acta 2017;647:94-100).
NACL_EUTECTIC_C = -21.1

#: Tissue freezing interval -8 to -1 °C (Micromachines 2025, 16(12):1321, and
#: Rabin & Shitzer, J. Biomech. Eng. 1998;120:32-37).
TISSUE_SOLIDUS_C = -8.0
TISSUE_LIQUIDUS_C = -1.0

ITIS = (
    "IT'IS Foundation tissue properties database v4.1 (Hasgall PA et al., 2022, "
    "doi:10.13099/VIP21000-04-1): density, specific heat, conductivity, "
    "perfusion (heat transfer rate) and heat generation rate. Density, c and k of "
    "muscle, fat, bone and blood were cross-checked against secondary copies of "
    "the database; nerve values and the perfusion and heat-generation rates are "
    "as recalled from v4.1 and not yet checked against the primary table"
)
MIXING = (
    "frozen conductivity, frozen heat capacity and latent heat estimated from the "
    "water mass fraction by the parallel mixing rule (module docstring; Choi & "
    "Bischof, Cryobiology 2010;60:52-70)"
)


#: Smallest non-zero volumetric latent heat accepted (J/m3): a tissue with 1 % water holds 3.3e6 J/m3 (the water
#: fraction times 334 kJ/kg times about 1000 kg/m3; CRC Handbook for water); below 1e6 a value is taken for one per
#: kilogram (a factor of the density, about 1000, too small), not a material.
MIN_LATENT_HEAT_J_PER_M3 = 1e6

@dataclass(frozen=True)
class Material:
    """Thermal properties of one medium (SI units, temperatures in °C).

    Parameters
    ----------
    name : str
        Identifier.
    conductivity_unfrozen_W_per_m_K, conductivity_frozen_W_per_m_K : float
        k above the liquidus and below the solidus (frozen value at 0 °C).
    frozen_conductivity_exponent : float
        p in ``k_f(T) = k_f0 (273.15 / T[K])**p`` (1 for ice, 0 if unknown).
    heat_capacity_unfrozen_J_per_m3_K, heat_capacity_frozen_J_per_m3_K : float
        Volumetric heat capacity rho*c.
    latent_heat_J_per_m3 : float
        Volumetric latent heat of the tissue water.
    solidus_C, liquidus_C : float
        Freezing interval (for a ``"solution"`` curve: eutectic and freezing point).
    freezing_curve : {"linear", "smooth", "solution"}
        Shape of the unfrozen fraction, see :mod:`cryosim.physics.phase_change`.
    perfusion_per_s : float
        Pennes blood perfusion rate w_b (m^3 blood per m^3 tissue per s); the
        Pennes coefficient is then beta = w_b (rho c)_blood.
    blood_heat_capacity_J_per_m3_K : float or None
        (rho c) of the perfusing blood; None takes :data:`BLOOD`'s.
    perfusion_coefficient_W_per_m3_K : float or None
        The Pennes coefficient beta given directly (W/m^3/K), as some sources
        report it; then ``perfusion_per_s`` must be 0.
    metabolic_heat_W_per_m3 : float
        Metabolic heat q_m.
    density_kg_per_m3 : float
        Unfrozen density (reported only; the solvers use volumetric values).
    sources : tuple of str
        Where each number comes from.
    """

    name: str
    conductivity_unfrozen_W_per_m_K: float
    conductivity_frozen_W_per_m_K: float
    heat_capacity_unfrozen_J_per_m3_K: float
    heat_capacity_frozen_J_per_m3_K: float
    latent_heat_J_per_m3: float
    solidus_C: float
    liquidus_C: float
    freezing_curve: str = "linear"
    frozen_conductivity_exponent: float = 0.0
    perfusion_per_s: float = 0.0
    metabolic_heat_W_per_m3: float = 0.0
    density_kg_per_m3: float = 1000.0
    sources: tuple[str, ...] = field(default=(), compare=False)
    blood_heat_capacity_J_per_m3_K: float | None = None
    perfusion_coefficient_W_per_m3_K: float | None = None

    def __post_init__(self) -> None:
        f = f"material[{self.name}]"
        check_range(f + ".conductivity_unfrozen_W_per_m_K", self.conductivity_unfrozen_W_per_m_K, 0.01, 10.0, unit="W/m/K")
        check_range(f + ".conductivity_frozen_W_per_m_K", self.conductivity_frozen_W_per_m_K, 0.01, 10.0, unit="W/m/K")
        check_range(f + ".heat_capacity_unfrozen_J_per_m3_K", self.heat_capacity_unfrozen_J_per_m3_K, 1e5, 1e7, unit="J/m3/K")
        check_range(f + ".heat_capacity_frozen_J_per_m3_K", self.heat_capacity_frozen_J_per_m3_K, 1e5, 1e7, unit="J/m3/K")
        check_range(f + ".latent_heat_J_per_m3", self.latent_heat_J_per_m3, 0.0, 5e8, unit="J/m3")
        if 0.0 < self.latent_heat_J_per_m3 < MIN_LATENT_HEAT_J_PER_M3:
            # a value per kilogram given where a value per cubic metre is asked (water: 3.34e5 J/kg, 3.34e8 J/m3)
            raise ScenarioError(f + ".latent_heat_J_per_m3", self.latent_heat_J_per_m3,
                                f"0 (no phase change) or a value in [{MIN_LATENT_HEAT_J_PER_M3:g}, 5e+08] J/m3: "
                                "latent heat per volume (a value per kilogram times the density)")
        check_range(f + ".liquidus_C", self.liquidus_C, -30.0, 5.0, unit="°C")
        check_range(f + ".solidus_C", self.solidus_C, -60.0, self.liquidus_C, unit="°C", high_open=True)
        check_choice(f + ".freezing_curve", self.freezing_curve, CURVES)
        if self.freezing_curve == "solution" and self.liquidus_C >= 0.0:
            raise ScenarioError(f + ".liquidus_C", self.liquidus_C, "a freezing point below 0 °C for a 'solution' curve")
        check_range(f + ".frozen_conductivity_exponent", self.frozen_conductivity_exponent, 0.0, 2.0)
        check_range(f + ".perfusion_per_s", self.perfusion_per_s, 0.0, 0.1, unit="1/s")
        check_range(f + ".metabolic_heat_W_per_m3", self.metabolic_heat_W_per_m3, 0.0, 1e5, unit="W/m3")
        check_range(f + ".density_kg_per_m3", self.density_kg_per_m3, 100.0, 5000.0, unit="kg/m3")
        if self.blood_heat_capacity_J_per_m3_K is not None:
            check_range(f + ".blood_heat_capacity_J_per_m3_K", self.blood_heat_capacity_J_per_m3_K, 1e6, 1e7,
                        unit="J/m3/K")
        if self.perfusion_coefficient_W_per_m3_K is not None:
            check_range(f + ".perfusion_coefficient_W_per_m3_K", self.perfusion_coefficient_W_per_m3_K, 0.0, 4e5,
                        unit="W/m3/K")
            if self.perfusion_per_s != 0.0:
                raise ScenarioError(f + ".perfusion_coefficient_W_per_m3_K", self.perfusion_coefficient_W_per_m3_K,
                                    "either perfusion_per_s or perfusion_coefficient_W_per_m3_K, not both "
                                    "(set perfusion_per_s = 0)")

    @property
    def perfusion_beta_W_per_m3_K(self) -> float:
        """The Pennes coefficient beta (W/m^3/K): given, or w_b times the blood's rho c."""
        if self.perfusion_coefficient_W_per_m3_K is not None:
            return self.perfusion_coefficient_W_per_m3_K
        rho_c = (BLOOD.heat_capacity_unfrozen_J_per_m3_K if self.blood_heat_capacity_J_per_m3_K is None
                 else self.blood_heat_capacity_J_per_m3_K)
        return self.perfusion_per_s * rho_c

    def steady_temperature_C(self, arterial_temperature_C: float) -> float:
        """Pennes steady state of unfrozen tissue far from any probe: T_a + q_m / beta (°C).

        Without perfusion there is no steady state with metabolic heat; the arterial temperature is returned.
        """
        beta = self.perfusion_beta_W_per_m3_K
        return arterial_temperature_C + (self.metabolic_heat_W_per_m3 / beta if beta > 0.0 else 0.0)

    def with_(self, **changes: object) -> "Material":
        """Return a copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def property_row(self) -> np.ndarray:
        """Pack the properties into the row layout of :mod:`cryosim.physics.phase_change`
        (the perfusion coefficient is :attr:`perfusion_beta_W_per_m3_K`)."""
        row = np.zeros(N_PROPS)
        row[P_CF] = self.heat_capacity_frozen_J_per_m3_K
        row[P_CU] = self.heat_capacity_unfrozen_J_per_m3_K
        row[P_L] = self.latent_heat_J_per_m3
        row[P_TS] = self.solidus_C
        row[P_TL] = self.liquidus_C
        row[P_CURVE] = CURVES[self.freezing_curve]
        row[P_KF] = self.conductivity_frozen_W_per_m_K
        row[P_KU] = self.conductivity_unfrozen_W_per_m_K
        row[P_KEXP] = self.frozen_conductivity_exponent
        row[P_BETA] = self.perfusion_beta_W_per_m3_K
        row[P_QM] = self.metabolic_heat_W_per_m3
        return row

    @property
    def diffusivity_frozen_m2_per_s(self) -> float:
        return self.conductivity_frozen_W_per_m_K / self.heat_capacity_frozen_J_per_m3_K

    @property
    def diffusivity_unfrozen_m2_per_s(self) -> float:
        return self.conductivity_unfrozen_W_per_m_K / self.heat_capacity_unfrozen_J_per_m3_K


def _from_water_fraction(
    name: str,
    *,
    density_kg_per_m3: float,
    specific_heat_J_per_kg_K: float,
    conductivity_W_per_m_K: float,
    water_mass_fraction: float,
    perfusion_mL_per_min_per_kg: float,
    heat_generation_W_per_kg: float,
    sources: tuple[str, ...],
) -> Material:
    """Build a tissue from unfrozen data (per mass) and its water mass fraction.

    Perfusion in mL/min/kg (IT'IS convention) is converted to the volumetric
    rate w_b = q * rho / 6e7 (1/s); heat generation in W/kg to W/m^3.
    """
    rho, w = density_kg_per_m3, water_mass_fraction
    phi_w = w * rho / RHO_WATER_KG_PER_M3  # water volume fraction
    c_frozen = specific_heat_J_per_kg_K - w * (C_WATER_J_PER_KG_K - C_ICE_J_PER_KG_K)
    return Material(
        name=name,
        conductivity_unfrozen_W_per_m_K=conductivity_W_per_m_K,
        conductivity_frozen_W_per_m_K=conductivity_W_per_m_K + phi_w * (K_ICE_W_PER_M_K - K_WATER_W_PER_M_K),
        heat_capacity_unfrozen_J_per_m3_K=rho * specific_heat_J_per_kg_K,
        heat_capacity_frozen_J_per_m3_K=rho * c_frozen,
        latent_heat_J_per_m3=rho * w * L_WATER_J_PER_KG,
        solidus_C=TISSUE_SOLIDUS_C,
        liquidus_C=TISSUE_LIQUIDUS_C,
        freezing_curve="linear",
        perfusion_per_s=perfusion_mL_per_min_per_kg * 1e-6 / 60.0 * rho,
        metabolic_heat_W_per_m3=heat_generation_W_per_kg * rho,
        density_kg_per_m3=rho,
        sources=sources + (MIXING,),
    )


# --- Parameter sets -----------------------------------------------------------
def _blood() -> Material:
    # IT'IS v4.1 blood: rho 1050 kg/m3, c 3617 J/kg/K, k 0.52 W/m/K; water
    # mass fraction 0.79 (Duck, Physical Properties of Tissue, 1990, table 7.1).
    return _from_water_fraction(
        "blood", density_kg_per_m3=1050.0, specific_heat_J_per_kg_K=3617.0,
        conductivity_W_per_m_K=0.52, water_mass_fraction=0.79,
        perfusion_mL_per_min_per_kg=0.0, heat_generation_W_per_kg=0.0,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


BLOOD = _blood()


def _soft_tissue() -> Material:
    return Material(
        name="soft_tissue",
        conductivity_unfrozen_W_per_m_K=0.5,
        conductivity_frozen_W_per_m_K=2.0,
        heat_capacity_unfrozen_J_per_m3_K=3.6e6,
        heat_capacity_frozen_J_per_m3_K=1.8e6,
        latent_heat_J_per_m3=250e6,
        solidus_C=TISSUE_SOLIDUS_C,
        liquidus_C=TISSUE_LIQUIDUS_C,
        freezing_curve="linear",
        perfusion_per_s=0.0005,
        # IT'IS v4.1 muscle heat generation 0.913 W/kg, times this set's density.
        metabolic_heat_W_per_m3=0.913 * 1050.0,
        density_kg_per_m3=1050.0,
        sources=(
            "k, rho*c, latent heat, freezing interval and perfusion: generic soft tissue "
            "of PHYSICS.md section 3, as used in Micromachines 2025, 16(12):1321 "
            "(not yet checked against the paper itself)",
            "metabolic heat: " + ITIS + " (muscle)",
        ),
    )


def _muscle() -> Material:
    # IT'IS v4.1 muscle: 1090 kg/m3, 3421 J/kg/K, 0.49 W/m/K, 36.9 mL/min/kg,
    # 0.913 W/kg; water mass fraction 0.75 (Duck 1990, table 7.1).
    return _from_water_fraction(
        "muscle", density_kg_per_m3=1090.0, specific_heat_J_per_kg_K=3421.0,
        conductivity_W_per_m_K=0.49, water_mass_fraction=0.75,
        perfusion_mL_per_min_per_kg=36.9, heat_generation_W_per_kg=0.913,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


def _fat() -> Material:
    # IT'IS v4.1 fat: 911 kg/m3, 2348 J/kg/K, 0.21 W/m/K, 33 mL/min/kg,
    # 0.51 W/kg; water mass fraction 0.20 (Duck 1990, table 7.1: 0.15-0.30).
    return _from_water_fraction(
        "fat", density_kg_per_m3=911.0, specific_heat_J_per_kg_K=2348.0,
        conductivity_W_per_m_K=0.21, water_mass_fraction=0.20,
        perfusion_mL_per_min_per_kg=33.0, heat_generation_W_per_kg=0.51,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


def _skin() -> Material:
    # IT'IS v4.1 skin (epidermis and dermis together): 1109 kg/m3, 3391 J/kg/K, 0.37 W/m/K,
    # 106 mL/min/kg, 1.65 W/kg; water mass fraction 0.65 (Duck 1990, table 7.1: skin 0.60-0.72).
    # Basal perfusion: cold-induced vasoconstriction is not modelled here (see cryosim.clinical.skin).
    return _from_water_fraction(
        "skin", density_kg_per_m3=1109.0, specific_heat_J_per_kg_K=3391.0,
        conductivity_W_per_m_K=0.37, water_mass_fraction=0.65,
        perfusion_mL_per_min_per_kg=106.0, heat_generation_W_per_kg=1.65,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


def _nerve() -> Material:
    # IT'IS v4.1 nerve: 1075 kg/m3, 3613 J/kg/K, 0.49 W/m/K, 17 mL/min/kg,
    # 2.76 W/kg (heat generation); water mass fraction 0.70 (peripheral nerve,
    # Duck 1990, table 7.1).
    return _from_water_fraction(
        "nerve", density_kg_per_m3=1075.0, specific_heat_J_per_kg_K=3613.0,
        conductivity_W_per_m_K=0.49, water_mass_fraction=0.70,
        perfusion_mL_per_min_per_kg=17.0, heat_generation_W_per_kg=2.76,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


def _cortical_bone() -> Material:
    # IT'IS v4.1 bone (cortical): 1908 kg/m3, 1313 J/kg/K, 0.32 W/m/K,
    # 10 mL/min/kg, 0.15 W/kg; water mass fraction 0.12 (Duck 1990, table 7.1,
    # compact bone 0.10-0.15). Little water, hence little latent heat.
    return _from_water_fraction(
        "cortical_bone", density_kg_per_m3=1908.0, specific_heat_J_per_kg_K=1313.0,
        conductivity_W_per_m_K=0.32, water_mass_fraction=0.12,
        perfusion_mL_per_min_per_kg=10.0, heat_generation_W_per_kg=0.15,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


def _cancellous_bone() -> Material:
    # IT'IS v4.1 bone (cancellous): 1178 kg/m3, 2274 J/kg/K, 0.31 W/m/K,
    # 30 mL/min/kg, 0.45 W/kg; water mass fraction 0.30 (marrow-filled
    # trabecular bone, Duck 1990, table 7.1).
    return _from_water_fraction(
        "cancellous_bone", density_kg_per_m3=1178.0, specific_heat_J_per_kg_K=2274.0,
        conductivity_W_per_m_K=0.31, water_mass_fraction=0.30,
        perfusion_mL_per_min_per_kg=30.0, heat_generation_W_per_kg=0.45,
        sources=(ITIS, "water mass fraction: Duck, Physical Properties of Tissue, 1990 (as recalled, table not re-checked)"),
    )


def _water() -> Material:
    return Material(
        name="water",
        conductivity_unfrozen_W_per_m_K=K_WATER_W_PER_M_K,
        conductivity_frozen_W_per_m_K=K_ICE_W_PER_M_K,
        frozen_conductivity_exponent=ICE_CONDUCTIVITY_EXPONENT,
        heat_capacity_unfrozen_J_per_m3_K=RHO_WATER_KG_PER_M3 * C_WATER_J_PER_KG_K,
        heat_capacity_frozen_J_per_m3_K=RHO_ICE_KG_PER_M3 * C_ICE_J_PER_KG_K,
        latent_heat_J_per_m3=RHO_WATER_KG_PER_M3 * L_WATER_J_PER_KG,
        # Pure water freezes at 0 °C; a 0.5 K interval keeps the front
        # resolvable on a grid (numerical choice, stated in the docs).
        solidus_C=-0.5,
        liquidus_C=0.0,
        freezing_curve="smooth",
        density_kg_per_m3=RHO_WATER_KG_PER_M3,
        sources=("water/ice: NBS/NRC Steam Tables 1984; Yen et al. 1991; Slack 1980; CRC Handbook 97th ed.",),
    )


WATER_ICE = _water()


def saline_freezing_point_C(mass_fraction_NaCl: float = 0.009) -> float:
    """Freezing point of NaCl solution from the cryoscopic law (°C).

    ``dT = K_f * i * m`` with van 't Hoff factor ``i = 2 * phi`` and molality
    ``m`` (mol per kg water). For 0.9 % saline this gives about -0.53 °C,
    in line with the -0.5 °C of PHYSICS.md and the 286 mOsm/kg of isotonic
    saline.
    """
    w = check_range("saline.mass_fraction_NaCl", mass_fraction_NaCl, 0.0, 0.05, low_open=True)
    molality = (w * 1000.0 / NACL_MOLAR_MASS_G_PER_MOL) / (1.0 - w)
    return -CRYOSCOPIC_CONSTANT_K_KG_PER_MOL * 2.0 * NACL_OSMOTIC_COEFFICIENT * molality


def _saline() -> Material:
    return _water().with_(
        name="saline",
        solidus_C=NACL_EUTECTIC_C,
        liquidus_C=saline_freezing_point_C(0.009),
        freezing_curve="solution",
        sources=(
            "0.9 % NaCl modelled as water (Steam Tables 1984; Yen 1991; CRC Handbook) with a "
            "lever-rule freezing curve between the cryoscopic freezing point "
            "(saline_freezing_point_C) and the NaCl-water eutectic at -21.1 °C at 23.3 wt% "
            "(Drebushchak et al., Thermochim Acta 2017;647:94-100)",
        ),
    )


def _agar_gel() -> Material:
    # Agar phantoms (1-2 % agar) are >98 % water, so they are modelled as water
    # with 98 % of its latent heat; unfrozen k = 0.59 W/m/K as measured on
    # gel hyperthermia phantoms (Farina et al., Sensors 2020;20:4549).
    return _water().with_(
        name="agar_gel",
        conductivity_unfrozen_W_per_m_K=0.59,
        latent_heat_J_per_m3=0.98 * RHO_WATER_KG_PER_M3 * L_WATER_J_PER_KG,
        solidus_C=-1.0,
        liquidus_C=-0.1,
        freezing_curve="smooth",
        sources=(
            "agar gel as 98 % water (mass fraction of a 2 % agar gel); unfrozen k "
            "0.59 W/m/K (Farina et al., Sensors 2020;20:4549)",
        ),
    )


_SETS = {
    "soft_tissue": _soft_tissue,
    "muscle": _muscle,
    "fat": _fat,
    "skin": _skin,
    "nerve": _nerve,
    "cortical_bone": _cortical_bone,
    "cancellous_bone": _cancellous_bone,
    "blood": _blood,
    "water": _water,
    "saline": _saline,
    "agar_gel": _agar_gel,
}


def material_names() -> list[str]:
    """Names accepted by :func:`get_material`."""
    return list(_SETS)


def get_material(name: str) -> Material:
    """Return a parameter set by name (see :func:`material_names`)."""
    check_choice("medium", name, _SETS)
    return _SETS[name]()


def citations(*materials: Material) -> list[str]:
    """Unique sources of the given materials, in order of first use."""
    seen: dict[str, None] = {}
    for m in materials:
        for s in m.sources:
            seen.setdefault(s, None)
    return list(seen)
