"""Measurements a calibration fits: thermocouple traces, isotherm sizes, a probe's thermistor, skin surface.

Each data set is a :class:`Dataset`: one row per datum, with its time, the
observed value in SI units (temperatures in °C), its standard deviation
``sigma`` (same unit; a temperature difference in K) and the data set's
weight. The weighted residual of a datum is
``sqrt(weight) * (predicted - observed) / sigma``.

CSV files (a header row, comma-separated, ``#`` comment lines allowed):

``thermocouple``
    ``time_s, r_m, z_m, temperature_C`` and optionally ``sigma_K``: a
    virtual thermocouple is placed at every distinct (r, z).
``isotherm``
    ``time_s, isotherm_C, measure, value_m`` (or ``value_m2``, ``value_m3``:
    the unit of the measure), or a generic ``value`` with a ``unit`` column
    (m, mm, m2, mm2, m3, mm3, cm3, ml); optionally ``sigma`` (in the value's
    unit). ``measure``: one of :data:`cryosim.post.isotherms.MEASURES`.
``thermistor``
    ``time_s, temperature_C`` (optionally ``sigma_K``): the device
    thermistor series of a Joule-Thomson probe.
``skin``
    ``time_s, temperature_C`` (optionally ``sigma_K``): the skin surface
    temperature of :func:`cryosim.clinical.skin.simulate`.

Other columns are ignored. A datum without a sigma gets the data set's
``sigma`` or, without one, :data:`DEFAULT_SIGMA` (stated in the output).
:func:`dataset_from_frame` makes a data set from a pandas DataFrame with
the same columns (rows selected first: one series of a file, a held-out part).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import ScenarioError, check_choice, check_range
from ..post.isotherms import MEASURES

__all__ = ["DATA_KINDS", "DEFAULT_SIGMA", "MAX_DATA_FILE_BYTES", "MAX_DATA_ROWS", "Dataset", "dataset_from_frame",
           "measure_unit", "read_dataset"]

#: Kinds of data set ("values": generic observations of a user's model function, not read from files).
DATA_KINDS = ("thermocouple", "isotherm", "thermistor", "skin", "values")
#: Largest data file read (bytes) and most rows: a bound against a wrong file, far above any experiment's log.
MAX_DATA_FILE_BYTES = 20_000_000
MAX_DATA_ROWS = 100_000
#: Standard deviation of a datum given none (SI units): 1 K for temperatures, 1 mm, 1 mm2, 1 mm3 for sizes.
#: Only their ratios matter when several kinds of data are fitted together (the intervals are scaled by the
#: residual variance, s2 = chi2 / (n - p)).
DEFAULT_SIGMA = {"K": 1.0, "m": 1e-3, "m2": 1e-6, "m3": 1e-9, "": 1.0}
#: Units accepted in an isotherm file's ``unit`` column, and their factor to SI.
_UNITS = {"m": ("m", 1.0), "mm": ("m", 1e-3), "cm": ("m", 1e-2),
          "m2": ("m2", 1.0), "mm2": ("m2", 1e-6), "cm2": ("m2", 1e-4),
          "m3": ("m3", 1.0), "mm3": ("m3", 1e-9), "cm3": ("m3", 1e-6), "ml": ("m3", 1e-6)}
_TEMPERATURE_COLUMNS = {"thermocouple": ("time_s", "r_m", "z_m", "temperature_C"),
                        "thermistor": ("time_s", "temperature_C"), "skin": ("time_s", "temperature_C")}


def measure_unit(measure: str) -> str:
    """SI unit of an isotherm measure: ``m``, ``m2`` or ``m3`` (from its name)."""
    for suffix in ("m3", "m2", "m"):
        if measure.endswith("_" + suffix):
            return suffix
    return "m"


@dataclass(frozen=True, eq=False)
class Dataset:
    """One data set: ``time_s``, ``observed``, ``sigma`` (arrays, one entry per datum) and what they measure.

    ``kind``: one of :data:`DATA_KINDS`. ``unit``: of ``observed`` and
    ``sigma`` ("K" for temperatures, whose values are in °C; "m", "m2", "m3").
    Per-datum columns of the kind: ``r_m``, ``z_m`` (thermocouple),
    ``isotherm_C``, ``measure`` (isotherm), ``x`` (values). ``file`` and
    ``sha256``: where the data came from.
    """

    kind: str
    name: str
    time_s: np.ndarray
    observed: np.ndarray
    sigma: np.ndarray
    unit: str
    weight: float = 1.0
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    file: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        check_choice("data.kind", self.kind, DATA_KINDS)
        check_range(f"data[{self.name}].weight", self.weight, 0.0, 1e12, low_open=True)
        n = len(self.observed)
        if n == 0:
            raise ScenarioError(f"data[{self.name}]", "<no rows>", "at least one datum")
        for key, arr in (("time_s", self.time_s), ("sigma", self.sigma), *self.columns.items()):
            if len(arr) != n:
                raise ScenarioError(f"data[{self.name}].{key}", f"<{len(arr)} values>", f"{n} values, one per datum")
        if self.kind == "isotherm":
            bad = sorted({str(m) for m in self.columns.get("measure", ()) if m not in MEASURES
                          or measure_unit(str(m)) != self.unit})
            if bad or "measure" not in self.columns or "isotherm_C" not in self.columns:
                raise ScenarioError(f"data[{self.name}].measure", ", ".join(bad) or None,
                                    f"measures of {', '.join(MEASURES)} in the data set's unit ({self.unit}), "
                                    "with isotherm_C")
        if not np.all(np.isfinite(self.observed)):
            raise ScenarioError(f"data[{self.name}].observed", "<not finite>", "finite numbers")
        if not np.all(np.isfinite(self.sigma)) or np.any(self.sigma <= 0):
            i = int(np.argmax(~np.isfinite(self.sigma) | (self.sigma <= 0)))
            raise ScenarioError(f"data[{self.name}].sigma (row {i + 1})", float(self.sigma[i]),
                                f"a positive standard deviation ({self.unit or 'value unit'})")
        if not np.all(np.isfinite(self.time_s)) or np.any(self.time_s < 0):
            i = int(np.argmax(~np.isfinite(self.time_s) | (self.time_s < 0)))
            raise ScenarioError(f"data[{self.name}].time_s (row {i + 1})", float(self.time_s[i]),
                                "a time >= 0 s from the start of the protocol")

    def __len__(self) -> int:
        return len(self.observed)

    @classmethod
    def from_arrays(cls, kind: str, time_s: Any, observed: Any, *, sigma: Any = None, weight: float = 1.0,
                    name: str | None = None, unit: str | None = None, **columns: Any) -> "Dataset":
        """A data set from arrays (e.g. ``Dataset.from_arrays("values", t, y, x=x)`` for a model function)."""
        obs = np.asarray(observed, float).ravel()
        unit = unit if unit is not None else ("K" if kind in _TEMPERATURE_COLUMNS else
                                              measure_unit(str(columns["measure"][0])) if kind == "isotherm"
                                              else "")
        if sigma is None:
            sig = np.full(obs.size, DEFAULT_SIGMA.get(unit, 1.0))
        else:
            sig = np.broadcast_to(np.asarray(sigma, float), obs.shape).copy()
        cols = {k: (np.asarray(v, object if k == "measure" else float).ravel()) for k, v in columns.items()}
        return cls(kind, name or kind, np.broadcast_to(np.asarray(time_s, float), obs.shape).copy(), obs, sig,
                   unit, float(weight), cols)

    def subset(self, rows: Any) -> "Dataset":
        """The data set restricted to ``rows`` (a boolean mask or indices): fit on one part, predict another."""
        idx = np.arange(len(self))[rows]
        return replace(self, time_s=self.time_s[idx], observed=self.observed[idx], sigma=self.sigma[idx],
                       columns={k: v[idx] for k, v in self.columns.items()},
                       name=f"{self.name}[{len(idx)} of {len(self)}]")

    def residuals(self, predicted: np.ndarray) -> np.ndarray:
        """Weighted residuals ``sqrt(weight) (predicted - observed) / sigma``."""
        return math.sqrt(self.weight) * (np.asarray(predicted, float) - self.observed) / self.sigma

    def definition(self) -> dict[str, Any]:
        """Plain data that determine the fit (hashed into the calibration's digest)."""
        h = hashlib.sha256()
        for arr in (self.time_s, self.observed, self.sigma, *(self.columns[k] for k in sorted(self.columns))):
            h.update(np.asarray(arr, str if arr.dtype == object else float).tobytes())
        return {"kind": self.kind, "name": self.name, "unit": self.unit, "weight": self.weight, "rows": len(self),
                "file": self.file, "file_sha256": self.sha256, "content_sha256": h.hexdigest()}

    def distinct_points(self) -> list[tuple[float, float]]:
        """The distinct thermocouple positions (r, z), in order of first appearance."""
        seen: dict[tuple[float, float], None] = {}
        for r, z in zip(self.columns["r_m"], self.columns["z_m"]):
            seen.setdefault((float(r), float(z)))
        return list(seen)


def _read_rows(path: Path, where: str) -> tuple[list[str], list[list[str]], str]:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_DATA_FILE_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError):
        raise ScenarioError(where, str(path), "an existing CSV file") from None
    except OSError as e:
        raise ScenarioError(where, str(path), f"a readable CSV file ({e.strerror or e})") from None
    if len(raw) > MAX_DATA_FILE_BYTES:
        raise ScenarioError(where, str(path), f"a file of at most {MAX_DATA_FILE_BYTES} bytes")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError(where, str(path), f"a UTF-8 text file ({e})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO("\n".join(lines)))]
    if not rows:
        raise ScenarioError(where, str(path), "a CSV file with a header row and data rows")
    header, body = rows[0], rows[1:]
    if len(body) > MAX_DATA_ROWS:
        raise ScenarioError(where, str(path), f"at most {MAX_DATA_ROWS} data rows")
    if not body:
        raise ScenarioError(where, str(path), "at least one data row under the header")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise ScenarioError(f"{where} row {i + 2}", ",".join(r), f"{len(header)} comma-separated values "
                                f"(the header has {', '.join(header)})")
    return header, body, digest


def _column(header: list[str], body: list[list[str]], name: str, where: str, *, text: bool = False) -> np.ndarray:
    j = header.index(name)
    if text:
        return np.array([r[j] for r in body], object)
    out = np.empty(len(body))
    for i, r in enumerate(body):
        try:
            out[i] = float(r[j])
        except ValueError:
            raise ScenarioError(f"{where} row {i + 2}, column {name}", r[j], "a number") from None
        if not math.isfinite(out[i]):
            raise ScenarioError(f"{where} row {i + 2}, column {name}", r[j], "a finite number")
    return out


def read_dataset(kind: str, file: str | Path, *, weight: float = 1.0, sigma: float | None = None,
                 name: str | None = None) -> Dataset:
    """Read a data file of ``kind`` (see the module docstring); ``sigma``: for rows without one (SI units)."""
    path = Path(file)
    where = f"data file {str(path)!r}"
    header, body, digest = _read_rows(path, where)
    return _from_rows(kind, header, body, where, name or path.stem, weight, sigma, str(path), digest)


def dataset_from_frame(kind: str, frame: Any, *, weight: float = 1.0, sigma: float | None = None,
                       name: str | None = None, source: str | None = None) -> Dataset:
    """A data set from a pandas DataFrame with the columns of a data file of ``kind`` (other columns ignored):
    select rows with pandas first (one series of a file of several, a held-out part)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ScenarioError("data frame", type(frame).__name__, "a non-empty pandas DataFrame")
    header = [str(c) for c in frame.columns]
    body = [["" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in row]
            for row in frame.itertuples(index=False, name=None)]
    text = frame.to_csv(index=False)
    return _from_rows(kind, header, body, f"data frame {name or kind!r}", name or kind, weight, sigma, source,
                      hashlib.sha256(text.encode()).hexdigest())


def _from_rows(kind: str, header: list[str], body: list[list[str]], where: str, name: str, weight: float,
               sigma: float | None, file: str | None, digest: str) -> Dataset:
    kind = check_choice("data.kind", kind, tuple(k for k in DATA_KINDS if k != "values"))
    if sigma is not None:
        check_range(f"data[{name}].sigma", sigma, 0.0, None, low_open=True)

    def need(cols: Sequence[str]) -> None:
        missing = [c for c in cols if c not in header]
        if missing:
            raise ScenarioError(f"{where} columns", ", ".join(header),
                                f"the columns {', '.join(cols)} of {kind} data (missing: {', '.join(missing)})")

    if kind in _TEMPERATURE_COLUMNS:
        need(_TEMPERATURE_COLUMNS[kind])
        unit = "K"
        obs = _column(header, body, "temperature_C", where)
        check = obs < -273.15
        if np.any(check):
            raise ScenarioError(f"{where} row {int(np.argmax(check)) + 2}, column temperature_C",
                                float(obs[check][0]), "a temperature above absolute zero (-273.15 °C)")
        sig_col = "sigma_K"
        scale = np.ones(len(body))
        cols: dict[str, np.ndarray] = {}
        if kind == "thermocouple":
            cols = {"r_m": _column(header, body, "r_m", where), "z_m": _column(header, body, "z_m", where)}
    else:  # isotherm
        need(("time_s", "isotherm_C", "measure"))
        measures = _column(header, body, "measure", where, text=True)
        for i, m in enumerate(measures):
            if m not in MEASURES:
                raise ScenarioError(f"{where} row {i + 2}, column measure", m, "one of " + ", ".join(MEASURES))
        units = sorted({measure_unit(m) for m in measures})
        if len(units) > 1:
            raise ScenarioError(f"{where} column measure", ", ".join(sorted(set(measures))),
                                "measures of one unit per file (lengths, areas or volumes: split the file)")
        unit = units[0]
        iso = _column(header, body, "isotherm_C", where)
        for i, v in enumerate(iso):
            check_range(f"{where} row {i + 2}, column isotherm_C", v, -150.0, 0.0, unit="°C")
        value_col = f"value_{unit}"
        if value_col in header:
            obs = _column(header, body, value_col, where)
            scale = np.ones(len(body))
        elif "value" in header and "unit" in header:
            raw_units = _column(header, body, "unit", where, text=True)
            scale = np.empty(len(body))
            for i, u in enumerate(raw_units):
                if u not in _UNITS or _UNITS[u][0] != unit:
                    allowed = [k for k, (si, _) in _UNITS.items() if si == unit]
                    raise ScenarioError(f"{where} row {i + 2}, column unit", u,
                                        f"a unit of the measure {measures[i]}: one of {', '.join(allowed)}")
                scale[i] = _UNITS[u][1]
            obs = _column(header, body, "value", where) * scale
        else:
            raise ScenarioError(f"{where} columns", ", ".join(header),
                                f"a column {value_col} (SI unit of the measures {', '.join(sorted(set(measures)))}) "
                                "or the columns value and unit")
        if np.any(obs < 0):
            i = int(np.argmax(obs < 0))
            raise ScenarioError(f"{where} row {i + 2}, value", float(obs[i]), "a size >= 0")
        sig_col = "sigma"
        cols = {"isotherm_C": iso, "measure": measures}
    if sig_col in header:
        sig = _column(header, body, sig_col, where) * scale
    else:
        sig = np.full(len(body), DEFAULT_SIGMA[unit] if sigma is None else float(sigma))
    return Dataset(kind, name, _column(header, body, "time_s", where), obs, sig, unit, float(weight), cols,
                   file=file, sha256=digest)
