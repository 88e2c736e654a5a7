"""Physical guards: a run that breaks a bound it cannot break is stopped (or flagged), never passed off.

Checked after every accepted step by :class:`GuardTracker` (a tracker, so it
works the same for both solvers), and at the end of the run by
:func:`check_final`:

* **temperature bounds**: no temperature below the coldest one the boundary
  conditions can impose (prescribed or coolant temperatures, a cooler's
  floor, the initial state) nor above the warmest (initial state, arterial
  blood, active thaw, vessel blood, plus the heating that metabolism can add
  where no perfusion removes it), beyond :data:`TEMPERATURE_TOLERANCE_K` or
  :data:`TEMPERATURE_TOLERANCE_OF_SPAN` of the span between them, the larger;
* **energy balance**: the cumulative imbalance within
  :data:`ENERGY_IMBALANCE_RELATIVE` of the largest energy term;
* **far field** (end of run): the disturbance next to the held far boundary
  below :data:`FAR_FIELD_DISTURBANCE_K` -- else the medium is too small and
  the far boundary feeds the ice ball.

``numerics.guards = "stop"`` (default) raises :class:`PhysicalGuardError`;
``"flag"`` records each breach in ``Results.diagnostics["suspect"]`` and
marks the printed table. The temperature bounds are a discrete maximum
principle that the fast solver's scheme obeys (vertex-centred finite volumes
on a Delaunay mesh, implicit steps), so there a breach is an error; P1 finite
elements on tetrahedra do not obey one (obtuse angles give positive
off-diagonal stiffness): right after a tip jump the 3D default scenario
overshoots by 3.7 K near the tip, a transient discretisation artefact. For the
finite-element solver a temperature breach is therefore always *flagged*
(recorded with its size, the result marked SUSPECT), never a stop; its
energy and far-field guards follow ``numerics.guards``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PhysicalGuardError", "GuardLimits", "far_field_disturbance_K", "GuardTracker", "limits_for", "check_final",
           "TEMPERATURE_TOLERANCE_K", "ENERGY_IMBALANCE_RELATIVE", "FAR_FIELD_DISTURBANCE_K"]

#: Undershoot / overshoot allowed (K): issue 11 asks the solvers to stay within 0.5 K of their bounds; the
#: allowance grows to :data:`TEMPERATURE_TOLERANCE_OF_SPAN` of the temperature span of the problem, because P1
#: finite elements on tetrahedra that are not all acute are not monotone: right after a tip jump of 90 K the
#: 3D meshes of validation case bone3d overshoot the bath temperature by up to 1.3 K (1.4 % of the jump) for
#: a few steps -- a discretisation artefact that decays. The undershoots issue 11 found reached 11 % of the
#: span and are caught. The worst excursion of every run is recorded (``temperature_excursion_K``).
TEMPERATURE_TOLERANCE_K = 0.5
TEMPERATURE_TOLERANCE_OF_SPAN = 0.03
#: Cumulative energy imbalance allowed, relative to the largest energy term: the bound the README states
#: (issue 11). Both solvers close the balance to their Newton tolerance (1e-8 K of heat capacity per
#: node): ~1e-11 of the heat drawn at the end of a run (benchmarks/RESULTS.md, sections 4 and 8).
ENERGY_IMBALANCE_RELATIVE = 1e-4
#: Largest disturbance next to the held far boundary (K): beyond it the far boundary supplies heat to the
#: problem (a 0.5 K shift at the boundary of a 37 -> -70 °C problem is under 0.5 % of the drop).
FAR_FIELD_DISTURBANCE_K = 0.5
#: Energy terms below this (J) are too small for a relative balance to mean anything (the first microseconds).
ENERGY_FLOOR_J = 1e-9


def far_field_disturbance_K(T_C: np.ndarray, far_nodes: np.ndarray, far_temperature_C: float,
                            elements: np.ndarray | None = None) -> float:
    """Largest |T - T_far| next to the far boundary (K), on this process's nodes.

    ``far_nodes``: the unknowns on the far boundary. With ``elements`` (rows of unknowns that share an
    element: a vertex-centred grid's edges, a finite-element mesh's cells) the far-boundary unknowns are
    held at T_far, and the disturbance is read on the unknowns that share an element with one of them
    and are not held themselves; without, on ``far_nodes`` themselves (the cells touching the far
    boundary of a cell-centred grid). 0 when there are none.
    """
    T_C = np.asarray(T_C)
    nodes = np.unique(far_nodes)
    if elements is not None:
        on_far = np.zeros(T_C.size, bool)
        on_far[nodes] = True
        touching = on_far[elements].any(axis=1)
        nodes = np.unique(elements[touching])
        nodes = nodes[~on_far[nodes]]
    return float(np.max(np.abs(T_C[nodes] - far_temperature_C))) if nodes.size else 0.0


class PhysicalGuardError(RuntimeError):
    """A computed state breaks a physical bound; the run is not returned as a result."""


@dataclass(frozen=True)
class GuardLimits:
    coldest_C: float
    warmest_C: float
    temperature_tolerance_K: float = TEMPERATURE_TOLERANCE_K
    energy_imbalance_relative: float = ENERGY_IMBALANCE_RELATIVE
    far_field_disturbance_K: float = FAR_FIELD_DISTURBANCE_K


def limits_for(problem: Any) -> GuardLimits:
    """Bounds for a scenario (or a 1D problem with ``protocol``, ``medium``, initial and arterial temperatures)."""
    from ..physics.boundary import LN2_BOILING_POINT_C
    from ..physics.protocol import Freeze, Thaw

    T0, Ta = float(problem.initial_temperature_C), float(problem.arterial_temperature_C)
    probe = getattr(problem, "probe", None)
    floor = probe.min_tip_temperature_C if probe is not None else None
    cold, warm = [T0], [T0, Ta]
    for s in problem.protocol.steps:
        if isinstance(s, Freeze):
            temps = s.temperatures_C()
            cold += temps if temps else [LN2_BOILING_POINT_C if floor is None else floor]
        elif isinstance(s, Thaw) and s.temperature_C is not None:
            warm.append(float(s.temperature_C))
    warm += [v.blood_temperature_C for v in getattr(problem, "vessels", ())]
    m = problem.medium
    if m.metabolic_heat_W_per_m3 > 0.0 and m.perfusion_beta_W_per_m3_K == 0.0:
        # no perfusion to balance metabolism: uniform heating q_m t / C bounds the rise
        warm.append(max(warm) + m.metabolic_heat_W_per_m3 * problem.protocol.duration_s
                    / m.heat_capacity_unfrozen_J_per_m3_K)
    span = max(warm) - min(cold)
    return GuardLimits(min(cold), max(warm), max(TEMPERATURE_TOLERANCE_K, TEMPERATURE_TOLERANCE_OF_SPAN * span))


@dataclass
class GuardTracker:
    """Checks every state against :class:`GuardLimits`; ``mode`` "stop" raises, "flag" records."""

    limits: GuardLimits
    mode: str = "stop"
    breaches: list[str] = field(default_factory=list)
    #: how a temperature-bound breach is handled: as ``mode``, or "flag" (the FE solver, see the module docstring)
    temperature_mode: str | None = None
    #: worst excursion beyond the temperature bounds seen so far (K; 0 when none)
    excursion_K: float = 0.0

    def _breach(self, message: str, mode: str | None = None) -> None:
        if (mode or self.mode) == "stop":
            raise PhysicalGuardError(message + " (numerics.guards = 'flag' keeps such a run, marked suspect)")
        if len(self.breaches) < 20:
            self.breaches.append(message)

    def start(self, view: Any) -> None:
        self.update(view)

    def update(self, view: Any) -> None:
        lim = self.limits
        T = view.nodal_field().temperature_C
        lo, hi = (float(np.min(T)), float(np.max(T))) if T.size else (math.inf, -math.inf)
        if view.comm is not None:
            lo, hi = min(view.comm.allgather(lo)), max(view.comm.allgather(hi))
        tol = lim.temperature_tolerance_K
        self.excursion_K = max(self.excursion_K, lim.coldest_C - lo, hi - lim.warmest_C)
        tmode = self.temperature_mode
        if lo < lim.coldest_C - tol:
            self._breach(f"at t = {view.t_s:.6g} s the field reaches {lo:.3f} °C, colder than the coldest "
                         f"boundary or coolant temperature {lim.coldest_C:.3f} °C by more than {tol:g} K", tmode)
        if hi > lim.warmest_C + tol:
            self._breach(f"at t = {view.t_s:.6g} s the field reaches {hi:.3f} °C, warmer than any source "
                         f"({lim.warmest_C:.3f} °C) by more than {tol:g} K", tmode)
        e = view.energy_J
        if e:
            terms = [float(v) for v in e.values()]
            imbalance = float(e["enthalpy_change_J"]) - sum(float(v) for k, v in e.items() if k != "enthalpy_change_J")
            scale = max(abs(x) for x in terms)
            if scale > ENERGY_FLOOR_J and abs(imbalance) > lim.energy_imbalance_relative * scale:
                self._breach(f"at t = {view.t_s:.6g} s the energy balance is off by {imbalance:.3g} J, "
                             f"{abs(imbalance) / scale:.2g} of the largest term (limit {lim.energy_imbalance_relative:g})")

    def finish(self, view: Any) -> None:
        pass

    def close(self) -> None:
        pass


def check_final(guard: GuardTracker, diagnostics: dict[str, Any]) -> None:
    """End-of-run checks (far field); records the breaches in ``diagnostics['suspect']`` in flag mode."""
    diagnostics["temperature_excursion_K"] = guard.excursion_K
    far = diagnostics.get("far_field_max_disturbance_K")
    if far is not None and far > guard.limits.far_field_disturbance_K:
        guard._breach(f"the temperature next to the far boundary moved {far:.3g} K (limit "
                      f"{guard.limits.far_field_disturbance_K:g} K): the medium is too small for this protocol "
                      "(enlarge numerics.domain_radius_m or leave it to the automatic size)")
    if guard.breaches:
        diagnostics["suspect"] = list(guard.breaches)
