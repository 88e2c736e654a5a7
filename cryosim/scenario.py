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

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .checks import ScenarioError, check_choice, check_range
from .physics.materials import Material, get_material, material_names
from .physics.probe import Probe
from .physics.protocol import Freeze, Protocol, Thaw
from .physics.scene import BonePlate, ProbePlacement, Vessel

__all__ = ["Thermocouple", "Numerics", "Scenario", "default_scenario", "load_scenario", "SOLVERS"]

SOLVERS = ("auto", "fast", "fem")
#: Most requested output times (each one is a forced step; more is a time series, which every run records anyway).
MAX_OUTPUT_TIMES = 10_000


@dataclass(frozen=True)
class Thermocouple:
    """A virtual thermocouple at (r, z) (m)."""

    name: str
    r_m: float
    z_m: float

    def __post_init__(self) -> None:
        check_range(f"thermocouples[{self.name}].r_m", self.r_m, 0.0, 0.5, unit="m")
        check_range(f"thermocouples[{self.name}].z_m", self.z_m, -0.5, 0.5, unit="m")


@dataclass(frozen=True)
class Numerics:
    """Discretisation controls.

    ``resolution`` scales every cell size (2 halves them); the time step is
    controlled by ``temperature_tolerance_K``, the local error allowed per
    step, bounded by ``max_step_s``. ``domain_radius_m`` of None sizes the
    medium from the diffusion lengths of the protocol. The step is accepted
    when the local error of the total enthalpy change, relative to it, is
    below ``enthalpy_rtol`` and that of every cell temperature below
    ``temperature_tolerance_K`` (see :mod:`cryosim.fast.stepper`). ``fixed_step_s``
    turns the control off (convergence studies). The finite-element solver
    steps with backward Euler (first order) and controls its local
    temperature error with ``fem_temperature_tolerance_K``: 0.5 K leaves the
    default scenario's 0 °C volume within 1.3 % of a converged run, 2 K
    1.7 % low, 50 K 3 % low (benchmarks/RESULTS.md, section 3).
    """

    resolution: float = 1.0
    enthalpy_rtol: float = 2e-2
    temperature_tolerance_K: float = 50.0
    max_step_s: float = 30.0
    domain_radius_m: float | None = None
    fixed_step_s: float | None = None
    fem_temperature_tolerance_K: float = 0.5
    #: times (s) at which the state is recorded exactly (the steps land on them)
    output_times_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.fixed_step_s is not None:
            check_range("numerics.fixed_step_s", self.fixed_step_s, 1e-5, 600.0, unit="s")
        check_range("numerics.resolution", self.resolution, 0.25, 16.0)
        check_range("numerics.fem_temperature_tolerance_K", self.fem_temperature_tolerance_K, 1e-3, 100.0, unit="K")
        check_range("numerics.enthalpy_rtol", self.enthalpy_rtol, 1e-6, 0.1)
        check_range("numerics.temperature_tolerance_K", self.temperature_tolerance_K, 1e-4, 100.0, unit="K")
        check_range("numerics.max_step_s", self.max_step_s, 1e-3, 600.0, unit="s")
        if self.domain_radius_m is not None:
            check_range("numerics.domain_radius_m", self.domain_radius_m, 2e-3, 0.5, unit="m")
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
    solver: str = "auto"
    numerics: Numerics = field(default_factory=Numerics)
    bone: BonePlate | None = None
    vessels: tuple[Vessel, ...] = ()
    extra_probes: tuple[ProbePlacement, ...] = ()
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
        object.__setattr__(self, "vessels", tuple(self.vessels))
        object.__setattr__(self, "extra_probes", tuple(self.extra_probes))
        if self.initial_temperature_C is None:
            check_range("arterial_temperature_C", self.arterial_temperature_C, 0.0, 45.0, unit="°C")
            object.__setattr__(self, "initial_temperature_C", self.medium.steady_temperature_C(self.arterial_temperature_C))
            object.__setattr__(self, "initial_from_steady_state", True)
        check_range("initial_temperature_C", self.initial_temperature_C, 0.0, 45.0, unit="°C")
        check_range("arterial_temperature_C", self.arterial_temperature_C, 0.0, 45.0, unit="°C")
        iso = tuple(float(check_range(f"isotherms_C[{i}]", v, -150.0, 0.0, unit="°C"))
                    for i, v in enumerate(self.isotherms_C))
        if not iso:
            raise ScenarioError("isotherms_C", list(self.isotherms_C), "at least one isotherm")
        object.__setattr__(self, "isotherms_C", iso)
        object.__setattr__(self, "thermocouples", tuple(self.thermocouples))
        check_choice("solver", self.solver, SOLVERS)
        for i, step in enumerate(self.protocol.steps):
            if isinstance(step, Freeze):
                for T in step.temperatures_C():
                    self.probe.check_tip_temperature(f"protocol[{i}].tip_temperature_C", T)
        for tc in self.thermocouples:
            inside_probe = tc.r_m < self.probe.radius_m and tc.z_m > 0.0
            if inside_probe:
                raise ScenarioError(f"thermocouples[{tc.name}]", (tc.r_m, tc.z_m),
                                    f"a point outside the probe (r >= {self.probe.radius_m:g} m or z <= 0)")

    def with_(self, **changes: Any) -> "Scenario":
        """Copy with some fields changed (validated again); a steady initial state follows a new medium."""
        if self.initial_from_steady_state and "initial_temperature_C" not in changes:
            changes["initial_temperature_C"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable), as saved with the results."""
        d = asdict(self)
        d["protocol"] = [{"type": type(s).__name__.lower(), **asdict(s)} for s in self.protocol.steps]
        d["medium"] = {k: v for k, v in asdict(self.medium).items()}
        return d


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
def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise ScenarioError(name, table[key], "a known key: " + ", ".join(sorted(allowed)))


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _table(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(where, value, "a table")
    return value


def _probe_from(d: Mapping[str, Any]) -> Probe:
    d = dict(_table("probe", d))
    _check_keys("probe", d, _field_names(Probe))
    if "gauge" in d and "outer_diameter_m" in d:
        raise ScenarioError("probe.outer_diameter_m", d["outer_diameter_m"], "either gauge or outer_diameter_m, not both")
    if "active_length_m" not in d:
        raise ScenarioError("probe.active_length_m", None, "a value (m)")
    if "gauge" in d:
        gauge = d.pop("gauge")
        if isinstance(gauge, bool) or not isinstance(gauge, int):
            raise ScenarioError("probe.gauge", gauge, "an integer gauge 10-27")
        return Probe.from_gauge(gauge, **d)
    if "outer_diameter_m" not in d:
        raise ScenarioError("probe.outer_diameter_m", None, "a gauge or an outer diameter (m)")
    return Probe(**d)


def _protocol_from(steps: Any) -> Protocol:
    if not isinstance(steps, list) or not steps:
        raise ScenarioError("protocol", steps, "a non-empty array of [[protocol]] steps")
    out: list[Freeze | Thaw] = []
    for i, s in enumerate(steps):
        s = dict(_table(f"protocol[{i}]", s))
        kind = check_choice(f"protocol[{i}].type", s.pop("type", None), ("freeze", "thaw"))
        cls = Freeze if kind == "freeze" else Thaw
        _check_keys(f"protocol[{i}]", s, _field_names(cls))
        try:
            out.append(cls(**s))
        except ScenarioError as e:
            raise ScenarioError(f"protocol[{i}].{e.field.split('.', 1)[-1]}", e.value, e.allowed) from None
        except TypeError:
            raise ScenarioError(f"protocol[{i}]", s, "the required keys, e.g. duration_s") from None
    return Protocol(tuple(out))


def _medium_from(value: Any) -> Material:
    if isinstance(value, str):
        return get_material(value)
    d = dict(_table("medium", value))
    name = check_choice("medium.name", d.pop("name", None), material_names())
    base = get_material(name)
    _check_keys("medium", d, _field_names(Material) - {"name", "sources"})
    if not d:
        return base
    return base.with_(sources=base.sources + (f"overridden in scenario file: {sorted(d)}",), **d)


def scenario_from_dict(d: Mapping[str, Any]) -> Scenario:
    """Build and validate a scenario from plain data (a parsed TOML file)."""
    d = dict(d)
    top = _field_names(Scenario)
    _check_keys("", d, top)
    for required in ("probe", "protocol"):
        if required not in d:
            raise ScenarioError(required, None, f"a [{required}] section")
    kwargs: dict[str, Any] = {
        "probe": _probe_from(d.pop("probe")),
        "protocol": _protocol_from(d.pop("protocol")),
        "medium": _medium_from(d.pop("medium", "soft_tissue")),
    }
    if "thermocouples" in d:
        tcs = []
        for i, t in enumerate(d.pop("thermocouples")):
            t = dict(_table(f"thermocouples[{i}]", t))
            _check_keys(f"thermocouples[{i}]", t, _field_names(Thermocouple))
            tcs.append(Thermocouple(name=str(t.get("name", f"TC{i + 1}")), r_m=t.get("r_m"), z_m=t.get("z_m")))  # type: ignore[arg-type]
        kwargs["thermocouples"] = tuple(tcs)
    if "bone" in d:
        b = dict(_table("bone", d.pop("bone")))
        _check_keys("bone", b, _field_names(BonePlate))
        kwargs["bone"] = BonePlate(**b)
    for key, cls in (("vessels", Vessel), ("extra_probes", ProbePlacement)):
        if key in d:
            items = d.pop(key)
            if not isinstance(items, list):
                raise ScenarioError(key, items, f"an array of [[{key}]] tables")
            objs = []
            for i, v in enumerate(items):
                v = dict(_table(f"{key}[{i}]", v))
                _check_keys(f"{key}[{i}]", v, _field_names(cls))
                try:
                    objs.append(cls(**v))
                except TypeError:
                    raise ScenarioError(f"{key}[{i}]", v, "the required keys of " + cls.__name__) from None
            kwargs[key] = tuple(objs)
    if "numerics" in d:
        n = dict(_table("numerics", d.pop("numerics")))
        _check_keys("numerics", n, _field_names(Numerics))
        kwargs["numerics"] = Numerics(**n)
    if "isotherms_C" in d:
        iso = d.pop("isotherms_C")
        if not isinstance(iso, list):
            raise ScenarioError("isotherms_C", iso, "an array of temperatures (°C)")
        kwargs["isotherms_C"] = tuple(iso)
    kwargs.update(d)
    return Scenario(**kwargs)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError("scenario file", str(p), "an existing TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("scenario file", str(p), f"valid TOML ({e})") from None
    return scenario_from_dict(data)
