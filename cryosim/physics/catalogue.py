"""Probe designs as data: ``cryosim/data/probes/*.toml``, one Joule–Thomson probe per file.

Each file has ``name`` and ``description`` strings and, for every field of
:class:`cryosim.physics.device.ProbeDesign`, an inline table
``field = { value = ..., source = "..." }``: every number says where it
comes from, or that it is an assumption and why that value. Pressures are
absolute (Pa).
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from functools import lru_cache
from importlib import resources
from typing import Any

from ..checks import ScenarioError
from .device import ProbeDesign

__all__ = ["design_from_dict", "design_of", "list_designs", "load_probe_design", "probe_from_design", "with_overrides"]

_PLAIN = {"name", "description"}


def _files() -> dict[str, Any]:
    root = resources.files("cryosim") / "data" / "probes"
    return {p.name[:-5]: p for p in root.iterdir() if p.name.endswith(".toml")}


@lru_cache(maxsize=1)
def list_designs() -> tuple[str, ...]:
    """Names of the catalogue's designs (the file stems), sorted."""
    return tuple(sorted(_files()))


def design_from_dict(d: dict[str, Any], where: str = "design") -> ProbeDesign:
    """A validated :class:`ProbeDesign` from a parsed design file; every value needs a non-empty ``source``."""
    known = {f.name for f in fields(ProbeDesign)} - {"sources"}
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in d.items():
        if key not in known:
            raise ScenarioError(f"{where}.{key}", value, f"one of the design keys {sorted(known)}")
        if key in _PLAIN:
            kwargs[key] = value
            continue
        if not isinstance(value, dict) or set(value) != {"value", "source"}:
            raise ScenarioError(f"{where}.{key}", value, "an inline table { value = ..., source = \"...\" }")
        if not isinstance(value["source"], str) or not value["source"].strip():
            raise ScenarioError(f"{where}.{key}.source", value["source"], "a non-empty citation or stated assumption")
        kwargs[key], sources[key] = value["value"], value["source"]
    if "name" not in kwargs:
        raise ScenarioError(f"{where}.name", None, "a name")
    return ProbeDesign(**kwargs, sources=sources)


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


def with_overrides(design: ProbeDesign, overrides: dict[str, float]) -> ProbeDesign:
    """``design`` with operating values replaced (:data:`cryosim.physics.probe.DESIGN_OVERRIDES`), checked by the
    design's ranges; an orifice given drops the design's mass flow and the converse; each changed value's source
    says so."""
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
    try:
        return dataclasses.replace(design, **changes, sources=sources)  # type: ignore[arg-type]
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
