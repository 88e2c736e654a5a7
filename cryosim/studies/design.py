"""Inverse design: the least treatment that brings a nerve below a temperature.

A nerve at ``nerve_distance_m`` from the probe axis, level with the middle
of the active tip (a virtual :class:`~cryosim.scenario.Thermocouple` there),
must get below ``threshold_C`` (e.g. -20 °C) at some time of the protocol,
all its cycles included. Three questions, each on a measure that grows
monotonically with the knob, solved by bracketing with
:func:`scipy.optimize.brentq` (continuous knobs) or bisection over the
ISO 9626 gauges (the probe):

* :func:`shortest_freeze`: the shortest duration of every freeze step;
* :func:`smallest_probe`: the thinnest needle (highest gauge);
* :func:`warmest_tip`: the least cooling, i.e. the warmest tip temperature of every freeze step.

The answer is rounded to the safe side (a longer freeze, a colder tip) at a
stated resolution and re-run: the reported margin ``threshold_C - nerve_min_C``
is then >= 0, and the next less aggressive setting is reported as well. The
answer's setting is then re-run on a grid twice as fine (:func:`grid_check`):
an answer the finer grid does not confirm is printed with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from scipy.optimize import brentq

from ..api import run
from ..checks import ScenarioError, check_range
from ..physics.probe import ISO_9626_OUTER_DIAMETER_MM, Probe
from ..physics.protocol import MIN_TIP_C, Freeze, Protocol
from ..scenario import Scenario, Thermocouple

__all__ = [
    "DURATION_RESOLUTION_S",
    "GRID_CHECK_FACTOR",
    "MAX_FREEZE_S",
    "TIP_RESOLUTION_C",
    "DesignAnswer",
    "DesignError",
    "grid_check",
    "nerve_min_C",
    "shortest_freeze",
    "smallest_probe",
    "warmest_tip",
]

#: Answers are rounded up to whole seconds of freezing and whole degrees of tip
#: temperature: what a console sets, and finer than the model's accuracy.
DURATION_RESOLUTION_S = 1.0
TIP_RESOLUTION_C = 1.0
#: Longest freeze step searched (s): 10 min, beyond any single cryoneurolysis
#: freeze (2-4 min cycles, seed 002).
MAX_FREEZE_S = 600.0
#: Most runs spent settling the rounded answer (the measure is rough at the
#: resolution's scale only: a couple of runs each way in practice).
MAX_ROUNDING_RUNS = 10
#: Name of the virtual thermocouple placed at the nerve.
NERVE = "design_nerve"


class DesignError(ScenarioError):
    """No setting in the searched range brings the nerve below the threshold."""


@dataclass(frozen=True)
class DesignAnswer:
    """The least aggressive setting that reaches the nerve, and what it gives.

    ``margin_K`` = ``threshold_C - nerve_min_C`` (>= 0: reached);
    ``previous_value`` is the next less aggressive setting at the answer's
    resolution and ``previous_nerve_min_C`` the nerve's lowest temperature with it (above the threshold).
    """

    knob: str
    value: float
    unit: str
    threshold_C: float
    nerve_min_C: float
    margin_K: float
    previous_value: float | None
    previous_nerve_min_C: float | None
    runs: int
    scenario: Scenario
    #: the grid check: the answer's setting re-run at ``check_resolution`` (twice the scenario's, at most 16)
    check_resolution: float | None = None
    check_nerve_min_C: float | None = None

    @property
    def grid_converged(self) -> bool | None:
        """Whether the finer grid agrees that the answer reaches the nerve (None: not checked)."""
        if self.check_nerve_min_C is None:
            return None
        return self.check_nerve_min_C <= self.threshold_C

    def __str__(self) -> str:
        prev = ("" if self.previous_value is None else
                f"; {self.previous_value:g} {self.unit} does not")
        text = (f"{self.knob}: {self.value:g} {self.unit} brings the nerve to {self.nerve_min_C:.1f} °C "
                f"(threshold {self.threshold_C:g} °C{prev}; {self.runs} runs at resolution "
                f"{self.scenario.numerics.resolution:g})")
        if self.check_nerve_min_C is not None:
            shift = self.check_nerve_min_C - self.nerve_min_C
            text += (f"\ngrid check: at resolution {self.check_resolution:g} the same setting brings the nerve to "
                     f"{self.check_nerve_min_C:.1f} °C ({shift:+.1f} K)")
            if not self.grid_converged:
                text += (f"\nWARNING: not grid-converged: the finer grid does not reach {self.threshold_C:g} °C with "
                         f"{self.value:g} {self.unit}; the answer depends on the mesh more than on its margin: rerun "
                         f"with numerics.resolution = {self.check_resolution:g} or finer")
        return text


def _with_nerve(scenario: Scenario, nerve_distance_m: float) -> Scenario:
    check_range("nerve_distance_m", nerve_distance_m, scenario.probe.radius_m, 0.05, unit="m", low_open=True)
    tc = Thermocouple(NERVE, nerve_distance_m, 0.5 * scenario.probe.active_length_m)
    return scenario.with_(thermocouples=tuple(t for t in scenario.thermocouples if t.name != NERVE) + (tc,))


def nerve_min_C(scenario: Scenario, nerve_distance_m: float) -> float:
    """Lowest temperature (°C) over the run at the nerve (distance from the axis, mid-tip)."""
    return float(run(_with_nerve(scenario, nerve_distance_m)).thermocouples_C[NERVE].min())


def _freezes(scenario: Scenario, **changes: float) -> Scenario:
    steps = tuple(replace(s, **changes) if isinstance(s, Freeze) else s for s in scenario.protocol.steps)
    return scenario.with_(protocol=Protocol(steps))


def _continuous(knob: str, unit: str, make: Callable[[float], Scenario], nerve_distance_m: float,
                threshold_C: float, weak: float, strong: float, step: float) -> DesignAnswer:
    """Solve nerve_min(x) = threshold between ``weak`` (does not reach) and ``strong``; round towards ``strong``."""
    runs = 0

    def excess(x: float) -> float:  # > 0: the nerve stays above the threshold
        nonlocal runs
        runs += 1
        return nerve_min_C(make(x), nerve_distance_m) - threshold_C

    if excess(strong) > 0:
        raise DesignError(knob, strong, f"a setting that brings the nerve {1e3 * nerve_distance_m:g} mm from the "
                          f"axis below {threshold_C:g} °C: even {strong:g} {unit} does not")
    if excess(weak) <= 0:
        raise DesignError(knob, weak, f"a search range whose weak end does not already reach {threshold_C:g} °C "
                          "(the nerve is reached with any setting)")
    root = brentq(excess, weak, strong, xtol=0.25 * step)
    direction = math.copysign(1.0, strong - weak)
    # Round to the safe side; then, since the adaptive steps make the measure slightly rough
    # (a few hundredths of a kelvin), move until ``value`` reaches and the setting before it does not.
    value = (math.ceil(root / step) if direction > 0 else math.floor(root / step)) * step
    runs_before = runs
    nerve = excess(value) + threshold_C
    while nerve > threshold_C and (value - strong) * direction < 0:
        value += direction * step
        nerve = excess(value) + threshold_C
    previous, prev_nerve = None, None
    while (value - direction * step - weak) * direction > 0 and runs - runs_before < MAX_ROUNDING_RUNS:
        previous = value - direction * step
        prev_nerve = excess(previous) + threshold_C
        if prev_nerve > threshold_C:
            break
        value, nerve, previous, prev_nerve = previous, prev_nerve, None, None
    return DesignAnswer(knob, value, unit, threshold_C, nerve, threshold_C - nerve, previous, prev_nerve, runs,
                        make(value))


#: The grid check re-runs the answer at this many times the scenario's resolution (capped at the largest allowed).
GRID_CHECK_FACTOR = 2.0
MAX_RESOLUTION = 16.0


def grid_check(answer: DesignAnswer, nerve_distance_m: float) -> DesignAnswer:
    """The answer with its setting re-run on a finer grid (:data:`GRID_CHECK_FACTOR` times the resolution): a
    design answer found on one mesh is reported with what a finer one says (issue 19: the same question gave
    309 s at resolution 0.35 and 553 s at 2, each printed to the second, with no warning)."""
    res = answer.scenario.numerics.resolution
    finer = min(MAX_RESOLUTION, GRID_CHECK_FACTOR * res)
    if finer <= res:
        return answer
    T = nerve_min_C(answer.scenario.with_(resolution=finer), nerve_distance_m)
    return replace(answer, check_resolution=finer, check_nerve_min_C=T, runs=answer.runs + 1)


def shortest_freeze(scenario: Scenario, nerve_distance_m: float, threshold_C: float = -20.0,
                    max_duration_s: float = MAX_FREEZE_S, check_grid: bool = True) -> DesignAnswer:
    """Shortest duration (s) of every freeze step (thaws as given) that brings the nerve below ``threshold_C``."""
    check_range("max_duration_s", max_duration_s, 2 * DURATION_RESOLUTION_S, 86400.0, unit="s")
    a = _continuous("freeze duration", "s", lambda d: _freezes(scenario, duration_s=float(d)), nerve_distance_m,
                    threshold_C, DURATION_RESOLUTION_S, max_duration_s, DURATION_RESOLUTION_S)
    return grid_check(a, nerve_distance_m) if check_grid else a


def warmest_tip(scenario: Scenario, nerve_distance_m: float, threshold_C: float = -20.0,
                check_grid: bool = True) -> DesignAnswer:
    """Warmest tip temperature (°C) of every freeze step that brings the nerve below ``threshold_C``.

    The coldest tip searched is the coolant's floor (or -196 °C without a
    coolant); freeze steps must hold a constant tip temperature.
    """
    for i, s in enumerate(scenario.protocol.steps):
        if isinstance(s, Freeze) and not (isinstance(s.tip_temperature_C, (int, float))
                                          and s.heat_transfer_W_per_m2_K is None):
            raise ScenarioError(f"protocol[{i}].tip_temperature_C", s.tip_temperature_C,
                                "a constant tip temperature in every freeze step to search the warmest one")
    floor = scenario.probe.min_tip_temperature_C
    coldest = MIN_TIP_C if floor is None else floor
    a = _continuous("tip temperature", "°C", lambda T: _freezes(scenario, tip_temperature_C=float(T)),
                    nerve_distance_m, threshold_C, threshold_C, coldest, TIP_RESOLUTION_C)
    return grid_check(a, nerve_distance_m) if check_grid else a


def smallest_probe(scenario: Scenario, nerve_distance_m: float, threshold_C: float = -20.0,
                   check_grid: bool = True) -> DesignAnswer:
    """Thinnest ISO 9626 gauge (same active length and coolant) that brings the nerve below ``threshold_C``.

    Bisection over the gauges by diameter: the ice grows with the probe's diameter.
    """
    probe = scenario.probe
    # thinnest first; only needles that leave the nerve outside the probe
    gauges = sorted((g for g, d_mm in ISO_9626_OUTER_DIAMETER_MM.items() if 0.5e-3 * d_mm < nerve_distance_m),
                    key=lambda g: ISO_9626_OUTER_DIAMETER_MM[g])
    if not gauges:
        raise DesignError("nerve_distance_m", nerve_distance_m, "a nerve outside the thickest needle")

    def make(g: int) -> Scenario:
        return scenario.with_(probe=Probe.from_gauge(g, probe.active_length_m, shaft_length_m=probe.shaft_length_m,
                                                     tip_shape=probe.tip_shape, coolant=probe.coolant,
                                                     shaft_heat_transfer_W_per_m2_K=
                                                     probe.shaft_heat_transfer_W_per_m2_K))

    cache: dict[int, float] = {}

    def nerve(k: int) -> float:
        if k not in cache:
            cache[k] = nerve_min_C(make(gauges[k]), nerve_distance_m)
        return cache[k]

    lo, hi = 0, len(gauges) - 1  # thinnest, thickest
    if nerve(hi) > threshold_C:
        raise DesignError("probe.gauge", gauges[hi], f"a needle that brings the nerve below {threshold_C:g} °C: "
                          f"even {gauges[hi]} G ({nerve(hi):.2f} °C) does not")
    if nerve(lo) <= threshold_C:
        hi = lo
    while hi - lo > 1:  # invariant: gauges[lo] does not reach, gauges[hi] does
        mid = (lo + hi) // 2
        if nerve(mid) <= threshold_C:
            hi = mid
        else:
            lo = mid
    prev = None if hi == 0 else gauges[hi - 1]
    a = DesignAnswer("gauge", gauges[hi], "G", threshold_C, nerve(hi), threshold_C - nerve(hi), prev,
                     None if prev is None else nerve(hi - 1), len(cache), make(gauges[hi]))
    return grid_check(a, nerve_distance_m) if check_grid else a
