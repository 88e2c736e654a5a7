"""Pick a solver for a scenario and run it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import ScenarioError
from .post.results import Results
from .scenario import Scenario

if TYPE_CHECKING:
    from .post.trackers import Tracker

__all__ = ["run", "choose_solver"]


def choose_solver(scenario: Scenario) -> str:
    """``numerics.solver`` when set; else ``"fast"`` when the scene is axisymmetric with a flat tip, else ``"fem"``."""
    n = scenario.numerics
    if n.solver != "auto":
        if n.solver == "fast":
            # the fast solver has one medium, one probe and a flat end: what it cannot represent is refused,
            # never dropped (a bone plate, a vessel or a second probe left out gives a wrong ice ball)
            if n.force_3d:
                raise ScenarioError("numerics.force_3d", True, "false with solver = 'fast' (3D needs the FE solver)")
            for key, value in (("bone", scenario.bone), ("vessels", scenario.vessels),
                               ("extra_probes", scenario.extra_probes)):
                if value:
                    raise ScenarioError("numerics.solver", "fast",
                                        f"'fem' or 'auto' for a scenario with {key} (the fast solver has one medium "
                                        "and one probe: it would leave them out)")
            if scenario.probe.tip_shape != "flat":
                raise ScenarioError("numerics.solver", "fast",
                                    f"'fem' or 'auto' for a {scenario.probe.tip_shape!r} tip (the fast solver "
                                    "represents a flat end only)")
        return n.solver
    fem_only = scenario.probe.tip_shape != "flat" or scenario.has_scene or n.force_3d
    return "fem" if fem_only else "fast"


def _check_run_arguments(scenario: object, output_dir: object, progress: object, trackers: object) -> tuple:
    """Refuse misuse of :func:`run` with a TypeError naming the argument, the value and what is expected."""
    import os

    from .post.view import Tracker

    if not isinstance(scenario, Scenario):
        hint = (" (a scenario file: cryosim.load_scenario(path) reads it)" if isinstance(scenario, (str, os.PathLike))
                else "")
        raise TypeError(f"cryosim.run: scenario = {scenario!r} is not allowed: expected a cryosim.Scenario{hint}")
    if output_dir is not None and not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"cryosim.run: output_dir = {output_dir!r} is not allowed: expected a folder path or None")
    if progress is not None and not callable(progress):
        raise TypeError(f"cryosim.run: progress = {progress!r} is not allowed: expected a function "
                        "progress(t_s, t_end_s) or None")
    if trackers is None:
        return ()
    if isinstance(trackers, (str, bytes, Tracker)) or not hasattr(trackers, "__iter__"):
        raise TypeError(f"cryosim.run: trackers = {trackers!r} is not allowed: expected a list of trackers "
                        "(cryosim.post.trackers; a function goes in CallbackTracker(f))")
    out = tuple(trackers)
    for i, t in enumerate(out):
        if not isinstance(t, Tracker):
            raise TypeError(f"cryosim.run: trackers[{i}] = {t!r} is not allowed: expected a Tracker "
                            "(cryosim.post.trackers; a function goes in CallbackTracker(f))")
    return out


def run(scenario: Scenario, output_dir: str | Path | None = None,
        progress: Callable[[float, float], None] | None = None,
        trackers: Iterable["Tracker"] | None = None, **numerics: object) -> Results:
    """Run ``scenario`` with the solver it names (or the one that fits).

    ``progress(t_s, t_end_s)`` is called after every accepted step, and so is
    every tracker of ``trackers`` (:mod:`cryosim.post.trackers`, e.g.
    ``CallbackTracker(f)``). Keyword arguments override fields of
    ``scenario.numerics`` (``cryosim.run(s, solver="fem", resolution=2, output_times_s=(60, 120))``).

    Before anything is meshed the run's work is estimated
    (:func:`cryosim.numerics.budget.check_work`) and a run beyond the memory or
    computing-time limit (``numerics.max_memory_GiB``, ``numerics.max_work_s``)
    is refused with a :class:`~cryosim.checks.ScenarioError` naming the key
    that raises the work; the estimate is kept in ``diagnostics["estimate"]``.
    """
    from .numerics.budget import check_work

    trackers = _check_run_arguments(scenario, output_dir, progress, trackers)
    if numerics:
        scenario = scenario.with_(**numerics)
    solver = choose_solver(scenario)
    estimate = check_work(scenario, solver)
    if output_dir is not None and (Path(output_dir) / "timeseries.csv").exists():
        from .post.files import OutputError

        # refused before any work: the stream would otherwise meet it after the meshing
        raise OutputError("output_dir", str(output_dir), "a folder without an earlier time series "
                          "(it holds timeseries.csv; choose another folder)")
    if solver == "fast":
        from .fast.solver import run_axisymmetric

        results = run_axisymmetric(scenario, output_dir=output_dir, progress=progress, trackers=trackers)
    else:
        try:
            from .fem import run_fem
        except ImportError as e:
            raise ScenarioError("solver", solver, f"an installed finite-element stack ({e}); "
                                "install cryosim[fem] or use solver = 'fast'") from None
        results = run_fem(scenario, output_dir=output_dir, progress=progress, trackers=trackers)
    results.diagnostics["estimate"] = estimate.as_dict()
    return results
