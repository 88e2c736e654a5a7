"""Quickstart: the default probe, a colder tip, and a freeze-thaw-freeze cycle.

Run: python examples/quickstart.py [output folder]
Prints the ice-ball table of each run and saves their figures.
"""

import sys
from pathlib import Path

import cryosim
from cryosim import Numerics, Protocol

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/quickstart")
base = cryosim.default_scenario().with_(numerics=Numerics(resolution=0.35))

# 1. the default scenario: 18 G, 5 mm active tip, -70 °C for 120 s
r = cryosim.run(base)
print(r.table())
r.save(out / "default", overwrite=True)  # the example may be run again

# 2. the same probe at -50 °C: a smaller ice ball
cold = cryosim.run(base.with_(protocol=Protocol.single_freeze(120.0, -50.0)))
print(f"\n0 °C width at -50 °C: {1e3 * cold.final(0, 'width_m'):.2f} mm "
      f"(vs {1e3 * r.final(0, 'width_m'):.2f} mm at -70 °C)")

# 3. two 90 s freezes with a 30 s passive thaw: when can the probe be moved?
steps = Protocol.cycles(2, 90.0, -70.0, 30.0).steps + (cryosim.Thaw(90.0),)
cycles = cryosim.run(base.with_(name="two-cycles", protocol=Protocol(steps)))
rel = cycles.release_time_s
print("probe still frozen in at the end of the run" if rel is None else
      f"probe surface back above 0 °C {rel:.0f} s after the last freeze")
cycles.save(out / "two-cycles", overwrite=True)
