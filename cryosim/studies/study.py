"""A study: a base scenario, the fields it varies and how, and what to report.

Study file (TOML)::

    [study]
    name = "gauge-temperature"
    design = "grid"           # "grid" (every combination), "list" (the i-th value of every
                              # parameter together) or "lhs" (Latin hypercube samples)
    base = "scenario.toml"    # optional, relative to this file; else a [base] table; else the built-in default
    times_s = [60, 120]       # optional: ice-ball measures also at these times
    # samples = 50, seed = 1  # "lhs" only

    [base]                    # optional: a scenario written inline (same keys as a scenario file)
    ...

    [parameters]              # field path = values ("grid", "list") or {low, high[, integer]} ("lhs")
    "probe.gauge" = [14, 16, 18]
    "protocol[0].tip_temperature_C" = [-80, -60]

Every path is checked when the study is read (:func:`cryosim.studies.paths.check_path`);
values are checked point by point when the point's scenario is built, so
one bad value is one failed point, not a failed study.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import ScenarioError, check_choice, check_range
from ..scenario import default_scenario, load_scenario, read_toml_file, scenario_from_dict
from .paths import check_path, path_wants_integer, plain_scenario

__all__ = ["DESIGNS", "MAX_POINTS", "Study", "base_scenario", "file_head", "load_study", "study_from_dict"]

DESIGNS = ("grid", "list", "lhs")
#: Most points in one study: a bound against a typo (a grid of 10 parameters with 10 values each, an LHS of
#: a million samples: its manifest alone is 60 MB and its runs days), far above the hundreds to thousands a
#: design sweep needs (1000 points of the example studies take 80 s on 2 cores, benchmarks/RESULTS.md §15: 100 000
#: take about 2 h and a 6 MB manifest).
MAX_POINTS = 100_000
_STUDY_KEYS = {"name", "design", "base", "times_s", "samples", "seed"}


@dataclass(frozen=True)
class Study:
    """A validated study: the base scenario as plain data and the points to compute.

    ``parameters`` maps a field path to its values (``"grid"``, ``"list"``)
    or to ``{"low": ..., "high": ..., "integer": bool}`` (``"lhs"``).
    ``source_text``: the study file as read (stored with the results).
    """

    name: str
    design: str
    base: dict[str, Any]
    parameters: dict[str, Any]
    times_s: tuple[float, ...] = ()
    samples: int | None = None
    seed: int = 0
    source_text: str | None = field(default=None, compare=False)

    def points(self) -> list[dict[str, Any]]:
        """One assignment {path: value} per point, in a fixed order."""
        paths = list(self.parameters)
        if self.design == "grid":
            return [dict(zip(paths, combo)) for combo in itertools.product(*self.parameters.values())]
        if self.design == "list":
            return [dict(zip(paths, combo)) for combo in zip(*self.parameters.values())]
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(paths), seed=self.seed).random(self.samples)
        out = []
        for row in unit:
            point = {}
            for path, u in zip(paths, row):
                spec = self.parameters[path]
                low, high = spec["low"], spec["high"]
                if spec["integer"]:  # each integer of [low, high] (a gauge) with equal probability
                    point[path] = min(math.floor(low + float(u) * (high - low + 1)), high)
                else:
                    point[path] = low + float(u) * (high - low)
            out.append(point)
        return out

    def definition(self) -> dict[str, Any]:
        """Everything that determines the results, as plain data (what :attr:`digest` hashes)."""
        return {"name": self.name, "design": self.design, "base": self.base, "parameters": self.parameters,
                "times_s": list(self.times_s), "samples": self.samples, "seed": self.seed}

    @property
    def digest(self) -> str:
        """SHA-256 of :meth:`definition` in canonical JSON: equal for equal studies, whatever the file's layout."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _values(path: str, v: Any) -> list[Any]:
    if not isinstance(v, list) or not v:
        raise ScenarioError(f"parameters.{path}", v, "a non-empty array of values")
    return v


def _range(path: str, v: Any) -> dict[str, Any]:
    where = f"parameters.{path}"
    if not isinstance(v, Mapping) or not {"low", "high"} <= set(v) or not set(v) <= {"low", "high", "integer"}:
        raise ScenarioError(where, v, "a table {low = ..., high = ...[, integer = true]} for a Latin-hypercube design")
    low = check_range(where + ".low", v["low"])
    high = check_range(where + ".high", v["high"], low, None)
    integer = v.get("integer", False)
    if not isinstance(integer, bool):
        raise ScenarioError(where + ".integer", integer, "true or false")
    if integer and (low != int(low) or high != int(high)):
        raise ScenarioError(where, v, "integer bounds for an integer parameter")
    if not integer and path_wants_integer(path):
        raise ScenarioError(where + ".integer", v.get("integer"), f"true: {path} takes whole numbers (a Latin "
                            "hypercube without it gives every point a fraction)")
    return {"low": int(low) if integer else low, "high": int(high) if integer else high, "integer": integer}


def file_head(d: Any, kind: str, tables: tuple[str, ...], keys: set[str],
              what: str | None = None) -> tuple[Mapping[str, Any], str]:
    """(the ``[kind]`` table, its ``name``) of a parsed study or calibration file, checked: the file is a table
    of the known ``tables`` (``kind`` among them), the head holds known ``keys`` and a non-empty name
    (default ``kind``). ``what``: the file's name in the refusal of a non-table (default ``kind``)."""
    if not isinstance(d, Mapping):
        raise ScenarioError(what or kind, d, "a table")
    unknown = set(d) - set(tables)
    if unknown:
        key = min(unknown)
        raise ScenarioError(key, d[key], "a known table: " + ", ".join(tables))
    head = d.get(kind, {})
    if not isinstance(head, Mapping):
        raise ScenarioError(kind, head, f"a [{kind}] table")
    for key in head:
        if key not in keys:
            raise ScenarioError(f"{kind}.{key}", head[key], "a known key: " + ", ".join(sorted(keys)))
    name = head.get("name", kind)
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(f"{kind}.name", name, "a non-empty string")
    return head, name


def base_scenario(d: Mapping[str, Any], head: Mapping[str, Any], kind: str, base_dir: str | Path) -> Scenario:
    """The base scenario of a study or calibration file: the file ``[kind] base`` names (relative to
    ``base_dir``), else its ``[base]`` table, else the built-in default (giving both is for the caller to refuse)."""
    if "base" in head:
        if not isinstance(head["base"], str):
            raise ScenarioError(f"{kind}.base", head["base"], "the path of a scenario file")
        return load_scenario(Path(base_dir) / head["base"])
    if "base" in d:
        return scenario_from_dict(d["base"])
    return default_scenario()


def study_from_dict(d: Mapping[str, Any], base_dir: str | Path = ".", source_text: str | None = None) -> Study:
    """Build and validate a study from plain data (a parsed study file); ``base`` is relative to ``base_dir``."""
    head, name = file_head(d, "study", ("study", "base", "parameters"), _STUDY_KEYS)
    design = check_choice("study.design", head.get("design", "grid"), DESIGNS)
    if "base" in head and "base" in d:
        raise ScenarioError("study.base", head["base"], "either a base file or a [base] table, not both")
    base = base_scenario(d, head, "study", base_dir)
    times = head.get("times_s", [])
    if not isinstance(times, list):
        raise ScenarioError("study.times_s", times, "an array of times (s)")
    times_s = tuple(sorted({check_range(f"study.times_s[{i}]", t, 0.0, None, unit="s", low_open=True)
                            for i, t in enumerate(times)}))
    params = d.get("parameters")
    if not isinstance(params, Mapping) or not params:
        raise ScenarioError("parameters", params, "a [parameters] table naming at least one field path")
    for path in params:
        check_path(path)
    samples = None
    seed = head.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScenarioError("study.seed", seed, "a non-negative integer")
    if design == "lhs":
        parameters = {p: _range(p, v) for p, v in params.items()}
        samples = head.get("samples")
        if isinstance(samples, bool) or not isinstance(samples, int):
            raise ScenarioError("study.samples", samples, "an integer number of Latin-hypercube samples")
        n = int(check_range("study.samples", samples, 1, MAX_POINTS))
    else:
        if "samples" in head:
            raise ScenarioError("study.samples", head["samples"], "no samples count with design = " + repr(design))
        parameters = {p: _values(p, v) for p, v in params.items()}
        lengths = [len(v) for v in parameters.values()]
        if design == "list" and len(set(lengths)) > 1:
            raise ScenarioError("parameters", dict(zip(parameters, lengths)),
                                "arrays of one length with design = 'list' (the i-th values form point i)")
        n = math.prod(lengths) if design == "grid" else lengths[0]
    if n > MAX_POINTS:
        raise ScenarioError("parameters", f"<{n} points>", f"at most {MAX_POINTS} points")
    return Study(name=name, design=design, base=plain_scenario(base), parameters=parameters, times_s=times_s,
                 samples=samples, seed=seed, source_text=source_text)


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (the file checks of a scenario file: :func:`cryosim.scenario.read_toml_file`)."""
    data, text = read_toml_file(path, "study file")
    return study_from_dict(data, base_dir=Path(path).parent, source_text=text)

