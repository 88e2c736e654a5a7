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

__all__ = ["list_designs", "load_probe_design", "design_from_dict"]

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


def probe_from_design(name: str, **kwargs: object) -> "object":
    """The :class:`~cryosim.physics.probe.Probe` of one needle of catalogue design ``name``
    (diameter, active length, gauge, coolant and floor from it)."""
    return load_probe_design(name).probe(**kwargs)
