"""Trackers: what is measured at every accepted time step, written once for every solver.

(The idea comes from py-pde's ``pde.trackers``.) A solver describes its
current state by a :class:`StepView` -- time, the nodal P1 temperature field,
the probe surface temperature and heat, the cumulative energy terms -- and
hands it to a :class:`TrackerList`: ``start(view)`` with the initial state,
``update(view)`` after every accepted step, ``finish(view)`` at the end,
which returns the :class:`~cryosim.post.results.Results`. A new measure is
thus a new :class:`Tracker`, whatever solver runs.

The standard trackers of a run, in the order they are called: a
:class:`ExtentTracker`, a :class:`ThermocoupleTracker`, a
:class:`ProbeTracker`, an :class:`EnergyTracker` and, for a Joule-Thomson
device, a :class:`DeviceTracker` (whose rows make the results), a
:class:`~cryosim.post.nerve.NerveTracker` (the scenario's nerves), a :class:`CSVStreamTracker` when the run has an output folder (one
row per step in ``timeseries.csv``, flushed, so an interrupted run keeps
what it computed) and a :class:`~cryosim.post.series.FieldSeriesTracker`
(the field at t = 0, every protocol step's end and the output times:
``temperature.pvd``), the user's trackers (``cryosim.run(scenario,
trackers=[...])``), and a :class:`ProgressTracker`.

Under MPI the nodal field of a view holds the rank's own cells (and the
nodes they use); trackers reduce over ``view.comm``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..scenario import Scenario, Thermocouple
from .files import open_stream
from .guards import GuardTracker, check_final, limits_for
from .isotherms import MEASURES, extent_of
from .nerve import NerveTracker
from .results import ENERGY_TERMS, Results, iso_label
from .series import FieldSeriesTracker, frame_times_s
from .view import GEOMETRIES, INSIDE_TOL, NodalField, StepView, Tracker, barycentric

__all__ = [
    "NodalField", "StepView", "Tracker", "SeriesTracker", "ExtentTracker", "ThermocoupleTracker", "ProbeTracker",
    "EnergyTracker", "DeviceTracker", "DEVICE_COLUMNS", "device_extras", "device_stats", "ProgressTracker", "CallbackTracker", "CSVStreamTracker", "TrackerList", "GEOMETRIES",
]

class SeriesTracker(Tracker):
    """A tracker that records named scalars (:attr:`columns`) at the start and after every step."""

    columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.rows: list[list[float]] = []

    def measure(self, view: StepView) -> list[float]:  # pragma: no cover - interface
        """Values of :attr:`columns` for ``view``."""
        raise NotImplementedError

    def start(self, view: StepView) -> None:
        self.rows.append([float(x) for x in self.measure(view)])

    def update(self, view: StepView) -> None:
        self.rows.append([float(x) for x in self.measure(view)])

    def last(self) -> list[float]:
        """The latest row."""
        return self.rows[-1]

    def series(self) -> dict[str, np.ndarray]:
        """Each column over the recorded steps."""
        a = np.asarray(self.rows, dtype=float).reshape(len(self.rows), len(self.columns))
        return {c: a[:, k] for k, c in enumerate(self.columns)}


class ExtentTracker(SeriesTracker):
    """Every measure of :data:`~cryosim.post.isotherms.MEASURES` for each isotherm (°C).

    ``radius_mid_tip_m`` is taken at height ``z_mid_m`` (m; NaN when None).
    Columns ``<measure>@<iso>C``.
    """

    def __init__(self, isotherms_C: Iterable[float], z_mid_m: float | None = None) -> None:
        super().__init__()
        self.isotherms_C = tuple(float(x) for x in isotherms_C)
        self.z_mid_m = z_mid_m
        self.columns = tuple(f"{m}@{iso_label(iso)}" for iso in self.isotherms_C for m in MEASURES)

    def measure(self, view: StepView) -> list[float]:
        f = view.nodal_field()
        row: list[float] = []
        for iso in self.isotherms_C:
            d = extent_of(f.points_m, f.cells, f.temperature_C, iso, view.geometry, z_mid_m=self.z_mid_m,
                          comm=view.comm).as_dict()
            row += [d[m] for m in MEASURES]
        return row

    def extents(self) -> dict[float, dict[str, np.ndarray]]:
        """``extents[iso][measure]`` over the recorded steps."""
        s = self.series()
        return {iso: {m: s[f"{m}@{iso_label(iso)}"] for m in MEASURES} for iso in self.isotherms_C}


class ThermocoupleTracker(SeriesTracker):
    """Virtual thermocouples: the P1 field interpolated at fixed points (°C), columns ``T_<name>_C``.

    A thermocouple at (r, z) is read at (r, z) on (r, z) meshes, at
    (x, y, z) = (r, 0, z) in 3D and at x = r in 1D. Each point is located
    once, from the first view, in the first cell that holds it; under MPI
    the lowest rank holding it reads it. A point outside the medium is
    refused with a :class:`~cryosim.checks.ScenarioError`.
    """

    def __init__(self, thermocouples: Sequence[Thermocouple]) -> None:
        super().__init__()
        self.thermocouples = tuple(thermocouples)
        self.columns = tuple(f"T_{t.name}_C" for t in self.thermocouples)
        self._nodes: np.ndarray | None = None  # (k, d+1) node indices
        self._weights = np.zeros((0, 0))
        self._mine = np.zeros(0, bool)

    def _locate(self, view: StepView) -> None:
        f = view.nodal_field()
        X, C = np.asarray(f.points_m, float), np.asarray(f.cells, np.int64)
        n, dim = len(self.thermocouples), X.shape[1]
        self._nodes = np.zeros((n, 2 if dim == 1 else dim + 1), np.int64)
        self._weights = np.zeros(self._nodes.shape)
        found = np.zeros(n, bool)
        for k, tc in enumerate(self.thermocouples):
            p = np.array({1: (tc.r_m,), 2: (tc.r_m, tc.z_m), 3: (tc.r_m, 0.0, tc.z_m)}[dim])
            if dim == 1:
                x = X[:, 0]
                if x[0] <= p[0] <= x[-1]:
                    j = int(np.clip(np.searchsorted(x, p[0]), 1, len(x) - 1))
                    s = (p[0] - x[j - 1]) / (x[j] - x[j - 1])
                    self._nodes[k], self._weights[k], found[k] = (j - 1, j), (1.0 - s, s), True
                continue
            lam = barycentric(X[C], p) if len(C) else np.zeros((0, dim + 1))
            inside = np.nonzero(lam.min(axis=1) >= -INSIDE_TOL)[0]
            if inside.size:
                e = inside[0]
                self._nodes[k], self._weights[k], found[k] = C[e], lam[e], True
        rank = 0 if view.comm is None else view.comm.rank
        owner = np.where(found, rank, np.iinfo(np.int64).max)
        if view.comm is not None and view.comm.size > 1:
            owner = np.min(np.array(view.comm.allgather(owner)), axis=0)
        self._mine = owner == rank
        missing = owner == np.iinfo(np.int64).max
        if missing.any():
            from ..checks import ScenarioError

            tc = self.thermocouples[int(np.nonzero(missing)[0][0])]
            raise ScenarioError(f"thermocouples[{tc.name}]", (tc.r_m, tc.z_m),
                                "a point inside the medium (not in a probe, a vessel or beyond the far boundary)")

    def measure(self, view: StepView) -> list[float]:
        if not self.thermocouples:
            return []
        if self._nodes is None:
            self._locate(view)
        T = np.asarray(view.nodal_field().temperature_C, float)
        vals = np.where(self._mine, np.sum(self._weights * T[self._nodes], axis=1), 0.0)
        if view.comm is not None and view.comm.size > 1:
            vals = np.sum(np.array(view.comm.allgather(vals)), axis=0)
        return vals.tolist()


class ProbeTracker(SeriesTracker):
    """Coldest active-surface temperature (°C) and heat drawn by the probe (W, positive when extracted)."""

    columns = ("probe_surface_C", "probe_heat_W")

    def measure(self, view: StepView) -> list[float]:
        return [view.probe_surface_C, view.probe_heat_W]


class EnergyTracker(SeriesTracker):
    """Cumulative energy terms (J) and what the balance leaves over (:data:`~cryosim.post.results.ENERGY_TERMS`)."""

    columns = ENERGY_TERMS

    def measure(self, view: StepView) -> list[float]:
        e = view.energy_J
        imbalance = e["enthalpy_change_J"] - sum(e[k] for k in ("probe_J", "far_boundary_J", "perfusion_J",
                                                                "metabolic_J"))
        return [e[k] for k in ENERGY_TERMS[:-1]] + [imbalance]


#: Time series of a Joule-Thomson device (:class:`cryosim.physics.boundary.DeviceTip`), read from
#: :attr:`StepView.extras`: area-mean and coldest active-surface temperature (°C), the thermistor
#: reading (°C, :meth:`~cryosim.physics.boundary.DeviceTip.thermistor_C` of the mean surface
#: temperature and mean flux), the cooling power (heat drawn through the active surface, W), the gas
#: used by the handpiece since the start (kg) and the change of the probe wall's sensible heat (J).
DEVICE_COLUMNS = ("tip_mean_C", "tip_min_C", "thermistor_C", "cooling_power_W", "gas_used_kg", "probe_wall_J")


def device_extras(device: Any, t_s: float, tip_mean_C: float, tip_min_C: float, active_heat_W: float,
                  active_area_m2: float, probe_wall_J: float) -> dict[str, float]:
    """A Joule-Thomson device's series (:data:`DEVICE_COLUMNS`) at ``t_s``; empty without a device.

    ``device``: the active surface's :class:`~cryosim.physics.boundary.DeviceTip` (or None);
    ``active_heat_W``: the heat into the medium through the active surface (< 0 while cooling);
    ``probe_wall_J``: the change of the probe wall's sensible heat since the start.
    """
    if device is None:
        return {}
    return {"tip_mean_C": tip_mean_C, "tip_min_C": tip_min_C,
            "thermistor_C": device.thermistor_C(tip_mean_C, active_heat_W / active_area_m2),
            "cooling_power_W": -active_heat_W, "gas_used_kg": device.gas_used_kg(t_s),
            "probe_wall_J": probe_wall_J}


def device_stats(device: Any, wall_heat_capacity_J_per_K: float) -> dict[str, Any]:
    """The run diagnostics of a Joule-Thomson device (its design, needles, coldest tip, the probe wall's
    heat capacity); empty without a device."""
    if device is None:
        return {}
    design = device.device.design
    return {"device": design.name, "device_needles": design.needles, "device_floor_C": device.device.coldest_C,
            "probe_wall_heat_capacity_J_per_K": wall_heat_capacity_J_per_K}


class DeviceTracker(SeriesTracker):
    """A Joule-Thomson device's time series (:data:`DEVICE_COLUMNS`), from the view's ``extras``."""

    columns = DEVICE_COLUMNS

    def measure(self, view: StepView) -> list[float]:
        return [view.extras[c] for c in self.columns]


class ProgressTracker(Tracker):
    """Calls ``progress(t_s, t_end_s)`` after every accepted step."""

    def __init__(self, progress: Callable[[float, float], None]) -> None:
        self.progress = progress

    def update(self, view: StepView) -> None:
        self.progress(view.t_s, view.t_end_s)


class CallbackTracker(Tracker):
    """Calls ``f(view)`` after every accepted step (not for the initial state)."""

    def __init__(self, f: Callable[[StepView], Any]) -> None:
        self.f = f

    def update(self, view: StepView) -> None:
        self.f(view)


class CSVStreamTracker(Tracker):
    """Appends one row per step to a CSV file, flushed at once, so an interrupted run keeps what it computed.

    Columns: ``time_s``, the columns of every tracker of ``sources`` (which
    must be called before this one), ``is_output`` (1 at a requested output
    time). The file is opened by :meth:`start`.
    """

    def __init__(self, path: str | Path, sources: Sequence[SeriesTracker]) -> None:
        self.path = Path(path)
        self.sources = tuple(sources)
        self._fh: TextIO | None = None
        self._writer: Any = None

    @property
    def columns(self) -> list[str]:
        return ["time_s", *(c for s in self.sources for c in s.columns), "is_output"]

    def start(self, view: StepView) -> None:
        self._fh = open_stream(self.path)  # no symlink followed (post/files.py)
        self._writer = csv.writer(self._fh)
        self._writer.writerow(self.columns)
        self.update(view)

    def update(self, view: StepView) -> None:
        row = [view.t_s, *(x for s in self.sources for x in s.last()), float(view.is_output)]
        self._writer.writerow([f"{x:.9g}" for x in row])
        self._fh.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _gather(comm: Any, f: NodalField) -> NodalField:
    """The whole field on every rank (nodes on partition boundaries appear once per rank)."""
    if comm is None or comm.size == 1:
        return f
    parts = comm.allgather((np.asarray(f.points_m), np.asarray(f.cells), np.asarray(f.temperature_C)))
    offs = np.cumsum([0] + [p[0].shape[0] for p in parts[:-1]])
    return NodalField(np.vstack([p[0] for p in parts]), np.vstack([p[1] + o for p, o in zip(parts, offs)]),
                      np.concatenate([p[2] for p in parts]))


class TrackerList:
    """The trackers of one run, called by the solver; :meth:`finish` returns the results.

    ``scenario``: a :class:`~cryosim.scenario.Scenario` (or a 1D problem with
    ``isotherms_C``, ``thermocouples``, ``numerics`` and ``protocol``);
    ``stream_to``: path of the CSV time series (None: none); ``trackers``:
    the user's extra trackers; ``progress``: a ``progress(t_s, t_end_s)``
    callable; ``fields_to``: folder of the field series (a
    :class:`~cryosim.post.series.FieldSeriesTracker`: ``temperature.pvd`` and its
    VTU frames; None: none; under MPI give it on every rank); ``device``: record a :class:`DeviceTracker` (the solver's views
    then carry its extras). ``radius_mid_tip_m`` is measured at the middle of the active
    tip of a scenario's probe. A row whose time is a requested output time is
    marked ``is_output`` even when the step controller did not flag it (the
    end of the run).
    """

    def __init__(self, scenario: Any, solver: str, geometry: str, *, stream_to: str | Path | None = None,
                 trackers: Iterable[Tracker] = (), progress: Callable[[float, float], None] | None = None,
                 device: bool = False, fields_to: str | Path | None = None) -> None:
        if geometry not in GEOMETRIES:
            raise ValueError(f"geometry {geometry!r}: not one of {GEOMETRIES}")
        self.scenario, self.solver, self.geometry = scenario, solver, geometry
        z_mid = 0.5 * scenario.probe.active_length_m if isinstance(scenario, Scenario) else None
        self.extent = ExtentTracker(scenario.isotherms_C, z_mid)
        self.thermocouples = ThermocoupleTracker(scenario.thermocouples)
        self.probe = ProbeTracker()
        self.energy = EnergyTracker()
        self.device = DeviceTracker() if device else None

        self.nerves = NerveTracker(getattr(scenario, "nerves", ()))
        self.series: tuple[SeriesTracker, ...] = (self.extent, self.thermocouples, self.probe, self.energy,
                                                  *((self.device,) if self.device else ()))
        chain: list[Tracker] = [*self.series, self.nerves]
        if stream_to is not None:
            chain.append(CSVStreamTracker(stream_to, self.series))
        self.fields: FieldSeriesTracker | None = None
        if fields_to is not None and isinstance(scenario, Scenario):
            self.fields = FieldSeriesTracker(fields_to, frame_times_s(scenario))
            chain.append(self.fields)
        chain += list(trackers)
        if progress is not None:
            chain.append(ProgressTracker(progress))
        # physical guards last: a breaching step is in the streamed series before the run stops on it
        self.guard = GuardTracker(limits_for(scenario), getattr(scenario.numerics, "guards", "stop"),
                                  temperature_mode="flag" if solver == "fem" else None)
        chain.append(self.guard)
        self.trackers = tuple(chain)
        self._outputs = frozenset(float(t) for t in scenario.numerics.output_times_s)
        self.time_s: list[float] = []
        self.is_output: list[bool] = []

    def _mark(self, view: StepView) -> StepView:
        if not view.is_output and float(view.t_s) in self._outputs:
            view = replace(view, is_output=True)
        self.time_s.append(float(view.t_s))
        self.is_output.append(bool(view.is_output))
        return view

    def _check_finite(self, view: StepView) -> None:
        row = [x for s in self.series for x in s.last()]
        if not all(math.isfinite(x) for x in row):
            raise FloatingPointError(f"non-finite value recorded at t = {view.t_s:g} s: {row}")

    def start(self, view: StepView) -> None:
        """Record the initial state."""
        view = self._mark(view)
        for k, tr in enumerate(self.trackers):
            tr.start(view)
            if k == len(self.series) - 1:
                self._check_finite(view)

    def update(self, view: StepView) -> None:
        """Record an accepted step."""
        view = self._mark(view)
        for k, tr in enumerate(self.trackers):
            tr.update(view)
            if k == len(self.series) - 1:
                self._check_finite(view)

    def record(self, view: StepView) -> None:
        """:meth:`start` for the first view, :meth:`update` for the next ones."""
        (self.update if self.time_s else self.start)(view)

    def close(self) -> None:
        """Close every tracker (files); safe to call more than once."""
        for tr in self.trackers:
            tr.close()

    def finish(self, view: StepView, diagnostics: dict[str, Any] | None = None,
               extras: Mapping[str, np.ndarray] | None = None) -> Results:
        """Tell every tracker the run ended and assemble the :class:`Results`.

        ``view``: the final state (already recorded by :meth:`update`);
        ``extras``: solver-specific arrays added to the final field.
        """
        diagnostics = {} if diagnostics is None else diagnostics
        try:
            for tr in self.trackers:
                tr.finish(view)
            check_final(self.guard, diagnostics)
        finally:
            self.close()
        f = _gather(view.comm, view.nodal_field())
        final = {"points_m": np.asarray(f.points_m, float), "cells": np.asarray(f.cells, np.int64),
                 "temperature_C": np.array(f.temperature_C, dtype=float), "geometry": np.array(self.geometry),
                 **(extras or {})}
        surface, energy = self.probe.series(), self.energy.series()
        tcs = self.thermocouples.series()
        return Results(
            scenario=self.scenario, solver=self.solver, geometry=self.geometry, time_s=np.asarray(self.time_s),
            extents=self.extent.extents(),
            thermocouples_C={t.name: tcs[c] for t, c in zip(self.thermocouples.thermocouples,
                                                             self.thermocouples.columns)},
            probe_surface_C=surface["probe_surface_C"], probe_heat_W=surface["probe_heat_W"], energy=energy,
            final_field=final, diagnostics=diagnostics, is_output=np.asarray(self.is_output, bool),
            device=self.device.series() if self.device else {}, nerve_doses=self.nerves.doses(),
        )
