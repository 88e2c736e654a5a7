"""Unit tests of the boundary-condition objects (cryosim.physics.boundary)."""

import pytest

from cryosim import Freeze, Probe, Protocol, Thaw
from cryosim.physics.boundary import (FLOOR_RAMP_K, BCKind, LN2_BOILING_POINT_C, Surface, SurfaceCondition,
                                      probe_boundaries, tip_boundaries)

AREA_M2 = 2e-5


def test_tip_conditions_follow_the_protocol():
    p = Protocol((Freeze(10, -70.0), Freeze(10, -60.0, heat_transfer_W_per_m2_K=2000.0), Freeze(10, power_W=3.0),
                  Thaw(10), Thaw(10, "active", 30.0)))
    bcs = probe_boundaries(Probe.from_gauge(18, 5e-3, coolant="N2O"), p, AREA_M2, 37.0)
    tip = bcs[Surface.ACTIVE]
    assert tip.at(5.0) == SurfaceCondition(BCKind.TEMPERATURE, -70.0)
    assert tip.at(15.0) == SurfaceCondition(BCKind.CONVECTIVE, -60.0, 2000.0)
    c = tip.at(25.0)
    assert c.kind == BCKind.LIMITED_FLUX and c.temperature_C == -88.0
    assert c.flux_W_per_m2 == pytest.approx(-3.0 / AREA_M2)
    assert tip.at(35.0).kind == BCKind.ADIABATIC
    assert tip.at(45.0) == SurfaceCondition(BCKind.TEMPERATURE, 30.0)
    assert bcs[Surface.FAR].at(3.0) == SurfaceCondition(BCKind.TEMPERATURE, 37.0)
    assert bcs.breakpoints_s().tolist() == [0, 10, 20, 30, 40, 50]


def test_limited_flux_fades_out_at_the_floor():
    c = SurfaceCondition(BCKind.LIMITED_FLUX, -88.0, flux_W_per_m2=-1e5)
    assert c.flux_into_medium_W_per_m2(0.0) == -1e5
    assert c.flux_into_medium_W_per_m2(-88.0 + 0.5 * FLOOR_RAMP_K) == pytest.approx(-0.5e5)
    assert c.flux_into_medium_W_per_m2(-88.0) == 0.0
    assert c.flux_into_medium_W_per_m2(-100.0) == 0.0
    with pytest.raises(ValueError):
        SurfaceCondition(BCKind.TEMPERATURE, -70.0).flux_into_medium_W_per_m2(-60.0)


def test_power_without_coolant_is_floored_by_liquid_nitrogen():
    bcs = tip_boundaries(Protocol((Freeze(10, power_W=1.0),)), AREA_M2, 37.0, floor_C=None)
    assert bcs[Surface.ACTIVE].at(1.0).temperature_C == LN2_BOILING_POINT_C


def test_the_shaft_rule():
    p = Protocol((Freeze(10, -70.0), Thaw(10), Freeze(10, power_W=2.0), Thaw(10, "active", 40.0)))
    probe = Probe.from_gauge(18, 5e-3, shaft_heat_transfer_W_per_m2_K=50.0)
    shaft = probe_boundaries(probe, p, AREA_M2, 37.0)[Surface.SHAFT]
    assert shaft.at(5.0) == SurfaceCondition(BCKind.CONVECTIVE, -70.0, 50.0)  # cooling: coupled to the coolant
    assert shaft.at(15.0).kind == BCKind.ADIABATIC  # passive thaw
    assert shaft.at(25.0).kind == BCKind.ADIABATIC  # power-driven: no coolant temperature to couple to
    assert shaft.at(35.0).kind == BCKind.ADIABATIC  # warming, not cooling
    insulated = probe_boundaries(Probe.from_gauge(18, 5e-3), p, AREA_M2, 37.0)[Surface.SHAFT]
    assert insulated.at(5.0).kind == BCKind.ADIABATIC


def test_far_field_may_be_adiabatic_and_surfaces_are_unique():
    bcs = tip_boundaries(Protocol.single_freeze(10, -40.0), AREA_M2, 20.0, floor_C=-88.0, far_field=False)
    assert bcs[Surface.FAR].at(0.0).kind == BCKind.ADIABATIC
    with pytest.raises(ValueError, match="one condition per surface"):
        type(bcs)(bcs.conditions + bcs.conditions[:1])
