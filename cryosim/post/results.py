"""Results of a run: ice-ball extent over time, thermocouples, heat and energy.

Every solver feeds the trackers of :mod:`cryosim.post.trackers` once per
accepted time step; they keep the series in memory and, when given a folder,
append each row to ``timeseries.csv`` straight away (flushed), so an
interrupted run keeps everything it had computed, and assemble the
:class:`Results`. :meth:`Results.save` writes the rest (JSON summary, NPZ
field, plots) through temporary files renamed into place, so no half-written
file is ever left behind.

The final field (:attr:`Results.final_field`) has the same keys whatever
solver ran: ``points_m`` ((n, 2) r, z; (n, 3) x, y, z; or (n, 1) positions
in 1D, m), ``cells`` (triangles, tetrahedra or segments), ``temperature_C``
(per node, °C) and ``geometry`` (a 0-d string array), plus solver-specific
extras (cell data of the fast solver).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .files import OutputError, atomic_write, check_not_symlink, to_jsonable
from .isotherms import MEASURES
from ..physics.materials import citations
from ..physics.protocol import Freeze
from ..scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["Results", "ENERGY_KEYS", "ENERGY_TERMS", "atomic_write", "iso_label"]

#: The heat terms (J) a solver integrates over the steps (into the medium: through the probe, the far
#: boundary, from perfusion and metabolism), in the order of its stage rates (both solvers).
ENERGY_KEYS = ("probe_J", "far_boundary_J", "perfusion_J", "metabolic_J")
#: Cumulative energy terms (J): heat entering through the probe (negative
#: when the probe draws heat), through the far boundary, from perfusion and
#: metabolism, the change of total stored energy (the medium's enthalpy plus,
#: for a probe wall with a heat capacity, the wall's sensible heat: then the
#: probe term is the heat drawn from the wall by the coolant), and what is left over.
ENERGY_TERMS = ("enthalpy_change_J",) + ENERGY_KEYS + ("imbalance_J",)


#: Window (s) over which the table averages the initial cooling power of a tip held at a temperature: the
#: instantaneous peak after the step change is unbounded (the flux of a suddenly cooled surface goes as t^-1/2,
#: Carslaw & Jaeger 1959 §2.5), so it is a property of the first time step, not of the probe.
INITIAL_POWER_WINDOW_S = 10.0


def _unsigned_zero(x: float, digits: int) -> float:
    """``x``, or 0.0 where it rounds to zero at ``digits`` decimals (so a table never prints "-0.00")."""
    return 0.0 if abs(x) < 0.5 * 10.0 ** -digits else float(x)


def iso_label(iso_C: float) -> str:
    """Short name of an isotherm in column and key names: ``-20C``."""
    return f"{iso_C:g}C"


@dataclass
class Results:
    """Time series and final state of one run.

    ``extents[iso][measure]`` is an array over ``time_s`` for every isotherm
    (°C) and measure of :data:`cryosim.post.isotherms.MEASURES`;
    ``is_output`` marks the rows at requested output times
    (:attr:`cryosim.scenario.Numerics.output_times_s`). ``device``: the
    series of a Joule-Thomson device (:data:`cryosim.post.trackers.DEVICE_COLUMNS`),
    empty when the probe ran without one. ``nerve_doses``: what each nerve
    of the scenario received (:attr:`nerves` summarises them).
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
    is_output: np.ndarray | None = None
    device: dict[str, np.ndarray] = field(default_factory=dict)
    #: the dose of each tracked nerve (:class:`cryosim.post.nerve.NerveDose`), by name
    nerve_doses: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.is_output is None:
            self.is_output = np.zeros(len(self.time_s), bool)

    # --- queries ---------------------------------------------------------
    def series(self, iso_C: float = 0.0, measure: str = "radius_m") -> np.ndarray:
        """``measure`` of isotherm ``iso_C`` at every recorded time; an isotherm or measure the run did not
        track is refused naming what it tracked."""
        from ..checks import ScenarioError

        try:
            iso = float(iso_C)
        except (TypeError, ValueError):
            raise ScenarioError("isotherm", iso_C, f"one of the tracked isotherms {list(self.extents)} °C") from None
        if iso not in self.extents:
            raise ScenarioError("isotherm", iso_C, f"one of the tracked isotherms {list(self.extents)} °C "
                                "(scenario.isotherms_C)")
        if measure not in self.extents[iso]:
            raise ScenarioError("measure", measure, f"one of {sorted(self.extents[iso])}")
        return self.extents[iso][measure]

    def final(self, iso_C: float = 0.0, measure: str = "radius_m") -> float:
        """Value of ``measure`` for isotherm ``iso_C`` at the end of the run."""
        return float(self.series(iso_C, measure)[-1])

    def at(self, t_s: float, iso_C: float = 0.0, measure: str = "radius_m") -> float:
        """``measure`` at time ``t_s``: the recorded value at a recorded time (every requested
        output time is one), else linear interpolation between steps."""
        values = self.series(iso_C, measure)
        j = int(np.searchsorted(self.time_s, t_s))
        if j < len(self.time_s) and self.time_s[j] == t_s:
            return float(values[j])
        return float(np.interp(t_s, self.time_s, values))

    def maximum(self, iso_C: float = 0.0, measure: str = "radius_m") -> float:
        """Largest value of ``measure`` for isotherm ``iso_C`` over the run."""
        return float(np.max(self.series(iso_C, measure)))

    @property
    def heat_drawn_J(self) -> float:
        """Total heat drawn by the probe (J, positive when extracted)."""
        return -float(self.energy["probe_J"][-1])

    @property
    def energy_imbalance_relative(self) -> float:
        """|imbalance| / |heat drawn| at the end of the run."""
        drawn = abs(self.heat_drawn_J)
        return abs(float(self.energy["imbalance_J"][-1])) / drawn if drawn > 0 else 0.0

    def _release_after_s(self, t_end_s: float, t_limit_s: float) -> float | None:
        """Time from ``t_end_s`` until the probe surface is back above 0 °C, if before ``t_limit_s`` (s)."""
        after = np.nonzero((self.time_s > t_end_s) & (self.time_s <= t_limit_s) & (self.probe_surface_C > 0.0))[0]
        if after.size == 0:
            return None
        j = after[0]
        t0, t1 = self.time_s[j - 1], self.time_s[j]
        T0, T1 = self.probe_surface_C[j - 1], self.probe_surface_C[j]
        t_cross = t1 if T1 == T0 else t0 + (0.0 - T0) / (T1 - T0) * (t1 - t0)
        return float(max(t_cross, t_end_s) - t_end_s)

    @property
    def release_time_s(self) -> float | None:
        """Time after the last freeze ends until the probe surface is back above 0 °C.

        "Never move the probe before thaw" (seed 002). The probe surface
        temperature is the coldest point of the active surface
        (:attr:`probe_surface_C`), so this is when the whole active surface is
        back above 0 °C. None if that does not happen within the simulated time.
        """
        return self._release_after_s(self.scenario.protocol.end_of_freezing_s(), float(self.time_s[-1]))

    def release_times_s(self) -> list[float | None]:
        """Per freeze cycle: time after the freeze ends until the whole active surface is back above 0 °C (s).

        Counted within the cycle (before the next freeze starts, or before the
        end of the run): None when the probe is still frozen in when the next
        freeze starts (a 30 s passive thaw usually does not release it).
        """
        return [self._release_after_s(end, limit) for _, end, limit in self.scenario.protocol.freeze_windows_s()]

    @property
    def nerves(self) -> dict[str, dict[str, Any]]:
        """Summary of each nerve's dose (coldest temperature, grade, lesion lengths, times, rates), by name."""
        return {k: d.summary() for k, d in self.nerve_doses.items()}

    def per_cycle(self) -> "pd.DataFrame":
        """One row per freeze cycle (a freeze and the thaw that follows it).

        Columns: ``cycle`` (1, 2, ...), ``freeze_end_s``, ``cycle_end_s``;
        ``<measure>@<iso>`` (width, length, volume; m, m3) at the end of the
        freeze; ``release_s`` (:meth:`release_times_s`, NaN: still frozen in
        when the cycle ends); per nerve ``nerve_<name>_coldest_C``,
        ``nerve_<name>_lesion_m`` (at or below its axonotmesis threshold) and
        ``nerve_<name>_frozen_m`` (at or below 0 °C), so far (up to the end
        of the cycle); and what each cycle added to the previous one:
        ``added_volume_m3@<iso>``, ``added_nerve_<name>_lesion_m``.
        """
        import pandas as pd

        from ..physics.injury import ICE_EDGE_C

        rows = []
        windows = self.scenario.protocol.freeze_windows_s()
        for k, ((_, end, limit), rel) in enumerate(zip(windows, self.release_times_s())):
            row: dict[str, Any] = {"cycle": k + 1, "freeze_end_s": end, "cycle_end_s": min(limit, float(self.time_s[-1]))}
            for iso in self.extents:
                for m in ("width_m", "length_m", "volume_m3"):
                    row[f"{m}@{iso_label(iso)}"] = self.at(end, iso, m) if end <= self.time_s[-1] else np.nan
            row["release_s"] = np.nan if rel is None else rel
            for name, d in self.nerve_doses.items():
                row[f"nerve_{name}_coldest_C"] = d.coldest_C(limit)
                row[f"nerve_{name}_lesion_m"] = d.lesion_length_m(None, limit)
                row[f"nerve_{name}_frozen_m"] = d.lesion_length_m(ICE_EDGE_C, limit)
            rows.append(row)
        df = pd.DataFrame(rows)
        for iso in self.extents:
            c = f"volume_m3@{iso_label(iso)}"
            df[f"added_{c}"] = df[c].diff().fillna(df[c])
        for name in self.nerve_doses:
            c = f"nerve_{name}_lesion_m"
            df[f"added_{c}"] = df[c].diff().fillna(df[c])
        return df

    def summary(self) -> dict[str, Any]:
        """Final figures as plain data (with a device: its final series values, coldest mean tip, peak power)."""
        final = {
            iso_label(iso): {m: float(v[-1]) for m, v in series.items()}
            for iso, series in self.extents.items()
        }
        out = {
            "scenario": self.scenario.name,
            "solver": self.solver,
            "geometry": self.geometry,
            "end_time_s": float(self.time_s[-1]),
            "final_extent": final,
            "max_extent": {
                iso_label(iso): {m: float(np.max(v)) for m, v in series.items()}
                for iso, series in self.extents.items()
            },
            "thermocouples_final_C": {k: float(v[-1]) for k, v in self.thermocouples_C.items()},
            "thermocouples_min_C": {k: float(np.min(v)) for k, v in self.thermocouples_C.items()},
            "heat_drawn_J": self.heat_drawn_J,
            "energy_J": {k: float(v[-1]) for k, v in self.energy.items()},
            "energy_imbalance_relative": self.energy_imbalance_relative,
            "release_time_s": self.release_time_s,
            "release_times_s": self.release_times_s(),
            "nerves": self.nerves,
            "diagnostics": self.diagnostics,
        }
        if self.device:
            d = self.device
            out["device"] = {"final": {k: float(v[-1]) for k, v in d.items()},
                             "coldest_tip_mean_C": float(np.min(d["tip_mean_C"])),
                             "peak_cooling_power_W": float(np.max(d["cooling_power_W"]))}
        return out

    def table(self) -> str:
        """The ice-ball table printed at the end of a run (mm, mm^2, mm^3)."""
        head = (f"{'isotherm':>9} {'width mm':>9} {'length mm':>10} {'r mid-tip mm':>13} {'below tip mm':>13} "
                 f"{'area mm2':>10} {'volume mm3':>11}")

        def row(iso: float, s: dict[str, np.ndarray], pick: Any) -> str:
            nan = np.full(1, np.nan)
            v = {m: float(pick(s.get(m, nan))) for m in ("width_m", "length_m", "radius_mid_tip_m",
                                                         "depth_below_tip_m", "area_m2", "volume_m3")}
            return (f"{iso:>7g} C {1e3 * v['width_m']:9.2f} {1e3 * v['length_m']:10.2f} "
                    f"{1e3 * v['radius_mid_tip_m']:13.2f} {1e3 * v['depth_below_tip_m']:13.2f} "
                    f"{1e6 * v['area_m2']:10.2f} {1e9 * v['volume_m3']:11.2f}")

        lines = [f"ice ball at the end of the run (t = {self.time_s[-1]:g} s):", head, "-" * len(head)]
        lines += [row(iso, s, lambda a: a[-1]) for iso, s in self.extents.items()]
        # after a thaw (or any shrinking) the end is not the largest ice ball: print that too, labelled
        edge = next(iter(self.extents.values()))
        vol = edge["volume_m3"]
        if vol.size and np.max(vol) > vol[-1] * (1 + 5e-3):
            t_max = float(self.time_s[int(np.argmax(vol))])
            lines.append(f"largest over the run (each measure's maximum; the {next(iter(self.extents)):g} °C volume "
                         f"peaked at t = {t_max:.0f} s):")
            lines += [row(iso, s, np.nanmax) for iso, s in self.extents.items()]
        lines.append("")
        for msg in self.diagnostics.get("suspect", []):
            lines.append(f"SUSPECT: {msg}")
        lines.append(f"heat drawn by the probe: {self.heat_drawn_J:.1f} J; "
                     f"energy balance closed to {self.energy_imbalance_relative:.1e} of it")
        rel = self.release_time_s
        if rel is not None:
            lines.append(f"probe released (surface > 0 °C) {rel:.1f} s after the last freeze")
        elif any(not isinstance(s, Freeze) for s in self.scenario.protocol.steps):
            lines.append("probe still frozen in at the end of the run")
        per = self.release_times_s()
        if len(per) > 1:
            lines.append("release after each freeze: " + ", ".join(
                "still frozen in" if x is None else f"{x:.1f} s" for x in per))
        lines += [d.line() for d in self.nerve_doses.values()]
        for k, v in self.thermocouples_C.items():
            lines.append(f"thermocouple {k}: min {np.min(v):.1f} °C, final {v[-1]:.1f} °C")
        lines += self._device_lines()
        return "\n".join(lines)

    def _device_lines(self) -> list[str]:
        """The probe's figures for :meth:`table`: the device's, or the surface temperature and cooling power reached."""
        d = self.device
        if not d:  # a prescribed-temperature, convective or power-limited tip: what its surface reached
            heat = self.probe_heat_W
            # not the peak: after a step change of the tip temperature the heat flux is unbounded (~ t^-1/2), so
            # the first step's power depends on the first step's length and differs between solvers
            t_avg = min(INITIAL_POWER_WINDOW_S, float(self.time_s[-1]))
            q0 = -float(np.interp(t_avg, self.time_s, self.energy["probe_J"])) / t_avg if t_avg > 0 else float("nan")
            return [f"probe surface: coldest {np.min(self.probe_surface_C):.1f} °C, {self.probe_surface_C[-1]:.1f} °C "
                    f"at the end; cooling power {heat[-1]:.2f} W at the end, {q0:.2f} W on average over the first "
                    f"{t_avg:g} s"]
        out = [f"tip surface: mean {d['tip_mean_C'][-1]:.1f} °C, coldest {np.min(d['tip_min_C']):.1f} °C "
               f"(coldest mean {np.min(d['tip_mean_C']):.1f} °C); thermistor {d['thermistor_C'][-1]:.1f} °C at the end",
               f"cooling power: {_unsigned_zero(d['cooling_power_W'][-1], 2):.2f} W at the end, "
               f"peak {np.max(d['cooling_power_W']):.2f} W; "
               f"gas used {1e3 * d['gas_used_kg'][-1]:.2f} g"]
        needles = int(self.diagnostics.get("device_needles", 1))
        if needles > 1:
            out.append(f"device of {needles} needles: the {self.solver} solver represents one needle (no interaction "
                       f"between the needles); ice ball and cooling power are one needle's, gas used the handpiece's")
        return out

    # --- tables and figures -------------------------------------------------
    def to_frame(self) -> "pd.DataFrame":
        """Extents as a tidy pandas DataFrame: one row per time and isotherm.

        Columns ``time_s``, ``isotherm_C``, ``is_output`` and every measure of
        :data:`cryosim.post.isotherms.MEASURES` (SI units).
        """
        import pandas as pd

        n = len(self.time_s)
        parts = [pd.DataFrame({"time_s": self.time_s, "isotherm_C": np.full(n, iso), "is_output": self.is_output,
                               **{m: s[m] for m in MEASURES}})
                 for iso, s in self.extents.items()]
        return pd.concat(parts, ignore_index=True).sort_values(["time_s", "isotherm_C"], ascending=[True, False],
                                                               ignore_index=True)

    def timeseries(self) -> "pd.DataFrame":
        """Per-step scalars as a pandas DataFrame: ``time_s``, ``is_output``, ``probe_surface_C``,
        ``probe_heat_W``, the energy terms (J), a ``T_<name>_C`` column per thermocouple and the device's series."""
        import pandas as pd

        return pd.DataFrame({"time_s": self.time_s, "is_output": self.is_output,
                             "probe_surface_C": self.probe_surface_C, "probe_heat_W": self.probe_heat_W,
                             **{k: self.energy[k] for k in ENERGY_TERMS},
                             **{f"T_{k}_C": v for k, v in self.thermocouples_C.items()}, **self.device})

    def plot(self, path: str | Path | None = None) -> "Figure":
        """Width, length and volume of each isotherm against time; saved to ``path`` if given."""
        from .plotting import plot_extents

        return plot_extents(self.time_s, self.extents, f"{self.scenario.name}: {self.solver} solver, {self.geometry}",
                            path)

    def plot_field(self, path: str | Path | None = None) -> "Figure":
        """The final temperature section with its isotherms and the probe; saved to ``path`` if given."""
        from .plotting import plot_field

        warmest = max(self.extents)
        return plot_field(self.final_field, self.scenario, t_s=float(self.time_s[-1]),
                          reach_m=self.maximum(warmest, "radius_m"), path=path)

    # --- output ------------------------------------------------------------
    def _write_vtu(self, path: Path) -> None:
        """The final P1 field as a VTK unstructured grid (``field.vtu``: ParaView, pyvista and meshio read it):
        triangles in the (r, z) half-plane (x = r, y = z) or tetrahedra in 3D, lengths in m, point data
        ``temperature_C``, written with meshio; a 1D field (segments) has none."""
        from .series import field_mesh, write_vtu

        f = self.final_field
        pts, cells = np.asarray(f.get("points_m")), np.asarray(f.get("cells"))
        if pts.ndim != 2 or cells.ndim != 2 or cells.shape[1] not in (3, 4):
            return
        write_vtu(path, field_mesh(pts, cells, f["temperature_C"]))

    def save(self, folder: str | Path, *, plots: bool = True, overwrite: bool = False) -> Path:
        """Write ``results.json``, ``timeseries.csv``, ``field.npz``, ``field.vtu`` and plots into ``folder``.

        A folder that already holds a saved result (a ``results.json``) is
        refused unless ``overwrite`` (an :class:`~cryosim.post.files.OutputError`
        naming it): an earlier result is never replaced silently. Every file is
        written new under a random temporary name and renamed into place
        (:func:`cryosim.post.files.atomic_write`); a symlinked ``folder`` is
        refused and no link inside it is followed.
        """
        out = Path(folder)
        check_not_symlink(out, "output folder")
        earlier = out / "results.json"
        if not overwrite and earlier.is_file() and not earlier.is_symlink():
            raise OutputError("output folder", str(out), "a folder without an earlier result (it holds results.json; "
                              "save(..., overwrite=True) replaces it)")
        out.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        summary["scenario_definition"] = self.scenario.to_dict()
        summary["citations"] = citations(self.scenario.medium)
        atomic_write(out / "results.json", lambda fh: json.dump(summary, fh, indent=2, default=to_jsonable))
        atomic_write(out / "timeseries.csv", lambda fh: _write_csv(fh, self))
        if self.final_field:
            atomic_write(out / "field.npz", lambda fh: np.savez_compressed(fh, **self.final_field), mode="wb")
            self._write_vtu(out / "field.vtu")
        if plots:
            import matplotlib
            import matplotlib.pyplot as plt

            # the scenario name is a label: "$...$" in it must not be parsed as mathtext
            with matplotlib.rc_context({"text.parse_math": False}):
                figures = [("extent_vs_time.png", self.plot)]
                if self.final_field and self.geometry in ("axisymmetric", "3d"):
                    figures.append(("isotherm_map.png", self.plot_field))
                for fname, plot in figures:
                    fig = plot()
                    try:
                        atomic_write(out / fname, lambda fh: fig.savefig(fh, format="png", dpi=130), mode="wb")
                    finally:
                        plt.close(fig)
        return out




def _columns(isotherms: tuple[float, ...], tcs: list[str], device: list[str]) -> list[str]:
    cols = ["time_s"]
    for iso in isotherms:
        cols += [f"{m}@{iso_label(iso)}" for m in MEASURES]
    cols += [f"T_{n}_C" for n in tcs]
    cols += ["probe_surface_C", "probe_heat_W", *ENERGY_TERMS, *device, "is_output"]
    return cols


def _write_csv(fh: TextIO, r: Results) -> None:
    w = csv.writer(fh)
    w.writerow(_columns(tuple(r.extents), list(r.thermocouples_C), list(r.device)))
    for i, t in enumerate(r.time_s):
        row = [t]
        for s in r.extents.values():
            row += [s[m][i] for m in MEASURES]
        row += [v[i] for v in r.thermocouples_C.values()]
        row += [r.probe_surface_C[i], r.probe_heat_W[i]] + [r.energy[k][i] for k in ENERGY_TERMS]
        row += [v[i] for v in r.device.values()]
        row += [float(r.is_output[i])]  # type: ignore[index]
        w.writerow([f"{x:.9g}" for x in row])
