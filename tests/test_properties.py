"""Property-based: random scenarios end in finite results or a clear validation error."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cryosim
from cryosim import Numerics, Probe, Protocol, ScenarioError
from cryosim.fast import run_axisymmetric
from cryosim.physics.probe import ISO_9626_OUTER_DIAMETER_MM

finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1000, 1000))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gauge=st.sampled_from(sorted(ISO_9626_OUTER_DIAMETER_MM)),
    active_mm=st.floats(1.0, 10.0),
    tip_C=st.floats(-90.0, -20.0),
    duration_s=st.floats(1.0, 15.0),
    medium=st.sampled_from(cryosim.material_names()),
    coolant=st.sampled_from([None, "N2O", "CO2"]),
)
def test_random_scenarios_finish_or_refuse(gauge, active_mm, tip_C, duration_s, medium, coolant):
    try:
        s = cryosim.default_scenario().with_(
            probe=Probe.from_gauge(gauge, active_length_m=active_mm * 1e-3, coolant=coolant),
            protocol=Protocol.single_freeze(duration_s, tip_C), medium=cryosim.get_material(medium),
            thermocouples=(), numerics=Numerics(resolution=0.25))
    except ScenarioError as e:
        assert coolant is not None and "thermal floor" in str(e)
        return
    r = run_axisymmetric(s)
    for series in r.extents.values():
        for v in series.values():
            assert all(math.isfinite(x) and x >= 0 for x in v)
    assert r.energy_imbalance_relative < 1e-4
    assert r.final(0.0, "width_m") >= 0.0


@given(value=finite_or_not, field=st.sampled_from(["duration_s", "tip_temperature_C"]))
@settings(max_examples=40, deadline=None)
def test_random_protocol_values_are_validated(value, field):
    kwargs = {"duration_s": 60.0, "tip_temperature_C": -70.0}
    kwargs[field] = value
    try:
        f = cryosim.Freeze(**kwargs)
    except ScenarioError as e:
        assert f"freeze.{field}" in str(e)
    else:
        assert math.isfinite(f.duration_s) and 0 < f.duration_s
