"""One point of a study: build its scenario, run it, reduce the results to one table row.

:func:`compute_point` never raises for a point that fails (a refused value,
a solver that does not converge, any other exception in the run): it returns
a row with ``status = "error"`` and the message, so the study goes on.
Everything it takes and returns is plain data, so it travels to worker
processes and Dask workers as is.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import __version__
from ..api import run
from ..post.isotherms import MEASURES
from ..scenario import Scenario, default_scenario
from .paths import scenario_at

__all__ = ["WARM_UP_DURATION_S", "WARM_UP_RESOLUTION", "compute_point", "compute_points", "failed_row",
           "measure_column", "plan_point", "warm_up"]

#: The warm-up run compiles or loads the fast solver's numba kernels once per
#: worker process, so no point's CPU time includes it: the coarsest allowed
#: grid and a 5 s freeze, the cheapest run that goes through every kernel.
WARM_UP_RESOLUTION = 0.25
WARM_UP_DURATION_S = 5.0


def measure_column(measure: str, iso_C: float, t_s: float | None = None) -> str:
    """Column name of a measure: ``width_m@-20C`` (largest over the run) or ``width_m@-20C@60s`` (at 60 s)."""
    name = f"{measure}@{float(iso_C):g}C"
    return name if t_s is None else f"{name}@{float(t_s):g}s"


def warm_up() -> None:
    """Run a tiny scenario so the numba kernels are compiled (or loaded from cache) in this process."""
    s = default_scenario()
    run(s.with_(protocol=type(s.protocol).single_freeze(WARM_UP_DURATION_S, -70.0), thermocouples=()),
        resolution=WARM_UP_RESOLUTION)


def _row(scenario: Scenario, results: Any, times_s: tuple[float, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    t_end = float(results.time_s[-1])
    for iso in scenario.isotherms_C:
        for m in MEASURES:
            row[measure_column(m, iso)] = results.maximum(iso, m)
            for t in times_s:
                # a time past the end of this point's run has no value (not the last one, held)
                row[measure_column(m, iso, t)] = results.at(t, iso, m) if t <= t_end * (1 + 1e-12) else math.nan
    freezing = results.time_s <= scenario.protocol.end_of_freezing_s() * (1 + 1e-12)
    drawn_W = results.probe_heat_W  # heat drawn by the probe (W, positive when it cools)
    row["tip_temperature_min_C"] = float(np.min(results.probe_surface_C))
    row["cooling_power_peak_W"] = float(np.max(drawn_W[freezing]))
    row["cooling_power_end_of_freeze_W"] = float(drawn_W[freezing][-1])
    row["heat_drawn_J"] = results.heat_drawn_J
    for name, series in results.thermocouples_C.items():
        row[f"T_min_C[{name}]"] = float(np.min(series))
    row["end_time_s"] = t_end
    row["solver"] = results.solver
    row["steps"] = int(results.diagnostics.get("steps", len(results.time_s) - 1))
    return row


def _point_scenario(base: Mapping[str, Any], assignment: Mapping[str, Any], times_s: tuple[float, ...]) -> Scenario:
    scenario = scenario_at(base, assignment)
    exact = tuple(t for t in times_s if t < scenario.protocol.duration_s)
    if exact:  # the steps land on the requested times
        scenario = scenario.with_(output_times_s=tuple(scenario.numerics.output_times_s) + exact)
    return scenario


def plan_point(base: Mapping[str, Any], assignment: Mapping[str, Any],
               times_s: tuple[float, ...] = ()) -> tuple[str, Hashable]:
    """(why the point cannot run, "" when it can; its *mesh group*), found without running it: its scenario is
    built and validated, its solver chosen and its work estimated (:func:`cryosim.numerics.budget.check_work`), as
    :func:`cryosim.api.run` does before meshing. Milliseconds a point.

    The mesh group of a fast-solver point is its grid's key (:func:`cryosim.fast.solver.grid_key`): points of
    one group share one grid, which a worker meshes once (its per-process cache) when it gets them together.
    A finite-element point, or one that cannot run, has group None (no grid shared)."""
    from ..api import choose_solver
    from ..numerics.budget import check_work

    try:
        scenario = _point_scenario(base, assignment, times_s)
        solver = choose_solver(scenario)
        check_work(scenario, solver)
    except Exception as e:  # noqa: BLE001 - the reason is the answer
        return f"{type(e).__name__}: {e}", None
    group: Hashable = None
    if solver == "fast":
        from ..fast.solver import grid_key

        try:
            group = grid_key(scenario)
        except Exception:  # noqa: BLE001 - a scenario without an axisymmetric grid (1D) shares none
            group = None
    return "", group


def compute_point(index: int, base: Mapping[str, Any], assignment: Mapping[str, Any],
                  times_s: tuple[float, ...] = ()) -> dict[str, Any]:
    """The table row of point ``index``: its inputs, results (or error), CPU and wall time, where it ran."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    row: dict[str, Any] = {"index": int(index), **assignment}
    try:
        scenario = _point_scenario(base, assignment, times_s)
        results = run(scenario)
        row.update(_row(scenario, results, tuple(times_s)))
        row["status"], row["error"] = "ok", ""
    except Exception as e:  # noqa: BLE001 - a failed point is recorded, and the study goes on
        row["status"], row["error"] = "error", f"{type(e).__name__}: {e}"
    row["cpu_s"] = time.process_time() - cpu0
    row["wall_s"] = time.perf_counter() - wall0
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    row["cryosim_version"] = __version__
    return row


def compute_points(tasks: Sequence[tuple[int, Mapping[str, Any], Mapping[str, Any], tuple[float, ...]]]
                   ) -> list[dict[str, Any]]:
    """The rows of a chunk of points ``(index, base, assignment, times_s)``, computed in turn
    (:func:`compute_point`): one task, one process wake-up and one message for the chunk."""
    return [compute_point(*t) for t in tasks]


def failed_row(index: int, assignment: Mapping[str, Any], message: str) -> dict[str, Any]:
    """The row of a point whose worker was lost (the point never returned a row of its own)."""
    return {"index": int(index), **assignment, "status": "error", "error": message, "cpu_s": math.nan,
            "wall_s": math.nan, "worker": "", "cryosim_version": __version__}
