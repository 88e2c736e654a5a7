"""What a calibration writes, and the files that carry its fitted values to later runs.

* ``calibration.json``: fitted values, intervals, covariance, correlation,
  residuals per datum, chi2, cost, evaluations, warnings, the data files with
  their SHA-256;
* ``residuals.png``: per data set, observed and predicted against time, and
  the residuals (units on the axes);
* for a scenario whose probe names a catalogue design and whose fitted
  parameters include its operation (``probe.supply_pressure_Pa``,
  ``probe.orifice_diameter_m``, ...): a **probe design file**
  ``<design>.toml``, a copy of the catalogue design with the fitted values
  in place, each with a ``source`` saying "fitted by cryosim calibrate to
  <data files> on <date>: value ± half-width (95 %)" (the catalogue's
  :func:`~cryosim.physics.catalogue.design_from_dict` accepts it: it takes
  no other keys, so the rest of the provenance is in the sidecar
  ``<design>.calibration.json``). :func:`load_design_file` reads it as a
  :class:`~cryosim.physics.device.ProbeDesign`; a scenario names the
  catalogue design and takes the file's operating values with
  :func:`scenario_with_design_file` (or :func:`probe_from_design_file`);
* for a skin fit: a **therapy file** ``<name>.therapy.toml`` (the factory
  and its keyword values, each with its source; the body keywords of
  ``simulate``), read back by :func:`load_therapy_file` and
  :func:`therapy_file_body`.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..checks import ScenarioError
from ..post.files import atomic_write, slug, to_jsonable

__all__ = ["load_design_file", "load_therapy_file", "probe_from_design_file", "result_dict",
           "scenario_with_design_file", "therapy_file_body", "write_outputs"]

_UNIT_SHOWN = {"K": ("°C", 1.0, "K"), "m": ("mm", 1e3, "mm"), "m2": ("mm²", 1e6, "mm²"), "m3": ("mm³", 1e9, "mm³"),
               "": ("", 1.0, "")}


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _jsonable(x: Any) -> Any:
    """Plain JSON data: numpy to Python, tuples to lists, NaN and infinities to null, anything else as text."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, (float, np.floating)):
        return _finite(float(x))
    if isinstance(x, np.generic):
        return x.item()
    return to_jsonable(x)


def _data_files(result: Any) -> list[str]:
    return [Path(d.file).name if d.file else d.name for d in result.datasets]


def result_dict(result: Any, name: str = "calibration") -> dict[str, Any]:
    """Plain data of a :class:`~cryosim.studies.calibrate.CalibrationResult` (``calibration.json``)."""
    data = []
    for ds, f in zip(result.datasets, result.residual_frames()):
        rows = f.drop(columns=["data", "kind", "unit"]).to_dict(orient="records")
        data.append({"name": ds.name, "kind": ds.kind, "file": ds.file, "sha256": ds.sha256, "rows": len(ds),
                     "weight": ds.weight, "unit": ds.unit,
                     "chi2": float(np.sum(ds.residuals(f["predicted"].to_numpy()) ** 2)),
                     "rms_residual": float(np.sqrt(np.mean(f["residual"].to_numpy() ** 2))),
                     "residuals": rows})
    return _jsonable({
        "name": name, "date": _now(), "cryosim_version": __version__,
        "model": result.model.definition(),
        "parameters": {p.name: {"bounds": [p.low, p.high], "log": p.log, "fitted": result.values[p.name],
                                "std": result.std[p.name], "interval_95": list(result.intervals[p.name]),
                                "half_width_95": result.half_widths[p.name], "at_bound": p.name in result.at_bounds}
                       for p in result.parameters},
        "correlation": {"names": result.names, "matrix": result.correlation.tolist()},
        "covariance": {"names": result.names, "matrix": result.covariance.tolist()},
        "chi2": result.chi2, "cost": result.cost, "dof": result.dof, "reduced_chi2": result.s2,
        "t_0975": result.t_value, "condition_number": result.condition_number,
        "singular_values_normalised_jacobian": result.singular_values.tolist(),
        "identifiable": result.identifiable, "unidentified": result.unidentified, "at_bounds": result.at_bounds,
        "warnings": result.warnings,
        "evaluations": result.evaluations, "computed": result.computed, "reused": result.reused,
        "starts": result.starts, "settings": result.settings, "data": data, "files": result.files,
    })


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def plot_residuals(result: Any, path: Path) -> None:
    """``residuals.png``: per data set, observed and predicted (top) and residuals with ±sigma (bottom)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    frames = result.residual_frames()
    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 6.4), squeeze=False, sharex="col")
    for k, (ds, f) in enumerate(zip(result.datasets, frames)):
        shown, scale, dunit = _UNIT_SHOWN.get(ds.unit, ("", 1.0, ""))
        if ds.kind == "thermocouple":
            groups = [((r, z), (f["r_m"] == r) & (f["z_m"] == z)) for r, z in ds.distinct_points()]
            labels = [f"r {1e3 * r:g} mm, z {1e3 * z:g} mm" for (r, z), _ in groups]
        elif ds.kind == "isotherm":
            keys = list(dict.fromkeys(zip(f["isotherm_C"], f["measure"])))
            groups = [(key, (f["isotherm_C"] == key[0]) & (f["measure"] == key[1])) for key in keys]
            labels = [f"{m} @ {iso:g} °C" for iso, m in keys]
        else:
            groups, labels = [(None, np.ones(len(f), bool))], [ds.kind]
        top, bottom = axes[0, k], axes[1, k]
        for (_, mask), label in zip(groups, labels):
            g = f[mask].sort_values("time_s")
            line, = top.plot(g["time_s"], g["predicted"] * scale, "-", lw=1.2)
            top.plot(g["time_s"], g["observed"] * scale, "o", ms=3.5, color=line.get_color(), label=label)
            bottom.errorbar(g["time_s"], g["residual"] * scale, yerr=g["sigma"] * scale, fmt="o", ms=3.5,
                            color=line.get_color(), elinewidth=0.8, capsize=1.5)
        bottom.axhline(0.0, color="0.4", lw=0.8)
        title = Path(ds.file).name if ds.file else ds.name
        top.set_title(f"{ds.kind}: {title}", fontsize=9)
        top.set_ylabel(f"value ({shown})" if ds.kind != "thermocouple" and ds.unit != "K"
                       else f"temperature ({shown})")
        bottom.set_ylabel(f"predicted - observed ({dunit})")
        bottom.set_xlabel("time (s)")
        top.legend(fontsize=7, title="points: observed, lines: fitted", title_fontsize=7)
    fit = ", ".join(f"{k} = {v:.4g}" for k, v in result.values.items())
    fig.suptitle(f"calibration: {fit}; chi² {result.chi2:.3g} ({result.dof} dof)", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110), mode="wb")
    plt.close(fig)


# --- TOML writing (flat tables of scalars and inline {value, source} tables) ---------------------------------
def _toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    raise TypeError(f"no TOML form for {v!r}")


def _toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return _toml_scalar(v)


def _toml(table: dict[str, Any], header: str | None = None) -> str:
    lines = [f"[{header}]"] if header else []
    lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


#: Units named by the end of a key (the keys of scenario and design files carry their unit).
_KEY_UNITS = (("_W_per_m2_K", "W/m2/K"), ("_kg_per_s", "kg/s"), ("_per_s", "1/s"), ("_Pa", "Pa"), ("_m", "m"),
              ("_C", "°C"), ("_s", "s"), ("_K", "K"), ("_W", "W"))


def _unit(name: str) -> str:
    for suffix, unit in _KEY_UNITS:
        if name.endswith(suffix):
            return " " + unit
    return ""


def _fitted_source(result: Any, name: str, date: str) -> str:
    lo, hi = result.intervals[name]
    v = result.values[name]
    half = 0.5 * (hi - lo)
    u = _unit(name)
    interval = (f"{v:.4g}{u} ± {half:.2g}{u} (95 %)" if math.isfinite(half) else f"{v:.4g}{u} (no finite "
                "interval: not determined by the data)")
    if math.isfinite(half) and name in {p.name for p in result.parameters if p.log}:
        interval += f", interval [{lo:.4g}, {hi:.4g}]{u}"
    warn = "; NOT IDENTIFIABLE from these data (see the calibration's warnings)" if not result.identifiable else ""
    return f"fitted by cryosim calibrate to {', '.join(_data_files(result))} on {date}: {interval}{warn}"


def _catalogue_text(design: str) -> str:
    return (resources.files("cryosim") / "data" / "probes" / f"{design}.toml").read_text(encoding="utf-8")


def _table(v: Any) -> dict[str, Any]:
    return dict(v) if isinstance(v, dict) else {}


def write_design_file(result: Any, out: Path, design_name: str | None, calibration_name: str) -> Path | None:
    """The fitted design file (see the module docstring); None when no fitted value is a design's operation."""
    from ..physics.probe import DESIGN_OVERRIDES
    from .calibration_models import ScenarioModel

    model = result.model
    if not isinstance(model, ScenarioModel):
        return None
    probe = model.base.get("probe", {})
    base_design = probe.get("design") if isinstance(probe, dict) else None
    fitted = {p.name.split(".", 1)[1]: p.name for p in result.parameters
              if p.name.startswith("probe.") and p.name.split(".", 1)[1] in DESIGN_OVERRIDES}
    if base_design is None or not fitted:
        return None
    date = _now()
    d = tomllib.loads(_catalogue_text(base_design))
    name = design_name or f"{base_design}-fitted"
    d["name"] = name
    d["description"] = (f"{d.get('description', base_design)}; operation fitted by cryosim calibrate "
                        f"({calibration_name!r}) on {date}, from catalogue design {base_design!r}")
    for key in DESIGN_OVERRIDES:  # the base scenario's own operating values, then the fitted ones
        if key in probe and key not in fitted:
            d[key] = {**_table(d.get(key)), "value": float(probe[key]),
                      "source": f"set by the calibration's base scenario ([probe] {key}); held fixed in the fit"}
    for key, pname in fitted.items():  # other keys of the value's table (its range...) are kept
        d[key] = {**_table(d.get(key)), "value": float(result.values[pname]),
                  "source": _fitted_source(result, pname, date)}
    sets = set(fitted) | {k for k in DESIGN_OVERRIDES if k in probe}
    if "orifice_diameter_m" in sets:  # as with_overrides: an orifice given drops the mass flow, and the converse
        d.pop("mass_flow_kg_per_s", None)
    if "mass_flow_kg_per_s" in sets:
        d.pop("orifice_diameter_m", None)
    text = (f"# Probe design written by cryosim calibrate ({calibration_name!r}, {date}); based on the catalogue\n"
            f"# design {base_design!r}. Provenance: {name}.calibration.json. Read it with\n"
            f"# cryosim.studies.calibration_outputs.load_design_file(path); a scenario takes its operation with\n"
            f"# scenario_with_design_file(scenario, path).\n" + _toml(d))
    from ..physics.catalogue import design_from_dict

    design_from_dict(tomllib.loads(text), f"design file {name!r}")  # the catalogue's own reader accepts it
    path = out / f"{slug(name)}.toml"
    atomic_write(path, lambda fh: fh.write(text))
    side = {"design": name, "based_on": base_design, "date": date, "cryosim_version": __version__,
            "calibration": calibration_name, "fitted": {k: {"path": p, "value": result.values[p],
                                                            "interval_95": list(result.intervals[p]),
                                                            "std": result.std[p]} for k, p in fitted.items()},
            "other_fitted": {p.name: result.values[p.name] for p in result.parameters
                             if p.name not in fitted.values()},
            "data": [{"file": ds.file, "sha256": ds.sha256, "kind": ds.kind, "rows": len(ds)}
                     for ds in result.datasets],
            "identifiable": result.identifiable, "warnings": result.warnings}
    atomic_write(out / f"{slug(name)}.calibration.json", lambda fh: json.dump(_jsonable(side), fh, indent=1))
    return path


def load_design_file(path: str | Path) -> Any:
    """A :class:`~cryosim.physics.device.ProbeDesign` from a design file (a catalogue file or one written by a
    calibration), read by the catalogue's own :func:`~cryosim.physics.catalogue.design_from_dict`."""
    from ..physics.catalogue import design_from_dict

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError("design file", str(p), f"a readable TOML file ({e.strerror or e})") from None
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("design file", str(p), f"valid TOML ({e})") from None
    return design_from_dict(d, f"design file {p.name!r}")


def _based_on(path: Path) -> str:
    from ..physics.catalogue import list_designs

    side = path.with_name(path.name[:-5] + ".calibration.json") if path.name.endswith(".toml") else None
    if side is not None and side.is_file():
        with side.open(encoding="utf-8") as fh:
            base = json.load(fh).get("based_on")
        if base in list_designs():
            return base
    design = load_design_file(path)
    if design.name in list_designs():
        return design.name
    raise ScenarioError("design file", str(path), "a design file with its sidecar <name>.calibration.json naming the "
                        "catalogue design it is based on (based_on), or a catalogue design")


def design_file_overrides(path: str | Path) -> tuple[str, dict[str, float]]:
    """The catalogue design a design file is based on, and its operating values that differ from it.

    Refuses a file that differs from its catalogue design in anything but the
    operation (:data:`cryosim.physics.probe.DESIGN_OVERRIDES`): a scenario
    can only name catalogue designs and change their operation.
    """
    from ..physics.catalogue import load_probe_design
    from ..physics.probe import DESIGN_OVERRIDES

    path = Path(path)
    base_name = _based_on(path)
    design, base = load_design_file(path), load_probe_design(base_name)
    overrides = {}
    for f in fields(design):
        if f.name in ("name", "description", "sources", "ranges"):
            continue
        a, b = getattr(design, f.name), getattr(base, f.name)
        if a == b:
            continue
        if f.name not in DESIGN_OVERRIDES:
            raise ScenarioError(f"design file {path.name!r}.{f.name}", a,
                                f"the value of catalogue design {base_name!r} ({b!r}): a scenario changes only a "
                                f"design's operation ({', '.join(DESIGN_OVERRIDES)})")
        if a is not None:
            overrides[f.name] = float(a)
    if design.orifice_diameter_m is not None and "mass_flow_kg_per_s" in overrides:
        overrides.pop("mass_flow_kg_per_s")
    if design.mass_flow_kg_per_s is not None and design.orifice_diameter_m is None:
        overrides.pop("orifice_diameter_m", None)
    return base_name, overrides


def scenario_with_design_file(scenario: Any, path: str | Path) -> Any:
    """``scenario`` with its probe running the design file's probe (catalogue design + the file's operation).

    The probe's other settings in the scenario are kept; its operating values are those of the file.
    """
    from ..physics.probe import DESIGN_OVERRIDES
    from ..scenario import scenario_from_dict
    from .paths import plain_scenario

    base_name, overrides = design_file_overrides(path)
    d = plain_scenario(scenario)
    probe = {k: v for k, v in d.get("probe", {}).items() if k not in DESIGN_OVERRIDES}
    if probe.get("design") is None:
        for key in ("gauge", "outer_diameter_m", "active_length_m", "coolant", "design_floor_C"):
            probe.pop(key, None)
    probe["design"] = base_name
    probe.update(overrides)
    d["probe"] = probe
    return scenario_from_dict(d)


def probe_from_design_file(path: str | Path, **kwargs: Any) -> Any:
    """The :class:`~cryosim.physics.probe.Probe` of a design file (its catalogue design with the file's operation)."""
    from ..physics.catalogue import probe_from_design

    base_name, overrides = design_file_overrides(path)
    return probe_from_design(base_name, **{**overrides, **kwargs})


# --- therapy files -------------------------------------------------------------------------------------------
def write_therapy_file(result: Any, out: Path, calibration_name: str) -> Path | None:
    from .calibration_models import SkinModel

    model = result.model
    if not isinstance(model, SkinModel):
        return None
    date = _now()
    therapy, body = model.split(result.values)
    fitted = {p.name for p in result.parameters}

    def entry(group: str, key: str, v: Any) -> dict[str, Any]:
        name = f"{group}.{key}"
        src = _fitted_source(result, name, date) if name in fitted else "given in the calibration study"
        return {"value": float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v, "source": src}

    text = (f"# Surface therapy written by cryosim calibrate ({calibration_name!r}, {date}).\n"
            "# Read it with cryosim.studies.calibration_outputs.load_therapy_file(path) (the SurfaceTherapy) and\n"
            "# therapy_file_body(path) (the keywords of cryosim.clinical.skin.simulate).\n"
            + _toml({"factory": model.factory, "calibration": calibration_name, "date": date,
                     "data": ", ".join(_data_files(result)), "identifiable": result.identifiable}, "therapy")
            + "\n" + _toml({k: entry("therapy", k, v) for k, v in therapy.items()}, "therapy.kwargs")
            + "\n" + _toml({k: entry("body", k, v) for k, v in body.items()}, "body"))
    path = out / f"{slug(calibration_name)}.therapy.toml"
    atomic_write(path, lambda fh: fh.write(text))
    load_therapy_file(path)
    return path


def _read_therapy(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioError("therapy file", str(p), f"a readable TOML file ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("therapy file", str(p), f"valid TOML ({e})") from None
    if not isinstance(d.get("therapy"), dict) or "factory" not in d["therapy"]:
        raise ScenarioError("therapy file", str(p), "a [therapy] table with factory = \"...\"")
    return d


def _values_of(table: Any, where: str) -> dict[str, Any]:
    out = {}
    for k, v in (table or {}).items():
        if not isinstance(v, dict) or set(v) != {"value", "source"}:
            raise ScenarioError(f"{where}.{k}", v, "an inline table { value = ..., source = \"...\" }")
        out[k] = v["value"]
    return out


def load_therapy_file(path: str | Path) -> Any:
    """The :class:`~cryosim.clinical.skin.SurfaceTherapy` of a therapy file (its factory called by keyword)."""
    from .calibration_models import SkinModel

    d = _read_therapy(path)
    kwargs = _values_of(d["therapy"].get("kwargs"), "therapy.kwargs")
    return SkinModel(str(d["therapy"]["factory"]), kwargs).surface_therapy()


def therapy_file_body(path: str | Path) -> dict[str, Any]:
    """The keywords of :func:`cryosim.clinical.skin.simulate` in a therapy file (``body.perfusion_scale``...)."""
    return _values_of(_read_therapy(path).get("body"), "body")


def write_outputs(result: Any, out: Path, *, name: str = "calibration", design_name: str | None = None) -> None:
    """``calibration.json``, ``residuals.png`` and the design or therapy file into ``out``."""
    files = {"calibration": "calibration.json", "residuals": "residuals.png"}
    result.design_file = write_design_file(result, out, design_name, name)
    result.therapy_file = write_therapy_file(result, out, name)
    if result.design_file is not None:
        files["design"] = result.design_file.name
        files["design_provenance"] = result.design_file.name[:-5] + ".calibration.json"
    if result.therapy_file is not None:
        files["therapy"] = result.therapy_file.name
    result.files = files
    plot_residuals(result, out / "residuals.png")
    d = result_dict(result, name)
    atomic_write(out / "calibration.json", lambda fh: json.dump(d, fh, indent=1))
