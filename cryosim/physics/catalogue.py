"""Probe designs as data: ``cryosim/data/probes/*.toml``, one Joule–Thomson probe per file.

Each file has ``name`` and ``description`` strings and, for every field of
:class:`cryosim.physics.device.ProbeDesign`, an inline table
``field = { value = ..., source = "..." }``: every number says where it
comes from, or that it is an assumption and why that value. Pressures are
absolute (Pa).

An uncertain value may state its plausible interval (SI, the value inside it):
``orifice_diameter_m = { value = 0.25e-3, range = [0.2e-3, 0.3e-3], source = "..." }``.
It becomes :attr:`ProbeDesign.ranges` (:func:`design_ranges`): what a band over
the design, a study or a calibration (``probe.<field>``) varies it over.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from functools import lru_cache
from importlib import resources
from typing import Any

from ..checks import ScenarioError
from .device import ProbeDesign

__all__ = ["design_from_dict", "design_of", "design_ranges", "list_designs", "load_probe_design", "probe_from_design",
           "with_overrides"]

_PLAIN = {"name", "description"}


def _files() -> dict[str, Any]:
    root = resources.files("cryosim") / "data" / "probes"
    return {p.name[:-5]: p for p in root.iterdir() if p.name.endswith(".toml")}


@lru_cache(maxsize=1)
def list_designs() -> tuple[str, ...]:
    """Names of the catalogue's designs (the file stems), sorted."""
    return tuple(sorted(_files()))


def design_from_dict(d: dict[str, Any], where: str = "design") -> ProbeDesign:
    """A validated :class:`ProbeDesign` from a parsed design file; every value needs a non-empty ``source``,
    and may state a ``range = [low, high]`` (SI) that holds it."""
    known = {f.name for f in fields(ProbeDesign)} - {"sources", "ranges"}
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    ranges: dict[str, Any] = {}
    for key, value in d.items():
        if key not in known:
            raise ScenarioError(f"{where}.{key}", value, f"one of the design keys {sorted(known)}")
        if key in _PLAIN:
            kwargs[key] = value
            continue
        if not isinstance(value, dict) or not {"value", "source"} <= set(value) <= {"value", "source", "range"}:
            raise ScenarioError(f"{where}.{key}", value,
                                "an inline table { value = ..., source = \"...\" } (optionally range = [low, high])")
        if not isinstance(value["source"], str) or not value["source"].strip():
            raise ScenarioError(f"{where}.{key}.source", value["source"], "a non-empty citation or stated assumption")
        kwargs[key], sources[key] = value["value"], value["source"]
        if "range" in value:
            ranges[key] = value["range"]
    if "name" not in kwargs:
        raise ScenarioError(f"{where}.name", None, "a name")
    try:
        return ProbeDesign(**kwargs, sources=sources, ranges=ranges)
    except ScenarioError as e:  # name the file's key
        if e.field.startswith("design "):
            raise ScenarioError(f"{where}.{e.field.split('.', 1)[-1]}", e.value, e.allowed) from None
        raise


@lru_cache(maxsize=None)
def load_probe_design(name: str) -> ProbeDesign:
    """The catalogue design ``name`` (see :func:`list_designs`)."""
    files = _files()
    if name not in files:
        raise ScenarioError("probe.design", name, f"one of {', '.join(list_designs())}")
    d = tomllib.loads(files[name].read_text(encoding="utf-8"))
    design = design_from_dict(d, f"design {name!r}")
    if design.name != name:
        raise ScenarioError(f"design {name!r}.name", design.name, "the file's stem")
    return design


def design_ranges(name: str) -> dict[str, tuple[float, float]]:
    """The stated ranges of catalogue design ``name``: {field: (low, high)} in SI units (the value inside each)."""
    return dict(load_probe_design(name).ranges)


def with_overrides(design: ProbeDesign, overrides: dict[str, float]) -> ProbeDesign:
    """``design`` with operating values replaced (:data:`cryosim.physics.probe.DESIGN_OVERRIDES`), checked by the
    design's checks; an orifice given drops the design's mass flow and the converse; each changed value's source
    says so. A value set by the scenario is no longer uncertain: its stated range (and that of the flow law it
    replaces) is dropped, the other fields keep theirs."""
    import dataclasses

    if not overrides:
        return design
    if "orifice_diameter_m" in overrides and "mass_flow_kg_per_s" in overrides:
        raise ScenarioError("probe.mass_flow_kg_per_s", overrides["mass_flow_kg_per_s"],
                            "either orifice_diameter_m or mass_flow_kg_per_s, not both")
    changes: dict[str, object] = dict(overrides)
    if "orifice_diameter_m" in overrides:
        changes.setdefault("mass_flow_kg_per_s", None)
    if "mass_flow_kg_per_s" in overrides:
        changes.setdefault("orifice_diameter_m", None)
    sources = dict(design.sources)
    for key in overrides:
        sources[key] = "set by the scenario ([probe] " + key + "), replacing the design's value"
    ranges = {k: v for k, v in design.ranges.items() if k not in changes}
    try:
        return dataclasses.replace(design, **changes, sources=sources, ranges=ranges)  # type: ignore[arg-type]
    except ScenarioError as e:  # name the scenario's key, not the design's field
        key = e.field.rsplit(".", 1)[-1]
        if key in overrides:
            raise ScenarioError(f"probe.{key}", e.value, f"{e.allowed} (the range of design {design.name!r})") from None
        raise


def design_of(probe: object) -> ProbeDesign:
    """The design a probe runs: its catalogue design with the probe's operating overrides."""
    return with_overrides(load_probe_design(probe.design), probe.design_overrides())  # type: ignore[attr-defined]


def probe_from_design(name: str, **kwargs: object) -> "object":
    """The :class:`~cryosim.physics.probe.Probe` of one needle of catalogue design ``name``
    (diameter, active length, gauge, coolant and floor from it). Operating overrides among ``kwargs``
    (``supply_pressure_Pa``, ...) change the design first, so the floor is that of the changed design."""
    from .probe import DESIGN_OVERRIDES

    overrides = {k: float(kwargs.pop(k)) for k in DESIGN_OVERRIDES if kwargs.get(k) is not None}  # type: ignore[arg-type]
    for k in DESIGN_OVERRIDES:
        kwargs.pop(k, None)
    return with_overrides(load_probe_design(name), overrides).probe(**kwargs, **overrides)
