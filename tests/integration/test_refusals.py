"""Scenario refusals (issue 11, items 8, 10 and 11): every wrong type, missing
key, unreadable file, non-cooling freeze and unbounded request is refused with
one line naming the key, the value and what is allowed. No solver runs here."""

from __future__ import annotations

import pytest

import cryosim
from cryosim import Freeze, Protocol, ScenarioError, Thaw
from cryosim.cli import main
from cryosim.scenario import (
    MAX_FIXED_STEPS,
    MAX_ISOTHERMS,
    MAX_SCENARIO_FILE_BYTES,
    MAX_THERMOCOUPLES,
    load_scenario,
    scenario_from_dict,
)

PROBE = '[probe]\ngauge = 18\nactive_length_m = 0.005\n'


def freeze(tip: str = "-70", duration: str = "60", extra: str = "") -> str:
    return f'[[protocol]]\ntype = "freeze"\nduration_s = {duration}\ntip_temperature_C = {tip}\n{extra}'


OK = PROBE + freeze()

# (id, scenario text, what the message must contain)
REFUSED = [
    # 8. a freeze must cool
    ("freeze +5", PROBE + freeze("5"), ["protocol[0].tip_temperature_C = 5", "below 0 °C"]),
    ("freeze +50", PROBE + freeze("50"), ["protocol[0].tip_temperature_C = 50", "below 0 °C"]),
    ("freeze +60", PROBE + freeze("60"), ["protocol[0].tip_temperature_C = 60", "below 0 °C"]),
    ("freeze above initial", PROBE + freeze("[[0, 40], [30, -70]]"),
     ["protocol[0].tip_temperature_C = 40", "initial temperature (37.5"]),
    ("coolant floor", PROBE + 'coolant = "N2O"\n' + freeze("-95"), ["protocol[0].tip_temperature_C", "-88"]),
    ("below LN2", PROBE + freeze("-200"), ["protocol[0].tip_temperature_C = -200", "[-196, 60]"]),
    ("power 0", PROBE + '[[protocol]]\ntype = "freeze"\nduration_s = 60\npower_W = 0\n',
     ["protocol[0].power_W = 0", "(0, 500] W"]),
    ("no freeze", PROBE + '[[protocol]]\ntype = "thaw"\nduration_s = 60\n', ["protocol = ['thaw']", "freeze step"]),
    ("cold active thaw", OK + '[[protocol]]\ntype = "thaw"\nduration_s = 30\nmode = "active"\ntemperature_C = -5\n',
     ["protocol[1].temperature_C = -5", "(0, 60] °C"]),
    # 10. wrong types and missing keys
    ("tip string", PROBE + freeze('"-70"'), ["protocol[0].tip_temperature_C = '-70'", "[time_s, temperature_C]"]),
    ("tip table", PROBE + freeze("{ a = 1 }"), ["protocol[0].tip_temperature_C = {'a': 1}"]),
    ("tip flat list", PROBE + freeze("[0, -70]"), ["protocol[0].tip_temperature_C[0] = 0", "pair"]),
    ("tip triple", PROBE + freeze("[[0, -70, 1]]"), ["protocol[0].tip_temperature_C[0] = [0, -70, 1]", "pair"]),
    ("tip text time", PROBE + freeze("[['a', -70]]"), ["protocol[0].tip_temperature_C[0].time_s = 'a'"]),
    ("tip bool", PROBE + freeze("true"), ["protocol[0].tip_temperature_C = True"]),
    ("no duration", PROBE + '[[protocol]]\ntype = "freeze"\ntip_temperature_C = -70\n',
     ["protocol[0].duration_s is missing"]),
    ("thermocouples = 5", "thermocouples = 5\n" + OK, ["thermocouples = 5", "array of [[thermocouples]]"]),
    ("tc name 5", OK + '[[thermocouples]]\nname = 5\nr_m = 0.003\nz_m = 0\n', ["thermocouples[0].name = 5"]),
    ("tc no r_m", OK + '[[thermocouples]]\nz_m = 0\n', ["thermocouples[0].r_m is missing"]),
    ("tc outside", OK + '[[thermocouples]]\nr_m = 0.3\nz_m = 0\n', ["thermocouples[TC1] = (0.3, 0)", "r in [0, "]),
    ("tc in probe", OK + '[[thermocouples]]\nr_m = 0.0\nz_m = 0.002\n', ["thermocouples[TC1]", "outside the probe"]),
    ("tc duplicate", OK + '[[thermocouples]]\nname = "a"\nr_m = 0.003\nz_m = 0\n'
     '[[thermocouples]]\nname = "a"\nr_m = 0.004\nz_m = 0\n', ["thermocouples.name", "distinct"]),
    ("direction string", OK + '[[extra_probes]]\nposition_m = [0.005, 0, 0]\ndirection = "up"\n',
     ["extra_probes[0].direction = 'up'", "three numbers"]),
    ("direction zero", OK + '[[extra_probes]]\nposition_m = [0.005, 0, 0]\ndirection = [0, 0, 0]\n',
     ["extra_probes[0].direction", "non-zero"]),
    ("position short", OK + '[[extra_probes]]\nposition_m = [0.005, 0]\n', ["extra_probes[0].position_m"]),
    ("no position", OK + '[[extra_probes]]\ndirection = [0, 0, 1]\n', ["extra_probes[0].position_m is missing"]),
    ("bone no distance", OK + '[bone]\nangle_deg = 90\n', ["bone.distance_m is missing"]),
    ("bone = 1", "bone = 1\n" + OK, ["bone = 1", "[bone] table"]),
    ("vessel no diameter", OK + '[[vessels]]\ndistance_m = 0.005\n', ["vessels[0].diameter_m is missing"]),
    ("vessel bad value", OK + '[[vessels]]\ndiameter_m = 1\ndistance_m = 0.005\n',
     ["vessels[0].diameter_m = 1", "[0.0001, 0.03] m"]),
    ("vessels = 3", "vessels = 3\n" + OK, ["vessels = 3", "array of [[vessels]]"]),
    ("no active length", '[probe]\ngauge = 18\n' + freeze(), ["probe.active_length_m is missing"]),
    ("probe = 5", "probe = 5\n" + freeze(), ["probe = 5", "[probe] table"]),
    ("no probe", freeze(), ["probe is missing"]),
    ("medium = 5", "medium = 5\n" + OK, ["medium = 5", "'soft_tissue'", "'muscle'"]),
    ("medium unknown", 'medium = "cheese"\n' + OK, ["medium = 'cheese'", "'soft_tissue'"]),
    ("medium override", '[medium]\nname = "muscle"\ndensity_kg_per_m3 = "x"\n' + OK, ["medium.density_kg_per_m3"]),
    ("numerics = 5", "numerics = 5\n" + OK, ["numerics = 5", "a table"]),
    ("numerics key", OK + "[numerics]\nresolutoin = 1\n", ["numerics.resolutoin", "resolution"]),
    ("name = 5", "name = 5\n" + OK, ["name = 5", "a string"]),
    ("isotherms string", 'isotherms_C = "0"\n' + OK, ["isotherms_C = '0'"]),
    ("isotherms dup", 'isotherms_C = [0, 0]\n' + OK, ["isotherms_C", "distinct"]),
    # 11. bounded work
    ("fixed step", OK + "[numerics]\nfixed_step_s = 1e-5\n", ["numerics.fixed_step_s = 1e-05", str(MAX_FIXED_STEPS)]),
    ("isotherms 17", "isotherms_C = [" + ", ".join(str(-i) for i in range(17)) + "]\n" + OK,
     ["isotherms_C", f"at most {MAX_ISOTHERMS}"]),
    ("thermocouples 65", OK + "".join(f"[[thermocouples]]\nr_m = 0.003\nz_m = {i * 1e-4:g}\n" for i in range(65)),
     ["thermocouples", f"at most {MAX_THERMOCOUPLES}"]),
    ("10 h freeze", PROBE + freeze(duration="36000"), ["protocol.duration_s = 36000", "0.5 m", "needs 0.82"]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_key_value_and_range(tmp_path, text, expected):
    f = tmp_path / "s.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    for part in expected:
        assert part in str(info.value)


@pytest.mark.parametrize("text, expected", [c[1:] for c in REFUSED[::6]], ids=[c[0] for c in REFUSED[::6]])
def test_cli_refusal_is_one_line_exit_2(tmp_path, capsys, text, expected):
    f = tmp_path / "s.toml"
    f.write_text(text, encoding="utf-8")
    assert main(["run", str(f), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cryosim: invalid scenario: ") and err.count("\n") == 1 and expected[0] in err
    assert list(tmp_path.iterdir()) == [f]


@pytest.mark.parametrize("tip", [-95.0, -196.0])
def test_cold_freeze_without_coolant_is_accepted(tip):
    """No coolant named: the floor is liquid nitrogen's -196 °C (argon probes reach about -185 °C)."""
    s = scenario_from_dict({"probe": {"gauge": 18, "active_length_m": 5e-3},
                            "protocol": [{"type": "freeze", "duration_s": 60, "tip_temperature_C": tip}]})
    assert s.protocol.steps[0].tip_temperature_C == tip


def test_library_objects_refuse_too():
    with pytest.raises(ScenarioError, match="freeze.power_W"):
        Freeze(60, power_W=0.0)
    with pytest.raises(ScenarioError, match="below 0 °C"):
        Freeze(60, ((0, 20.0), (30, 5.0)))
    with pytest.raises(ScenarioError, match=r"thaw.temperature_C.*\(0, 60\]"):
        Thaw(30, "active", 0.0)
    base = cryosim.default_scenario()
    with pytest.raises(ScenarioError, match="at least one freeze"):
        base.with_(protocol=Protocol((Thaw(30),)))
    with pytest.raises(ScenarioError, match="initial temperature"):
        base.with_(initial_temperature_C=10.0, protocol=Protocol((Freeze(60, ((0, 20.0), (30, -70.0))),)))


def test_latent_heat_per_kilogram_is_refused_where_per_volume_is_asked():
    m = cryosim.get_material("soft_tissue")
    with pytest.raises(ScenarioError, match=r"latent_heat_J_per_m3 = 334000.0.*per volume"):
        m.with_(latent_heat_J_per_m3=334e3)
    assert m.with_(latent_heat_J_per_m3=0.0).latent_heat_J_per_m3 == 0.0  # no phase change: allowed


def test_wrong_answers_are_refused_not_returned():
    """Inputs that used to run and quietly give something else than asked (issue 16): fractional cycles gave two
    freezes and a trailing thaw; an output time after the protocol was dropped."""
    for n in (2.5, 2.0, True, "2"):
        with pytest.raises(ScenarioError, match="protocol.cycles.*whole number"):
            Protocol.cycles(n, 60.0, -70.0, 30.0)
    assert len(Protocol.cycles(2, 60.0, -70.0, 30.0).steps) == 3
    base = cryosim.default_scenario()  # 120 s of protocol
    with pytest.raises(ScenarioError, match=r"numerics.output_times_s\[1\].*\(0, 120\] s"):
        base.with_(output_times_s=(60.0, 121.0))
    assert base.with_(output_times_s=(60.0, 120.0)).numerics.output_times_s == (60.0, 120.0)
    # a largest step that forces more steps than any run may take is refused before the run (it ran unbounded)
    long = base.with_(protocol=Protocol.single_freeze(600.0, -70.0))
    with pytest.raises(ScenarioError, match=r"numerics.max_step_s = 0.001.*at least 6e\+05"):
        long.with_(max_step_s=1e-3)
    assert long.with_(max_step_s=0.01).numerics.max_step_s == 0.01


# --- unreadable files ---------------------------------------------------------------
BODY = PROBE + freeze()


@pytest.mark.parametrize("data, expected", [
    (bytes(range(256)) * 4, "NUL bytes"),
    (BODY.encode("utf-16"), "UTF-16"),
    (BODY.encode("utf-16-le"), "UTF-16"),
    (BODY.encode("utf-16-be"), "UTF-16"),
    (('name = "caf\u00e9"\n' + BODY).encode("latin-1"), "not UTF-8"),
    (b"name = \n" + BODY.encode(), "valid TOML"),
    (b"# " + b"x" * MAX_SCENARIO_FILE_BYTES + b"\n", f"at most {MAX_SCENARIO_FILE_BYTES} bytes"),
], ids=["binary", "utf16-bom", "utf16le", "utf16be", "latin1", "bad-toml", "too-big"])
def test_unreadable_files_refused(tmp_path, data, expected):
    f = tmp_path / "s.toml"
    f.write_bytes(data)
    with pytest.raises(ScenarioError, match="scenario file") as info:
        load_scenario(f)
    assert expected in str(info.value)


def test_utf8_bom_accepted(tmp_path):
    f = tmp_path / "s.toml"
    f.write_bytes(('name = "b\u00f6m"\n' + BODY).encode("utf-8-sig"))
    assert load_scenario(f).name == "b\u00f6m"


@pytest.mark.parametrize("path, expected", [(".", "folder"), ("/dev/zero", "device"), ("nope.toml", "existing")])
def test_folders_devices_and_missing_files_refused(tmp_path, monkeypatch, capsys, path, expected):
    monkeypatch.chdir(tmp_path)
    assert main(["run", path, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "scenario file" in err and expected in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("loader, what", [("study", "study file"), ("calibration", "calibration study file")])
def test_study_files_get_the_scenario_file_checks(tmp_path, loader, what):
    """Study and calibration files are read like scenario files: a FIFO is refused at once (it used to block
    forever), so are a folder and UTF-16, each naming the file kind."""
    import os

    from cryosim.studies.calibrate import load_calibration_study
    from cryosim.studies.study import load_study

    load = load_study if loader == "study" else load_calibration_study
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match=f"{what}.*regular TOML file"):
        load(fifo)
    with pytest.raises(ScenarioError, match=f"{what}.*folder"):
        load(tmp_path)
    (tmp_path / "u16.toml").write_bytes('name = "x"\n'.encode("utf-16"))
    with pytest.raises(ScenarioError, match=f"{what}.*UTF-16"):
        load(tmp_path / "u16.toml")


def test_python_api_misuse_is_refused_naming_the_argument(tmp_path):
    """Misuse of the Python API gets a TypeError / ScenarioError naming the argument and what is expected,
    not an AttributeError from deep inside (issue 16)."""
    from cryosim.clinical import skin
    from cryosim.post.trackers import CallbackTracker

    s = cryosim.default_scenario()
    cases = [
        (lambda: cryosim.run("s.toml"), TypeError, r"scenario = 's.toml'.*load_scenario"),
        (lambda: cryosim.run(None), TypeError, "scenario = None"),
        (lambda: cryosim.run(s, output_dir=123), TypeError, "output_dir = 123"),
        (lambda: cryosim.run(s, progress="yes"), TypeError, "progress = 'yes'"),
        (lambda: cryosim.run(s, trackers=[lambda v: None]), TypeError, r"trackers\[0\].*CallbackTracker"),
        (lambda: cryosim.run(s, trackers=CallbackTracker(print)), TypeError, "trackers = .*a list"),
        (lambda: s.with_(medium="muscle"), TypeError, r"scenario.medium = 'muscle'.*get_material"),
        (lambda: s.with_(probe="18G"), TypeError, "scenario.probe = '18G'"),
        (lambda: s.with_(numerics="fine"), TypeError, "scenario.numerics = 'fine'"),
        (lambda: skin.simulate("co2_jet"), TypeError, "therapy = 'co2_jet'"),
        (lambda: skin.simulate(skin.ice_pack(), layers=("skin", "fat")), TypeError, r"layers\[0\] = 'skin'"),
        (lambda: skin.Layer("skin", "skin", 2e-3), TypeError, "material = 'skin'"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
    r = cryosim.run(s.with_(protocol=Protocol.single_freeze(5.0, -70.0)), resolution=0.35)
    with pytest.raises(ScenarioError, match=r"isotherm = -30.*tracked isotherms \[0.0, -20.0, -40.0\]"):
        r.final(-30)
    with pytest.raises(ScenarioError, match="measure = 'diameter'"):
        r.final(0, "diameter")
    assert r.final(-20, "width_m") == r.series(-20, "width_m")[-1]
