"""Surface cryotherapy (seed 000): CO2 micro-crystal jet, ice pack and cold air on one figure.

Run: python examples/surface_cryotherapy.py [output folder]
Each therapy at its usual duration (jet 30 s, the seed's minimum, swept over
the area as the seed prescribes; the same jet held on one spot for contrast;
ice pack in a wet towel 20 min; cold air 3 min, assumed), then room air.
Every parameter is the default of cryosim.clinical.skin (sources, assumptions
and the stated ranges THERAPY_RANGES there; cold-induced vasoconstriction on).
Prints the figures clinicians read, the band over the stated ranges and the
ranking; writes surface_cryotherapy.png (shaded: the band).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cryosim.clinical.skin import (ANALGESIA_SKIN_C, FROSTBITE_SKIN_C, co2_jet, cold_air, ice_pack, prediction_band,
                                   rank_therapies, simulate)

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/surface")
out.mkdir(parents=True, exist_ok=True)
therapies = [co2_jet(30.0), co2_jet(30.0, duty_cycle=1.0), ice_pack(1200.0), cold_air(180.0)]
bands = {"co2_jet": (30.0, 0), "ice_pack": (1200.0, 2), "cold_air": (180.0, 3)}
runs = [simulate(th, after_s=300.0) for th in therapies]
for r in runs:
    s = r.summary()
    print(f"{s['therapy']:28s} {s['duration_s']:6.0f} s: skin {s['initial_surface_C']:.1f} -> {s['surface_end_C']:.1f} °C "
          f"(coldest {s['coldest_surface_C']:.1f}); {ANALGESIA_SKIN_C:g} °C after "
          f"{s['time_to_analgesia_s'] if s['time_to_analgesia_s'] is None else round(s['time_to_analgesia_s'], 1)} s, "
          f"{1e3 * s['depth_analgesia_m']:.2f} mm deep; {s['time_below_frostbite_s']:.0f} s below {FROSTBITE_SKIN_C:g} °C; "
          f"heat drawn {s['heat_drawn_J_per_m2'] / 1e3:.0f} kJ/m2"
          + (f"; ice used {100 * s['ice_used_fraction']:.0f} %" if s["ice_used_fraction"] is not None else ""))
print("\nseed 000: jet 32 -> 2 °C in 30 s. Model, swept jet (default): "
      f"{runs[0].surface_at_C(30.0):.1f} °C at 30 s; held on one spot: {runs[1].surface_at_C(30.0):.1f} °C")
band_runs = {}
for name, (dur, k) in bands.items():
    t = runs[k].time_s[runs[k].time_s > 0.0]
    band_runs[name] = (t, prediction_band(name, dur, t, after_s=300.0))
    b = band_runs[name][1]
    print(f"{name}: end of therapy {runs[k].surface_at_C(dur):.1f} °C, band over the stated ranges "
          f"{np.interp(dur, t, b.low_C):.1f} to {np.interp(dur, t, b.high_C):.1f} °C ({len(b.corners)} corners)")
jet_sens = {g: simulate(co2_jet(30.0, snow_deposition_kg_per_m2_s=g), after_s=0.0).surface_at_C(30.0)
            for g in (0.0, 5e-3, 20e-3)}
print("jet surface at 30 s vs snow deposition (g/m2/s): "
      + ", ".join(f"{1e3 * g:g}: {T:.1f} °C" for g, T in jet_sens.items()))
print("\nranking (frozen skin last; then depth cooled to the analgesia threshold, then speed):")
for k, name, why in rank_therapies(runs):
    print(f"  {k}. {name}: {why}")

fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
for k, r in enumerate(runs):
    (line,) = a1.plot(r.time_s, r.surface_C, label=f"{r.therapy.name} ({r.therapy.duration_s:g} s)")
    for name, (dur, kk) in bands.items():
        if kk == k:
            t, b = band_runs[name]
            a1.fill_between(t, b.low_C, b.high_C, color=line.get_color(), alpha=0.15)
    a2.plot(1e3 * r.depth_m, r.profile_at_C(r.therapy.duration_s), color=line.get_color(),
            label=f"{r.therapy.name}, end of therapy")
a1.errorbar([30.0], [2.0], yerr=[5.0], fmt="ko", capsize=3, label="seed 000 claim (jet, 30 s)")
a1.errorbar([120.0], [7.3], yerr=[0.8], fmt="k^", capsize=3, label="CO2, 2 min on the hand, Mourot 2007")
a1.errorbar([1200.0], [10.2], yerr=[3.5], fmt="ks", capsize=3, label="ice pack, Kanlayanaphotporn 2005")
for thr in (ANALGESIA_SKIN_C, FROSTBITE_SKIN_C):
    a1.axhline(thr, color="k", lw=0.6, ls=":")
a1.set_xscale("symlog", linthresh=10.0)
a1.set_xlim(0.0, None)
a1.set_xlabel("time from the start of the therapy (s)")
a1.set_ylabel("skin surface temperature (°C)")
a1.legend(fontsize=7)
a2.axhline(ANALGESIA_SKIN_C, color="k", lw=0.6, ls=":")
for x in np.cumsum([L.thickness_m for L in runs[0].layers])[:-1]:
    a2.axvline(1e3 * x, color="0.6", lw=0.8)
a2.set_xlim(0, 20)
a2.set_xlabel("depth below the skin surface (mm); lines: skin / fat / muscle")
a2.set_ylabel("temperature (°C)")
a2.legend(fontsize=7)
fig.tight_layout()
fig.savefig(out / "surface_cryotherapy.png", dpi=130)
print(f"figure: {out / 'surface_cryotherapy.png'}")
