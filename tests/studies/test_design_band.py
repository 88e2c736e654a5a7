"""The band of a prediction over a design's stated ranges (cryosim.studies.band): what is varied, what is held,
and that the band brackets the nominal and follows the physics (a larger orifice never freezes less)."""

import dataclasses

import pytest

import cryosim
from cryosim.physics import catalogue
from cryosim.physics.catalogue import probe_from_design
from cryosim.physics.protocol import Freeze, Protocol
from cryosim.scenario import Numerics
from cryosim.studies import band

N2O_18G = "cryoneurolysis-N2O-1.3mm"


def _scenario(**probe_kw):
    return cryosim.default_scenario().with_(
        name="band", probe=probe_from_design(N2O_18G, **probe_kw), thermocouples=(),
        numerics=Numerics(resolution=0.25), protocol=Protocol((Freeze(15.0, gas="on"),)))


def _with_ranges(monkeypatch, ranges):
    real = catalogue.load_probe_design(N2O_18G)
    changed = dataclasses.replace(real, ranges=ranges)
    original = catalogue.load_probe_design
    monkeypatch.setattr(catalogue, "load_probe_design", lambda n: changed if n == N2O_18G else original(n))
    return real


def test_ranges_the_scenario_sets_or_cannot_change_are_held(monkeypatch):
    plain, fixed = _scenario(), _scenario(orifice_diameter_m=0.1e-3)
    real = _with_ranges(monkeypatch, {"orifice_diameter_m": (0.08e-3, 0.12e-3),
                                      "wall_thickness_m": (0.1e-3, 0.2e-3)})
    assert real.orifice_diameter_m is not None
    ranges, held = band.uncertain_design_values(plain)
    assert ranges == {"probe.orifice_diameter_m": (0.08e-3, 0.12e-3)}
    assert "wall_thickness_m" in held
    ranges, held = band.uncertain_design_values(fixed)
    assert ranges == {} and held["orifice_diameter_m"] == "set by the scenario"
    # a plain probe has no design, so no band
    assert band.design_band(cryosim.default_scenario()) is None


def test_corners_then_latin_hypercube():
    two = {"a": (0.0, 1.0), "b": (2.0, 4.0)}
    values, how = band._points(two, seed=0)
    assert sorted(zip(values["a"], values["b"])) == [(0.0, 2.0), (0.0, 4.0), (1.0, 2.0), (1.0, 4.0)]
    assert "corners" in how
    many = {f"p{i}": (0.0, 1.0) for i in range(band.MAX_CORNER_PARAMETERS + 1)}
    values, how = band._points(many, seed=0)
    assert len(values["p0"]) == band.LHS_SAMPLES and "Latin hypercube" in how
    assert all(0.0 <= v <= 1.0 for v in values["p3"])


@pytest.mark.integration
def test_band_brackets_the_nominal_and_a_larger_orifice_freezes_more(monkeypatch):
    s = _scenario()
    nominal = cryosim.run(s)  # before the patch: the run reads its design from the catalogue
    _with_ranges(monkeypatch, {"orifice_diameter_m": (0.08e-3, 0.12e-3)})
    b = band.design_band(s, nominal, workers=1)
    assert b is not None and len(b.samples) == 2
    for _, r in b.table.iterrows():
        assert r["low"] <= r["nominal"] <= r["high"]
    vol = b.table[(b.table["isotherm_C"] == 0.0) & (b.table["measure"] == "volume_m3")].iloc[0]
    assert vol["low"] < vol["nominal"] < vol["high"]
    rows = b.samples.sort_values("probe.orifice_diameter_m")
    assert rows["volume_m3@0C"].iloc[0] < rows["volume_m3@0C"].iloc[1]
    assert 0.0 < b.relative_half_width(0.0, "volume_m3") < 1.0
    text = "\n".join(b.lines())
    assert "orifice_diameter_m 8e-05–0.00012" in text and "0 °C" in text and "mm³" in text


def test_unknown_measure_is_refused():
    with pytest.raises(cryosim.ScenarioError, match="band.measures"):
        band.design_band(_scenario(), measures=("diameter",))
