"""Design answers for an 18 G N2O probe (issue 9): the isotherm chart, an inverse design, an uncertainty band.

    python examples/design_answers.py [OUT]

1. the manufacturer-style isotherm chart: 0 / -20 / -40 °C width and length against freeze time;
2. the shortest single freeze at -70 °C that brings a nerve 3 mm from the probe axis below -20 °C;
3. the ice ball's uncertainty from tissue properties (IT'IS spreads): a 5-95 % band over time and the Sobol'
   indices naming the property that matters most.

Coarse numerics (resolution 0.5) keep it to about a minute; re-run a chosen design at resolution 1.
Worker processes are spawned, so the study runs under ``if __name__ == "__main__":``.
"""

import sys
from pathlib import Path

import cryosim
from cryosim import Protocol
from cryosim.studies import isotherm_chart, propagate, shortest_freeze, write_chart


def main(out: Path) -> None:
    s = cryosim.default_scenario().with_(name="18G-N2O", thermocouples=(), resolution=0.5,
                                         protocol=Protocol.single_freeze(180.0, -70.0))
    chart = isotherm_chart(s, step_s=30.0)
    print(chart.round(6).to_string(index=False))
    write_chart(s, out / "chart", step_s=30.0)

    answer = shortest_freeze(s, nerve_distance_m=3e-3, threshold_C=-20.0)
    print(answer)

    u = propagate(s.with_(protocol=Protocol.single_freeze(120.0, -70.0)), base_samples=64, measure="width_m",
                  out=out / "uncertainty")
    print(u.band[u.band.isotherm_C == 0.0].round(6).to_string(index=False))
    print(u.sobol.round(3).to_string(index=False))
    if u.ranking_is_resolved(0.0):
        print("property that matters most for the 0 °C ice ball:", u.most_important(0.0))
    else:
        print("which property matters most for the 0 °C ice ball is not resolved by these samples")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "cryosim-output/design-answers"))
