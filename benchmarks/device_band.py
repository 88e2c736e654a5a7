"""The band of a device prediction over its design's stated ranges: what it costs and how wide it is.

    .venv/bin/python benchmarks/device_band.py [scenario.toml]

Runs the scenario (default ``examples/device_nerve.toml``) once, then
``cryosim.studies.design_band`` on 2 local worker processes (what ``cryosim
run`` prints after its table), and prints the wall time of each, the number
of band runs and the band of the 0 °C ice ball with its half-width relative
to the prediction (issue 15's target for a blind band: no wider than ±30 %).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cryosim  # noqa: E402
from cryosim.scenario import load_scenario  # noqa: E402
from cryosim.studies.band import design_band  # noqa: E402


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "device_nerve.toml"
    s = load_scenario(path)
    t0 = time.perf_counter()
    r = cryosim.run(s)
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = design_band(s, r, workers=2)
    t_band = time.perf_counter() - t0
    print(f"scenario {path.name}: run {t_run:.1f} s wall; band {t_band:.1f} s wall, {len(b.samples)} runs on 2 workers")
    print("\n".join(b.lines()))
    for m in ("width_m", "volume_m3"):
        print(f"0 °C {m}: band half-width {100 * b.relative_half_width(0.0, m):.0f} % of the prediction")


if __name__ == "__main__":
    main()
