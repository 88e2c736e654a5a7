"""Uncertainty of the ice ball from uncertain tissue properties, and which property matters most.

Each uncertain property of the medium is a :class:`Spread` around its
nominal value (uniform, or normal truncated at 3 standard deviations).
Saltelli samples (SALib's Sobol' sequence sampler) are run as a study of
``"list"`` design over the ``medium.*`` paths, so they use the same workers,
Dask clusters and resumable study folder as any sweep. From the rows come:

* a band (5th-95th percentile, mean) of each isotherm's measure over time;
* first-order and total Sobol' indices (SALib ``sobol.analyze``) of the
  largest ice ball over the run, naming the property that matters most.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..api import run
from ..checks import ScenarioError, check_choice, check_range
from ..physics.materials import Material
from ..post.files import OutputError, atomic_write, check_not_symlink
from ..scenario import Scenario
from .paths import plain_scenario
from .point import measure_column
from .store import STUDY_MARKER
from .study import Study

__all__ = [
    "BAND_PERCENTILES",
    "BAND_TIMES",
    "ITIS_SPREADS",
    "TRUNCATION_SD",
    "Spread",
    "UncertaintyResult",
    "propagate",
]

#: The band: 5th to 95th percentile of the sampled runs (a 90 % band).
BAND_PERCENTILES = (5.0, 95.0)
#: Normal spreads are truncated at +-3 standard deviations: a property cannot
#: go negative, and 99.7 % of a normal lies within.
TRUNCATION_SD = 3.0
#: Times (s) of the band: this many, evenly spaced over the protocol.
BAND_TIMES = 12

_SPREAD_SOURCE = (
    "IT'IS Foundation tissue properties database v4.1 (Hasgall PA et al., 2022, doi:10.13099/VIP21000-04-1) "
    "reports, for muscle, the standard deviation across studies of about 8 % of the mean for thermal "
    "conductivity, about 13 % for specific heat capacity and about 100 % for the perfusion (heat transfer) "
    "rate (values as recalled, not yet checked against the primary table)")


@dataclass(frozen=True)
class Spread:
    """An uncertain medium property: ``value = nominal * (1 + x)``.

    ``distribution`` "uniform": x uniform in [-relative, +relative];
    "normal": x normal with standard deviation ``relative``, truncated at
    :data:`TRUNCATION_SD` of it.
    """

    field: str
    distribution: str
    relative: float
    source: str = ""

    def __post_init__(self) -> None:
        numeric = [f.name for f in fields(Material) if f.type in ("float", float)]
        check_choice("spread.field", self.field, numeric)
        check_choice("spread.distribution", self.distribution, ("uniform", "normal"))
        top = 1.0 if self.distribution == "uniform" else 1.0 / TRUNCATION_SD
        check_range("spread.relative", self.relative, 0.0, top, low_open=True, high_open=True)

    def salib(self, nominal: float) -> tuple[list[float], str]:
        """SALib bounds and distribution name of the property's value."""
        r = self.relative
        if self.distribution == "uniform":
            return [nominal * (1 - r), nominal * (1 + r)], "unif"
        sd = nominal * r
        return [nominal - TRUNCATION_SD * sd, nominal + TRUNCATION_SD * sd, nominal, sd], "truncnorm"


#: Default spreads: +-20 % uniform on unfrozen conductivity and heat capacity
#: (covering twice IT'IS's 8 % and 13 % standard deviations, for tissue-to-tissue
#: and patient-to-patient differences), +-50 % uniform on perfusion (IT'IS's
#: spread is about as large as the mean; a uniform +-100 % would include no
#: perfusion at all, a different physiology, so half of it).
ITIS_SPREADS = (
    Spread("conductivity_unfrozen_W_per_m_K", "uniform", 0.2, _SPREAD_SOURCE),
    Spread("heat_capacity_unfrozen_J_per_m3_K", "uniform", 0.2, _SPREAD_SOURCE),
    Spread("perfusion_per_s", "uniform", 0.5, _SPREAD_SOURCE),
)


@dataclass
class UncertaintyResult:
    """``band``: rows (isotherm_C, time_s) with nominal, mean, p5, p95 of ``measure``;
    ``sobol``: rows (isotherm_C, property) with S1, S1_conf, ST, ST_conf of the largest ice ball;
    ``samples``: the study table (one row per sampled run)."""

    measure: str
    band: pd.DataFrame
    sobol: pd.DataFrame
    samples: pd.DataFrame
    spreads: tuple[Spread, ...]

    def most_important(self, iso_C: float) -> str:
        """The property with the largest total Sobol' index for isotherm ``iso_C``."""
        s = self.sobol[self.sobol["isotherm_C"] == float(iso_C)]
        return str(s.loc[s["ST"].idxmax(), "property"])

    def ranking_is_resolved(self, iso_C: float) -> bool:
        """True when the largest total index exceeds the runner-up by more than their 95 % confidence
        half-widths together (SALib's bootstrap ``ST_conf``): only then do the samples tell which property
        matters most (8 base samples gave ST 0.84 +- 0.83, a difference of 0.009 named the winner)."""
        s = self.sobol[self.sobol["isotherm_C"] == float(iso_C)].sort_values("ST", ascending=False)
        if len(s) < 2:
            return True
        a, b = s.iloc[0], s.iloc[1]
        return bool(a["ST"] - b["ST"] > a["ST_conf"] + b["ST_conf"])

    def write(self, folder: str | Path) -> list[Path]:
        """``band.csv``, ``sobol.csv``, ``spreads.json`` (the distributions and their sources) and
        ``uncertainty.png`` into ``folder``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = [folder / "band.csv", folder / "sobol.csv", folder / "uncertainty.png"]
        atomic_write(out[0], lambda fh: self.band.to_csv(fh, index=False, float_format="%.6g"))
        atomic_write(out[1], lambda fh: self.sobol.to_csv(fh, index=False, float_format="%.4g"))
        out.append(folder / "spreads.json")
        atomic_write(out[-1], lambda fh: json.dump([asdict(s) for s in self.spreads], fh, indent=1))
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        scale, unit = (1e9, "mm³") if self.measure == "volume_m3" else (1e6, "mm²") if self.measure == "area_m2" \
            else (1e3, "mm")
        for iso, g in self.band.groupby("isotherm_C", sort=False):
            line, = ax.plot(g["time_s"], scale * g["nominal"], label=f"{iso:g} °C nominal")
            ax.fill_between(g["time_s"], scale * g["p5"], scale * g["p95"], color=line.get_color(), alpha=0.25)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"{self.measure.rsplit('_', 1)[0]} ({unit}); band {BAND_PERCENTILES[0]:g}-"
                      f"{BAND_PERCENTILES[1]:g} %")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
        from .plots import axis_label

        pivot = self.sobol.pivot(index="property", columns="isotherm_C", values="ST")
        # readable names with units ("conductivity unfrozen (W/m/K)"), not the field names
        pivot.index = [axis_label(str(p))[0] for p in pivot.index]
        pivot.plot.barh(ax=bx)
        bx.set_ylabel("spread property of the medium")
        bx.set_xlabel("total Sobol' index of the largest ice ball")
        bx.legend(title="isotherm (°C)", fontsize=8)
        with matplotlib.rc_context({"text.parse_math": False}):
            try:
                atomic_write(out[2], lambda fh: fig.savefig(fh, format="png", dpi=120), mode="wb")
            finally:
                plt.close(fig)
        return out


def _problem(scenario: Scenario, spreads: Sequence[Spread]) -> dict[str, Any]:
    names = [s.field for s in spreads]
    if len(set(names)) != len(names) or not names:
        raise ScenarioError("spreads", names, "at least one property, each named once")
    bounds, dists = [], []
    for s in spreads:
        nominal = getattr(scenario.medium, s.field)
        if nominal is None or nominal <= 0:
            raise ScenarioError(f"medium.{s.field}", nominal, "a positive nominal value to spread around")
        b, d = s.salib(float(nominal))
        bounds.append(b)
        dists.append(d)
    return {"num_vars": len(spreads), "names": names, "bounds": bounds, "dists": dists}


def uncertainty_study(scenario: Scenario, spreads: Sequence[Spread] = ITIS_SPREADS, base_samples: int = 32,
                      seed: int = 0, name: str = "uncertainty") -> tuple[Study, dict[str, Any]]:
    """The study of the Saltelli samples (``base_samples * (len(spreads) + 2)`` runs) and the SALib problem."""
    from SALib.sample import sobol as saltelli

    n = int(check_range("base_samples", base_samples, 2, 2 ** 16))
    if n & (n - 1):
        raise ScenarioError("base_samples", base_samples, "a power of 2 (Sobol' sequence balance)")
    problem = _problem(scenario, spreads)
    X = saltelli.sample(problem, n, calc_second_order=False, seed=seed)
    duration = scenario.protocol.duration_s
    times = tuple(float(t) for t in np.linspace(duration / BAND_TIMES, duration, BAND_TIMES))
    study = Study(name=name, design="list", base=plain_scenario(scenario),
                  parameters={f"medium.{f}": [float(v) for v in X[:, j]] for j, f in enumerate(problem["names"])},
                  times_s=times, seed=seed)
    return study, problem


def _check_folder(out: Path) -> None:
    """``out`` is new, empty, or an earlier uncertainty folder (its samples are a study folder): nothing else is written into."""
    check_not_symlink(out, "--out")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "samples" / STUDY_MARKER).is_file())):
        raise OutputError("--out", str(out), "a new or empty folder, or the folder of an earlier uncertainty run "
                          "(resumed); this one holds other files")


def propagate(scenario: Scenario, spreads: Sequence[Spread] = ITIS_SPREADS, *, base_samples: int = 32,
              measure: str = "width_m", seed: int = 0, out: str | Path | None = None, workers: int = 2,
              scheduler: str | None = None, progress: bool = False) -> UncertaintyResult:
    """Sample the spreads (Saltelli), run every sample (a study), and reduce to a band and Sobol' indices.

    ``out``: a new or empty folder, or that of an earlier run of the same
    propagation (resumed): the samples go to ``out/samples`` (a study
    folder), the band, indices and figure to ``out``.
    """
    from SALib.analyze import sobol

    from .sweep import sweep

    study, problem = uncertainty_study(scenario, spreads, base_samples, seed)
    if out is not None:
        _check_folder(Path(out))
    df = sweep(study, None if out is None else Path(out) / "samples", workers=workers, scheduler=scheduler,
               progress=progress, plots=False)
    failed = df[df["status"] != "ok"]
    if len(failed):
        raise ScenarioError("uncertainty samples", f"{len(failed)} failed runs",
                            f"every sampled run to succeed (first: {failed['error'].iloc[0]})")
    nominal = run(scenario.with_(output_times_s=study.times_s[:-1]))
    band, indices = [], []
    for iso in scenario.isotherms_C:
        for t in study.times_s:
            y = df[measure_column(measure, iso, t)].to_numpy()
            lo, hi = np.percentile(y, BAND_PERCENTILES)
            band.append({"isotherm_C": iso, "time_s": t, "nominal": nominal.at(t, iso, measure),
                         "mean": float(y.mean()), "p5": float(lo), "p95": float(hi)})
        Si = sobol.analyze(problem, df[measure_column(measure, iso)].to_numpy(), calc_second_order=False,
                           seed=seed)
        for j, f in enumerate(problem["names"]):
            indices.append({"isotherm_C": iso, "property": f, "S1": Si["S1"][j], "S1_conf": Si["S1_conf"][j],
                            "ST": Si["ST"][j], "ST_conf": Si["ST_conf"][j]})
    result = UncertaintyResult(measure, pd.DataFrame(band), pd.DataFrame(indices), df, tuple(spreads))
    if out is not None:
        result.write(out)
    return result
