"""Manufacturer-style isotherm chart: ice-ball width and length against freeze time.

A probe's instructions for use quote, for one continuous freeze, the width
and length of the 0 °C, -20 °C and -40 °C isotherms after so many seconds.
:func:`isotherm_chart` computes that table from the scenario's first freeze
step held for ``duration_s``, with the steps landing on every chart time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..api import run
from ..checks import ScenarioError, check_range
from ..physics.protocol import Freeze, Protocol
from ..post.files import atomic_write
from ..scenario import Scenario
from .point import measure_column

__all__ = ["CHART_ISOTHERMS_C", "CHART_STEP_S", "isotherm_chart", "plot_chart", "write_chart"]

#: Chart rows every 10 s: instructions for use quote ice-ball sizes at 30 s to
#: minute intervals, so 10 s resolves every value they give.
CHART_STEP_S = 10.0
#: The isotherms charted: ice edge, and the -20 / -40 °C lethal and nerve-block
#: thresholds quoted in cryoneurolysis device labelling.
CHART_ISOTHERMS_C = (0.0, -20.0, -40.0)


def isotherm_chart(scenario: Scenario, duration_s: float | None = None, step_s: float = CHART_STEP_S,
                   isotherms_C: tuple[float, ...] = CHART_ISOTHERMS_C) -> pd.DataFrame:
    """Width and length (m) of each isotherm every ``step_s`` of one freeze of ``duration_s``.

    The freeze is the scenario's first freeze step (its tip temperature or
    power), held for ``duration_s`` (default: that step's duration); thaws
    and later cycles are left out, as on a manufacturer's chart.
    """
    freeze = next(s for s in scenario.protocol.steps if isinstance(s, Freeze))
    duration_s = freeze.duration_s if duration_s is None else duration_s
    check_range("--duration-s", duration_s, 0.0, 3600.0, unit="s", low_open=True)
    check_range("--step-s", step_s, 1.0, duration_s, unit="s")
    times = np.arange(step_s, duration_s * (1 + 1e-12), step_s)
    if len(times) > 1000:
        raise ScenarioError("--step-s", step_s, f"at most 1000 chart rows ({duration_s:g} s / {step_s:g} s "
                            f"is {len(times)})")
    chart_scenario = scenario.with_(protocol=Protocol((replace(freeze, duration_s=float(duration_s)),)),
                                    isotherms_C=tuple(isotherms_C), output_times_s=tuple(times[:-1]))
    results = run(chart_scenario)
    data = {"time_s": times}
    for iso in isotherms_C:
        for m in ("width_m", "length_m"):
            data[measure_column(m, iso)] = [results.at(t, iso, m) for t in times]
    return pd.DataFrame(data)


def plot_chart(chart: pd.DataFrame, scenario: Scenario):
    """Two panels, width and length (mm) against freeze time (s), one line per isotherm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.0), layout="constrained", sharex=True)
    isos = sorted({float(c.split("@")[1][:-1]) for c in chart.columns if "@" in c}, reverse=True)
    for ax, m, label in ((axes[0], "width_m", "width"), (axes[1], "length_m", "length")):
        for iso in isos:
            ax.plot(chart["time_s"], 1e3 * chart[measure_column(m, iso)], "o-", ms=3, label=f"{iso:g} °C")
        ax.set_xlabel("freeze time (s)")
        ax.set_ylabel(f"ice-ball {label} (mm)")
        ax.grid(alpha=0.3)
    axes[0].legend(title="isotherm")
    p = scenario.probe
    gauge = f"{p.gauge} G" if p.gauge is not None else f"{1e3 * p.outer_diameter_m:g} mm"
    freeze = next(s for s in scenario.protocol.steps if isinstance(s, Freeze))
    if freeze.gas is not None:  # a Joule-Thomson device: the tip temperature is an outcome
        tip = f"{p.design} gas on"
    elif isinstance(freeze.tip_temperature_C, (int, float)):
        kind = "coolant" if freeze.heat_transfer_W_per_m2_K is not None else "tip"
        tip = f"{kind} {freeze.tip_temperature_C:g} °C"
    elif freeze.tip_temperature_C is not None:
        tip = "tip temperature series"
    else:
        tip = f"{freeze.power_W:g} W"
    fig.suptitle(f"{gauge} probe, {1e3 * p.active_length_m:g} mm active tip, {tip}, in {scenario.medium.name}")
    return fig


def write_chart(scenario: Scenario, folder: str | Path, duration_s: float | None = None,
                step_s: float = CHART_STEP_S) -> tuple[pd.DataFrame, list[Path]]:
    """Compute the chart and write ``chart.csv`` (SI units) and ``chart.png`` into ``folder``."""
    import matplotlib
    import matplotlib.pyplot as plt

    chart = isotherm_chart(scenario, duration_s, step_s)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv, png = folder / "chart.csv", folder / "chart.png"
    atomic_write(csv, lambda fh: chart.to_csv(fh, index=False, float_format="%.6g"))
    with matplotlib.rc_context({"text.parse_math": False}):  # names are labels, not mathtext
        fig = plot_chart(chart, scenario)
        try:
            atomic_write(png, lambda fh: fig.savefig(fh, format="png", dpi=130), mode="wb")
        finally:
            plt.close(fig)
    return chart, [csv, png]
