"""Benchmark: Joule-Thomson N2O probes of two gauges on the fast solver (issue 8, "larger gauge").

The default scenario (soft tissue, 37 °C, perfused) with the catalogue's
18 G (1.3 mm) and 14 G (2.0 mm) N2O designs, gas on for ``--duration``
seconds. Prints, per design, the coldest mean and the final mean tip surface
temperature, the thermistor reading, the peak and final cooling power, the
gas used, the 0 °C width, length and volume, the energy imbalance, the CPU
seconds of the run (``time.process_time``, after a warm-up run that compiles
the kernel) and the volume ratio 14 G / 18 G. Nothing is tuned to any
reported ratio. Usage:

    python benchmarks/device_gauges.py [--duration 120] [--resolution 1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import cryosim
from cryosim import Numerics
from cryosim.fast import run_axisymmetric
from cryosim.physics.catalogue import probe_from_design
from cryosim.physics.protocol import Freeze, Protocol

#: The designs compared: 18 G first (the reference of the ratio).
DESIGNS = ("cryoneurolysis-N2O-1.3mm", "cryoneurolysis-N2O-2.0mm")
#: Protocol of the warm-up run that compiles the kernel (s).
WARMUP_S = 2.0


def scenario(design: str, duration_s: float, resolution: float) -> cryosim.Scenario:
    return cryosim.default_scenario().with_(probe=probe_from_design(design), thermocouples=(),
                                            numerics=Numerics(resolution=resolution),
                                            protocol=Protocol((Freeze(duration_s, gas="on"),)))


def measure(design: str, duration_s: float, resolution: float) -> dict:
    s = scenario(design, duration_s, resolution)
    t0 = time.process_time()
    r = run_axisymmetric(s)
    cpu = time.process_time() - t0
    d = r.device
    return {"design": design, "cpu_s": cpu, "steps": len(r.time_s) - 1, "cells": r.diagnostics["cells"],
            "tip_mean_final_C": float(d["tip_mean_C"][-1]), "tip_mean_coldest_C": float(np.min(d["tip_mean_C"])),
            "tip_min_C": float(np.min(d["tip_min_C"])), "thermistor_final_C": float(d["thermistor_C"][-1]),
            "cooling_power_final_W": float(d["cooling_power_W"][-1]),
            "cooling_power_peak_W": float(np.max(d["cooling_power_W"])), "gas_used_kg": float(d["gas_used_kg"][-1]),
            "floor_C": r.diagnostics["device_floor_C"], "width_0C_m": r.final(0.0, "width_m"),
            "length_0C_m": r.final(0.0, "length_m"), "volume_0C_m3": r.final(0.0, "volume_m3"),
            "energy_imbalance_relative": r.energy_imbalance_relative}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=120.0, help="gas-on time (s)")
    ap.add_argument("--resolution", type=float, default=1.0)
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()
    run_axisymmetric(scenario(DESIGNS[0], WARMUP_S, a.resolution))  # compile
    rows = [measure(d, a.duration, a.resolution) for d in DESIGNS]
    for m in rows:
        print(f"{m['design']}: tip mean {m['tip_mean_final_C']:.1f} °C at the end (coldest mean "
              f"{m['tip_mean_coldest_C']:.1f}, coldest node {m['tip_min_C']:.1f}, floor {m['floor_C']:.1f}); "
              f"thermistor {m['thermistor_final_C']:.1f} °C; cooling power {m['cooling_power_final_W']:.2f} W "
              f"(peak {m['cooling_power_peak_W']:.2f} W); gas {1e3 * m['gas_used_kg']:.1f} g; 0 °C width "
              f"{1e3 * m['width_0C_m']:.2f} mm, length {1e3 * m['length_0C_m']:.2f} mm, volume "
              f"{1e9 * m['volume_0C_m3']:.1f} mm3; imbalance {m['energy_imbalance_relative']:.1e}; "
              f"{m['cpu_s']:.2f} CPU s, {m['steps']} steps, {m['cells']} cells")
    ratio = rows[1]["volume_0C_m3"] / rows[0]["volume_0C_m3"]
    print(f"0 °C volume 14 G / 18 G: {ratio:.2f} (+{100 * (ratio - 1):.0f} %)")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"duration_s": a.duration, "resolution": a.resolution, "runs": rows,
                       "volume_ratio_14G_18G": ratio}, fh, indent=2)


if __name__ == "__main__":
    main()
