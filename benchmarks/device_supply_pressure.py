r"""Benchmark: what the supply pressure of a Joule-Thomson probe buys (issue 8; the scenario override
``[probe] supply_pressure_Pa``).

The catalogue design ``cryoneurolysis-N2O-1.3mm`` (nominal 700 psi, 4.83 MPa) at several supply
pressures, fast solver at the default resolution, in two settings: soft tissue at the Pennes steady
state, gas on 60 s; and the Wolter bath (0.9 % saline at 20 °C, no perfusion), gas on 120 s. Prints
the coldest gas temperature of the design, the thermistor reading, the tip surface mean and the cooling
power at the end, and the ice (0 °C, or the saline liquidus) volume.

Usage::

    .venv/bin/python benchmarks/device_supply_pressure.py [--pressures-MPa 3 4 4.83 6 8 12]
"""

from __future__ import annotations

import argparse

import cryosim
from cryosim.fast.solver import run_axisymmetric
from cryosim.physics.catalogue import probe_from_design

DESIGN = "cryoneurolysis-N2O-1.3mm"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pressures-MPa", type=float, nargs="+", default=[3.0, 4.0, 4.83, 6.0, 8.0, 12.0])
    a = ap.parse_args()
    sal = cryosim.get_material("saline")
    settings = {
        "soft tissue, 60 s": dict(duration_s=60.0, changes={}),
        "saline 20 °C, 120 s": dict(duration_s=120.0, changes=dict(
            medium=sal, initial_temperature_C=20.0, arterial_temperature_C=20.0, isotherms_C=(sal.liquidus_C,))),
    }
    print(f"{DESIGN} at several supply pressures (fast solver, default resolution)\n")
    print("| setting | supply MPa | coldest gas °C | thermistor °C | tip mean °C | cooling power W | ice volume mm³ |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")
    for label, st in settings.items():
        for p in a.pressures_MPa:
            probe = probe_from_design(DESIGN, supply_pressure_Pa=p * 1e6)
            s = cryosim.default_scenario().with_(probe=probe, thermocouples=(),
                                                 protocol=cryosim.Protocol((cryosim.Freeze(st["duration_s"], gas="on"),)),
                                                 **st["changes"])
            r = run_axisymmetric(s)
            d = r.device
            print(f"| {label} | {p:g} | {probe.design_floor_C:.1f} | {d['thermistor_C'][-1]:.1f} | "
                  f"{d['tip_mean_C'][-1]:.1f} | {d['cooling_power_W'][-1]:.2f} | "
                  f"{1e9 * r.final(s.isotherms_C[0], 'volume_m3'):.1f} |")


if __name__ == "__main__":
    main()
