r"""Calibration: fit named parameters of a model to measurements (``cryosim calibrate``, :func:`calibrate`).

The parameters are any scenario paths (``probe.orifice_diameter_m``,
``probe.supply_pressure_Pa``, ``medium.conductivity_unfrozen_W_per_m_K``,
``protocol[0].duration_s``...), or for surface cryotherapy the keywords of a
therapy factory and of :func:`cryosim.clinical.skin.simulate`
(``therapy.contact_conductance_W_per_m2_K``, ``body.perfusion_scale``); the
data are thermocouple traces, isotherm sizes at times, a probe's thermistor
trace or skin surface temperatures (:mod:`.calibration_data`).

Method
------
Weighted least squares, :func:`scipy.optimize.least_squares` (``method="trf"``)
within the bounds, on the parameters scaled to the bounds: ``u = (v - lo) /
(hi - lo)``, or ``u = log(v / lo) / log(hi / lo)`` for a parameter fitted in
log space, so every ``u`` lies in [0, 1] (``x_scale = 1``). The residual of a
datum is ``sqrt(weight) (predicted - observed) / sigma``. The Jacobian is
taken by forward (or central) differences of step :data:`DIFF_STEP` in ``u``,
its ``p`` (``2p``) points evaluated together as one batch on the executor;
with at least ``p + 1`` parallel workers the ``p`` points are sent with the
point itself. Several starts (Latin hypercube or Sobol' points inside the
bounds, evaluated as one batch) guard against a local minimum; the best is kept.

Every evaluated point is stored (:mod:`.calibration_store`) under a hash of
its parameter values; an interrupted calibration, run again, retraces the
optimizer's (deterministic) path from the stored points and computes only
the missing ones.

Uncertainty and identifiability
-------------------------------
At the optimum, with ``J`` the Jacobian of the weighted residuals in ``u``:
``cov_u = s^2 (J^T J)^{-1}``, ``s^2 = chi^2 / (n - p)`` (the residual variance:
the intervals do not rest on the stated sigmas being right, only on their
ratios), mapped to the parameters' units; 95 % intervals
``u +- t_{0.975, n-p} sd_u`` mapped back (so a log parameter's interval is
asymmetric and positive); the correlation matrix. A pair with
``|correlation| >`` :data:`CORRELATION_LIMIT`, or a condition number of the
column-normalised Jacobian above :data:`CONDITION_LIMIT` (a near-zero
singular value: a combination of parameters the data do not see; its
direction is named), or a parameter without effect on the data, is flagged
as *not identifiable*: a warning names it and ``identifiable`` is False.
A parameter ending at a bound is warned about too (its interval is not a
confidence interval of an interior optimum).

The intervals hold the measurement noise (as weighted), not the model's own
error: the grid error of a coarse ``numerics.resolution`` shifts a fit as
data made on a finer grid would (``benchmarks/RESULTS.md``, section 10).
Parameters that change the fast solver's mesh (medium properties and the
coldest tip temperature size the domain and the ice-front zone of the CVFEM
mesh, :func:`cryosim.fast.solver.axisymmetric_grid_for`) make the model
step-wise in them: at resolution 0.5 a 3 % change of the perfusion moves
the 0 °C width by up to 0.1 mm and the thermistor by 1 K through the remeshing
alone, at resolution 1 by 0.02 mm and 0.1 K. Fit such parameters on a finer
grid, with a larger ``diff_step``, or pin ``numerics.domain_radius_m``.
Device operation values that do not move the coldest gas temperature
(the orifice, the mass flow, the gas-side multiplier) leave the mesh alone.

Study file (TOML; ``cryosim calibrate study.toml``, :func:`load_calibration_study`)::

    [calibration]
    name = "orifice-from-thermistor"
    starts = 3                # start points (Latin hypercube, or start_design = "sobol"), seed = 0
    max_nfev = 30             # function evaluations per start; jacobian = "forward" | "central"
    # diff_step = 0.01, ftol = 1e-3, xtol = 1e-3, gtol = 1e-8, exact_times = true,
    # design_name = "<design>-fitted", base = "scenario.toml" (instead of [base])

    [base]                    # a scenario, as in a sweep study; or [skin] factory = "ice_pack",
    ...                       # [skin.therapy] keywords, [skin.body] keywords of simulate()

    [parameters."probe.orifice_diameter_m"]
    bounds = [0.06e-3, 0.16e-3]
    log = false               # true: fitted in log space (positive bounds)
    # initial = 0.1e-3        # the first start

    [[data]]
    kind = "isotherm"         # "thermocouple", "isotherm", "thermistor", "skin"
    file = "calib_isotherms.csv"   # relative to the study file
    weight = 1.0              # sigma = ...: for rows without one (SI units)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import ScenarioError, check_choice, check_range
from .calibration_data import DATA_KINDS, Dataset, read_dataset
from .calibration_models import FunctionModel, ScenarioModel, SkinModel, as_model, evaluate_point
from .calibration_store import BatchRunner, CalibrationFolder, open_calibration_folder, point_key

__all__ = ["CONDITION_LIMIT", "CORRELATION_LIMIT", "DIFF_STEP", "MAX_NFEV", "CalibrationError",
           "CalibrationResult", "CalibrationStudy", "FunctionModel", "Parameter", "ScenarioModel", "SkinModel",
           "calibrate", "calibration_from_dict", "load_calibration_study", "run_calibration_study"]

#: |correlation| above which two fitted parameters are flagged as not told apart by the data.
CORRELATION_LIMIT = 0.95
#: Condition number of the column-normalised Jacobian above which a direction of the parameters is flagged
#: as not determined (its smallest singular value is below 1/1000 of the largest).
CONDITION_LIMIT = 1e3
#: Finite-difference step of the Jacobian, in the scaled parameters (1 % of the bound range, or of its log):
#: far above the run-to-run noise of the adaptive time steps, small against the curvature of the models.
DIFF_STEP = 1e-2
#: Most function evaluations (optimizer iterations, each with a Jacobian of p more points) per start.
MAX_NFEV = 30
#: Relative tolerances on the cost and on the scaled parameters (stopping criteria of least_squares).
FTOL, XTOL, GTOL = 1e-3, 1e-3, 1e-8
#: Most starts of one calibration, and most fitted parameters: bounds against a typo.
MAX_STARTS, MAX_PARAMETERS = 64, 32
START_DESIGNS = ("lhs", "sobol")
JACOBIANS = ("forward", "central")


class CalibrationError(RuntimeError):
    """A model evaluation failed during a calibration (``assignment``: where; ``error``: the point's error)."""

    def __init__(self, assignment: Mapping[str, float], error: str) -> None:
        self.assignment, self.error = dict(assignment), error
        at = ", ".join(f"{k} = {v:.6g}" for k, v in assignment.items())
        super().__init__(f"the model failed at {at}: {error}")


@dataclass(frozen=True)
class Parameter:
    """A fitted parameter: its name (a scenario path, ``therapy.<kw>``...), bounds, log space, first start."""

    name: str
    low: float
    high: float
    log: bool = False
    initial: float | None = None

    def __post_init__(self) -> None:
        where = f"parameters.{self.name}"
        low = check_range(where + ".bounds[0]", self.low)
        high = check_range(where + ".bounds[1]", self.high)
        if not high > low:
            raise ScenarioError(where + ".bounds", [self.low, self.high], "[low, high] with low < high")
        if not isinstance(self.log, bool):
            raise ScenarioError(where + ".log", self.log, "true or false")
        if self.log and low <= 0:
            raise ScenarioError(where + ".bounds[0]", self.low, "a positive lower bound for a parameter fitted in "
                                "log space (log = true)")
        if self.initial is not None:
            check_range(where + ".initial", self.initial, low, high)

    def to_unit(self, v: float) -> float:
        if self.log:
            return math.log(v / self.low) / math.log(self.high / self.low)
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            return float(self.low * (self.high / self.low) ** u)
        return float(self.low + u * (self.high - self.low))

    def slope(self, u: float) -> float:
        """dv/du at ``u``."""
        return self.from_unit(u) * math.log(self.high / self.low) if self.log else self.high - self.low

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "bounds": [self.low, self.high], "log": self.log, "initial": self.initial}


def _as_parameters(parameters: Any) -> list[Parameter]:
    if not isinstance(parameters, Mapping) and not isinstance(parameters, Sequence):
        raise ScenarioError("parameters", parameters, "a mapping {name: (low, high)} or a list of Parameter")
    out: list[Parameter] = []
    items = parameters.items() if isinstance(parameters, Mapping) else [(p.name, p) for p in parameters]
    for name, spec in items:
        where = f"parameters.{name}"
        if isinstance(spec, Parameter):
            out.append(spec)
        elif isinstance(spec, Mapping):
            unknown = set(spec) - {"bounds", "log", "initial"}
            if unknown:
                key = min(unknown)
                raise ScenarioError(f"{where}.{key}", spec[key], "a known key: bounds, log, initial")
            b = spec.get("bounds")
            if not isinstance(b, (list, tuple)) or len(b) != 2:
                raise ScenarioError(where + ".bounds", b, "[low, high]")
            out.append(Parameter(str(name), b[0], b[1], spec.get("log", False), spec.get("initial")))
        elif isinstance(spec, (list, tuple)) and len(spec) == 2:
            out.append(Parameter(str(name), spec[0], spec[1]))
        else:
            raise ScenarioError(where, spec, "(low, high) or a table {bounds = [low, high], log = false}")
    if not out:
        raise ScenarioError("parameters", {}, "at least one fitted parameter")
    if len(out) > MAX_PARAMETERS:
        raise ScenarioError("parameters", f"<{len(out)} parameters>", f"at most {MAX_PARAMETERS}")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ScenarioError("parameters", names, "distinct names")
    return out


def _as_datasets(data: Any, base_dir: Path = Path(".")) -> list[Dataset]:
    if isinstance(data, (Dataset, Mapping)):
        data = [data]
    if not isinstance(data, Sequence) or not data:
        raise ScenarioError("data", data, "at least one data set ([[data]] kind = ..., file = ...)")
    out = []
    for i, d in enumerate(data):
        if isinstance(d, Dataset):
            out.append(d)
            continue
        if not isinstance(d, Mapping):
            raise ScenarioError(f"data[{i}]", d, "a table {kind = ..., file = ...} or a Dataset")
        unknown = set(d) - {"kind", "file", "weight", "sigma", "name"}
        if unknown:
            key = min(unknown)
            raise ScenarioError(f"data[{i}].{key}", d[key], "a known key: kind, file, weight, sigma, name")
        kind = check_choice(f"data[{i}].kind", d.get("kind"), [k for k in DATA_KINDS if k != "values"])
        file = d.get("file")
        if not isinstance(file, str) or not file:
            raise ScenarioError(f"data[{i}].file", file, "the path of a CSV file (relative to the study file)")
        out.append(read_dataset(kind, base_dir / file, weight=d.get("weight", 1.0), sigma=d.get("sigma"),
                                name=d.get("name")))
    names = [d.name for d in out]
    for j, n in enumerate(names):  # distinct labels (two files of one stem in two folders)
        if names.count(n) > 1:
            out[j] = replace(out[j], name=f"{n}#{j}")
    return out


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found; :meth:`scenario`, :meth:`therapy`, :meth:`predict` use it."""

    model: Any
    parameters: list[Parameter]
    datasets: list[Dataset]
    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    std: dict[str, float]
    covariance: np.ndarray
    correlation: np.ndarray
    chi2: float
    cost: float
    dof: int
    s2: float
    t_value: float
    predictions: list[np.ndarray]
    jacobian: np.ndarray
    singular_values: np.ndarray
    condition_number: float
    warnings: list[str]
    identifiable: bool
    unidentified: list[dict[str, Any]]
    at_bounds: list[str]
    starts: list[dict[str, Any]]
    evaluations: int
    computed: int
    reused: int
    settings: dict[str, Any]
    folder: Path | None = None
    files: dict[str, str] = field(default_factory=dict)
    design_file: Path | None = None
    therapy_file: Path | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def half_widths(self) -> dict[str, float]:
        """Half the width of each 95 % interval (in the parameter's unit)."""
        return {k: 0.5 * (hi - lo) for k, (lo, hi) in self.intervals.items()}

    def residual_frames(self) -> list[Any]:
        """One pandas DataFrame per data set: its columns, observed, predicted, residual, sigma, normalised."""
        return [_frame(ds, p) for ds, p in zip(self.datasets, self.predictions)]

    def scenario(self) -> Any:
        """The fitted scenario (a scenario model): the base with the fitted values."""
        if not isinstance(self.model, ScenarioModel):
            raise TypeError("scenario() is for a calibration of a scenario; this model is "
                            + type(self.model).__name__)
        return self.model.scenario(self.values)

    def therapy(self) -> Any:
        """The fitted :class:`~cryosim.clinical.skin.SurfaceTherapy` (a skin model)."""
        if not isinstance(self.model, SkinModel):
            raise TypeError("therapy() is for a calibration of a skin therapy; this model is "
                            + type(self.model).__name__)
        return self.model.surface_therapy(self.values)

    def predict(self, data: Any, *, band: bool = False, base_dir: str | Path = ".") -> list[Any]:
        """Predict other data (held-out measurements) with the fitted values: one DataFrame per data set.

        ``data``: Datasets, or ``[[data]]``-like tables ``{kind, file}``
        (files relative to ``base_dir``). ``band``: add ``predicted_sd`` and a
        95 % band ``predicted_low/high`` from the parameter covariance
        (linearised: p more runs, in this process).
        """
        datasets = _as_datasets(data, Path(base_dir))
        self.model.check_data(datasets)
        prepared = self.model.prepared(datasets)
        row = evaluate_point(self.model, self.values, datasets, prepared)
        if row["status"] != "ok":
            raise CalibrationError(self.values, row["error"])
        preds = [np.asarray(p) for p in row["predictions"]]
        frames = [_frame(ds, p) for ds, p in zip(datasets, preds)]
        if band:
            u = np.array([p.to_unit(self.values[p.name]) for p in self.parameters])
            cov_u = _cov_unit(self.covariance, self.parameters, u)
            cols = []
            step = float(self.settings.get("diff_step", DIFF_STEP))
            for j, p in enumerate(self.parameters):
                h = step if u[j] + step <= 1 else -step
                uj = u.copy()
                uj[j] += h
                r = evaluate_point(self.model, {q.name: q.from_unit(x) for q, x in zip(self.parameters, uj)},
                                   datasets, prepared)
                if r["status"] != "ok":
                    raise CalibrationError(self.values, r["error"])
                cols.append([(np.asarray(a) - b) / h for a, b in zip(r["predictions"], preds)])
            for k, f in enumerate(frames):
                G = np.column_stack([c[k] for c in cols])
                sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, cov_u, G), 0.0))
                f["predicted_sd"] = sd
                f["predicted_low"] = f["predicted"] - self.t_value * sd
                f["predicted_high"] = f["predicted"] + self.t_value * sd
        return frames

    def table(self) -> str:
        """The fitted values with their 95 % intervals, chi2 and the warnings, as text."""
        lines = [f"{'parameter':40s} {'fitted':>12s} {'95 % interval':>29s}"]
        for name in self.names:
            lo, hi = self.intervals[name]
            flag = "  (at a bound)" if name in self.at_bounds else ""
            lines.append(f"{name:40s} {self.values[name]:12.5g} [{lo:12.5g}, {hi:12.5g}]{flag}")
        n = sum(len(d) for d in self.datasets)
        lines.append(f"chi2 {self.chi2:.4g} for {n} data and {len(self.parameters)} "
                     f"parameter{'s' if len(self.parameters) > 1 else ''} "
                     f"(reduced {self.s2:.3g}); {self.evaluations} model evaluations "
                     f"({self.computed} computed, {self.reused} reused)")
        if len(self.names) > 1:
            lines.append("correlation: " + "; ".join(
                f"{a} / {b}: {self.correlation[i, j]:+.3f}" for i, a in enumerate(self.names)
                for j, b in enumerate(self.names) if j > i))
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what ``calibration.json`` holds)."""
        from .calibration_outputs import result_dict

        return result_dict(self)


def _frame(ds: Dataset, pred: np.ndarray) -> Any:
    import pandas as pd

    pred = np.asarray(pred, float)
    cols: dict[str, Any] = {"data": ds.name, "kind": ds.kind, "time_s": ds.time_s}
    cols.update({k: v for k, v in ds.columns.items()})
    cols.update(observed=ds.observed, predicted=pred, residual=pred - ds.observed, sigma=ds.sigma,
                normalised=(pred - ds.observed) / ds.sigma, unit=ds.unit)
    return pd.DataFrame(cols)


def _cov_unit(cov: np.ndarray, params: Sequence[Parameter], u: np.ndarray) -> np.ndarray:
    d = np.array([p.slope(x) for p, x in zip(params, u)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(d, d)


class _Problem:
    """The residuals of the scaled parameters ``u``, from stored or newly computed points (batches)."""

    def __init__(self, model: Any, params: list[Parameter], datasets: list[Dataset], folder: CalibrationFolder,
                 runner: BatchRunner, jacobian: str, diff_step: float, progress: Any) -> None:
        self.model, self.params, self.datasets = model, params, datasets
        self.folder, self.runner = folder, runner
        self.jacobian, self.h = jacobian, diff_step
        self.prepared = model.prepared(datasets)
        self.evaluated: set[str] = set()
        self.computed = self.reused = 0
        self.progress = progress
        self.speculative = runner.parallel >= len(self._jac_points(np.full(len(params), 0.5))[0]) + 1

    def assignment(self, u: np.ndarray) -> dict[str, float]:
        return {p.name: p.from_unit(x) for p, x in zip(self.params, u)}

    def rows(self, us: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        """The stored rows of the points ``us``, computing the missing ones as one batch."""
        assignments = [self.assignment(u) for u in us]
        keys = [point_key(a) for a in assignments]
        todo: dict[str, dict[str, float]] = {}
        for k, a in zip(keys, assignments):
            if self.folder.get(k) is None:
                todo.setdefault(k, a)
            elif k not in self.evaluated:
                self.reused += 1
            self.evaluated.add(k)
        if todo:
            order = list(todo)

            def on_done(i: int, row: dict[str, Any]) -> None:
                # a point whose worker was lost is an error of this session only: not stored, retried next time
                self.folder.store(order[i], row, persist=not row.get("lost", False))
                self.computed += 1
                if self.progress is not None:
                    self.progress(self.computed, self.reused)

            def failed(i: int, message: str) -> dict[str, Any]:
                return {"assignment": todo[order[i]], "status": "error", "error": message, "predictions": None,
                        "lost": True}

            self.runner.run(evaluate_point, [(self.model, todo[k], self.datasets, self.prepared) for k in order],
                            on_done, failed)
        out = []
        for k in keys:
            row = self.folder.get(k)
            assert row is not None
            if row.get("status") != "ok":
                raise CalibrationError(row.get("assignment", {}), row.get("error", "unknown error"))
            out.append(row)
        return out

    def residuals_of(self, row: Mapping[str, Any]) -> np.ndarray:
        return np.concatenate([ds.residuals(np.asarray(p)) for ds, p in zip(self.datasets, row["predictions"])])

    def _jac_points(self, u: np.ndarray) -> tuple[list[np.ndarray], list[tuple[int, float, int]]]:
        """Points of the finite-difference Jacobian at ``u`` and (column, step, sign) of each."""
        pts, how = [], []
        for j in range(len(u)):
            if self.jacobian == "central" and u[j] - self.h >= 0 and u[j] + self.h <= 1:
                for s in (1, -1):
                    v = u.copy()
                    v[j] += s * self.h
                    pts.append(v)
                    how.append((j, self.h, s))
            else:
                s = 1 if u[j] + self.h <= 1 else -1
                v = u.copy()
                v[j] += s * self.h
                pts.append(v)
                how.append((j, self.h, s))
        return pts, how

    def fun(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        extra = self._jac_points(u)[0] if self.speculative else []
        return self.residuals_of(self.rows([u, *extra])[0])

    def jac(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        pts, how = self._jac_points(u)
        rows = self.rows([u, *pts])
        f0 = self.residuals_of(rows[0])
        J = np.zeros((f0.size, len(u)))
        central: dict[int, dict[int, np.ndarray]] = {}
        for row, (j, h, s) in zip(rows[1:], how):
            f = self.residuals_of(row)
            if self.jacobian == "central" and len([1 for q in how if q[0] == j]) == 2:
                central.setdefault(j, {})[s] = f
            else:
                J[:, j] = (f - f0) / (s * h)
        for j, fs in central.items():
            J[:, j] = (fs[1] - fs[-1]) / (2 * self.h)
        return J


def _starts(params: list[Parameter], n: int, design: str, seed: int) -> list[np.ndarray]:
    from scipy.stats import qmc

    p = len(params)
    if design == "sobol":
        m = max(1, math.ceil(math.log2(max(n, 1))))
        unit = qmc.Sobol(d=p, scramble=True, seed=seed).random_base2(m)[:n]
    else:
        unit = qmc.LatinHypercube(d=p, seed=seed).random(n)
    unit = 0.05 + 0.9 * unit  # inside the bounds, not on them
    starts = [np.asarray(row, float) for row in unit]
    if any(q.initial is not None for q in params):  # the first start where the study says
        starts[0] = np.array([q.to_unit(q.initial) if q.initial is not None else 0.5 for q in params])
    return starts


def _identifiability(J: np.ndarray, corr: np.ndarray, names: list[str], condition_limit: float,
                     correlation_limit: float) -> tuple[list[str], list[dict[str, Any]], float, np.ndarray]:
    warnings, flags = [], []
    norms = np.linalg.norm(J, axis=0)
    dead = [names[j] for j in range(len(names)) if not norms[j] > 1e-12 * max(float(norms.max()), 1e-300)]
    for name in dead:
        warnings.append(f"parameter {name} has no effect on the data (zero sensitivity): it cannot be fitted")
        flags.append({"kind": "no effect", "parameters": [name]})
    live = [j for j in range(len(names)) if names[j] not in dead]
    sv = np.zeros(0)
    cond = math.inf if dead else 1.0
    if live:
        Jn = J[:, live] / norms[live]
        _, sv, vt = np.linalg.svd(Jn, full_matrices=False)
        smallest = float(sv[-1]) if sv.size else 0.0
        c = math.inf if smallest <= 1e-300 else float(sv[0] / smallest)
        cond = max(cond, c)
        if c > condition_limit and len(live) > 1:
            v = vt[-1]
            order = np.argsort(-np.abs(v))
            terms = " ".join(f"{v[k]:+.2f}·{names[live[k]]}" for k in order if abs(v[k]) > 0.1)
            involved = [names[live[k]] for k in order if abs(v[k]) > 0.1]
            warnings.append(f"the data do not determine the combination {terms} (scaled parameters): condition "
                            f"number {c:.3g} of the normalised Jacobian > {condition_limit:g}; "
                            f"{' and '.join(involved)} cannot be told apart")
            flags.append({"kind": "direction", "parameters": involved, "direction": {names[live[k]]: float(v[k])
                                                                                      for k in range(len(live))},
                          "condition_number": c})
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = corr[i, j]
            if np.isfinite(r) and abs(r) > correlation_limit:
                warnings.append(f"{names[i]} and {names[j]} cannot be told apart by these data: correlation "
                                f"{r:+.3f} (|r| > {correlation_limit:g})")
                flags.append({"kind": "correlation", "parameters": [names[i], names[j]], "correlation": float(r)})
    return warnings, flags, cond, sv


def calibrate(model: Any, parameters: Any, data: Any, *, starts: int = 1, seed: int = 0, start_design: str = "lhs",
              executor: Any = None, workers: int = 2, scheduler: str | None = None,
              out: str | Path | None = None, max_nfev: int = MAX_NFEV, jacobian: str = "forward",
              diff_step: float = DIFF_STEP, ftol: float = FTOL, xtol: float = XTOL, gtol: float = GTOL,
              exact_times: bool = True, name: str = "calibration", outputs: bool | None = None,
              design_name: str | None = None, source_text: str | None = None, progress: Any = None,
              condition_limit: float = CONDITION_LIMIT, correlation_limit: float = CORRELATION_LIMIT
              ) -> CalibrationResult:
    """Fit ``parameters`` of ``model`` to ``data`` by weighted least squares (see the module docstring).

    ``model``: a :class:`~cryosim.scenario.Scenario` (or scenario file, or its
    parsed dict), a :class:`~cryosim.studies.calibration_models.SkinModel`, or
    a function ``fn(values, datasets) -> [array per data set]``.
    ``parameters``: ``{name: (low, high)}``, ``{name: {"bounds": [lo, hi], "log": True}}``
    or :class:`Parameter` objects. ``data``: :class:`Dataset` objects or
    tables ``{"kind": ..., "file": ...}``. ``executor``: "processes"
    (``workers`` local processes; the default), "serial" (this process; the
    default for a model function that cannot be pickled: a lambda, a
    closure), or an executor with ``submit`` (``concurrent.futures``,
    ``distributed.Client``);
    ``scheduler``: a Dask scheduler address. ``out``: the calibration folder
    (points stored there, resumed when it holds this calibration; outputs
    written there unless ``outputs=False``); None keeps the points in memory.
    ``max_nfev``: most function evaluations per start (each Jacobian adds p
    points). Returns a :class:`CalibrationResult`.
    """
    from scipy.optimize import least_squares
    from scipy.stats import t as student_t

    model = as_model(model, exact_times)
    params = _as_parameters(parameters)
    for p in params:
        model.check_parameter(p.name)
    datasets = _as_datasets(data)
    for i, b in enumerate((starts, seed, max_nfev)):
        key = ("starts", "seed", "max_nfev")[i]
        if isinstance(b, bool) or not isinstance(b, int):
            raise ScenarioError(f"calibration.{key}", b, "an integer")
    check_range("calibration.starts", starts, 1, MAX_STARTS)
    check_range("calibration.seed", seed, 0, None)
    check_range("calibration.max_nfev", max_nfev, 1, 10_000)
    check_choice("calibration.start_design", start_design, START_DESIGNS)
    check_choice("calibration.jacobian", jacobian, JACOBIANS)
    check_range("calibration.diff_step", diff_step, 1e-8, 0.2, low_open=True)
    for key, v in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        check_range(f"calibration.{key}", v, 1e-15, 0.5)
    n = sum(len(d) for d in datasets)
    if n <= len(params):
        raise ScenarioError("data", f"<{n} data>", f"more data than fitted parameters ({len(params)}): the "
                            "intervals need n - p > 0 degrees of freedom")
    model.check_data(datasets)
    if isinstance(model, ScenarioModel):  # each bound is a value the scenario accepts (refused here, not mid-fit)
        for p in params:
            for v in (p.low, p.high):
                try:
                    model.scenario({p.name: v})
                except ScenarioError as e:
                    raise ScenarioError(f"parameters.{p.name}.bounds", [p.low, p.high],
                                        f"bounds the scenario accepts: {v:g} is refused ({e})") from None
    settings = {"starts": starts, "seed": seed, "start_design": start_design, "max_nfev": max_nfev,
                "jacobian": jacobian, "diff_step": diff_step, "ftol": ftol, "xtol": xtol, "gtol": gtol,
                "method": "trf", "x_scale": "parameters scaled to their bounds (log bounds with log = true)",
                "condition_limit": condition_limit, "correlation_limit": correlation_limit}
    definition = {"name": name, "model": model.definition(), "parameters": [p.definition() for p in params],
                  "data": [d.definition() for d in datasets], "settings": settings}
    folder = open_calibration_folder(out, definition, source_text)
    if executor is None:
        executor = "processes" if not isinstance(model, FunctionModel) or _picklable(model.fn) else "serial"
    runner = BatchRunner(executor, workers, scheduler, warm=isinstance(model, ScenarioModel))
    with runner:
        prob = _Problem(model, params, datasets, folder, runner, jacobian, diff_step, progress)
        u0s = _starts(params, starts, start_design, seed)
        prob.rows(u0s)  # every start's first point in one batch
        runs = []
        for k, u0 in enumerate(u0s):
            res = least_squares(prob.fun, u0, jac=prob.jac, bounds=(0.0, 1.0), method="trf", x_scale=1.0,
                                ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev)
            runs.append({"start": k, "initial": prob.assignment(u0), "fitted": prob.assignment(res.x),
                         "cost": float(res.cost), "status": int(res.status), "message": str(res.message),
                         "nfev": int(res.nfev), "njev": int(res.njev or 0), "u": res.x})
        best = min(runs, key=lambda r: (r["cost"], r["start"]))
        u = np.clip(best["u"], 0.0, 1.0)
        J = prob.jac(u)
        row = prob.rows([u])[0]
    r = prob.residuals_of(row)
    chi2 = float(r @ r)
    p = len(params)
    dof = n - p
    s2 = chi2 / dof
    names = [q.name for q in params]
    JTJ = J.T @ J
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            cov_u = s2 * np.linalg.inv(JTJ) if np.linalg.cond(JTJ) < 1e14 else s2 * np.linalg.pinv(JTJ)
        except np.linalg.LinAlgError:
            cov_u = s2 * np.linalg.pinv(JTJ)
    sd_u = np.sqrt(np.maximum(np.diag(cov_u), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov_u / np.outer(sd_u, sd_u)
    corr[~np.isfinite(corr)] = np.nan
    np.fill_diagonal(corr, 1.0)
    warnings, flags, cond, sv = _identifiability(J, corr, names, condition_limit, correlation_limit)
    undetermined = {n_ for f in flags if f["kind"] != "correlation" for n_ in f["parameters"]}
    for j in range(p):  # a direction the data do not see: no finite interval along it
        if names[j] in undetermined:
            sd_u[j] = math.inf
    tq = float(student_t.ppf(0.975, dof))
    slopes = np.array([q.slope(x) for q, x in zip(params, u)])
    cov = cov_u * np.outer(slopes, slopes)
    values = {q.name: q.from_unit(x) for q, x in zip(params, u)}
    intervals, std = {}, {}
    for j, q in enumerate(params):
        if np.isfinite(sd_u[j]):
            lo_u, hi_u = u[j] - tq * sd_u[j], u[j] + tq * sd_u[j]
            intervals[q.name] = (_unbounded(q, lo_u), _unbounded(q, hi_u))
            std[q.name] = float(abs(slopes[j]) * sd_u[j])
        else:
            intervals[q.name] = (-math.inf if not q.log else 0.0, math.inf)
            std[q.name] = math.inf
    at_bounds = [q.name for q, x in zip(params, u) if x < 1e-6 or x > 1 - 1e-6]
    for name_ in at_bounds:
        warnings.append(f"{name_} ended at a bound ({values[name_]:.6g}): the optimum may lie outside the bounds; "
                        "its interval is not that of an interior optimum")
    for run in runs:
        run.pop("u")
    preds = [np.asarray(pr, float) for pr in row["predictions"]]
    result = CalibrationResult(
        model=model, parameters=params, datasets=datasets, values=values, intervals=intervals, std=std,
        covariance=cov, correlation=corr, chi2=chi2, cost=0.5 * chi2, dof=dof, s2=s2, t_value=tq,
        predictions=preds, jacobian=J, singular_values=sv, condition_number=cond, warnings=warnings,
        identifiable=not flags, unidentified=flags, at_bounds=at_bounds, starts=runs,
        evaluations=len(prob.evaluated), computed=prob.computed, reused=prob.reused, settings=settings,
        folder=folder.path)
    if folder.path is not None and (outputs is None or outputs):
        from .calibration_outputs import write_outputs

        write_outputs(result, folder.path, name=name, design_name=design_name)
    return result


def _picklable(fn: Any) -> bool:
    import pickle

    try:
        pickle.dumps(fn)
    except Exception:  # noqa: BLE001 - whatever pickling raises, the function cannot travel to a worker
        return False
    return True


def _unbounded(q: Parameter, u: float) -> float:
    """``from_unit`` without the clip to the bounds (an interval may reach past them)."""
    if q.log:
        return float(q.low * (q.high / q.low) ** u)
    return float(q.low + u * (q.high - q.low))


# --- study files -------------------------------------------------------------------------------------------
_HEAD_KEYS = {"name", "base", "starts", "seed", "start_design", "max_nfev", "jacobian", "diff_step", "ftol", "xtol",
              "gtol", "exact_times", "design_name"}


@dataclass(frozen=True)
class CalibrationStudy:
    """A validated calibration study file: model, parameters, data sets and the fit's settings."""

    name: str
    model: Any
    parameters: list[Parameter]
    datasets: list[Dataset]
    settings: dict[str, Any]
    source_text: str | None = None


def calibration_from_dict(d: Mapping[str, Any], base_dir: str | Path = ".",
                          source_text: str | None = None) -> CalibrationStudy:
    """Build and validate a calibration study from plain data (a parsed study file)."""
    from .study import base_scenario, file_head

    base_dir = Path(base_dir)
    head, name = file_head(d, "calibration", ("calibration", "base", "skin", "parameters", "data"), _HEAD_KEYS,
                           what="calibration study")
    exact = head.get("exact_times", True)
    if not isinstance(exact, bool):
        raise ScenarioError("calibration.exact_times", exact, "true or false")
    given = [k for k in ("base", "skin") if k in d] + (["calibration.base"] if "base" in head else [])
    if len(given) > 1:
        raise ScenarioError(given[1], d.get(given[1], head.get("base")), "one model: a [base] table, a base "
                            "scenario file (calibration.base) or a [skin] table, not several")
    if "skin" in d:
        sk = d["skin"]
        if not isinstance(sk, Mapping):
            raise ScenarioError("skin", sk, "a table {factory = \"ice_pack\", [skin.therapy], [skin.body]}")
        bad = set(sk) - {"factory", "therapy", "body"}
        if bad:
            key = min(bad)
            raise ScenarioError(f"skin.{key}", sk[key], "a known key: factory, therapy, body")
        for key in ("therapy", "body"):
            if not isinstance(sk.get(key, {}), Mapping):
                raise ScenarioError(f"skin.{key}", sk[key], "a table of keyword = value")
        model: Any = SkinModel(str(sk.get("factory")), dict(sk.get("therapy", {})), dict(sk.get("body", {})))
    else:
        model = ScenarioModel.of(base_scenario(d, head, "calibration", base_dir), exact)
    params = d.get("parameters")
    if not isinstance(params, Mapping) or not params:
        raise ScenarioError("parameters", params, "a [parameters] table naming at least one parameter, e.g. "
                            "[parameters.\"probe.orifice_diameter_m\"] bounds = [0.06e-3, 0.16e-3]")
    parameters = _as_parameters(params)
    if "data" not in d:
        raise ScenarioError("data", None, "at least one [[data]] table (kind = ..., file = ...)")
    if not isinstance(d["data"], list):
        raise ScenarioError("data", d["data"], "an array of tables [[data]]")
    datasets = _as_datasets(d["data"], base_dir)
    settings = {k: head[k] for k in head if k not in ("name", "base", "exact_times")}
    settings["exact_times"] = exact
    return CalibrationStudy(name, model, parameters, datasets, settings, source_text)


def load_calibration_study(path: str | Path) -> CalibrationStudy:
    """Read and validate a calibration study file (the file checks of a scenario file:
    :func:`cryosim.scenario.read_toml_file`)."""
    from ..scenario import read_toml_file

    data, text = read_toml_file(path, "calibration study file")
    return calibration_from_dict(data, base_dir=Path(path).parent, source_text=text)


def run_calibration_study(study: CalibrationStudy | str | Path, out: str | Path | None = None, **kwargs: Any
                          ) -> CalibrationResult:
    """Run a calibration study (a :class:`CalibrationStudy` or a study file); ``kwargs`` go to :func:`calibrate`."""
    if not isinstance(study, CalibrationStudy):
        study = load_calibration_study(study)
    settings = dict(study.settings)
    exact = settings.pop("exact_times", True)
    if isinstance(study.model, ScenarioModel) and study.model.exact_times != exact:
        study = CalibrationStudy(study.name, ScenarioModel(study.model.base, exact), study.parameters,
                                 study.datasets, study.settings, study.source_text)
    return calibrate(study.model, study.parameters, study.datasets, out=out, name=study.name,
                     source_text=study.source_text, **settings, **kwargs)

