"""What a calibration fits: a scenario (probe runs), a skin therapy, or a user's model function.

Every model maps an assignment ``{parameter name: value}`` and the data sets
to one array of predictions per data set (:meth:`predict`), and is plain,
picklable data, so a point travels to worker processes and Dask workers as
it is. :func:`evaluate_point` is what a worker runs: it never raises for a
failed point (a refused value, a run that does not converge), it returns the
error, like :func:`cryosim.studies.point.compute_point`.

* :class:`ScenarioModel`: parameters are scenario paths (``probe.orifice_diameter_m``,
  ``medium.conductivity_unfrozen_W_per_m_K``, ``protocol[0].duration_s``...,
  :mod:`cryosim.studies.paths`); thermocouple, isotherm and thermistor data.
* :class:`SkinModel`: parameters ``therapy.<keyword>`` of a therapy factory
  of :mod:`cryosim.clinical.skin` (``co2_jet``, ``ice_pack``...) and
  ``body.<keyword>`` of :func:`cryosim.clinical.skin.simulate`
  (``perfusion_scale``...); skin data.
* :class:`FunctionModel`: ``fn(values, datasets) -> [array per data set]``.
"""

from __future__ import annotations

import inspect
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import ScenarioError
from .calibration_data import Dataset
from .paths import check_path, plain_scenario, scenario_at

__all__ = ["FunctionModel", "ScenarioModel", "SkinModel", "as_model", "evaluate_point", "skin_factories"]

#: Kinds of data each model can predict.
_SCENARIO_KINDS = ("thermocouple", "isotherm", "thermistor")
#: Data times landed on exactly at most (each is a forced step); more are interpolated between steps.
MAX_EXACT_TIMES = 2000
#: Prefix of the virtual thermocouples a calibration adds to the scenario.
TC_PREFIX = "calib"


def _tc_name(k: int, j: int) -> str:
    return f"{TC_PREFIX}{k}_{j}"


@dataclass(frozen=True)
class ScenarioModel:
    """A scenario (as the plain data of a scenario file) run by :func:`cryosim.run` at every point.

    ``exact_times``: the time steps land on every data time (exact values;
    each time is a forced step); False interpolates linearly between steps.
    """

    base: dict[str, Any]
    exact_times: bool = True
    kinds = _SCENARIO_KINDS

    @classmethod
    def of(cls, scenario: Any, exact_times: bool = True) -> "ScenarioModel":
        from ..scenario import Scenario, load_scenario, scenario_from_dict

        if isinstance(scenario, (str, os.PathLike)):
            scenario = load_scenario(scenario)
        elif isinstance(scenario, Mapping):
            scenario = scenario_from_dict(scenario)
        if not isinstance(scenario, Scenario):
            raise ScenarioError("model", type(scenario).__name__, "a Scenario, a scenario file or its parsed dict")
        return cls(plain_scenario(scenario), bool(exact_times))

    def definition(self) -> dict[str, Any]:
        return {"model": "scenario", "base": self.base, "exact_times": self.exact_times}

    def check_parameter(self, name: str) -> None:
        check_path(name)

    def scenario(self, assignment: Mapping[str, float] | None = None) -> Any:
        """The base scenario with ``assignment`` set (validated)."""
        return scenario_at(self.base, dict(assignment or {}))

    def prepared(self, datasets: Sequence[Dataset]) -> dict[str, Any]:
        """The base with what the data need: their isotherms, a thermocouple per position, the data times."""
        d = dict(self.base)
        iso = list(d.get("isotherms_C", [0.0, -20.0, -40.0]))
        tcs = list(d.get("thermocouples", []))
        times: set[float] = set()
        for k, ds in enumerate(datasets):
            if ds.kind == "isotherm":
                for v in ds.columns["isotherm_C"]:
                    if float(v) not in iso:
                        iso.append(float(v))
                times.update(float(t) for t in ds.time_s)
            elif ds.kind == "thermocouple":
                tcs += [{"name": _tc_name(k, j), "r_m": r, "z_m": z} for j, (r, z) in enumerate(ds.distinct_points())]
            if ds.kind in ("thermocouple", "thermistor") and self.exact_times:
                times.update(float(t) for t in ds.time_s)
        d["isotherms_C"] = iso
        d["thermocouples"] = tcs
        times.discard(0.0)
        if len(times) > MAX_EXACT_TIMES:  # interpolate the traces instead of a forced step per sample
            times = {float(t) for ds in datasets if ds.kind == "isotherm" for t in ds.time_s} - {0.0}
        num = dict(d.get("numerics", {}))
        num["output_times_s"] = sorted(set(num.get("output_times_s", [])) | times)
        d["numerics"] = num
        return d

    def check_data(self, datasets: Sequence[Dataset]) -> None:
        """Refuse data this model cannot predict (kind, times past the protocol, a thermistor without a device)."""
        s = self.scenario()
        for ds in datasets:
            if ds.kind not in self.kinds:
                raise ScenarioError(f"data[{ds.name}].kind", ds.kind,
                                    f"one of {', '.join(self.kinds)} for a scenario model (skin data need [skin])")
            late = ds.time_s > s.protocol.duration_s * (1 + 1e-12)
            if np.any(late):
                row = int(np.argmax(late)) + 1
                raise ScenarioError(f"data[{ds.name}].time_s (row {row})", float(ds.time_s[late][0]),
                                    f"a time within the protocol, [0, {s.protocol.duration_s:g}] s")
            if ds.kind == "thermistor" and not _has_gas(s):
                raise ScenarioError(f"data[{ds.name}].kind", ds.kind, "thermistor data of a Joule-Thomson device: "
                                    'a scenario with [probe] design = "..." and a freeze with gas = "on"')
        scenario_at(self.prepared(datasets), {})  # thermocouples inside the medium, isotherms allowed...

    def predict(self, assignment: Mapping[str, float], datasets: Sequence[Dataset],
                prepared: Mapping[str, Any] | None = None) -> list[np.ndarray]:
        from ..api import run

        base = self.prepared(datasets) if prepared is None else prepared
        results = run(scenario_at(base, dict(assignment)))
        return [_from_results(results, k, ds) for k, ds in enumerate(datasets)]


def _has_gas(scenario: Any) -> bool:
    return scenario.probe.design is not None and any(getattr(st, "gas", None) == "on" for st in scenario.protocol.steps)


def _series_at(results: Any, series: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.interp(t, results.time_s, series)


def _from_results(results: Any, k: int, ds: Dataset) -> np.ndarray:
    if ds.kind == "isotherm":
        return np.array([results.at(float(t), float(iso), str(m))
                         for t, iso, m in zip(ds.time_s, ds.columns["isotherm_C"], ds.columns["measure"])])
    if ds.kind == "thermistor":
        if "thermistor_C" not in results.device:
            raise ScenarioError(f"data[{ds.name}].kind", ds.kind, "a run with a Joule-Thomson device (thermistor)")
        return _series_at(results, results.device["thermistor_C"], ds.time_s)
    points = {p: _tc_name(k, j) for j, p in enumerate(ds.distinct_points())}
    out = np.empty(len(ds))
    for i, (t, r, z) in enumerate(zip(ds.time_s, ds.columns["r_m"], ds.columns["z_m"])):
        out[i] = np.interp(t, results.time_s, results.thermocouples_C[points[(float(r), float(z))]])
    return out


def skin_factories() -> dict[str, Callable[..., Any]]:
    """The therapy factories of :mod:`cryosim.clinical.skin`: its public functions that return a SurfaceTherapy."""
    from ..clinical import skin

    out = {}
    for name in getattr(skin, "__all__", ()):
        obj = getattr(skin, name, None)
        if inspect.isfunction(obj) and inspect.signature(obj).return_annotation in ("SurfaceTherapy",
                                                                                    skin.SurfaceTherapy):
            out[name] = obj
    return out


def _keywords(fn: Callable[..., Any], skip: Sequence[str] = ()) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in skip]


@dataclass(frozen=True)
class SkinModel:
    """Surface cryotherapy: ``simulate(factory(**therapy), **body)`` of :mod:`cryosim.clinical.skin`.

    Parameters are named ``therapy.<keyword of the factory>`` and
    ``body.<keyword of simulate>`` (``body.perfusion_scale``, ``body.core_C``...).
    """

    factory: str
    therapy: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    kinds = ("skin",)

    def __post_init__(self) -> None:
        factories = skin_factories()
        if self.factory not in factories:
            raise ScenarioError("skin.factory", self.factory, "a therapy factory of cryosim.clinical.skin: one of "
                                + ", ".join(sorted(factories)))
        for key in self.therapy:
            self.check_parameter(f"therapy.{key}", f"skin.therapy.{key}")
        for key in self.body:
            self.check_parameter(f"body.{key}", f"skin.body.{key}")

    def definition(self) -> dict[str, Any]:
        return {"model": "skin", "factory": self.factory, "therapy": self.therapy, "body": self.body}

    def allowed(self) -> dict[str, list[str]]:
        from ..clinical import skin

        return {"therapy": _keywords(skin_factories()[self.factory]),
                "body": _keywords(skin.simulate, ("therapy", "layers"))}

    def check_parameter(self, name: str, where: str | None = None) -> None:
        """Refuse a name that is no keyword of the factory (``therapy.``) or of simulate (``body.``)."""
        group, _, key = str(name).partition(".")
        allowed = self.allowed()
        if group not in allowed or key not in allowed[group]:
            names = [f"therapy.{k}" for k in allowed["therapy"]] + [f"body.{k}" for k in allowed["body"]]
            raise ScenarioError(where or f"parameters.{name}", name,
                                f"a keyword of {self.factory}() or simulate(): one of {', '.join(names)}")

    def split(self, assignment: Mapping[str, float]) -> tuple[dict[str, Any], dict[str, Any]]:
        therapy, body = dict(self.therapy), dict(self.body)
        for name, v in assignment.items():
            group, _, key = name.partition(".")
            (therapy if group == "therapy" else body)[key] = v
        return therapy, body

    def surface_therapy(self, assignment: Mapping[str, float] | None = None) -> Any:
        therapy, _ = self.split(assignment or {})
        return skin_factories()[self.factory](**therapy)

    def check_data(self, datasets: Sequence[Dataset]) -> None:
        for ds in datasets:
            if ds.kind not in self.kinds:
                raise ScenarioError(f"data[{ds.name}].kind", ds.kind, "skin data for a [skin] model")
        from ..clinical import skin

        therapy = self.surface_therapy()
        after = self.body.get("after_s", inspect.signature(skin.simulate).parameters["after_s"].default)
        end = therapy.duration_s + float(after)
        for ds in datasets:
            late = ds.time_s > end * (1 + 1e-12)
            if np.any(late):
                row = int(np.argmax(late)) + 1
                raise ScenarioError(f"data[{ds.name}].time_s (row {row})", float(ds.time_s[late][0]),
                                    f"a time within the therapy and the rewarming after it, [0, {end:g}] s")

    def predict(self, assignment: Mapping[str, float], datasets: Sequence[Dataset],
                prepared: Any = None) -> list[np.ndarray]:
        from ..clinical import skin

        therapy, body = self.split(assignment)
        result = skin.simulate(skin_factories()[self.factory](**therapy), **body)
        return [np.interp(ds.time_s, result.time_s, result.surface_C) for ds in datasets]

    def prepared(self, datasets: Sequence[Dataset]) -> None:
        return None


@dataclass(frozen=True)
class FunctionModel:
    """A model given as a function ``fn(values: dict, datasets: list[Dataset]) -> list of arrays``
    (one prediction per datum of each data set). It must be picklable (a module-level function) to run
    on worker processes; ``executor="serial"`` runs it in this process."""

    fn: Callable[..., Sequence[Any]]
    kinds = ("values", "thermocouple", "isotherm", "thermistor", "skin")

    def definition(self) -> dict[str, Any]:
        """The function's module and name (of its class for a callable object): its code is not hashed."""
        fn = self.fn if hasattr(self.fn, "__qualname__") else type(self.fn)
        return {"model": "function", "function": f"{getattr(fn, '__module__', '?')}.{fn.__qualname__}"}

    def check_parameter(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ScenarioError("parameters", name, "a non-empty parameter name")

    def check_data(self, datasets: Sequence[Dataset]) -> None:
        return None

    def prepared(self, datasets: Sequence[Dataset]) -> None:
        return None

    def predict(self, assignment: Mapping[str, float], datasets: Sequence[Dataset],
                prepared: Any = None) -> list[np.ndarray]:
        out = list(self.fn(dict(assignment), list(datasets)))
        if len(out) != len(datasets):
            raise ValueError(f"the model function returned {len(out)} arrays for {len(datasets)} data sets")
        return [np.asarray(o, float).reshape(len(ds)) for o, ds in zip(out, datasets)]


def as_model(model: Any, exact_times: bool = True) -> ScenarioModel | SkinModel | FunctionModel:
    """A Scenario, scenario file, parsed scenario dict, :class:`SkinModel` or function as a model."""
    if isinstance(model, (ScenarioModel, SkinModel, FunctionModel)):
        return model
    if callable(model) and not isinstance(model, type):
        return FunctionModel(model)
    return ScenarioModel.of(model, exact_times)


def evaluate_point(model: Any, assignment: Mapping[str, float], datasets: Sequence[Dataset],
                   prepared: Any = None) -> dict[str, Any]:
    """Predictions of one point as plain data: ``{"status": "ok"|"error", "predictions", "error", cpu_s...}``."""
    from .. import __version__

    cpu0, wall0 = time.process_time(), time.perf_counter()
    out: dict[str, Any] = {"assignment": {k: float(v) for k, v in assignment.items()}}
    try:
        preds = model.predict(assignment, datasets, prepared)
        bad = [ds.name for p, ds in zip(preds, datasets) if not np.all(np.isfinite(p))]
        if bad:
            raise ValueError(f"the model predicted non-finite values for data set(s) {', '.join(bad)}")
        out.update(status="ok", error="", predictions=[[float(v) for v in p] for p in preds])
    except Exception as e:  # noqa: BLE001 - a failed point is recorded; the calibration decides what to do
        out.update(status="error", error=f"{type(e).__name__}: {e}", predictions=None)
    out["cpu_s"] = time.process_time() - cpu0
    out["wall_s"] = time.perf_counter() - wall0
    out["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    out["cryosim_version"] = __version__
    return out
