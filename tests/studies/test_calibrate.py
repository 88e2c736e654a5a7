"""Calibration (cryosim.studies.calibrate): the fitting core on cheap model functions, one coarse end-to-end fit.

The core is tested through the public API with pure-Python models (a
function of the parameter values): recovery of known values within the
reported intervals (and a perturbed model giving another answer), a pair
that only enters as a product flagged by name, resuming an interrupted
calibration without recomputing stored points, refusals naming the field.
One quick end-to-end run fits the orifice of a catalogue probe on a very
coarse grid and checks that the written design file loads and runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from cryosim.checks import ScenarioError
from cryosim.studies.calibrate import (CalibrationResult, calibrate, calibration_from_dict,
                                       load_calibration_study)
from cryosim.studies.calibration_data import Dataset, read_dataset
from cryosim.studies.calibration_outputs import (load_design_file, load_therapy_file, scenario_with_design_file,
                                                 therapy_file_body)

TRUE = {"a": 3.0, "tau": 2.5}
T = np.linspace(0.5, 10.0, 30)


def decay(values, datasets):
    """y = a exp(-t / tau)."""
    return [values["a"] * np.exp(-ds.time_s / values["tau"]) for ds in datasets]


def decay_slower(values, datasets):
    """The same model with a 10 % longer time constant (a perturbed model)."""
    return [values["a"] * np.exp(-ds.time_s / (1.1 * values["tau"])) for ds in datasets]


def product(values, datasets):
    """y = a b t: only the product a b is seen."""
    return [values["a"] * values["b"] * ds.time_s for ds in datasets]


def _data(rng, sigma=0.02):
    y = TRUE["a"] * np.exp(-T / TRUE["tau"]) + rng.normal(0.0, sigma, T.size)
    return Dataset.from_arrays("values", T, y, sigma=sigma, name="decay")


PARAMS = {"a": (1.0, 5.0), "tau": {"bounds": [0.5, 10.0], "log": True}}


def test_recovers_known_values_within_intervals(rng):
    data = _data(rng)
    r = calibrate(decay, PARAMS, [data], starts=2, executor="serial")
    assert isinstance(r, CalibrationResult)
    for k, v in TRUE.items():
        lo, hi = r.intervals[k]
        assert lo < v < hi, (k, v, r.intervals[k])
        assert hi - lo < 0.1 * v  # an interval that says something
    assert r.identifiable and not r.warnings
    assert r.dof == T.size - 2 and math.isclose(r.chi2, float(np.sum(r.residual_frames()[0]["normalised"] ** 2)))
    assert r.correlation.shape == (2, 2) and abs(r.correlation[0, 1]) < 0.95
    # the test can fail: a perturbed model fits another time constant, outside the first interval
    r2 = calibrate(decay_slower, PARAMS, [data], starts=2, executor="serial")
    assert not r.intervals["tau"][0] < r2.values["tau"] < r.intervals["tau"][1]
    assert math.isclose(r2.values["tau"] * 1.1, r.values["tau"], rel_tol=1e-3)


def test_predict_held_out_data(rng):
    data = _data(rng)
    fit, held = data.subset(T < 6.0), data.subset(T >= 6.0)
    r = calibrate(decay, PARAMS, [fit], executor="serial")
    (frame,) = r.predict([held], band=True)
    assert len(frame) == len(held)
    assert np.all(np.abs(frame["normalised"]) < 5)
    assert np.all(frame["predicted_low"] < frame["predicted"]) and np.all(frame["predicted"] < frame["predicted_high"])


def test_flags_parameters_that_enter_only_as_a_product(rng):
    y = 6.0 * T + rng.normal(0.0, 0.05, T.size)
    data = Dataset.from_arrays("values", T, y, sigma=0.05)
    r = calibrate(product, {"a": (1.0, 4.0), "b": (1.0, 4.0)}, [data], executor="serial")
    assert not r.identifiable
    text = " ".join(r.warnings)
    assert "a" in text and "b" in text and "cannot be told apart" in text
    flagged = {n for f in r.unidentified for n in f["parameters"]}
    assert flagged == {"a", "b"}
    assert math.isclose(r.values["a"] * r.values["b"], 6.0, rel_tol=1e-2)
    # the two-parameter decay is not flagged (the check can fail both ways)
    assert calibrate(decay, PARAMS, [_data(rng)], executor="serial").identifiable


def test_no_effect_parameter_is_named(rng):
    r = calibrate(decay, {**PARAMS, "unused": (0.0, 1.0)}, [_data(rng)], executor="serial")
    assert not r.identifiable
    assert any("unused" in w and "no effect" in w for w in r.warnings)
    assert r.intervals["unused"] == (-math.inf, math.inf)


class _Counting:
    """A model that counts its evaluations and raises KeyboardInterrupt after ``stop_after`` of them."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls, self.stop_after = 0, stop_after

    def __call__(self, values, datasets):
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise KeyboardInterrupt
        self.calls += 1
        return decay(values, datasets)


def test_resume_does_not_recompute_stored_points(tmp_path, rng):
    data = _data(rng)
    full = _Counting()
    ref = calibrate(full, PARAMS, [data], starts=2, executor="serial", out=tmp_path / "full")
    assert full.calls == ref.computed == ref.evaluations and ref.reused == 0
    stopped = _Counting(stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        calibrate(stopped, PARAMS, [data], starts=2, executor="serial", out=tmp_path / "cut")
    assert len(list((tmp_path / "cut" / "points").glob("*.json"))) == 7
    again = _Counting()
    r = calibrate(again, PARAMS, [data], starts=2, executor="serial", out=tmp_path / "cut")
    assert again.calls == ref.evaluations - 7 and r.reused == 7 and r.computed == again.calls
    assert r.values == ref.values
    # a finished calibration run again computes nothing
    none = _Counting()
    calibrate(none, PARAMS, [data], starts=2, executor="serial", out=tmp_path / "cut")
    assert none.calls == 0
    # another calibration in the same folder is refused
    with pytest.raises(ScenarioError, match="calibration folder"):
        calibrate(decay, {"a": (1.0, 4.0), "tau": (0.5, 10.0)}, [data], executor="serial", out=tmp_path / "cut")
    out = json.loads((tmp_path / "cut" / "calibration.json").read_text())
    assert set(out["parameters"]) == {"a", "tau"} and out["evaluations"] == ref.evaluations
    assert (tmp_path / "cut" / "residuals.png").stat().st_size > 1000


@pytest.mark.parametrize("parameters, field", [
    ({"a": (5.0, 1.0)}, "parameters.a.bounds"),
    ({"a": {"bounds": [0.0, 1.0], "log": True}}, "parameters.a.bounds[0]"),
    ({"a": {"bounds": [1.0, 2.0], "slope": 1}}, "parameters.a.slope"),
    ({"a": (1.0, math.nan)}, "parameters.a.bounds[1]"),
])
def test_bad_parameters_refused_with_the_field(parameters, field, rng):
    with pytest.raises(ScenarioError) as e:
        calibrate(decay, parameters, [_data(rng)], executor="serial")
    assert e.value.field == field


def test_bad_settings_and_data_refused(rng, tmp_path):
    with pytest.raises(ScenarioError) as e:
        calibrate(decay, PARAMS, [_data(rng)], starts=0, executor="serial")
    assert e.value.field == "calibration.starts"
    few = Dataset.from_arrays("values", [1.0, 2.0], [1.0, 0.5])
    with pytest.raises(ScenarioError, match="more data than fitted parameters"):
        calibrate(decay, PARAMS, [few], executor="serial")
    with pytest.raises(ScenarioError) as e:
        Dataset.from_arrays("values", [1.0, 2.0], [1.0, 0.5], sigma=[1.0, 0.0])
    assert "sigma" in e.value.field
    csv = tmp_path / "tc.csv"
    csv.write_text("time_s,r_m,temperature_C\n1,0.002,10\n")
    with pytest.raises(ScenarioError) as e:
        read_dataset("thermocouple", csv)
    assert "z_m" in str(e.value)
    csv.write_text("time_s,isotherm_C,measure,value_m\n10,0,girth_m,0.004\n")
    with pytest.raises(ScenarioError) as e:
        read_dataset("isotherm", csv)
    assert "measure" in e.value.field and "width_m" in e.value.allowed
    csv.write_text("time_s,isotherm_C,measure,value,unit\n10,0,volume_m3,40,mm2\n")
    with pytest.raises(ScenarioError, match="mm3"):
        read_dataset("isotherm", csv)
    csv.write_text("time_s,isotherm_C,measure,value,unit\n10,0,volume_m3,40,mm3\n")
    assert read_dataset("isotherm", csv).observed[0] == pytest.approx(40e-9)


def _study(tmp_path: Path, **changes) -> dict:
    (tmp_path / "iso.csv").write_text("time_s,isotherm_C,measure,value_m3\n10,0,volume_m3,5e-8\n15,0,volume_m3,8e-8\n"
                                      "20,0,volume_m3,1e-7\n")
    d = {"calibration": {"name": "t", "starts": 1},
         "base": {"name": "t", "medium": "soft_tissue", "probe": {"design": "cryoneurolysis-N2O-1.3mm"},
                  "protocol": [{"type": "freeze", "duration_s": 20, "gas": "on"}],
                  "numerics": {"resolution": 0.5}},
         "parameters": {"probe.orifice_diameter_m": {"bounds": [0.08e-3, 0.14e-3], "log": True}},
         "data": [{"kind": "isotherm", "file": "iso.csv"}]}
    for k, v in changes.items():
        d[k] = v
    return d


@pytest.mark.parametrize("change, field", [
    ({"parameters": {"probe.orifice": {"bounds": [1e-4, 2e-4]}}}, "study parameter"),
    ({"parameters": {"probe.orifice_diameter_m": {"bounds": [1e-7, 2e-4]}}},
     "parameters.probe.orifice_diameter_m.bounds"),
    ({"data": [{"kind": "thermometer", "file": "iso.csv"}]}, "data[0].kind"),
    ({"data": [{"kind": "isotherm", "file": "missing.csv"}]}, "data file"),
    ({"data": [{"kind": "skin", "file": "iso.csv"}]}, "data file"),
    ({"extra": {}}, "extra"),
    ({"calibration": {"starts": 1, "speed": "fast"}}, "calibration.speed"),
])
def test_bad_study_refused_with_the_field(tmp_path, change, field):
    with pytest.raises(ScenarioError) as e:
        study = calibration_from_dict(_study(tmp_path, **change), tmp_path)
        calibrate(study.model, study.parameters, study.datasets, executor="serial")
    assert e.value.field.startswith(field), (e.value.field, str(e.value))


def test_data_past_the_protocol_refused(tmp_path):
    d = _study(tmp_path)
    (tmp_path / "iso.csv").write_text("time_s,isotherm_C,measure,value_m3\n50,0,volume_m3,3e-8\n60,0,volume_m3,4e-8\n")
    study = calibration_from_dict(d, tmp_path)
    with pytest.raises(ScenarioError) as e:
        calibrate(study.model, study.parameters, study.datasets, executor="serial")
    assert "time_s" in e.value.field and "[0, 20]" in e.value.allowed


STUDY_TOML = """
[calibration]
name = "orifice-e2e"
starts = 1
max_nfev = 8

[base]
name = "t"
medium = "soft_tissue"
probe = { design = "cryoneurolysis-N2O-1.3mm" }
protocol = [{ type = "freeze", duration_s = 20, gas = "on" }]
numerics = { resolution = 0.5 }

[parameters."probe.orifice_diameter_m"]
bounds = [0.08e-3, 0.14e-3]
log = true

[[data]]
kind = "isotherm"
file = "iso.csv"
"""


@pytest.mark.integration
def test_end_to_end_cli_fit_writes_a_design_file_that_runs(tmp_path, capsys):
    """``cryosim calibrate`` on one coarse device run per point (20 s of gas, resolution 0.5): the orifice is
    fitted to 0 °C volumes made at 0.11 mm (plus stated noise); the design file written loads and runs."""
    import cryosim
    from cryosim.cli import main

    (tmp_path / "study.toml").write_text(STUDY_TOML)
    study = calibration_from_dict(_study(tmp_path), tmp_path)  # writes iso.csv (times 10, 15, 20 s)
    iso = read_dataset("isotherm", tmp_path / "iso.csv")
    made = study.model.predict({"probe.orifice_diameter_m": 0.11e-3}, [iso])[0]
    noise = np.array([1e-9, -1e-9, 0.5e-9])  # stated: 2 mm3 standard deviation
    (tmp_path / "iso.csv").write_text("time_s,isotherm_C,measure,value_m3,sigma\n" + "".join(
        f"{t:g},0,volume_m3,{v:.6e},2e-9\n" for t, v in zip(iso.time_s, made + noise)))
    out = tmp_path / "out"
    assert main(["calibrate", str(tmp_path / "study.toml"), "--out", str(out), "--serial"]) == 0
    printed = capsys.readouterr().out
    assert "probe.orifice_diameter_m" in printed and "95 % interval" in printed and "calibration.json" in printed
    cal = json.loads((out / "calibration.json").read_text())
    fit = cal["parameters"]["probe.orifice_diameter_m"]
    lo, hi = fit["interval_95"]
    assert lo < 0.11e-3 < hi and hi - lo < 0.02e-3
    assert cal["data"][0]["sha256"] == read_dataset("isotherm", tmp_path / "iso.csv").sha256
    assert len(cal["data"][0]["residuals"]) == 3 and cal["identifiable"]
    path = out / "cryoneurolysis-N2O-1.3mm-fitted.toml"
    assert cal["files"]["design"] == path.name
    design = load_design_file(path)
    assert design.orifice_diameter_m == pytest.approx(fit["fitted"])
    source = design.sources["orifice_diameter_m"]
    assert "fitted by cryosim calibrate to iso.csv" in source and " m ± " in source and " m (95 %)" in source
    side = json.loads((out / "cryoneurolysis-N2O-1.3mm-fitted.calibration.json").read_text())
    assert side["based_on"] == "cryoneurolysis-N2O-1.3mm"
    s = scenario_with_design_file(cryosim.default_scenario(), path)  # another scenario takes the fitted probe
    assert s.probe.design == "cryoneurolysis-N2O-1.3mm" and s.medium.name == "soft_tissue"
    assert s.probe.orifice_diameter_m == pytest.approx(fit["fitted"])
    fitted = scenario_with_design_file(study.model.scenario(), path)
    res = cryosim.run(fitted.with_(output_times_s=(10.0, 15.0, 20.0)))
    predicted = [row["predicted"] for row in cal["data"][0]["residuals"]]
    assert res.at(20.0, 0.0, "volume_m3") == pytest.approx(predicted[2], rel=1e-9)
    # a perturbed design gives another ice ball (the check can fail)
    other = cryosim.run(fitted.with_(probe=dataclasses.replace(fitted.probe, orifice_diameter_m=0.09e-3),
                                     output_times_s=(20.0,)))
    assert other.at(20.0, 0.0, "volume_m3") < 0.9 * res.at(20.0, 0.0, "volume_m3")
    # run again: resumed, nothing computed
    assert main(["calibrate", str(tmp_path / "study.toml"), "--out", str(out), "--serial"]) == 0
    assert f"resuming: {cal['evaluations']} points stored" in capsys.readouterr().out
    assert json.loads((out / "calibration.json").read_text())["computed"] == 0


def test_cli_refuses_a_bad_study_with_the_field(tmp_path, capsys):
    from cryosim.cli import main

    (tmp_path / "iso.csv").write_text("time_s,isotherm_C,measure,value_m3\n10,0,volume_m3,5e-8\n")
    reversed_bounds = STUDY_TOML.replace("bounds = [0.08e-3, 0.14e-3]", "bounds = [0.14e-3, 0.08e-3]")
    (tmp_path / "study.toml").write_text(reversed_bounds)
    assert main(["calibrate", str(tmp_path / "study.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "parameters.probe.orifice_diameter_m.bounds" in err and "low < high" in err
    assert not (tmp_path / "o").exists()
    (tmp_path / "study.toml").write_text(STUDY_TOML.replace('kind = "isotherm"', 'kind = "pressure"'))
    assert main(["calibrate", str(tmp_path / "study.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "data[0].kind" in capsys.readouterr().err


def test_example_study_file_reads():
    root = Path(__file__).resolve().parents[2]
    study = load_calibration_study(root / "examples" / "calibrate_device.toml")
    assert [p.name for p in study.parameters] == ["probe.supply_pressure_Pa", "probe.orifice_diameter_m"]
    assert [d.kind for d in study.datasets] == ["thermistor", "isotherm"]
    assert all(d.sha256 and len(d) > 0 for d in study.datasets)
    study.model.check_data(study.datasets)
    one = load_calibration_study(root / "examples" / "calibrate_device_orifice.toml")
    assert [p.name for p in one.parameters] == ["probe.orifice_diameter_m"]
    assert one.model.base["probe"]["supply_pressure_Pa"] == 4.6e6
    assert [d.sha256 for d in one.datasets] == [d.sha256 for d in study.datasets]


@pytest.mark.integration
def test_skin_fit_writes_a_therapy_file(tmp_path):
    """Ice pack on the layered skin: the contact conductance fitted to a surface trace (5 min, no rewarming)."""
    from cryosim.clinical import skin
    from cryosim.studies.calibration_models import SkinModel

    model = SkinModel("ice_pack", {"duration_s": 300.0}, {"after_s": 0.0})
    t = np.arange(30.0, 300.1, 30.0)
    truth = {"therapy.contact_conductance_W_per_m2_K": 300.0}
    y = model.predict(truth, [Dataset.from_arrays("skin", t, np.zeros(t.size))])[0]
    data = Dataset.from_arrays("skin", t, y + np.linspace(-0.1, 0.1, t.size), sigma=0.2)
    r = calibrate(model, {"therapy.contact_conductance_W_per_m2_K": {"bounds": [100.0, 800.0], "log": True}},
                  [data], executor="serial", out=tmp_path / "skin", name="pack")
    lo, hi = r.intervals["therapy.contact_conductance_W_per_m2_K"]
    assert lo < 300.0 < hi
    therapy = load_therapy_file(r.therapy_file)
    assert isinstance(therapy, skin.SurfaceTherapy)
    assert therapy.heat_transfer_W_per_m2_K == pytest.approx(r.values["therapy.contact_conductance_W_per_m2_K"])
    assert therapy_file_body(r.therapy_file) == {"after_s": 0.0}


def test_thermocouple_and_thermistor_predictions_from_one_run(tmp_path):
    """Virtual thermocouples are added at the data's positions and read at the data's times (landed on)."""
    import cryosim
    from cryosim.studies.calibration_models import ScenarioModel

    base = calibration_from_dict(_study(tmp_path), tmp_path).model
    tc = Dataset.from_arrays("thermocouple", [5.0, 10.0, 10.0, 20.0], [0.0] * 4,
                             r_m=[2e-3, 2e-3, 3e-3, 3e-3], z_m=[2.5e-3, 2.5e-3, 2.5e-3, 2.5e-3])
    th = Dataset.from_arrays("thermistor", [7.0, 20.0], [0.0, 0.0])
    model = ScenarioModel(base.base)
    prepared = model.prepared([tc, th])
    assert [t["name"] for t in prepared["thermocouples"]] == ["calib0_0", "calib0_1"]
    assert {5.0, 7.0, 10.0, 20.0} <= set(prepared["numerics"]["output_times_s"])
    p_tc, p_th = model.predict({}, [tc, th], prepared)
    s = model.scenario().with_(thermocouples=(cryosim.Thermocouple("a", 2e-3, 2.5e-3),
                                              cryosim.Thermocouple("b", 3e-3, 2.5e-3)),
                               output_times_s=(5.0, 7.0, 10.0, 20.0))
    r = cryosim.run(s)
    at = {t: int(np.searchsorted(r.time_s, t)) for t in (5.0, 7.0, 10.0, 20.0)}
    assert p_tc == pytest.approx([r.thermocouples_C["a"][at[5.0]], r.thermocouples_C["a"][at[10.0]],
                                  r.thermocouples_C["b"][at[10.0]], r.thermocouples_C["b"][at[20.0]]], abs=1e-9)
    assert p_th == pytest.approx([r.device["thermistor_C"][at[7.0]], r.device["thermistor_C"][at[20.0]]], abs=1e-9)
    assert p_tc[1] < p_tc[2] < 37.0  # nearer the probe is colder
    sizes = Dataset.from_arrays("isotherm", [10.0, 20.0, 20.0], [1e-3] * 3, isotherm_C=[-30.0, -30.0, -10.0],
                                measure=["width_m", "width_m", "length_m"])
    assert model.prepared([sizes])["isotherms_C"] == [0.0, -20.0, -40.0, -30.0, -10.0]


def test_thermistor_data_need_a_device(tmp_path):
    from cryosim.studies.calibration_models import ScenarioModel
    import cryosim

    model = ScenarioModel.of(cryosim.default_scenario())
    with pytest.raises(ScenarioError, match="Joule-Thomson"):
        model.check_data([Dataset.from_arrays("thermistor", [10.0, 20.0], [0.0, 0.0])])


@pytest.mark.slow
def test_pressure_and_orifice_from_one_power_number_are_flagged(tmp_path):
    """Supply pressure and orifice fitted to the 0 °C volume alone (one cooling-power number, over time), on
    two local worker processes: flagged as not told apart, by name."""
    study = calibration_from_dict(_study(tmp_path), tmp_path)
    iso = read_dataset("isotherm", tmp_path / "iso.csv")
    truth = {"probe.supply_pressure_Pa": 4.6e6, "probe.orifice_diameter_m": 0.11e-3}
    made = study.model.predict(truth, [iso])[0]
    data = Dataset.from_arrays("isotherm", iso.time_s, made, sigma=2e-9, isotherm_C=iso.columns["isotherm_C"],
                               measure=iso.columns["measure"])
    r = calibrate(study.model, {"probe.supply_pressure_Pa": (4.2e6, 5.0e6),
                                "probe.orifice_diameter_m": {"bounds": [0.08e-3, 0.14e-3], "log": True}},
                  [data], starts=1, workers=2, max_nfev=10)
    assert not r.identifiable
    assert any("probe.supply_pressure_Pa" in w and "probe.orifice_diameter_m" in w for w in r.warnings)


def test_dask_scheduler_and_client_executors(rng):
    """The points run on a Dask cluster (its scheduler address, or a Client as the executor): same fit."""
    distributed = pytest.importorskip("distributed")
    data = _data(rng)
    ref = calibrate(decay, PARAMS, [data], executor="serial")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        r = calibrate(decay, PARAMS, [data], scheduler=cluster.scheduler_address)
        with distributed.Client(cluster) as client:
            r2 = calibrate(decay, PARAMS, [data], executor=client)
    assert r.values == ref.values == r2.values
    assert r.evaluations == ref.evaluations


def test_skin_study_tables_checked(tmp_path):
    (tmp_path / "skin.csv").write_text("time_s,temperature_C\n60,20\n120,15\n")
    d = {"skin": {"factory": "ice_pack", "therapy": {"duration_s": 300.0}},
         "parameters": {"therapy.contact_conductance_W_per_m2_K": {"bounds": [100.0, 800.0], "log": True}},
         "data": [{"kind": "skin", "file": "skin.csv", "sigma": 0.3}]}
    study = calibration_from_dict(d, tmp_path)
    assert study.model.factory == "ice_pack" and study.datasets[0].sigma.tolist() == [0.3, 0.3]
    for change, field in ((("skin", {"factory": "snowball"}), "skin.factory"),
                          (("skin", {"factory": "ice_pack", "therapy": {"colour": 1}}), "skin.therapy.colour"),
                          (("parameters", {"body.mood": (0.0, 1.0)}), "parameters.body.mood")):
        with pytest.raises(ScenarioError) as e:
            s = calibration_from_dict({**d, change[0]: change[1]}, tmp_path)
            calibrate(s.model, s.parameters, s.datasets)
        assert e.value.field == field
        assert "perfusion_scale" in e.value.allowed or "ice_pack" in e.value.allowed


@pytest.mark.slow
def test_example_data_are_what_the_script_makes(tmp_path):
    """examples/calibrate_device_*.csv are reproduced by examples/make_calibration_data.py (same model, seed)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "examples" / "make_calibration_data.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for name in ("calibrate_device_thermistor.csv", "calibrate_device_isotherms.csv"):
        made = read_dataset("isotherm" if "isotherms" in name else "thermistor", tmp_path / name)
        kept = read_dataset("isotherm" if "isotherms" in name else "thermistor", root / "examples" / name)
        assert made.observed == pytest.approx(kept.observed, rel=1e-5, abs=1e-3 if made.unit == "K" else 1e-9)


@pytest.mark.slow
def test_killed_calibration_resumes_without_recomputing(tmp_path):
    """``cryosim calibrate`` killed (SIGKILL, with its worker processes) mid-run, then run again: the stored
    runs are reused, the result is that of an uninterrupted calibration."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "study.toml").write_text(STUDY_TOML.replace("starts = 1", "starts = 2"))
    calibration_from_dict(_study(tmp_path), tmp_path)  # iso.csv
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cryosim", "calibrate", str(tmp_path / "study.toml"), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while len(list((out / "points").glob("*.json"))) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    stored = len(list((out / "points").glob("*.json")))
    assert stored >= 4 and not (out / "calibration.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["reused"] >= stored - 1 and cal["computed"] == cal["evaluations"] - cal["reused"]
    assert cal["computed"] < cal["evaluations"]
    ref = subprocess.run([*cmd[:-3], "--out", str(tmp_path / "ref"), "--serial"], capture_output=True, text=True,
                         timeout=600)
    assert ref.returncode == 0, ref.stderr
    ref_cal = json.loads((tmp_path / "ref" / "calibration.json").read_text())
    assert ref_cal["parameters"] == cal["parameters"]


def failing(values, datasets):
    """A model that fails where a > 2 (as a run that does not converge there)."""
    if values["a"] > 2.0:
        raise ValueError("no convergence at this a")
    return decay(values, datasets)


def test_a_failed_model_run_stops_the_fit_naming_the_point(rng, tmp_path):
    from cryosim.studies.calibrate import CalibrationError

    with pytest.raises(CalibrationError) as e:
        calibrate(failing, PARAMS, [_data(rng)], starts=2, out=tmp_path / "f", executor="serial")
    assert "a = " in str(e.value) and "ValueError: no convergence" in e.value.error
    assert e.value.assignment["a"] > 2.0


def test_dataset_from_a_frame_of_several_series():
    """A file of several thermocouple series: rows selected with pandas, then a data set (extra columns ignored)."""
    import pandas as pd

    from cryosim.studies.calibration_data import dataset_from_frame

    df = pd.DataFrame({"series": ["A", "A", "B"], "time_s": [0.0, 10.0, 10.0], "r_m": [2e-3, 2e-3, 3e-3],
                       "z_m": [0.0, 0.0, 0.0], "temperature_C": [37.0, 5.0, 20.0], "sigma_K": [0.5, 0.5, 0.4],
                       "source": ["x", "x", "y"]})
    ds = dataset_from_frame("thermocouple", df[df["series"] == "A"], name="A")
    assert len(ds) == 2 and ds.sigma.tolist() == [0.5, 0.5] and ds.distinct_points() == [(2e-3, 0.0)]
    assert ds.sha256 and ds.name == "A"
    with pytest.raises(ScenarioError) as e:
        dataset_from_frame("thermocouple", df.assign(z_m=[0.0, None, 0.0]))
    assert "z_m" in e.value.field
