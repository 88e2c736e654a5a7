"""Scenario fields named by their path, applied to a scenario's plain-data form.

A study names what it varies by the path of the field in a scenario file:
``probe.gauge``, ``protocol[0].duration_s``, ``medium.perfusion_per_s``,
``bone.distance_m``, ``numerics.resolution``, ``name``... A point of the
study is the base scenario's plain-data form (:func:`plain_scenario`, the
same tables and keys as a TOML scenario file) with each path set to its
value, rebuilt through :func:`cryosim.scenario.scenario_from_dict`: every
value passes the usual checks and a bad one is refused with the usual
:class:`~cryosim.checks.ScenarioError` naming field, value and allowed range.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import numpy as np

from ..checks import ScenarioError
from ..physics.materials import Material, get_material, material_names
from ..physics.probe import Probe
from ..physics.protocol import Freeze, Thaw
from ..physics.scene import BonePlate, ProbePlacement, Vessel
from ..scenario import Numerics, Scenario, Thermocouple, scenario_from_dict

__all__ = ["apply_path", "check_path", "parse_path", "path_wants_integer", "plain_scenario", "scenario_at"]

#: Tables of a scenario file and the keys each accepts (the classes' own fields).
_TABLES: dict[str, set[str]] = {
    "probe": {f.name for f in fields(Probe)},
    "medium": {f.name for f in fields(Material)} - {"sources"},
    "numerics": {f.name for f in fields(Numerics)},
    "bone": {f.name for f in fields(BonePlate)},
}
#: Arrays of tables and the keys of their entries.
_ARRAYS: dict[str, set[str]] = {
    "protocol": {"type"} | {f.name for f in fields(Freeze)} | {f.name for f in fields(Thaw)},
    "vessels": {f.name for f in fields(Vessel)},
    "extra_probes": {f.name for f in fields(ProbePlacement)},
    "thermocouples": {f.name for f in fields(Thermocouple)},
}
#: Top-level values that are not tables.
_SCALARS = {f.name for f in fields(Scenario) if f.init} - set(_TABLES) - set(_ARRAYS)
#: Tables that a scenario file may also give whole, by name (``medium = "muscle"``).
_BY_NAME = {"medium"}
#: Keys of which a table holds one or the other: setting one removes the other.
_EXCLUSIVE = {("probe", "gauge"): "outer_diameter_m", ("probe", "outer_diameter_m"): "gauge"}

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def _plain(x: Any) -> Any:
    """Plain TOML-like data: tuples to lists, numpy scalars to Python numbers, None dropped from tables."""
    if isinstance(x, Mapping):
        return {k: _plain(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def plain_scenario(scenario: Scenario) -> dict[str, Any]:
    """The scenario as the tables and keys of a scenario file (``scenario_from_dict`` rebuilds it).

    Differs from :meth:`Scenario.to_dict` where the file format does: a probe
    given by gauge keeps the gauge only, the medium is its library name plus
    the fields that differ from the library's set, an initial temperature
    taken from the Pennes steady state is left out (so it follows a new
    medium), and unset (None) values are left out.
    """
    d = scenario.to_dict()
    d.pop("initial_from_steady_state", None)
    if scenario.initial_from_steady_state:
        d.pop("initial_temperature_C")
    if scenario.probe.design is not None:  # the design sets these (a scenario file may not repeat them)
        for key in ("gauge", "outer_diameter_m", "active_length_m", "coolant", "design_floor_C"):
            d["probe"].pop(key, None)
    elif scenario.probe.gauge is not None:
        d["probe"].pop("outer_diameter_m")
    for nerve in d.get("nerves", ()):  # a nerve given as a line holds its resolved points too: keep those only
        for key in ("distance_m", "from_z_m", "to_z_m"):
            nerve.pop(key, None)
    name = scenario.medium.name
    if name not in material_names():
        raise ScenarioError("medium.name", name, "a material of the library (one of "
                            + ", ".join(repr(n) for n in material_names()) + ") to be written as plain data")
    library = get_material(name)
    d["medium"] = {"name": name} | {
        k: v for k, v in d["medium"].items()
        if k not in ("name", "sources") and v != getattr(library, k)
    }
    return _plain(d)


def parse_path(path: str) -> list[tuple[str, int | None]]:
    """``"protocol[0].duration_s"`` -> ``[("protocol", 0), ("duration_s", None)]``; bad syntax refused."""
    if not isinstance(path, str) or not path:
        raise ScenarioError("study parameter", path, "a field path such as 'probe.gauge' or 'protocol[0].duration_s'")
    out = []
    for seg in path.split("."):
        m = _SEGMENT.match(seg)
        if m is None:
            raise ScenarioError("study parameter", path, "a field path of names and [index]es separated by dots "
                                f"(segment {seg!r} is neither), such as 'protocol[0].duration_s'")
        out.append((m.group(1), None if m.group(2) is None else int(m.group(2))))
    return out


def check_path(path: str) -> list[tuple[str, int | None]]:
    """Parse ``path`` and refuse one that names no field of a scenario file.

    ``medium`` alone names the whole medium (a material name, as in a scenario file).
    """
    segs = parse_path(path)
    (key, index), rest = segs[0], segs[1:]
    known = sorted(_SCALARS | set(_TABLES) | set(_ARRAYS))
    if key in _SCALARS:
        ok = not rest and index is None
        shape = f"'{key}' (a top-level value: no index, no sub-key)"
    elif key in _BY_NAME and not rest and index is None:
        ok, shape = True, ""
    elif key in _TABLES:
        ok = len(rest) == 1 and index is None and rest[0][1] is None and rest[0][0] in _TABLES[key]
        shape = f"'{key}.KEY' with KEY one of " + ", ".join(sorted(_TABLES[key]))
    elif key in _ARRAYS:
        ok = len(rest) == 1 and index is not None and rest[0][1] is None and rest[0][0] in _ARRAYS[key]
        shape = f"'{key}[INDEX].KEY' with KEY one of " + ", ".join(sorted(_ARRAYS[key]))
    else:
        raise ScenarioError("study parameter", path, "a path starting with a scenario key: " + ", ".join(known))
    if not ok:
        raise ScenarioError("study parameter", path, f"a path of the form {shape}")
    return segs


#: The classes whose fields a path's last key names (for :func:`path_wants_integer`).
_CLASSES: dict[str, tuple[type, ...]] = {"probe": (Probe,), "medium": (Material,), "numerics": (Numerics,),
                                         "bone": (BonePlate,), "protocol": (Freeze, Thaw), "vessels": (Vessel,),
                                         "extra_probes": (ProbePlacement,), "thermocouples": (Thermocouple,)}


def path_wants_integer(path: str) -> bool:
    """True when the field at ``path`` takes whole numbers only (``probe.gauge``): a Latin hypercube over it
    must say ``integer = true``, or every point gets a fraction the field refuses."""
    segs = check_path(path)
    if len(segs) < 2:
        return False
    key = segs[-1][0]
    for cls in _CLASSES.get(segs[0][0], ()):
        for f in fields(cls):
            if f.name == key:
                kinds = {t.strip() for t in str(f.type).split("|")} - {"None"}
                return kinds == {"int"}
    return False


def apply_path(plain: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``plain`` with the field at ``path`` set to ``value`` (not validated: see :func:`scenario_at`).

    A missing table is created (``bone.distance_m`` on a scenario without
    bone creates a ``[bone]`` table, which the scenario checks then complete or
    refuse); a medium given by name becomes a table; setting ``probe.gauge``
    drops ``probe.outer_diameter_m`` and the other way round; an index past
    the end of an array is refused.
    """
    segs = check_path(path)
    out = copy.deepcopy(dict(plain))
    value = _plain(value)
    (key, index) = segs[0]
    if len(segs) == 1:
        out[key] = value
        return out
    leaf = segs[1][0]
    if index is None:
        table = out.get(key)
        if key == "medium" and isinstance(table, str):
            table = {"name": table}
        table = dict(table) if isinstance(table, Mapping) else {}
        out[key] = table
    else:
        items = out.get(key, [])
        if not isinstance(items, list) or index >= len(items):
            n = len(items) if isinstance(items, list) else 0
            raise ScenarioError(path, value, f"an index below {n}: the base scenario has {n} {key} entries")
        table = items[index] = dict(items[index])
    other = _EXCLUSIVE.get((key, leaf))
    if other is not None:
        table.pop(other, None)
    table[leaf] = value
    return out


def scenario_at(plain: Mapping[str, Any], assignment: Mapping[str, Any]) -> Scenario:
    """The scenario ``plain`` with every path of ``assignment`` set, validated by ``scenario_from_dict``."""
    d = dict(plain)
    for path, value in assignment.items():
        d = apply_path(d, path, value)
    return scenario_from_dict(d)
