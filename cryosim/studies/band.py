"""The band of a prediction over a probe design's stated ranges.

A catalogue design states a range for each value that no source fixes
(``orifice_diameter_m = { value = ..., range = [low, high], source = ... }``;
:attr:`cryosim.physics.device.ProbeDesign.ranges`). A prediction made with
such a design is one point of a box of equally defensible designs, so it
comes with the spread of the ice ball over that box: :func:`design_band`
runs the corners of the box (up to :data:`MAX_CORNER_PARAMETERS` uncertain
values: ``2**k`` runs, the extremes of any ice-ball measure that is monotone
in each value, which the device model's measures are: more flow, a larger
orifice or a better exchange never draw less heat) or, for more values, a
Latin hypercube of :data:`LHS_SAMPLES` points. The runs are a study
(``"list"`` design over ``probe.<field>`` paths), so they use the study
workers, Dask clusters and resumable folders like any sweep.

A value the scenario sets itself (``[probe] orifice_diameter_m = ...``) is
the user's, not uncertain: it is held. A range on a design value that a
scenario cannot change (not in :data:`cryosim.physics.probe.DESIGN_OVERRIDES`)
cannot be propagated; it is named in :attr:`BandResult.held`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..checks import ScenarioError
from ..post.isotherms import MEASURES
from ..scenario import Scenario
from .paths import plain_scenario
from .point import measure_column
from .study import Study

__all__ = ["BAND_MEASURES", "LHS_SAMPLES", "MAX_CORNER_PARAMETERS", "BandResult", "design_band", "uncertain_design_values"]

#: Corners of the box up to this many uncertain values (2**4 = 16 runs); a Latin hypercube beyond.
MAX_CORNER_PARAMETERS = 4
#: Latin-hypercube points for more uncertain values (a min-max band from them is a lower bound on the true
#: range; the report says so).
LHS_SAMPLES = 16
#: The measures the band reports (largest over the run).
BAND_MEASURES = ("width_m", "length_m", "volume_m3")


def uncertain_design_values(scenario: Scenario) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """(``{"probe.<field>": (low, high)}`` to propagate, ``{field: why held}``) for the scenario's design.

    Empty when the probe is not a catalogue design or the design states no range.
    """
    from ..physics.catalogue import design_of, load_probe_design
    from ..physics.probe import DESIGN_OVERRIDES

    probe = scenario.probe
    if probe.design is None:
        return {}, {}
    # the design as the scenario runs it: a value the scenario sets (and the flow law it replaces) has no range
    running = design_of(probe).ranges
    out: dict[str, tuple[float, float]] = {}
    held: dict[str, str] = {}
    for key in load_probe_design(probe.design).ranges:
        if key not in running:
            held[key] = "set by the scenario"
        elif key not in DESIGN_OVERRIDES:
            held[key] = "not a value a scenario can change (cryosim.physics.probe.DESIGN_OVERRIDES)"
        else:
            lo, hi = running[key]  # ProbeDesign checks low < high
            out[f"probe.{key}"] = (float(lo), float(hi))
    return out, held


def _points(ranges: Mapping[str, tuple[float, float]], seed: int) -> tuple[dict[str, list[float]], str]:
    names = list(ranges)
    lo = np.array([ranges[n][0] for n in names])
    hi = np.array([ranges[n][1] for n in names])
    if len(names) <= MAX_CORNER_PARAMETERS:
        X = np.array(list(itertools.product((0.0, 1.0), repeat=len(names))))
        how = f"the {len(X)} corners of the box"
    else:
        from scipy.stats import qmc

        X = qmc.LatinHypercube(d=len(names), seed=seed).random(LHS_SAMPLES)
        how = f"a Latin hypercube of {LHS_SAMPLES} points (a lower bound on the range)"
    V = lo + X * (hi - lo)
    return {n: [float(v) for v in V[:, j]] for j, n in enumerate(names)}, how


@dataclass
class BandResult:
    """``table``: rows (isotherm_C, measure) with nominal, low, high (SI) of the largest ice ball over the run;
    ``ranges``: what was varied; ``held``: stated ranges not propagated and why; ``how``: the sampling;
    ``samples``: the study table (one row per run)."""

    table: pd.DataFrame
    ranges: dict[str, tuple[float, float]]
    held: dict[str, str]
    how: str
    samples: pd.DataFrame = field(repr=False)

    def lines(self, digits: int = 2) -> list[str]:
        """The band as printed by ``cryosim run`` (mm, mm³), with what was varied."""
        what = ", ".join(f"{p.removeprefix('probe.')} {lo:.3g}–{hi:.3g}" for p, (lo, hi) in self.ranges.items())
        out = [f"band over the design's stated ranges ({what}; {self.how}); largest over the run:"]
        for iso, g in self.table.groupby("isotherm_C", sort=False):
            cells = []
            for _, r in g.iterrows():
                scale, unit = (1e9, "mm³") if r["measure"] == "volume_m3" else (1e3, "mm")
                name = r["measure"].rsplit("_", 1)[0]
                cells.append(f"{name} {scale * r['nominal']:.{digits}f} [{scale * r['low']:.{digits}f}–"
                             f"{scale * r['high']:.{digits}f}] {unit}")
            out.append(f"  {iso:>5g} °C: " + "; ".join(cells))
        for k, why in self.held.items():
            out.append(f"  held at the design's value: {k} ({why})")
        return out

    def relative_half_width(self, iso_C: float, measure: str) -> float:
        """(high - low) / (2 nominal) of one measure: the band's ± as a fraction of the prediction."""
        r = self.table[(self.table["isotherm_C"] == float(iso_C)) & (self.table["measure"] == measure)].iloc[0]
        return float((r["high"] - r["low"]) / (2.0 * r["nominal"])) if r["nominal"] > 0 else float("nan")


def design_band(scenario: Scenario, nominal: Any | None = None, *, measures: tuple[str, ...] = BAND_MEASURES,
                workers: int = 2, scheduler: str | None = None, out: Any = None, progress: bool = False,
                seed: int = 0) -> BandResult | None:
    """The band of the ice ball over the scenario's design ranges, or None if nothing is uncertain.

    ``nominal``: the scenario's own :class:`~cryosim.post.results.Results` if already computed (else run here).
    ``out``: a study folder for the runs (resumed when it holds the same study); None: a temporary one.
    """
    from ..api import run
    from .sweep import sweep

    for m in measures:
        if m not in MEASURES:
            raise ScenarioError("band.measures", m, f"one of {MEASURES}")
    ranges, held = uncertain_design_values(scenario)
    if not ranges:
        return None
    values, how = _points(ranges, seed)
    study = Study(name=f"{scenario.name}-band", design="list", base=plain_scenario(scenario), parameters=values,
                  seed=seed)
    df = sweep(study, out, workers=workers, scheduler=scheduler, progress=progress, plots=False)
    failed = df[df["status"] != "ok"]
    if len(failed):
        raise ScenarioError("design band", f"{len(failed)} of {len(df)} runs failed",
                            f"every design inside the stated ranges to run (first: {failed['error'].iloc[0]})")
    if nominal is None:
        nominal = run(scenario)
    rows = []
    for iso in scenario.isotherms_C:
        for m in measures:
            y = df[measure_column(m, iso)].to_numpy(dtype=float)
            y0 = float(nominal.maximum(iso, m))
            rows.append({"isotherm_C": float(iso), "measure": m, "nominal": y0,
                         "low": float(min(np.min(y), y0)), "high": float(max(np.max(y), y0))})
    return BandResult(pd.DataFrame(rows), ranges, held, how, df)
