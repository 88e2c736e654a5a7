"""Heat drawn by each catalogue probe versus its wall temperature, and the coldest gas temperature versus recuperation.

    PYTHONPATH=. python examples/device_flux_laws.py [out.png]
"""

from __future__ import annotations

import dataclasses
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cryosim.physics.catalogue import list_designs, load_probe_design  # noqa: E402
from cryosim.physics.coolant import PSI_PA  # noqa: E402
from cryosim.physics.device import jt_device  # noqa: E402


def main(out: str = "device_flux_laws.png") -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in list_designs():
        dev = jt_device(load_probe_design(name))
        a.plot(dev.table_T_C, dev.table_heat_W, label=f"{name} (floor {dev.coldest_C:.1f} °C)")
    a.set_yscale("log")
    a.set_ylim(1e-2, 200)
    a.set_xlabel("wall temperature (°C)")
    a.set_ylabel("heat drawn per needle (W)")
    a.legend(fontsize=7)
    a.set_title("flux laws (64-point tables)")
    base = load_probe_design("cryoneurolysis-N2O-1.3mm")
    er = np.linspace(0.0, 0.9, 19)
    for psi in (600, 700, 800):
        d = dataclasses.replace(base, supply_pressure_Pa=psi * PSI_PA, recuperator_effectiveness=0.0)
        cold = [jt_device(dataclasses.replace(d, recuperator_effectiveness=float(e))).coldest_C for e in er]
        b.plot(er, cold, marker="o", ms=3, label=f"N2O {psi} psi, 20 °C")
    b.set_xlabel("recuperator effectiveness")
    b.set_ylabel("coldest gas temperature (°C)")
    b.set_title("N2O 1.3 mm probe: floor reached once liquid forms")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    print(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
