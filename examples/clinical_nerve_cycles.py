"""Clinical answers for cryoneurolysis: nerve dose, release time, three freeze cycles.

Run: python examples/clinical_nerve_cycles.py [output folder]
An 18 G probe (5 mm active tip, -70 °C) next to nerves parallel to it at 2, 4
and 6 mm from its axis, running from 6 mm below the tip to 12 mm up the shaft
(so they cross the ice ball). Prints the per-cycle table of a three-cycle
protocol (clinical-3x2min) and the release times after passive and active
thaw; writes clinical_nerve_cycles.png.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

import cryosim
from cryosim import Numerics, Protocol
from cryosim.scenario import Nerve

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/clinical")
out.mkdir(parents=True, exist_ok=True)
nerves = tuple(Nerve(f"d{d}mm", distance_m=d * 1e-3, from_z_m=-6e-3, to_z_m=12e-3) for d in (2, 4, 6))
base = cryosim.default_scenario().with_(numerics=Numerics(resolution=0.35), nerves=nerves, thermocouples=())

# 1. three 2-min freezes, 30 s passive thaws, then 3 min of passive thaw
three = cryosim.run(base.with_(name="clinical-3x2min", protocol=Protocol.named("clinical-3x2min")))
print(three.table())
pd.set_option("display.width", 200)
cols = ["cycle", "freeze_end_s", "width_m@0C", "volume_m3@0C", "added_volume_m3@0C", "volume_m3@-20C", "release_s"]
cols += [c for c in three.per_cycle().columns if c.startswith("nerve_") and not c.endswith("frozen_m")]
print("\nper cycle (SI units):")
print(three.per_cycle()[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))

# 2. release after passive and active thaw (active: the tip held at +20 °C, assumed warm-gas setting)
two_passive = cryosim.run(base.with_(name="2x2min passive", protocol=Protocol.named("clinical-2x2min")))
two_active = cryosim.run(base.with_(name="2x2min active", protocol=Protocol.named(
    "clinical-2x2min", thaw_mode="active", thaw_temperature_C=20.0, final_thaw_s=60.0)))
for r in (two_passive, two_active):
    print(f"{r.scenario.name}: release after each freeze (s): {r.release_times_s()}")

fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
for name, dose in three.nerve_doses.items():
    s = three.nerves[name]
    a1.plot(1e3 * dose.points_m[:, 1], dose.coldest_per_point_C(),
            label=f"{name}: {s['grade']}, lesion {1e3 * s['lesion_length_m']:.1f} mm")
for thr in (10.0, 0.0, -20.0):
    a1.axhline(thr, color="k", lw=0.6, ls=":")
a1.axvspan(0, 5, color="0.9", label="active tip (z 0-5 mm)")
a1.set_xlabel("z along the nerve (mm)")
a1.set_ylabel("coldest temperature reached (°C)")
a1.set_title("nerves parallel to an 18 G probe, clinical-3x2min")
a1.legend(fontsize=7)
for r, style in ((two_passive, "-"), (two_active, "--")):
    a2.plot(r.time_s, r.probe_surface_C, style, label=r.scenario.name)
a2.axhline(0.0, color="k", lw=0.6)
a2.set_xlabel("time (s)")
a2.set_ylabel("coldest active-surface temperature (°C)")
a2.set_title("release: probe surface back above 0 °C")
a2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "clinical_nerve_cycles.png", dpi=130)
print(f"figure: {out / 'clinical_nerve_cycles.png'}")
