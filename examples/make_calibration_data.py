"""Synthetic measurements for examples/calibrate_device.toml: cryosim run at known values, plus stated noise.

The catalogue probe cryoneurolysis-N2O-1.3mm (catalogue: 700 psi = 4.83 MPa
supply, a 0.10 mm orifice, an unpublished assumption) is run at a *known*
operation, 4.6 MPa and a 0.115 mm orifice, 60 s of gas in perfused soft
tissue, on the grid the calibration uses (numerics.resolution 0.5). From
the run come

* ``calibrate_device_thermistor.csv``: the probe's thermistor every 4 s,
  plus Gaussian noise of standard deviation 0.5 K (column ``sigma_K``);
* ``calibrate_device_isotherms.csv``: the 0 °C and -20 °C ice-ball widths and
  the 0 °C length at 30 and 60 s, plus Gaussian noise of 0.15 mm
  (column ``sigma``, m).

Noise from numpy's default generator with seed 20261204. The data come from
the same model and grid as the fit, so ``cryosim calibrate
examples/calibrate_device.toml`` should find 4.6 MPa and 0.115 mm within its
intervals; measured data also carry the model's own error.

    .venv/bin/python examples/make_calibration_data.py [FOLDER]
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import numpy as np

import cryosim
from cryosim.studies.paths import plain_scenario, scenario_at

HERE = Path(__file__).resolve().parent
TRUE = {"probe.supply_pressure_Pa": 4.6e6, "probe.orifice_diameter_m": 0.115e-3}
SEED = 20261204
THERMISTOR_SIGMA_K = 0.5
SIZE_SIGMA_M = 0.15e-3
THERMISTOR_TIMES_S = np.arange(4.0, 60.0 + 1e-9, 4.0)
SIZE_TIMES_S = (30.0, 60.0)
SIZES = ((0.0, "width_m"), (-20.0, "width_m"), (0.0, "length_m"))


def base_scenario() -> cryosim.Scenario:
    """The [base] of examples/calibrate_device.toml (one definition for the data and the fit)."""
    with (HERE / "calibrate_device.toml").open("rb") as fh:
        return cryosim.scenario.scenario_from_dict(tomllib.load(fh)["base"])


def main(folder: Path = HERE) -> None:
    """Write the two data files into ``folder`` (default: examples/, next to the study file)."""
    folder = Path(folder)
    rng = np.random.default_rng(SEED)
    base = base_scenario()
    times = tuple(sorted(set(THERMISTOR_TIMES_S.tolist()) | set(SIZE_TIMES_S)))
    s = scenario_at(plain_scenario(base), TRUE)
    s = s.with_(output_times_s=times, isotherms_C=tuple(sorted({iso for iso, _ in SIZES} | set(s.isotherms_C),
                                                                     reverse=True)))
    r = cryosim.run(s)
    thermistor = np.interp(THERMISTOR_TIMES_S, r.time_s, r.device["thermistor_C"])
    noisy = thermistor + rng.normal(0.0, THERMISTOR_SIGMA_K, thermistor.size)
    with (folder / "calibrate_device_thermistor.csv").open("w", newline="") as fh:
        fh.write(f"# synthetic: cryosim at {TRUE}, thermistor + N(0, {THERMISTOR_SIGMA_K} K), seed {SEED}; "
                 "examples/make_calibration_data.py\n")
        w = csv.writer(fh)
        w.writerow(["time_s", "temperature_C", "sigma_K"])
        for t, T in zip(THERMISTOR_TIMES_S, noisy):
            w.writerow([f"{t:g}", f"{T:.3f}", THERMISTOR_SIGMA_K])
    with (folder / "calibrate_device_isotherms.csv").open("w", newline="") as fh:
        fh.write(f"# synthetic: cryosim at {TRUE}, sizes + N(0, {SIZE_SIGMA_M * 1e3:g} mm), seed {SEED}; "
                 "examples/make_calibration_data.py\n")
        w = csv.writer(fh)
        w.writerow(["time_s", "isotherm_C", "measure", "value_m", "sigma"])
        for t in SIZE_TIMES_S:
            for iso, m in SIZES:
                v = r.at(t, iso, m) + rng.normal(0.0, SIZE_SIGMA_M)
                w.writerow([f"{t:g}", f"{iso:g}", m, f"{v:.6e}", SIZE_SIGMA_M])
    print(f"wrote {folder / 'calibrate_device_thermistor.csv'} ({thermistor.size} rows) and "
          f"{folder / 'calibrate_device_isotherms.csv'} ({len(SIZE_TIMES_S) * len(SIZES)} rows); true values {TRUE}")


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
