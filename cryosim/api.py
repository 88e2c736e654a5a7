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
    """``"fast"`` when the scene is axisymmetric with a flat tip, else ``"fem"``."""
    if scenario.solver != "auto":
        return scenario.solver
    fem_only = scenario.probe.tip_shape != "flat" or scenario.has_scene
    return "fem" if fem_only else "fast"


def run(scenario: Scenario, output_dir: str | Path | None = None,
        progress: Callable[[float, float], None] | None = None,
        trackers: Iterable["Tracker"] | None = None) -> Results:
    """Run ``scenario`` with the solver it names (or the one that fits).

    ``progress(t_s, t_end_s)`` is called after every accepted step, and so is
    every tracker of ``trackers`` (:mod:`cryosim.post.trackers`, e.g.
    ``CallbackTracker(f)``).
    """
    solver = choose_solver(scenario)
    if solver == "fast":
        from .fast.solver import run_axisymmetric

        return run_axisymmetric(scenario, output_dir=output_dir, progress=progress, trackers=trackers)
    try:
        from .fem import run_fem
    except ImportError as e:
        raise ScenarioError("solver", solver, f"an installed finite-element stack ({e}); "
                            "install cryosim[fem] or use solver = 'fast'") from None
    return run_fem(scenario, output_dir=output_dir, progress=progress, trackers=trackers)
