"""Nerve injury grade from the coldest temperature a nerve reaches (thresholds with their sources).

Grades follow the Sunderland classification as summarised in seed 002 (from
Ilfeld et al., Expert Rev Med Devices 2016;13:713-725). The temperatures are
those of PHYSICS.md §1, after Hsu & Stevenson, Muscle Nerve 2015;51:268-275
(the paper's own numbers not yet re-checked here): conduction block without
axon damage between about +10 and -20 °C, axonotmesis below about -20 °C;
-55 °C at the nerve was still reversible in rats (axonotmesis regenerates,
which is the point of cryoneurolysis).
"""

from __future__ import annotations

from ..checks import ScenarioError

__all__ = ["NEURAPRAXIA_BELOW_C", "AXONOTMESIS_BELOW_C", "ICE_EDGE_C", "GRADES", "injury_grade"]

#: Conduction block without axon damage (neurapraxia, Sunderland 1st degree) at or below about +10 °C.
NEURAPRAXIA_BELOW_C = 10.0
#: Axonotmesis (Sunderland 2nd degree: Wallerian degeneration, sheaths intact) at or below about -20 °C.
AXONOTMESIS_BELOW_C = -20.0
#: Grades, mildest first.
#: The edge of the ice ball as users read it (°C): frozen length along a nerve is measured at 0 °C
#: (the tissue liquidus of the materials is about -1 °C).
ICE_EDGE_C = 0.0
GRADES = ("none", "conduction block (neurapraxia)", "axonotmesis")


def injury_grade(coldest_C: float, neurapraxia_below_C: float = NEURAPRAXIA_BELOW_C,
                 axonotmesis_below_C: float = AXONOTMESIS_BELOW_C) -> str:
    """Grade (one of :data:`GRADES`) implied by the coldest temperature a nerve reached (°C)."""
    if not axonotmesis_below_C < neurapraxia_below_C:
        raise ScenarioError("axonotmesis_below_C", axonotmesis_below_C,
                            f"a threshold below neurapraxia_below_C = {neurapraxia_below_C:g} °C")
    if coldest_C <= axonotmesis_below_C:
        return GRADES[2]
    if coldest_C <= neurapraxia_below_C:
        return GRADES[1]
    return GRADES[0]
