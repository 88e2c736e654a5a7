"""Run a set of bad scenario files and output folders through the CLI, in-process.

    PYTHONPATH=. python benchmarks/bad_inputs.py

Prints one row per case: what it is, the outcome, the exit status and the
first line of what cryosim said. Outcomes:

* ``clear refusal``  exit 2 and a one-line message naming the expected key;
* ``unclear``        refused, but the message does not name the key;
* ``traceback``      an exception escaped the CLI;
* ``accepted``       the run went ahead (exit 0): right only for the cases marked so.

Every case runs in its own temporary folder (the working directory is changed
there), so nothing outside it is touched. Accepted cases run the fast solver on
a 5 s protocol at resolution 0.35 (about a second each; the one FE case a few
seconds).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROBE = '[probe]\ngauge = 18\nactive_length_m = 0.005\n'
NUM = '[numerics]\nresolution = 0.35\n'


def freeze(tip: str = "-70", duration: str = "5", extra: str = "") -> str:
    return f'[[protocol]]\ntype = "freeze"\nduration_s = {duration}\ntip_temperature_C = {tip}\n{extra}'


OK_BODY = PROBE + freeze() + NUM
DEVICE = '[probe]\ndesign = "cryoneurolysis-N2O-1.3mm"\n'
GAS_ON = '[[protocol]]\ntype = "freeze"\nduration_s = 5\ngas = "on"\n'
P27 = '[probe]\ngauge = 27\nactive_length_m = 0.005\n'
POWER50 = '[[protocol]]\ntype = "freeze"\nduration_s = 5\npower_W = 50\n'


@dataclass
class Case:
    label: str
    content: str | bytes | None  # scenario file; None: the special "path" is used as the scenario
    key: str  # what a clear refusal must name
    expect: str = "refuse"  # or "accept"
    args: list[str] = field(default_factory=list)
    path: str | None = None  # scenario path instead of a written file
    setup: str = ""  # "data_dir": --out names a folder holding data.txt; "out_file": --out names a file


def named(name: str) -> str:
    import json

    return f"name = {json.dumps(name)}\n" + OK_BODY


CASES = [
    Case('name = ""', named(""), "", "accept"),
    Case('name = "."', named("."), "", "accept"),
    Case('name = ".."', named(".."), "", "accept"),
    Case('name = "../../x"', named("../../x"), "", "accept"),
    Case("name with NUL", named("a\0b"), "name"),
    Case("name with a newline", named("a\nb"), "name"),
    Case("name of 300 characters", named("x" * 300), "name"),
    Case("name = '$\\foo{$' (mathtext)", named("$\\foo{$"), "", "accept"),
    Case("name = 5", "name = 5\n" + OK_BODY, "name"),
    Case("--out DIR holding data.txt", named("r"), "", "accept", setup="data_dir"),
    Case("--out pointing at a file", named("r"), "--out", setup="out_file"),
    Case("freeze at -95 °C, no coolant", PROBE + freeze("-95") + NUM, "", "accept"),
    Case("freeze at -196 °C, no coolant", PROBE + freeze("-196") + NUM, "", "accept"),
    Case("freeze at +5 °C", PROBE + freeze("5") + NUM, "protocol[0].tip_temperature_C"),
    Case("freeze at +50 °C", PROBE + freeze("50") + NUM, "protocol[0].tip_temperature_C"),
    Case("freeze at +60 °C", PROBE + freeze("60") + NUM, "protocol[0].tip_temperature_C"),
    Case("freeze at -100 °C with N2O", PROBE + 'coolant = "N2O"\n' + freeze("-100") + NUM,
         "protocol[0].tip_temperature_C"),
    Case("freeze with power_W = 0", PROBE + '[[protocol]]\ntype = "freeze"\nduration_s = 5\npower_W = 0\n' + NUM,
         "protocol[0].power_W"),
    Case("protocol without a freeze", PROBE + '[[protocol]]\ntype = "thaw"\nduration_s = 5\n' + NUM, "protocol"),
    Case("active thaw at -10 °C", PROBE + freeze() + '[[protocol]]\ntype = "thaw"\nduration_s = 5\nmode = "active"\n'
         'temperature_C = -10\n' + NUM, "protocol[1].temperature_C"),
    Case("tip_temperature_C as a string", PROBE + freeze('"-70"') + NUM, "protocol[0].tip_temperature_C"),
    Case("supply_pressure_Pa without a design", PROBE + "supply_pressure_Pa = 5e6\n" + freeze() + NUM,
         "probe.supply_pressure_Pa"),
    Case("design with supply_pressure_Pa = 1e9", DEVICE + "supply_pressure_Pa = 1e9\n" + GAS_ON + NUM,
         "probe.supply_pressure_Pa"),
    Case("design with both orifice and mass flow", DEVICE + "orifice_diameter_m = 1e-4\nmass_flow_kg_per_s = 1e-4\n"
         + GAS_ON + NUM, "probe.mass_flow_kg_per_s"),
    Case("design with supply_pressure_Pa = 6e6", DEVICE + "supply_pressure_Pa = 6e6\n" + GAS_ON + NUM, "", "accept"),
    Case("tip_temperature_C as a table", PROBE + freeze("{ a = 1 }") + NUM, "protocol[0].tip_temperature_C"),
    Case("tip_temperature_C series [[0, -70, 3]]", PROBE + freeze("[[0, -70, 3]]") + NUM,
         "protocol[0].tip_temperature_C[0]"),
    Case("tip_temperature_C series [0, -70]", PROBE + freeze("[0, -70]") + NUM, "protocol[0].tip_temperature_C[0]"),
    Case("tip_temperature_C series [['a', -70]]", PROBE + freeze("[['a', -70]]") + NUM,
         "protocol[0].tip_temperature_C[0].time_s"),
    Case("missing duration_s", PROBE + '[[protocol]]\ntype = "freeze"\ntip_temperature_C = -70\n' + NUM,
         "protocol[0].duration_s"),
    Case("thermocouples = 5", "thermocouples = 5\n" + OK_BODY, "thermocouples"),
    Case("thermocouple name = 5", OK_BODY + '[[thermocouples]]\nname = 5\nr_m = 0.003\nz_m = 0.0\n',
         "thermocouples"),
    Case("thermocouple without r_m", OK_BODY + '[[thermocouples]]\nz_m = 0.0\n', "thermocouples[0].r_m"),
    Case("thermocouple outside the domain", OK_BODY + '[[thermocouples]]\nr_m = 0.4\nz_m = 0.0\n',
         "thermocouples[TC1]"),
    Case("65 thermocouples", OK_BODY + "".join(f'[[thermocouples]]\nr_m = 0.003\nz_m = {i * 1e-4:g}\n'
                                               for i in range(65)), "thermocouples"),
    Case("extra probe direction as a string", OK_BODY + '[[extra_probes]]\nposition_m = [0.005, 0, 0]\n'
         'direction = "up"\n', "extra_probes[0].direction"),
    Case("extra probe position of 2 numbers", OK_BODY + '[[extra_probes]]\nposition_m = [0.005, 0]\n',
         "extra_probes[0].position_m"),
    Case("[bone] without distance_m", OK_BODY + '[bone]\nangle_deg = 90\n', "bone.distance_m"),
    Case("vessel without diameter_m", OK_BODY + '[[vessels]]\ndistance_m = 0.005\n', "vessels[0].diameter_m"),
    Case("vessels = 3", "vessels = 3\n" + OK_BODY, "vessels"),
    Case("probe without active_length_m", '[probe]\ngauge = 18\n' + freeze() + NUM, "probe.active_length_m"),
    Case("probe = 5", "probe = 5\n" + freeze() + NUM, "probe"),
    Case("gauge = 9", '[probe]\ngauge = 9\nactive_length_m = 0.005\n' + freeze() + NUM, "probe.gauge"),
    Case("medium = 5", "medium = 5\n" + OK_BODY, "medium"),
    Case('medium = "cheese"', 'medium = "cheese"\n' + OK_BODY, "medium"),
    Case("numerics = 5", "numerics = 5\n" + PROBE + freeze(), "numerics"),
    Case("unknown key", "colour = 1\n" + OK_BODY, "colour"),
    Case("isotherms_C above 0", 'isotherms_C = [5]\n' + OK_BODY, "isotherms_C[0]"),
    Case("17 isotherms", 'isotherms_C = [' + ", ".join(str(-i) for i in range(17)) + "]\n" + OK_BODY,
         "isotherms_C"),
    Case("fixed_step_s = 1e-5 over 60 s", PROBE + freeze(duration="60") + NUM + "fixed_step_s = 1e-5\n",
         "numerics.fixed_step_s"),
    Case("10-hour freeze", PROBE + freeze(duration="36000") + NUM, "protocol"),
    Case("invalid TOML", "name = \n" + OK_BODY, "scenario file"),
    Case("binary file", bytes(range(256)) * 4, "scenario file"),
    Case("UTF-16 file", OK_BODY.encode("utf-16"), "scenario file"),
    Case("UTF-16 without BOM", OK_BODY.encode("utf-16-le"), "scenario file"),
    Case("Latin-1 file", ("name = \"caf\u00e9\"\n" + OK_BODY).encode("latin-1"), "scenario file"),
    Case("UTF-8 file with BOM", OK_BODY.encode("utf-8-sig"), "", "accept"),
    Case("a directory as scenario", None, "scenario file", path="."),
    Case("/dev/zero as scenario", None, "scenario file", path="/dev/zero"),
    Case("missing file", None, "scenario file", path="nope.toml"),
    Case("2 MB file", "# " + "x" * 2_000_000 + "\n" + OK_BODY, "scenario file"),
    # wrong answers that used to be returned as success (issue 16)
    Case("bone plate with solver = fast", OK_BODY + 'solver = "fast"\n[bone]\ndistance_m = 0.003\nangle_deg = 45\n',
         "numerics.solver"),
    Case("vessel with solver = fast", OK_BODY + 'solver = "fast"\n[[vessels]]\ndiameter_m = 0.0015\n'
         'distance_m = 0.0035\n', "numerics.solver"),
    Case("a study file given to cryosim run", '[study]\nname = "s"\ndesign = "grid"\n[parameters]\n'
         '"probe.gauge" = [14]\n', "cryosim sweep"),
    # unbounded work, refused before any meshing (issue 16, item 5)
    Case("resolution = 16 on a 10-minute freeze", PROBE + freeze(duration="600") + '[numerics]\nresolution = 16\n',
         "numerics.resolution"),
    Case("resolution = 16 on a 20 s freeze, max_work_s = 60", PROBE + freeze(duration="20")
         + '[numerics]\nresolution = 16\nmax_work_s = 60\n', "numerics.resolution"),
    Case("max_memory_GiB = 0.01", PROBE + freeze() + NUM + "max_memory_GiB = 0.01\n", "numerics.max_memory_GiB"),
    Case("max_memory_GiB = 0", PROBE + freeze() + NUM + "max_memory_GiB = 0\n", "numerics.max_memory_GiB"),
    Case("max_work_s = 0", PROBE + freeze() + NUM + "max_work_s = 0\n", "numerics.max_work_s"),
    Case("max_step_s = 0.001 on a 60 s freeze, max_work_s = 10", PROBE + freeze(duration="60") + NUM
         + "max_step_s = 0.001\nmax_work_s = 10\n", "numerics.max_step_s"),
    Case("max_memory_GiB = 1, max_work_s = 100 (room enough)", PROBE + freeze() + NUM
         + "max_memory_GiB = 1\nmax_work_s = 100\n", "", "accept"),
    Case("output time after the protocol", PROBE + freeze() + NUM + "output_times_s = [3, 6]\n",
         "numerics.output_times_s[1]"),
    # guard breaches that used to pass unflagged (issue 16): the fast solver keeps the floor within 0.5 K
    # (the breaching step retried shorter), the FE run is flagged SUSPECT
    Case("power_W = 50 on a 27 G probe, no coolant", P27 + POWER50 + NUM, "", "accept"),
    Case("power_W = 50, N2O, solver = fem", PROBE + 'coolant = "N2O"\n' + POWER50 + NUM + 'solver = "fem"\n',
         "", "accept"),
]


def run_case(case: Case) -> tuple[str, int | None, str]:
    from cryosim.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            if case.path is not None:
                scen = case.path
            else:
                scen = "s.toml"
                data = case.content if isinstance(case.content, bytes) else str(case.content).encode()
                Path(scen).write_bytes(data)
            args = ["run", scen, "--quiet", *case.args]
            if case.setup == "data_dir":
                Path("mine").mkdir()
                Path("mine/data.txt").write_text("precious")
                args += ["--out", "mine"]
            elif case.setup == "out_file":
                Path("file.txt").write_text("precious")
                args += ["--out", "file.txt"]
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    rc = main(args)
            except BaseException as e:  # noqa: BLE001 - the point is to see it
                return "traceback", None, f"{type(e).__name__}: {e}"[:150]
            msg = (err.getvalue().strip().splitlines() or out.getvalue().strip().splitlines() or [""])[0]
            if case.setup == "data_dir" and Path("mine/data.txt").read_text() != "precious":
                return "DATA LOST", rc, msg
            if case.setup == "out_file" and Path("file.txt").read_text() != "precious":
                return "DATA LOST", rc, msg
            if rc == 0:
                if case.expect == "accept":
                    wrote = out.getvalue().strip().splitlines()[-1]
                    return "accepted", rc, wrote
                return "accepted", rc, msg
            if rc == 2 and len(err.getvalue().strip().splitlines()) == 1 and case.key in msg:
                return "clear refusal", rc, msg
            return "unclear", rc, msg
        finally:
            os.chdir(old)


def main() -> int:
    rows = []
    for case in CASES:
        outcome, rc, msg = run_case(case)
        good = outcome == ("accepted" if case.expect == "accept" else "clear refusal")
        rows.append((case.label, outcome + ("" if good else "  <-- WRONG"), "-" if rc is None else str(rc), msg))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"| {'case':<{w0}} | {'outcome':<{w1}} | exit | message")
    print(f"|{'-' * (w0 + 2)}|{'-' * (w1 + 2)}|------|--------")
    for label, outcome, rc, msg in rows:
        msg = msg if len(msg) <= 160 else msg[:157] + "..."
        print(f"| {label:<{w0}} | {outcome:<{w1}} | {rc:>4} | {msg}")
    wrong = sum("WRONG" in r[1] for r in rows)
    print(f"\n{len(rows)} cases, {len(rows) - wrong} as expected, {wrong} wrong")
    return 1 if wrong else 0


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    sys.exit(main())
