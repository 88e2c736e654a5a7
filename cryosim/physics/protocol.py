"""Freeze / thaw protocols: an ordered list of typed steps.

A :class:`Freeze` holds the active tip at a temperature (the tip thermistor
reading: constant or a piecewise-linear time series), or couples it to the
coolant through a heat-transfer coefficient, or extracts a given power.
A :class:`Thaw` is passive (cooling off: the probe surface is adiabatic) or
active (warm gas holds the tip at a given temperature). A typical
cryoneurolysis lesion is 2-3 cycles of 2-4 min freezing with about 30 s of
thaw between them (seed 002, "Lésion-type").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from ..checks import ScenarioError, check_choice, check_range

__all__ = ["Freeze", "Thaw", "Protocol"]

MIN_TIP_C, MAX_TIP_C = -196.0, 60.0  # liquid nitrogen to active warming
MAX_STEP_S = 86400.0  # one day: long enough to reach any steady state


#: A freeze must command a tip (or coolant) temperature below this at some
#: point: tissue water does not freeze above 0 °C, so such a step forms no ice.
FREEZE_BELOW_C = 0.0
#: An active thaw holds the tip above this, so the ice at the probe melts.
ACTIVE_THAW_ABOVE_C = 0.0
#: Values of ``Freeze.gas``: the Joule–Thomson gas of a probe design flows.
GAS_STATES = ("on",)
#: Most points in a tip-temperature series (a thermistor log at 1 Hz over 20 min fits).
MAX_SERIES_POINTS = 1200

#: Clinical default lesion (seed 002, "Lésion-type"): 2-3 freezes of 2-4 min separated by 30 s of thaw.
CLINICAL_FREEZES = (2, 3)
CLINICAL_FREEZE_MIN = (2, 3, 4)
CLINICAL_THAW_BETWEEN_S = 30.0
#: Tip temperature of the named clinical protocols: the ice ball is "in the range of -70 °C" near the
#: probe (seed 002; PHYSICS.md §1), the default scenario's tip.
CLINICAL_TIP_C = -70.0
#: Thaw simulated after the last freeze of a named protocol so that the release time can be read (s):
#: assumed long enough for a passive thaw of an 18 G probe (the examples show it is).
CLINICAL_FINAL_THAW_S = 180.0


@dataclass(frozen=True)
class Freeze:
    """Active cooling for ``duration_s``.

    Give exactly one of:

    * ``tip_temperature_C`` : float or sequence of (time_s, temperature_C)
      pairs, time measured from the start of the step (linear in between,
      held constant after the last point);
    * with ``heat_transfer_W_per_m2_K`` set, ``tip_temperature_C`` is the
      coolant temperature seen through that coefficient;
    * ``power_W`` : heat extracted through the active surface (W);
    * ``gas = "on"`` : the probe's Joule–Thomson gas flows; the heat drawn
      follows from the probe design (:mod:`cryosim.physics.device`), so the
      probe must name one (``[probe] design = ...``).
    """

    duration_s: float
    tip_temperature_C: float | tuple[tuple[float, float], ...] | None = None
    heat_transfer_W_per_m2_K: float | None = None
    power_W: float | None = None
    gas: str | None = None

    def __post_init__(self) -> None:
        check_range("freeze.duration_s", self.duration_s, 0.0, MAX_STEP_S, unit="s", low_open=True)
        if self.gas is not None:
            check_choice("freeze.gas", self.gas, GAS_STATES)
            given = [k for k in ("tip_temperature_C", "power_W", "heat_transfer_W_per_m2_K")
                     if getattr(self, k) is not None]
            if given:
                raise ScenarioError(f"freeze.{given[0]}", getattr(self, given[0]),
                                    'nothing else with gas = "on" (the probe design sets the heat drawn)')
            return
        if (self.tip_temperature_C is None) == (self.power_W is None):
            raise ScenarioError("freeze.tip_temperature_C", self.tip_temperature_C,
                                "exactly one of tip_temperature_C, power_W and gas = \"on\"")
        if self.power_W is not None:
            # a freeze draws heat: zero power would be a passive thaw under another name
            check_range("freeze.power_W", self.power_W, 0.0, 500.0, unit="W", low_open=True)
            if self.heat_transfer_W_per_m2_K is not None:
                raise ScenarioError("freeze.heat_transfer_W_per_m2_K", self.heat_transfer_W_per_m2_K,
                                    "no coefficient with power_W")
        if self.heat_transfer_W_per_m2_K is not None:
            check_range("freeze.heat_transfer_W_per_m2_K", self.heat_transfer_W_per_m2_K, 1.0, 1e6,
                        unit="W/m2/K")
        tt = self.tip_temperature_C
        series = "a temperature (°C) or an array of [time_s, temperature_C] pairs"
        if tt is None:
            return
        if isinstance(tt, (bool, str, bytes, Mapping)) or not isinstance(tt, (int, float, Sequence, np.ndarray)):
            raise ScenarioError("freeze.tip_temperature_C", tt, series)
        if not isinstance(tt, (int, float)):
            if len(tt) > MAX_SERIES_POINTS:
                raise ScenarioError("freeze.tip_temperature_C", f"<{len(tt)} points>",
                                    f"at most {MAX_SERIES_POINTS} points")
            for i, pt in enumerate(tt):
                if isinstance(pt, (str, bytes, Mapping)) or not isinstance(pt, (Sequence, np.ndarray)) or len(pt) != 2:
                    raise ScenarioError(f"freeze.tip_temperature_C[{i}]", pt, "a [time_s, temperature_C] pair")
            pts = tuple((check_range(f"freeze.tip_temperature_C[{i}].time_s", a, 0.0, self.duration_s, unit="s"),
                         check_range(f"freeze.tip_temperature_C[{i}].temperature_C", b, MIN_TIP_C, MAX_TIP_C,
                                     unit="°C"))
                        for i, (a, b) in enumerate(tt))
            if not pts:
                raise ScenarioError("freeze.tip_temperature_C", tt, "at least one (time_s, temperature_C) point")
            times = [p[0] for p in pts]
            if any(b <= a for a, b in zip(times, times[1:])):
                raise ScenarioError("freeze.tip_temperature_C", tt, "strictly increasing times")
            object.__setattr__(self, "tip_temperature_C", pts)
        else:
            check_range("freeze.tip_temperature_C", tt, MIN_TIP_C, MAX_TIP_C, unit="°C")
        coldest = min(self.temperatures_C())
        if coldest >= FREEZE_BELOW_C:
            raise ScenarioError("freeze.tip_temperature_C", tt,
                                f"a temperature below {FREEZE_BELOW_C:g} °C at some point: a freeze must cool the "
                                "tissue below its freezing point (use a thaw step to warm)")

    def temperatures_C(self) -> list[float]:
        """Every tip temperature the step can command (for floor checks)."""
        tt = self.tip_temperature_C
        if tt is None:
            return []
        return [float(tt)] if isinstance(tt, (int, float)) else [p[1] for p in tt]

    def tip_temperature_at(self, t_in_step_s: float) -> float:
        """Tip (or coolant) temperature commanded ``t_in_step_s`` into the step (°C); NaN for a power step."""
        tt = self.tip_temperature_C
        if tt is None:
            return math.nan
        if isinstance(tt, (int, float)):
            return float(tt)
        ts, Ts = zip(*tt)  # type: ignore[misc]
        return float(np.interp(t_in_step_s, ts, Ts))

    def breakpoints_s(self) -> list[float]:
        tt = self.tip_temperature_C
        if tt is None or isinstance(tt, (int, float)):
            return []
        return [p[0] for p in tt if 0.0 < p[0] < self.duration_s]


@dataclass(frozen=True)
class Thaw:
    """Cooling off for ``duration_s``: passive (adiabatic tip) or active (held warm)."""

    duration_s: float
    mode: str = "passive"
    temperature_C: float | None = None

    def __post_init__(self) -> None:
        check_range("thaw.duration_s", self.duration_s, 0.0, MAX_STEP_S, unit="s", low_open=True)
        check_choice("thaw.mode", self.mode, ("passive", "active"))
        if self.mode == "active":
            if self.temperature_C is None:
                raise ScenarioError("thaw.temperature_C", None, "a temperature for an active thaw")
            # an active thaw warms the tip above 0 °C so the ice at the probe melts and it can be withdrawn
            check_range("thaw.temperature_C", self.temperature_C, ACTIVE_THAW_ABOVE_C, MAX_TIP_C, unit="°C",
                        low_open=True)
        elif self.temperature_C is not None:
            raise ScenarioError("thaw.temperature_C", self.temperature_C, "no temperature for a passive thaw")

    def breakpoints_s(self) -> list[float]:
        return []


Step = Union[Freeze, Thaw]


@dataclass(frozen=True)
class Protocol:
    """An ordered sequence of freeze and thaw steps."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        if not steps:
            raise ScenarioError("protocol.steps", [], "at least one step")
        for i, s in enumerate(steps):
            if not isinstance(s, (Freeze, Thaw)):
                raise ScenarioError(f"protocol.steps[{i}]", s, "a Freeze or Thaw step")
        object.__setattr__(self, "steps", steps)

    @classmethod
    def single_freeze(cls, duration_s: float, tip_temperature_C: float) -> "Protocol":
        return cls((Freeze(duration_s, tip_temperature_C),))

    @classmethod
    def cycles(cls, n: int, freeze_s: float, tip_temperature_C: float, thaw_s: float,
               thaw_mode: str = "passive", thaw_temperature_C: float | None = None) -> "Protocol":
        """``n`` freeze steps separated by thaws (no thaw after the last freeze)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise ScenarioError("protocol.cycles", n, "a whole number of freezes in [1, 10]")
        check_range("protocol.cycles", n, 1, 10)
        steps: list[Step] = []
        for i in range(int(n)):
            steps.append(Freeze(freeze_s, tip_temperature_C))
            if i < n - 1:
                steps.append(Thaw(thaw_s, thaw_mode, thaw_temperature_C))
        return cls(tuple(steps))

    @classmethod
    def named(cls, name: str, *, tip_temperature_C: float = CLINICAL_TIP_C, thaw_mode: str = "passive",
              thaw_temperature_C: float | None = None, final_thaw_s: float = CLINICAL_FINAL_THAW_S) -> "Protocol":
        """A named protocol: ``"clinical-<n>x<m>min"``, n freezes (2 or 3) of m minutes (2, 3 or 4).

        The seed's clinical default (seed 002): freezes at ``tip_temperature_C``
        separated by :data:`CLINICAL_THAW_BETWEEN_S` of thaw (``thaw_mode``,
        ``thaw_temperature_C`` as :class:`Thaw`), and a last thaw of
        ``final_thaw_s`` (same mode) after the last freeze, for the release time.
        """
        names = cls.names()
        check_choice("protocol name", name, names)
        n, m = (int(x) for x in name.removeprefix("clinical-").removesuffix("min").split("x"))
        steps = cls.cycles(n, 60.0 * m, tip_temperature_C, CLINICAL_THAW_BETWEEN_S, thaw_mode, thaw_temperature_C).steps
        return cls(steps + (Thaw(final_thaw_s, thaw_mode, thaw_temperature_C),))

    @staticmethod
    def names() -> list[str]:
        """Names accepted by :meth:`named`."""
        return [f"clinical-{n}x{m}min" for n in CLINICAL_FREEZES for m in CLINICAL_FREEZE_MIN]

    @property
    def duration_s(self) -> float:
        return float(sum(s.duration_s for s in self.steps))

    def step_starts_s(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum([s.duration_s for s in self.steps])])

    def breakpoints_s(self) -> np.ndarray:
        """Every instant where the boundary condition changes slope or kind (s)."""
        starts = self.step_starts_s()
        pts = list(starts)
        for t0, s in zip(starts, self.steps):
            pts += [t0 + b for b in s.breakpoints_s()]
        return np.unique(np.asarray(pts))

    def step_at(self, t_s: float) -> tuple[Step, float]:
        """The step in force at time ``t_s`` (the step that ends at ``t_s`` counts) and the time into it."""
        starts = self.step_starts_s()
        i = int(np.searchsorted(starts, t_s, side="left")) - 1
        i = min(max(i, 0), len(self.steps) - 1)
        return self.steps[i], float(t_s - starts[i])

    def freeze_windows_s(self) -> list[tuple[float, float, float]]:
        """Per freeze step, in order: (start, end, end of its cycle) (s).

        A cycle runs from a freeze's start to the next freeze's start, or to the end of the protocol.
        """
        starts = self.step_starts_s()
        idx = [i for i, s in enumerate(self.steps) if isinstance(s, Freeze)]
        # consecutive freeze steps (a stepped tip temperature) belong to one cycle
        groups: list[list[int]] = []
        for i in idx:
            if groups and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        out = []
        for k, g in enumerate(groups):
            nxt = float(starts[groups[k + 1][0]]) if k + 1 < len(groups) else float(starts[-1])
            out.append((float(starts[g[0]]), float(starts[g[-1] + 1]), nxt))
        return out

    def end_of_freezing_s(self) -> float:
        """End time of the last freeze step (s)."""
        starts = self.step_starts_s()
        ends = [starts[i + 1] for i, s in enumerate(self.steps) if isinstance(s, Freeze)]
        return float(ends[-1]) if ends else 0.0
