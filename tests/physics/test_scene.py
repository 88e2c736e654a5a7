"""Issue 11, reproducer 6: geometry that intersects is refused before any meshing."""

import pytest

import cryosim
from cryosim import Probe, ScenarioError
from cryosim.physics.scene import CLEARANCE_M, BonePlate, ProbePlacement, Vessel, check_clearances

RP = 0.635e-3  # 18 G


def test_vessel_through_the_probe_is_refused():
    with pytest.raises(ScenarioError, match=r"vessels\[0\].distance_m .* clear of probe"):
        cryosim.default_scenario().with_(vessels=(Vessel(diameter_m=1e-3, distance_m=0.5e-3, angle_deg=90.0, z_m=2e-3),))
    # parallel vessel touching the probe
    with pytest.raises(ScenarioError, match="gap is"):
        check_clearances(RP, None, (Vessel(diameter_m=1e-3, distance_m=RP + 0.5e-3 + 0.05e-3),), ())
    # clear of it by more than the clearance: accepted
    check_clearances(RP, None, (Vessel(diameter_m=1e-3, distance_m=RP + 0.5e-3 + 2 * CLEARANCE_M),), ())
    # a crossing vessel below the tip is measured from the distal end
    check_clearances(RP, None, (Vessel(diameter_m=1e-3, distance_m=0.0, angle_deg=90.0, z_m=-2e-3),), ())


def test_bone_through_the_probe_is_refused():
    with pytest.raises(ScenarioError, match=r"bone.distance_m .* clears probe"):
        cryosim.default_scenario().with_(bone=BonePlate(distance_m=0.6e-3, angle_deg=0.0))  # parallel, inside r_p
    check_clearances(RP, BonePlate(distance_m=0.6e-3, angle_deg=90.0), (), ())  # below the tip: clear
    with pytest.raises(ScenarioError, match="bone.distance_m"):
        check_clearances(RP, BonePlate(distance_m=0.5e-3, angle_deg=45.0), (), ())  # reach r_p cos 45 = 0.45 mm


def test_coincident_or_touching_probes_are_refused():
    with pytest.raises(ScenarioError, match=r"extra_probes\[0\].position_m"):
        cryosim.default_scenario().with_(extra_probes=(ProbePlacement((0.0, 0.0, 0.0)),))
    with pytest.raises(ScenarioError, match="gap is"):
        check_clearances(RP, None, (), (ProbePlacement((2 * RP, 0.0, 0.0)),))
    check_clearances(RP, None, (), (ProbePlacement((5e-3, 0.0, 0.0)),))
    with pytest.raises(ScenarioError, match=r"extra_probes\[1\]"):  # two extra probes on top of each other
        check_clearances(RP, None, (), (ProbePlacement((5e-3, 0.0, 0.0)), ProbePlacement((5e-3, 0.0, 1e-3))))


def test_a_domain_smaller_than_the_ice_ball_is_refused():
    """Issue 11: a 2 mm domain around a 10 G probe let the far boundary supply 416 of 421 J."""
    with pytest.raises(ScenarioError, match="numerics.domain_radius_m .* holds the expected ice ball"):
        cryosim.default_scenario().with_(probe=Probe.from_gauge(10, 5e-3), domain_radius_m=2e-3)
    with pytest.raises(ScenarioError, match="numerics.axial_below_m"):
        cryosim.default_scenario().with_(axial_below_m=2e-3)


def test_an_extra_probe_outside_the_medium_is_refused():
    """The medium is sized around the first probe; a second one outside it (with its ice ball) was cut away by the
    mesher and its cooling silently lost (issue 16): refused, naming the probe and the room there is."""
    import cryosim
    from cryosim.checks import ScenarioError
    from cryosim.physics.scene import ProbePlacement

    s = cryosim.default_scenario()
    room = s.domain_radius_m() - (s.probe.radius_m + s.expected_ice_distance_m())
    assert len(s.with_(extra_probes=(ProbePlacement((0.9 * room, 0.0, 0.0)),)).extra_probes) == 1
    with pytest.raises(ScenarioError, match=r"extra_probes\[0\].position_m.*within"):
        s.with_(extra_probes=(ProbePlacement((0.0, 1.1 * room, 0.0)),))
