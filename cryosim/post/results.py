"""Results of a run: ice-ball extent over time, thermocouples, heat and energy.

Every solver feeds a :class:`Recorder` once per accepted time step; the
recorder keeps the series in memory and, when given a folder, appends each
row to ``timeseries.csv`` straight away (flushed), so an interrupted run keeps
everything it had computed. :meth:`Results.save` writes the rest (JSON
summary, NPZ field, plots) through temporary files renamed into place, so no
half-written file is ever left behind.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .files import atomic_write, check_not_symlink, open_stream
from .isotherms import MEASURES, Extent
from ..physics.materials import citations
from ..physics.protocol import Freeze
from ..scenario import Scenario

__all__ = ["Recorder", "Results", "ENERGY_TERMS", "atomic_write"]

#: Cumulative energy terms (J): heat entering through the probe (negative
#: when the probe draws heat), through the far boundary, from perfusion and
#: metabolism, the change of total enthalpy, and what is left over.
ENERGY_TERMS = ("enthalpy_change_J", "probe_J", "far_boundary_J", "perfusion_J", "metabolic_J", "imbalance_J")


def _iso_label(iso: float) -> str:
    return f"{iso:g}C"


@dataclass
class Results:
    """Time series and final state of one run.

    ``extents[iso][measure]`` is an array over ``time_s`` for every isotherm
    (°C) and measure of :data:`cryosim.post.isotherms.MEASURES`.
    """

    scenario: Scenario
    solver: str
    geometry: str
    time_s: np.ndarray
    extents: dict[float, dict[str, np.ndarray]]
    thermocouples_C: dict[str, np.ndarray]
    probe_surface_C: np.ndarray
    probe_heat_W: np.ndarray
    energy: dict[str, np.ndarray]
    final_field: dict[str, np.ndarray] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    # --- queries ---------------------------------------------------------
    def final(self, iso_C: float = 0.0, measure: str = "radius_m") -> float:
        """Value of ``measure`` for isotherm ``iso_C`` at the end of the run."""
        return float(self.extents[float(iso_C)][measure][-1])

    def at(self, t_s: float, iso_C: float = 0.0, measure: str = "radius_m") -> float:
        """``measure`` at time ``t_s`` (linear interpolation between steps)."""
        return float(np.interp(t_s, self.time_s, self.extents[float(iso_C)][measure]))

    def maximum(self, iso_C: float = 0.0, measure: str = "radius_m") -> float:
        return float(np.max(self.extents[float(iso_C)][measure]))

    @property
    def heat_drawn_J(self) -> float:
        """Total heat drawn by the probe (J, positive when extracted)."""
        return -float(self.energy["probe_J"][-1])

    @property
    def energy_imbalance_relative(self) -> float:
        """|imbalance| / |heat drawn| at the end of the run."""
        drawn = abs(self.heat_drawn_J)
        return abs(float(self.energy["imbalance_J"][-1])) / drawn if drawn > 0 else 0.0

    @property
    def release_time_s(self) -> float | None:
        """Time after the last freeze ends until the probe surface is back above 0 °C.

        "Never move the probe before thaw" (seed 002). None if that does not
        happen within the simulated time.
        """
        t_end = self.scenario.protocol.end_of_freezing_s()
        after = np.nonzero((self.time_s > t_end) & (self.probe_surface_C > 0.0))[0]
        if after.size == 0:
            return None
        j = after[0]
        t0, t1 = self.time_s[j - 1], self.time_s[j]
        T0, T1 = self.probe_surface_C[j - 1], self.probe_surface_C[j]
        t_cross = t1 if T1 == T0 else t0 + (0.0 - T0) / (T1 - T0) * (t1 - t0)
        return float(max(t_cross, t_end) - t_end)

    def summary(self) -> dict[str, Any]:
        """Final figures as plain data."""
        final = {
            _iso_label(iso): {m: float(v[-1]) for m, v in series.items()}
            for iso, series in self.extents.items()
        }
        return {
            "scenario": self.scenario.name,
            "solver": self.solver,
            "geometry": self.geometry,
            "end_time_s": float(self.time_s[-1]),
            "final_extent": final,
            "max_extent": {
                _iso_label(iso): {m: float(np.max(v)) for m, v in series.items()}
                for iso, series in self.extents.items()
            },
            "thermocouples_final_C": {k: float(v[-1]) for k, v in self.thermocouples_C.items()},
            "thermocouples_min_C": {k: float(np.min(v)) for k, v in self.thermocouples_C.items()},
            "heat_drawn_J": self.heat_drawn_J,
            "energy_J": {k: float(v[-1]) for k, v in self.energy.items()},
            "energy_imbalance_relative": self.energy_imbalance_relative,
            "release_time_s": self.release_time_s,
            "diagnostics": self.diagnostics,
        }

    def table(self) -> str:
        """The ice-ball table printed at the end of a run (mm, mm^2, mm^3)."""
        head = f"{'isotherm':>9} {'width mm':>9} {'length mm':>10} {'area mm2':>10} {'volume mm3':>11}"
        lines = [head, "-" * len(head)]
        for iso, s in self.extents.items():
            lines.append(
                f"{iso:>7g} C {1e3 * s['width_m'][-1]:9.2f} {1e3 * s['length_m'][-1]:10.2f} "
                f"{1e6 * s['area_m2'][-1]:10.2f} {1e9 * s['volume_m3'][-1]:11.2f}"
            )
        lines.append("")
        lines.append(f"heat drawn by the probe: {self.heat_drawn_J:.1f} J; "
                     f"energy balance closed to {self.energy_imbalance_relative:.1e} of it")
        rel = self.release_time_s
        if rel is not None:
            lines.append(f"probe released (surface > 0 °C) {rel:.1f} s after the last freeze")
        elif any(not isinstance(s, Freeze) for s in self.scenario.protocol.steps):
            lines.append("probe still frozen in at the end of the run")
        for k, v in self.thermocouples_C.items():
            lines.append(f"thermocouple {k}: min {np.min(v):.1f} °C, final {v[-1]:.1f} °C")
        return "\n".join(lines)

    # --- output ------------------------------------------------------------
    def save(self, folder: str | Path, *, plots: bool = True) -> Path:
        """Write ``results.json``, ``timeseries.csv``, ``field.npz`` and plots into ``folder``.

        Every file is written new under a random temporary name and renamed
        into place (:func:`cryosim.post.files.atomic_write`); a symlinked
        ``folder`` is refused and no link inside it is followed.
        """
        out = Path(folder)
        check_not_symlink(out, "output folder")
        out.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        summary["scenario_definition"] = self.scenario.to_dict()
        summary["citations"] = citations(self.scenario.medium)
        atomic_write(out / "results.json", lambda fh: json.dump(summary, fh, indent=2, default=_jsonable))
        atomic_write(out / "timeseries.csv", lambda fh: _write_csv(fh, self))
        if self.final_field:
            atomic_write(out / "field.npz", lambda fh: np.savez_compressed(fh, **self.final_field), mode="wb")
        if plots:
            import matplotlib

            from .plotting import plot_extents, plot_field

            # the scenario name is a label: "$...$" in it must not be parsed as mathtext
            with matplotlib.rc_context({"text.parse_math": False}):
                figures = [("extent_vs_time.png", plot_extents)]
                if self.final_field:
                    figures.append(("isotherm_map.png", plot_field))
                for fname, plot in figures:
                    fig = plot(self)
                    try:
                        atomic_write(out / fname, lambda fh: fig.savefig(fh, format="png", dpi=130), mode="wb")
                    finally:
                        import matplotlib.pyplot as plt

                        plt.close(fig)
        return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _columns(isotherms: tuple[float, ...], tcs: list[str]) -> list[str]:
    cols = ["time_s"]
    for iso in isotherms:
        cols += [f"{m}@{_iso_label(iso)}" for m in MEASURES]
    cols += [f"T_{n}_C" for n in tcs]
    cols += ["probe_surface_C", "probe_heat_W", *ENERGY_TERMS]
    return cols


def _write_csv(fh: TextIO, r: Results) -> None:
    w = csv.writer(fh)
    w.writerow(_columns(tuple(r.extents), list(r.thermocouples_C)))
    for i, t in enumerate(r.time_s):
        row = [t]
        for s in r.extents.values():
            row += [s[m][i] for m in MEASURES]
        row += [v[i] for v in r.thermocouples_C.values()]
        row += [r.probe_surface_C[i], r.probe_heat_W[i]] + [r.energy[k][i] for k in ENERGY_TERMS]
        w.writerow([f"{x:.9g}" for x in row])


class Recorder:
    """Collects one row per accepted time step; optionally streams it to CSV."""

    def __init__(self, scenario: Scenario, solver: str, geometry: str, stream_to: str | Path | None = None) -> None:
        self.scenario = scenario
        self.solver = solver
        self.geometry = geometry
        self.isotherms = tuple(scenario.isotherms_C)
        self.tc_names = [t.name for t in scenario.thermocouples]
        self.rows: list[list[float]] = []
        self._fh: TextIO | None = None
        self._writer: Any = None
        if stream_to is not None:
            self._fh = open_stream(stream_to)  # no symlink followed (post/files.py)
            self._writer = csv.writer(self._fh)
            self._writer.writerow(_columns(self.isotherms, self.tc_names))
            self._fh.flush()

    def record(
        self,
        t_s: float,
        extents: Mapping[float, Extent],
        thermocouples_C: Mapping[str, float],
        probe_surface_C: float,
        probe_heat_W: float,
        energy_J: Mapping[str, float],
    ) -> None:
        row = [float(t_s)]
        for iso in self.isotherms:
            d = extents[iso].as_dict()
            row += [d[m] for m in MEASURES]
        row += [float(thermocouples_C[n]) for n in self.tc_names]
        imbalance = energy_J["enthalpy_change_J"] - sum(
            energy_J[k] for k in ("probe_J", "far_boundary_J", "perfusion_J", "metabolic_J")
        )
        row += [float(probe_surface_C), float(probe_heat_W)]
        row += [float(energy_J[k]) for k in ENERGY_TERMS[:-1]] + [float(imbalance)]
        if not all(math.isfinite(x) for x in row):
            raise FloatingPointError(f"non-finite value recorded at t = {t_s:g} s: {row}")
        self.rows.append(row)
        if self._writer is not None:
            self._writer.writerow([f"{x:.9g}" for x in row])
            self._fh.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finish(self, final_field: dict[str, np.ndarray] | None = None, diagnostics: dict[str, Any] | None = None) -> Results:
        self.close()
        a = np.asarray(self.rows, dtype=float)
        col = 1
        extents: dict[float, dict[str, np.ndarray]] = {}
        for iso in self.isotherms:
            extents[iso] = {m: a[:, col + k] for k, m in enumerate(MEASURES)}
            col += len(MEASURES)
        tcs = {n: a[:, col + k] for k, n in enumerate(self.tc_names)}
        col += len(self.tc_names)
        surface, heat = a[:, col], a[:, col + 1]
        col += 2
        energy = {k: a[:, col + i] for i, k in enumerate(ENERGY_TERMS)}
        return Results(
            scenario=self.scenario, solver=self.solver, geometry=self.geometry, time_s=a[:, 0],
            extents=extents, thermocouples_C=tcs, probe_surface_C=surface, probe_heat_W=heat,
            energy=energy, final_field=final_field or {}, diagnostics=diagnostics or {},
        )
