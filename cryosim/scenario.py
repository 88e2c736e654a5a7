"""A scenario: probe, protocol, medium and what to measure.

Scenarios are frozen dataclasses validated on construction; they load from
TOML files whose keys carry their units (``active_length_m``), and every bad
key or value is refused with a :class:`~cryosim.checks.ScenarioError` naming
it and the allowed range.

Coordinates: ``r`` is the distance from the probe axis, ``z`` runs along the
axis from the distal end of the probe (``z = 0``) towards the shaft, so the
active tip spans ``0 <= z <= active_length_m``.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .checks import MISSING_KEY, ScenarioError, check_choice, check_range
from .physics.injury import AXONOTMESIS_BELOW_C, NEURAPRAXIA_BELOW_C
from .physics.materials import Material, get_material, material_names
from .physics.probe import Probe
from .physics.sizing import MAX_DOMAIN_RADIUS_M, domain_radius_m, expected_ice_distance_m
from .physics.protocol import Freeze, Protocol, Thaw
from .physics.scene import BonePlate, ProbePlacement, Vessel, check_clearances

__all__ = ["Thermocouple", "Nerve", "Numerics", "Scenario", "default_scenario", "load_scenario", "SOLVERS"]

SOLVERS = ("auto", "fast", "fem")
#: Most requested output times (each one is a forced step; more is a time series, which every run records anyway).
MAX_OUTPUT_TIMES = 10_000

# Limits on the work one scenario may ask for (issue 11): each is far above
# any clinical or verification use and stops a typo from filling a disk.
#: Most time steps with ``numerics.fixed_step_s``: 200 000 steps is minutes of
#: computing and ~100 MB of time series; convergence studies need far fewer.
MAX_FIXED_STEPS = 200_000
#: Most isotherms tracked: each adds 7 columns to every time-series row and a
#: contour per step; 16 covers every clinical threshold (0, -20, -40 °C...).
MAX_ISOTHERMS = 16
#: Most virtual thermocouples: each adds a column and an interpolation per step;
#: 64 is more than any probe array or experiment logs.
MAX_THERMOCOUPLES = 64
#: Most nerves tracked: each keeps its samples' temperatures at every step (memory grows with both).
MAX_NERVES = 16
#: Most points given for one nerve path (a digitised course from imaging fits).
MAX_NERVE_POINTS = 1000
#: Longest scenario or thermocouple name (characters): a label, not a document.
MAX_NAME_CHARS = 200


def _check_label(field_name: str, value: Any) -> str:
    """A printable one-line name of at most :data:`MAX_NAME_CHARS` characters."""
    if not isinstance(value, str):
        raise ScenarioError(field_name, value, "a string")
    if len(value) > MAX_NAME_CHARS:
        raise ScenarioError(field_name, value[:40] + "...", f"at most {MAX_NAME_CHARS} characters "
                            f"(this one has {len(value)})")
    bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cs")]
    if bad:
        raise ScenarioError(field_name, value, f"a one-line name without control characters (found {bad[0]!r})")
    return value


@dataclass(frozen=True)
class Thermocouple:
    """A virtual thermocouple at (r, z) (m)."""

    name: str
    r_m: float
    z_m: float

    def __post_init__(self) -> None:
        _check_label("thermocouples.name", self.name)
        check_range(f"thermocouples[{self.name}].r_m", self.r_m, 0.0, 0.5, unit="m")
        check_range(f"thermocouples[{self.name}].z_m", self.z_m, -0.5, 0.5, unit="m")


@dataclass(frozen=True)
class Nerve:
    """A nerve path (m) whose cold dose is reported (:mod:`cryosim.post.nerve`).

    Give either ``points_m``: a polyline of ``(r, z)`` pairs (a path in a
    meridian half-plane of the probe) or ``(x, y, z)`` triples (a path in
    space, the probe axis being the z axis: a nerve crossing beside the
    probe at a closest distance ``d`` is ``[[d, -0.01, z], [d, 0.01, z]]``);
    or the parallel-line shortcut ``distance_m`` with ``from_z_m`` and
    ``to_z_m``: the line ``r = distance_m`` from ``z = from_z_m`` to
    ``z = to_z_m``. The path is sampled every ``spacing_m`` at most.
    ``neurapraxia_below_C`` and ``axonotmesis_below_C``: grade thresholds
    (defaults and their sources in :mod:`cryosim.post.nerve`).
    """

    name: str
    points_m: tuple[tuple[float, ...], ...] | None = None
    distance_m: float | None = None
    from_z_m: float | None = None
    to_z_m: float | None = None
    spacing_m: float = 1e-4
    neurapraxia_below_C: float = NEURAPRAXIA_BELOW_C
    axonotmesis_below_C: float = AXONOTMESIS_BELOW_C

    def __post_init__(self) -> None:
        _check_label("nerves.name", self.name)
        f = f"nerves[{self.name}]"
        line = (self.distance_m, self.from_z_m, self.to_z_m)
        if self.points_m is None:
            if any(v is None for v in line):
                raise ScenarioError(f + ".points_m", None, "points_m, or distance_m with from_z_m and to_z_m")
            check_range(f + ".distance_m", self.distance_m, 0.0, 0.5, unit="m")
            check_range(f + ".from_z_m", self.from_z_m, -0.5, 0.5, unit="m")
            check_range(f + ".to_z_m", self.to_z_m, -0.5, 0.5, unit="m")
            if self.from_z_m == self.to_z_m:
                raise ScenarioError(f + ".to_z_m", self.to_z_m, f"a value other than from_z_m = {self.from_z_m}")
            pts: tuple[tuple[float, ...], ...] = ((float(self.distance_m), float(self.from_z_m)),  # type: ignore[arg-type]
                                                  (float(self.distance_m), float(self.to_z_m)))  # type: ignore[arg-type]
        else:
            given = [k for k, v in zip(("distance_m", "from_z_m", "to_z_m"), line) if v is not None]
            if given:
                raise ScenarioError(f + "." + given[0], getattr(self, given[0]), "nothing with points_m")
            raw = self.points_m
            if isinstance(raw, (str, bytes, Mapping)) or not hasattr(raw, "__len__") or not 2 <= len(raw) <= MAX_NERVE_POINTS:
                raise ScenarioError(f + ".points_m", raw, f"a list of 2 to {MAX_NERVE_POINTS} points")
            dims = {len(p) if hasattr(p, "__len__") and not isinstance(p, (str, bytes)) else -1 for p in raw}
            if len(dims) != 1 or dims.pop() not in (2, 3):
                raise ScenarioError(f + ".points_m", raw, "points that are all [r, z] pairs or all [x, y, z] triples")
            pts = tuple(tuple(float(check_range(f"{f}.points_m[{i}][{j}]", v, -0.5, 0.5, unit="m"))
                              for j, v in enumerate(p)) for i, p in enumerate(raw))
            if len(pts[0]) == 2 and any(p[0] < 0.0 for p in pts):
                raise ScenarioError(f + ".points_m", raw, "r >= 0 in [r, z] pairs")
            if any(a == b for a, b in zip(pts[:-1], pts[1:])):
                raise ScenarioError(f + ".points_m", raw, "distinct consecutive points")
        object.__setattr__(self, "points_m", pts)
        check_range(f + ".spacing_m", self.spacing_m, 1e-6, 1e-2, unit="m")
        check_range(f + ".neurapraxia_below_C", self.neurapraxia_below_C, -60.0, 37.0, unit="°C")
        check_range(f + ".axonotmesis_below_C", self.axonotmesis_below_C, -150.0, self.neurapraxia_below_C,
                    unit="°C", high_open=True)

    def radii_m(self) -> list[float]:
        """Distance from the probe axis of each given point (m)."""
        return [float(math.hypot(p[0], p[1])) if len(p) == 3 else float(p[0]) for p in self.points_m]  # type: ignore[union-attr]

    def z_m(self) -> list[float]:
        return [float(p[-1]) for p in self.points_m]  # type: ignore[union-attr]


@dataclass(frozen=True)
class Numerics:
    """Every numerical setting of a run (one place; reachable from scenario files and :func:`cryosim.run`).

    ``solver``: "auto" (the fast solver unless the scene needs finite
    elements), "fast" or "fem"; ``force_3d`` meshes an axisymmetric scene in
    3D (finite elements; verification). ``domain_radius_m``,
    ``axial_below_m``, ``axial_above_m``: the medium spans
    ``0 <= r <= R`` and ``-below <= z <= L_active + above`` (None: sized by
    :func:`cryosim.physics.sizing.domain_radius_m`, both axial extents = R).
    ``output_times_s``: times at which the state is recorded exactly.

    ``resolution`` scales every cell size (2 halves them); the time step is
    controlled by ``temperature_tolerance_K``, the local error allowed per
    step, bounded by ``max_step_s``. ``domain_radius_m`` of None sizes the
    medium from the diffusion lengths of the protocol. The step is accepted
    when the local error of the total enthalpy change, relative to it, is
    below ``enthalpy_rtol`` and that of every cell temperature below
    ``temperature_tolerance_K`` (see :mod:`cryosim.fast.stepper`). ``fixed_step_s``
    turns the control off (convergence studies). Both solvers step with the
    same SDIRK2 scheme and these tolerances.
    """

    resolution: float = 1.0
    enthalpy_rtol: float = 2e-2
    temperature_tolerance_K: float = 50.0
    max_step_s: float = 30.0
    domain_radius_m: float | None = None
    fixed_step_s: float | None = None
    #: times (s) at which the state is recorded exactly (the steps land on them)
    output_times_s: tuple[float, ...] = ()
    solver: str = "auto"
    force_3d: bool = False
    axial_below_m: float | None = None
    axial_above_m: float | None = None
    #: what a breached physical guard does (cryosim.post.guards): "stop" the run, or "flag" it as suspect
    guards: str = "stop"
    #: wall-clock limit of the time stepping (s; None: none): both solvers stop with a clear error beyond it
    max_wall_s: float | None = None
    #: memory limit of the run (GiB; None: this machine's memory): a run estimated above it is refused before it
    #: starts, and one whose resident memory passes it stops (cryosim.numerics.budget)
    max_memory_GiB: float | None = None
    #: limit of the estimated computing time (s; None: cryosim.numerics.budget.DEFAULT_MAX_WORK_S, 2 h): a run
    #: estimated above it is refused before it starts (cryosim.numerics.budget)
    max_work_s: float | None = None

    def __post_init__(self) -> None:
        check_choice("numerics.solver", self.solver, SOLVERS)
        check_choice("numerics.guards", self.guards, ("stop", "flag"))
        if not isinstance(self.force_3d, bool):
            raise ScenarioError("numerics.force_3d", self.force_3d, "true or false")
        for name in ("axial_below_m", "axial_above_m"):
            v = getattr(self, name)
            if v is not None:
                check_range(f"numerics.{name}", v, 2e-3, MAX_DOMAIN_RADIUS_M, unit="m")
        if self.fixed_step_s is not None:
            check_range("numerics.fixed_step_s", self.fixed_step_s, 1e-5, 600.0, unit="s")
        check_range("numerics.resolution", self.resolution, 0.25, 16.0)
        check_range("numerics.enthalpy_rtol", self.enthalpy_rtol, 1e-6, 0.1)
        check_range("numerics.temperature_tolerance_K", self.temperature_tolerance_K, 1e-4, 100.0, unit="K")
        check_range("numerics.max_step_s", self.max_step_s, 1e-3, 600.0, unit="s")
        if self.max_wall_s is not None:
            check_range("numerics.max_wall_s", self.max_wall_s, 1.0, 1e6, unit="s")
        if self.max_memory_GiB is not None:
            check_range("numerics.max_memory_GiB", self.max_memory_GiB, 1e-3, 1e6, unit="GiB")
        if self.max_work_s is not None:
            check_range("numerics.max_work_s", self.max_work_s, 1.0, 1e9, unit="s")
        if self.domain_radius_m is not None:
            check_range("numerics.domain_radius_m", self.domain_radius_m, 2e-3, MAX_DOMAIN_RADIUS_M, unit="m")
        if isinstance(self.output_times_s, (str, bytes)) or not hasattr(self.output_times_s, "__iter__"):
            raise ScenarioError("numerics.output_times_s", self.output_times_s, "a list of times (s)")
        times = tuple(float(check_range(f"numerics.output_times_s[{i}]", t, 0.0, None, unit="s", low_open=True))
                      for i, t in enumerate(self.output_times_s))
        if len(times) > MAX_OUTPUT_TIMES:
            raise ScenarioError("numerics.output_times_s", f"{len(times)} times", f"at most {MAX_OUTPUT_TIMES}")
        object.__setattr__(self, "output_times_s", tuple(sorted(set(times))))


@dataclass(frozen=True)
class Scenario:
    """Everything that defines one run."""

    probe: Probe
    protocol: Protocol
    medium: Material
    name: str = "scenario"
    #: None: the Pennes steady state of the medium, T_a + q_m / beta (resolved on construction)
    initial_temperature_C: float | None = None
    arterial_temperature_C: float = 37.0
    isotherms_C: tuple[float, ...] = (0.0, -20.0, -40.0)
    thermocouples: tuple[Thermocouple, ...] = ()
    numerics: Numerics = field(default_factory=Numerics)
    bone: BonePlate | None = None
    vessels: tuple[Vessel, ...] = ()
    extra_probes: tuple[ProbePlacement, ...] = ()
    nerves: tuple[Nerve, ...] = ()
    #: True when ``initial_temperature_C`` was resolved from the Pennes steady state
    initial_from_steady_state: bool = field(default=False, init=False, compare=False)

    @property
    def axisymmetric(self) -> bool:
        """True when the scene has no object that breaks the axial symmetry."""
        return not self.vessels and not self.extra_probes and (self.bone is None or self.bone.axisymmetric)

    @property
    def has_scene(self) -> bool:
        return self.bone is not None or bool(self.vessels) or bool(self.extra_probes)

    def __post_init__(self) -> None:
        for key, cls in (("probe", Probe), ("protocol", Protocol), ("medium", Material), ("numerics", Numerics)):
            value = getattr(self, key)
            if not isinstance(value, cls):
                hint = " (a library material: cryosim.get_material(name))" if key == "medium" else ""
                raise TypeError(f"scenario.{key} = {value!r} is not allowed: expected a {cls.__name__}{hint}")
        for key in ("vessels", "extra_probes", "thermocouples", "nerves", "isotherms_C"):
            value = getattr(self, key)
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
                raise TypeError(f"scenario.{key} = {value!r} is not allowed: expected a list")
        object.__setattr__(self, "vessels", tuple(self.vessels))
        object.__setattr__(self, "extra_probes", tuple(self.extra_probes))
        _check_label("name", self.name)
        if self.initial_temperature_C is None:
            check_range("arterial_temperature_C", self.arterial_temperature_C, 0.0, 45.0, unit="°C")
            steady = self.medium.steady_temperature_C(self.arterial_temperature_C)
            if not 0.0 <= steady <= 45.0:
                raise ScenarioError("initial_temperature_C", None,
                                    f"a value in [0, 45] °C: the default, the Pennes steady state T_a + q_m / beta of "
                                    f"{self.medium.name} ({steady:.1f} °C with beta = "
                                    f"{self.medium.perfusion_beta_W_per_m3_K:.3g} W/m3/K), is outside it; give "
                                    "initial_temperature_C or a medium with more perfusion")
            object.__setattr__(self, "initial_temperature_C", steady)
            object.__setattr__(self, "initial_from_steady_state", True)
        check_range("initial_temperature_C", self.initial_temperature_C, 0.0, 45.0, unit="°C")
        check_range("arterial_temperature_C", self.arterial_temperature_C, 0.0, 45.0, unit="°C")
        iso = tuple(float(check_range(f"isotherms_C[{i}]", v, -150.0, 0.0, unit="°C"))
                    for i, v in enumerate(self.isotherms_C))
        if not iso:
            raise ScenarioError("isotherms_C", list(self.isotherms_C), "at least one isotherm")
        object.__setattr__(self, "isotherms_C", iso)
        object.__setattr__(self, "thermocouples", tuple(self.thermocouples))
        object.__setattr__(self, "nerves", tuple(self.nerves))
        self._check_protocol()
        self._check_output_times()
        self._check_limits()
        self._check_thermocouples()
        self._check_nerves()

    def _check_protocol(self) -> None:
        """A freeze cools (below the initial temperature, not below the coolant's floor); some step freezes."""
        if not any(isinstance(s, Freeze) for s in self.protocol.steps):
            raise ScenarioError("protocol", [type(s).__name__.lower() for s in self.protocol.steps],
                                "at least one freeze step (a run without one forms no ice ball)")
        for i, step in enumerate(self.protocol.steps):
            if isinstance(step, Freeze) and getattr(step, "gas", None) is not None and self.probe.design is None:
                raise ScenarioError(f"protocol[{i}].gas", step.gas,
                                    'a probe design ([probe] design = "...", see `cryosim probes`) for a gas step')
            if isinstance(step, Freeze):
                for T in step.temperatures_C():
                    self.probe.check_tip_temperature(f"protocol[{i}].tip_temperature_C", T)
                    if T > self.initial_temperature_C:
                        raise ScenarioError(f"protocol[{i}].tip_temperature_C", T,
                                            f"a temperature <= the initial temperature "
                                            f"({self.initial_temperature_C:g} °C): a freeze cools")

    def _check_output_times(self) -> None:
        """Requested output times lie within the protocol (a time after its end would be dropped silently)."""
        end = self.protocol.duration_s
        for i, t in enumerate(self.numerics.output_times_s):
            if t > end * (1 + 1e-12):
                raise ScenarioError(f"numerics.output_times_s[{i}]", t,
                                    f"a time within the protocol, (0, {end:g}] s")

    def _check_limits(self) -> None:
        """Bound the work: steps, isotherms, thermocouples, domain size (constants above)."""
        if len(self.isotherms_C) > MAX_ISOTHERMS:
            raise ScenarioError("isotherms_C", f"<{len(self.isotherms_C)} isotherms>", f"at most {MAX_ISOTHERMS}")
        if len(set(self.isotherms_C)) != len(self.isotherms_C):
            raise ScenarioError("isotherms_C", list(self.isotherms_C), "distinct temperatures")
        if len(self.thermocouples) > MAX_THERMOCOUPLES:
            raise ScenarioError("thermocouples", f"<{len(self.thermocouples)} thermocouples>",
                                f"at most {MAX_THERMOCOUPLES}")
        names = [t.name for t in self.thermocouples]
        if len(set(names)) != len(names):
            raise ScenarioError("thermocouples.name", names, "distinct names")
        n = self.numerics
        if n.fixed_step_s is not None:
            steps = self.protocol.duration_s / n.fixed_step_s
            if steps > MAX_FIXED_STEPS:
                raise ScenarioError("numerics.fixed_step_s", n.fixed_step_s,
                                    f"a step >= {self.protocol.duration_s / MAX_FIXED_STEPS:.3g} s for this "
                                    f"{self.protocol.duration_s:g} s protocol (at most {MAX_FIXED_STEPS} steps; "
                                    f"this asks for {steps:.3g})")
        least = self.protocol.duration_s / n.max_step_s  # the adaptive controller takes at least this many steps
        if n.fixed_step_s is None and least > MAX_FIXED_STEPS:
            raise ScenarioError("numerics.max_step_s", n.max_step_s,
                                f"a largest step >= {self.protocol.duration_s / MAX_FIXED_STEPS:.3g} s for this "
                                f"{self.protocol.duration_s:g} s protocol (at most {MAX_FIXED_STEPS} steps; this "
                                f"forces at least {least:.3g})")
        R = self.domain_radius_m()  # refuses a protocol whose disturbance does not fit the largest medium
        check_clearances(self.probe.radius_m, self.bone, self.vessels, self.extra_probes)
        ice = self.probe.radius_m + self.expected_ice_distance_m()
        for i, ep in enumerate(self.extra_probes):
            # the medium is sized around the first probe: another one must lie inside it with its ice ball
            # (one outside was cut away by the mesher and its cooling silently lost)
            off = math.hypot(ep.position_m[0], ep.position_m[1])
            if off + ice > R:
                raise ScenarioError(f"extra_probes[{i}].position_m", list(ep.position_m),
                                    f"a probe within {max(R - ice, 0.0):.3g} m of the first probe's axis (the "
                                    f"medium's radius {R:.3g} m less the expected ice ball {ice:.3g} m); or set "
                                    "numerics.domain_radius_m larger")
        for name, extent in (("numerics.domain_radius_m", R), ("numerics.axial_below_m", n.axial_below_m)):
            if extent is not None and extent < ice:
                raise ScenarioError(name, extent, f"a medium that holds the expected ice ball: at least {ice:.3g} m "
                                    "from the probe axis / distal end (physics.sizing.expected_ice_distance_m)")

    def step_temperature_tolerance_K(self) -> float:
        """The temperature tolerance of a step (K): ``numerics.temperature_tolerance_K``, capped for media that
        freeze over a narrow range (:func:`cryosim.numerics.sdirk2.temperature_tolerance_for`)."""
        from .numerics.sdirk2 import temperature_tolerance_for

        m = self.medium
        return temperature_tolerance_for(self.numerics.temperature_tolerance_K, m.liquidus_C - m.solidus_C)

    def domain_radius_m(self) -> float:
        """Radius of the simulated medium (m): :func:`cryosim.physics.sizing.domain_radius_m`."""
        return domain_radius_m(self.probe, self.protocol, self.medium, self.numerics.domain_radius_m)

    def expected_ice_distance_m(self) -> float:
        """Upper estimate of the ice front's distance from the probe (m): :func:`cryosim.physics.sizing.expected_ice_distance_m`."""
        return expected_ice_distance_m(self.probe, self.protocol, self.medium, self.initial_temperature_C)

    def mesh_front_distance_m(self) -> float:
        """Extent of the zone the meshers refine for the ice front (m): the expected ice distance of the protocol's
        mesh class (:func:`cryosim.physics.sizing.expected_ice_distance_m` with ``mesh_class``), so that runs
        that differ only in tip temperature or duration share one mesh."""
        return expected_ice_distance_m(self.probe, self.protocol, self.medium, self.initial_temperature_C,
                                       mesh_class=True)

    def _check_thermocouples(self) -> None:
        R = self.domain_radius_m()  # numerics.domain_radius_m when given
        for tc in self.thermocouples:
            inside_probe = tc.r_m < self.probe.radius_m and tc.z_m > 0.0
            if inside_probe:
                raise ScenarioError(f"thermocouples[{tc.name}]", (tc.r_m, tc.z_m),
                                    f"a point outside the probe (r >= {self.probe.radius_m:g} m or z <= 0)")
            z_top = self.probe.active_length_m + R
            if tc.r_m > R or not -R <= tc.z_m <= z_top:
                raise ScenarioError(f"thermocouples[{tc.name}]", (tc.r_m, tc.z_m),
                                    f"a point inside the simulated medium: r in [0, {R:.3g}] m and z in "
                                    f"[{-R:.3g}, {z_top:.3g}] m for this protocol and medium")

    def _check_nerves(self) -> None:
        """At most :data:`MAX_NERVES` nerves, distinct names, every given point in the medium and outside the probe
        (the sampled path is checked again where the solver locates it)."""
        if len(self.nerves) > MAX_NERVES:
            raise ScenarioError("nerves", f"<{len(self.nerves)} nerves>", f"at most {MAX_NERVES}")
        names = [n.name for n in self.nerves]
        if len(set(names)) != len(names):
            raise ScenarioError("nerves.name", names, "distinct names")
        R = self.domain_radius_m()  # numerics.domain_radius_m when given
        z_top = self.probe.active_length_m + R
        for n in self.nerves:
            for p, r, z in zip(n.points_m, n.radii_m(), n.z_m()):  # type: ignore[arg-type]
                if r < self.probe.radius_m and z > 0.0:
                    raise ScenarioError(f"nerves[{n.name}].points_m", p,
                                        f"points outside the probe (r >= {self.probe.radius_m:g} m or z <= 0)")
                if r > R or not -R <= z <= z_top:
                    raise ScenarioError(f"nerves[{n.name}].points_m", p,
                                        f"points inside the simulated medium: r in [0, {R:.3g}] m and z in "
                                        f"[{-R:.3g}, {z_top:.3g}] m for this protocol and medium")

    @property
    def solver(self) -> str:
        """The solver asked for (``numerics.solver``)."""
        return self.numerics.solver

    def with_(self, **changes: Any) -> "Scenario":
        """Copy with some fields changed (validated again); a steady initial state follows a new medium.

        Numerics fields may be given directly: ``s.with_(solver="fem", resolution=2)``.
        """
        num = {k: changes.pop(k) for k in list(changes) if k in _NUMERICS_FIELDS}
        if num:
            changes["numerics"] = replace(changes.get("numerics", self.numerics), **num)
        if self.initial_from_steady_state and "initial_temperature_C" not in changes:
            changes["initial_temperature_C"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable), as saved with the results."""
        d = asdict(self)
        d["protocol"] = [{"type": type(s).__name__.lower(), **asdict(s)} for s in self.protocol.steps]
        d["medium"] = {k: v for k, v in asdict(self.medium).items()}
        return d


_NUMERICS_FIELDS = frozenset(f.name for f in fields(Numerics))


def default_scenario() -> Scenario:
    """The built-in scenario: 18 G probe, 5 mm active tip, -70 °C for 120 s in
    perfused soft tissue at 37 °C (issue #2)."""
    return Scenario(
        name="default",
        probe=Probe.from_gauge(18, active_length_m=5e-3, coolant="N2O"),
        protocol=Protocol.single_freeze(120.0, -70.0),
        medium=get_material("soft_tissue"),
        thermocouples=(
            Thermocouple("tip_side_2mm", 0.635e-3 + 2e-3, 2.5e-3),
            Thermocouple("below_tip_3mm", 0.0, -3e-3),
        ),
    )


# --- TOML ---------------------------------------------------------------------
#: Largest scenario file read (bytes): a scenario is a few kB; the cap makes
#: ``/dev/zero`` or a mistaken data file a refusal instead of a hang.
MAX_SCENARIO_FILE_BYTES = 1_000_000


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise ScenarioError(name, table[key], "a known key: " + ", ".join(sorted(allowed)))


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if f.init}


def _required_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]


def _table(where: str, value: Any, allowed: str = "a table") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(where, value, allowed)
    return value


def _array_of_tables(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(key, value, f"an array of [[{key}]] tables")
    return value


def _build(where: str, cls: type, d: Mapping[str, Any], *, exclude: set[str] = frozenset()) -> Any:  # type: ignore[assignment]
    """``cls(**d)`` after checking that every key is known and every required key is there.

    Errors raised by the class name its own prefix (``vessel.diameter_m``); they
    are re-raised under ``where`` (``vessels[0].diameter_m``).
    """
    _check_keys(where, d, _field_names(cls) - exclude)
    for name in _required_names(cls):
        if name not in d and name not in exclude:
            raise ScenarioError(f"{where}.{name}", MISSING_KEY, f"a value for this required key of {where}")
    try:
        return cls(**d)
    except ScenarioError as e:
        raise ScenarioError(f"{where}.{e.field.split('.', 1)[-1]}", e.value, e.allowed) from None


def _probe_from(d: Any) -> Probe:
    d = dict(_table("probe", d, "a [probe] table (gauge or outer_diameter_m, active_length_m, ...)"))
    _check_keys("probe", d, _field_names(Probe) - {"design_floor_C"})  # the floor comes with the design
    if "design" in d:
        design = d.pop("design")
        from .physics.catalogue import list_designs, probe_from_design

        check_choice("probe.design", design, list_designs())
        for key in ("gauge", "outer_diameter_m", "active_length_m", "coolant"):
            if key in d:
                raise ScenarioError(f"probe.{key}", d[key], f"no {key} with a design (the design {design!r} sets it)")
        return probe_from_design(design, **d)
    if "gauge" in d and "outer_diameter_m" in d:
        raise ScenarioError("probe.outer_diameter_m", d["outer_diameter_m"], "either gauge or outer_diameter_m, not both")
    if "active_length_m" not in d:
        raise ScenarioError("probe.active_length_m", MISSING_KEY, "a value (m) for this required key of probe")
    if "gauge" in d:
        gauge = d.pop("gauge")
        if isinstance(gauge, bool) or not isinstance(gauge, int):
            raise ScenarioError("probe.gauge", gauge, "an integer gauge 10-27")
        return Probe.from_gauge(gauge, **d)
    if "outer_diameter_m" not in d:
        raise ScenarioError("probe.outer_diameter_m", MISSING_KEY, "a gauge or an outer diameter (m)")
    return Probe(**d)


def _protocol_from(steps: Any) -> Protocol:
    if not isinstance(steps, list) or not steps:
        raise ScenarioError("protocol", steps, "a non-empty array of [[protocol]] steps")
    out: list[Freeze | Thaw] = []
    for i, s in enumerate(steps):
        s = dict(_table(f"protocol[{i}]", s))
        kind = check_choice(f"protocol[{i}].type", s.pop("type", None), ("freeze", "thaw"))
        out.append(_build(f"protocol[{i}]", Freeze if kind == "freeze" else Thaw, s))
    return Protocol(tuple(out))


def _medium_from(value: Any) -> Material:
    names = ", ".join(repr(n) for n in material_names())
    if isinstance(value, str):
        return get_material(value)
    d = dict(_table("medium", value, f"a material name (one of {names}) or a [medium] table with name = ..."))
    name = check_choice("medium.name", d.pop("name", None), material_names())
    base = get_material(name)
    _check_keys("medium", d, _field_names(Material) - {"name", "sources"})
    if not d:
        return base
    try:
        return base.with_(sources=base.sources + (f"overridden in scenario file: {sorted(d)}",), **d)
    except ScenarioError as e:
        raise ScenarioError(f"medium.{e.field.split('.', 1)[-1]}", e.value, e.allowed) from None


def _thermocouples_from(value: Any) -> tuple[Thermocouple, ...]:
    items = _array_of_tables("thermocouples", value)
    if len(items) > MAX_THERMOCOUPLES:
        raise ScenarioError("thermocouples", f"<{len(items)} thermocouples>", f"at most {MAX_THERMOCOUPLES}")
    tcs = []
    for i, t in enumerate(items):
        t = dict(_table(f"thermocouples[{i}]", t))
        t.setdefault("name", f"TC{i + 1}")
        tcs.append(_build(f"thermocouples[{i}]", Thermocouple, t))
    return tuple(tcs)


def scenario_from_dict(d: Mapping[str, Any]) -> Scenario:
    """Build and validate a scenario from plain data (a parsed TOML file)."""
    d = dict(_table("scenario", d))
    for table, command in (("study", "cryosim sweep"), ("calibration", "cryosim calibrate")):
        if table in d:  # a study or calibration file given where a scenario is expected
            raise ScenarioError(table, "<table>", f"a scenario file: this one has a [{table}] table, so it is a "
                                f"{table} file: run it with `{command} FILE`")
    top = _field_names(Scenario) | {"solver"}  # a top-level solver key is read into [numerics]
    _check_keys("", d, top)
    if "solver" in d:
        num = d.setdefault("numerics", {})
        if isinstance(num, Mapping) and "solver" not in num:
            d["numerics"] = {**num, "solver": d.pop("solver")}
        else:
            raise ScenarioError("solver", d["solver"], "the solver given once: at the top level or in [numerics]")
    for required in ("probe", "protocol"):
        if required not in d:
            raise ScenarioError(required, MISSING_KEY, f"a [{required}] section")
    kwargs: dict[str, Any] = {
        "probe": _probe_from(d.pop("probe")),
        "protocol": _protocol_from(d.pop("protocol")),
        "medium": _medium_from(d.pop("medium", "soft_tissue")),
    }
    if "thermocouples" in d:
        kwargs["thermocouples"] = _thermocouples_from(d.pop("thermocouples"))
    if "bone" in d:
        kwargs["bone"] = _build("bone", BonePlate, dict(_table("bone", d.pop("bone"), "a [bone] table")))
    for key, cls in (("vessels", Vessel), ("extra_probes", ProbePlacement), ("nerves", Nerve)):
        if key in d:
            items = _array_of_tables(key, d.pop(key))
            kwargs[key] = tuple(_build(f"{key}[{i}]", cls, dict(_table(f"{key}[{i}]", v)))
                                for i, v in enumerate(items))
    if "numerics" in d:
        kwargs["numerics"] = _build("numerics", Numerics, dict(_table("numerics", d.pop("numerics"))))
    if "isotherms_C" in d:
        iso = d.pop("isotherms_C")
        if not isinstance(iso, list):
            raise ScenarioError("isotherms_C", iso, "an array of temperatures (°C)")
        kwargs["isotherms_C"] = tuple(iso)
    kwargs.update(d)
    return Scenario(**kwargs)


def _looks_utf16(raw: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: NUL bytes at every other position."""
    sample = raw[:256]
    even, odd = sample[0::2], sample[1::2]
    if len(odd) < 4:
        return False
    ze, zo = even.count(0) / len(even), odd.count(0) / len(odd)
    return max(ze, zo) > 0.4 and min(ze, zo) < 0.05


def _decode(raw: bytes, where: str, what: str = "scenario file") -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(raw):
        raise ScenarioError(what, where, "a UTF-8 text file (this one looks UTF-16: save it as UTF-8)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark, as some editors write
    if b"\x00" in raw:
        raise ScenarioError(what, where, "a UTF-8 text file (this one holds NUL bytes: binary?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(what, where,
                            f"a UTF-8 text file (byte {e.start} is not UTF-8: binary or another encoding?)") from None


def read_toml_file(path: str | Path, what: str = "scenario file") -> tuple[dict[str, Any], str]:
    """(parsed TOML, text) of a scenario, study or calibration file, refused with a :class:`ScenarioError` named
    ``what`` unless it is a regular file (not a folder, FIFO or device: a FIFO would block forever) of at most
    :data:`MAX_SCENARIO_FILE_BYTES` bytes of UTF-8 (a leading byte-order mark is accepted) holding valid TOML."""
    p = Path(path)
    where = str(p)
    try:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            raise ScenarioError(what, where, "a TOML file (this is a folder)")
        if not stat.S_ISREG(st.st_mode):
            raise ScenarioError(what, where, "a regular TOML file (this is a device, pipe or socket)")
        with p.open("rb") as fh:
            raw = fh.read(MAX_SCENARIO_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(what, where, "an existing TOML file") from None
    except OSError as e:
        raise ScenarioError(what, where, f"a readable TOML file ({e.strerror or e})") from None
    if len(raw) > MAX_SCENARIO_FILE_BYTES:
        raise ScenarioError(what, where, f"a file of at most {MAX_SCENARIO_FILE_BYTES} bytes")
    text = _decode(raw, where, what)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(what, where, f"valid TOML ({e})") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (:func:`read_toml_file`: a regular UTF-8 file of at most
    :data:`MAX_SCENARIO_FILE_BYTES` bytes; anything else is refused with a :class:`ScenarioError`)."""
    return scenario_from_dict(read_toml_file(path)[0])
