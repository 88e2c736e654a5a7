"""The validation report: run the cases, write ``report.md``, PNG plots and ``results.json``."""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import time
import traceback
from pathlib import Path
from typing import Any


from ..post.files import OutputError, atomic_write, check_not_symlink, to_jsonable

__all__ = ["row_class", "run_validation"]


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}"


def _dev(x: float | None, unit: str = "") -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if unit:
        return f"{x:+.2f} {unit}"
    return f"{100 * x:+.2f} %" if abs(x) >= 1e-3 else f"{x:.1e}"


def _tol(x: float | None, unit: str = "") -> str:
    if x is None:
        return "–"
    if unit:
        return f"±{x:g} {unit}"
    return f"±{100 * x:g} %" if x >= 1e-3 else f"≤ {x:.0e}"


_STATUS = {"pass": "PASS", "fail": "**FAIL**", "not run": "not run", "info": "info"}

#: The report's groups of evidence, in order: (row classes, heading).
_CLASSES = (
    (("verification",), "(a) Verification: exact solutions, conservation, solver against solver"),
    (("blind",), "(b) Blind predictions from stated inputs (nothing fitted to these data)"),
    (("calibration", "holdout"), "(c) Calibration on part of a dataset, and prediction of the held-out part"),
    (("info",), "For information (no tolerance)"),
)


def row_class(case: Any, row: Any) -> str:
    """The kind of evidence a row is: its own ``row_class``, else from the case kind and the row's status."""
    cls = getattr(row, "row_class", "") or ""
    if cls:
        return cls
    if case.kind == "verification":
        return "verification"
    return "blind" if row.status in ("pass", "fail") else "info"


def _class_counts(cases: list[Any]) -> str:
    """"blind predictions: 3 of 9 within tolerance; ..." over the validation rows that have a verdict."""
    out = []
    for cls, label in (("blind", "blind predictions"), ("calibration", "calibration fits"),
                       ("holdout", "held-out predictions after calibration")):
        rs = [r for c in cases if c.kind == "validation" for r in c.rows
              if row_class(c, r) == cls and r.status in ("pass", "fail")]
        if rs:
            out.append(f"{label}: {sum(r.status == 'pass' for r in rs)} of {len(rs)} within tolerance")
        elif cls == "holdout":
            out.append("held-out predictions after calibration: none in this run")
    return "; ".join(out)


def _summary_paragraph(cases: list[Any], fast: bool) -> str:
    rows = [r for c in cases for r in c.rows]
    ver = [r for c in cases if c.kind == "verification" for r in c.rows]
    val = [r for c in cases if c.kind == "validation" for r in c.rows]

    def count(rs: list[Any], st: str) -> int:
        return sum(r.status == st for r in rs)

    parts = [f"cryosim is verified against exact solutions and validated against published in vitro trends "
             f"(`cryosim validate{' --fast' if fast else ''}`)."]
    if ver:  # none when only validation cases were asked for (--case)
        parts.append(f"Verification: {count(ver, 'pass')} of {len(ver)} checks pass"
                     + (f", {count(ver, 'fail')} fail" if count(ver, 'fail') else "")
                     + (f", {count(ver, 'not run')} not run" if count(ver, 'not run') else "") + ".")
    if val:
        parts.append("Validation by kind of evidence: " + _class_counts(cases) + ".")
    details = []
    for cid, label in (("neumann", "the Neumann planar front"), ("paterson", "Paterson's line-sink front"),
                       ("steady_sphere", "the steady perfused ice sphere")):
        rs = [r for r in rows if r.case == cid]
        if rs and rs[0].deviation is not None:
            details.append(f"{label} within {abs(100 * rs[0].deviation):.2f} %")
    rs = [r for r in rows if r.case == "energy_balance" and r.value is not None]
    if rs:
        details.append(f"energy conserved to {max(r.value for r in rs):.0e} of the heat drawn")
    if details:
        parts.append("The fast solver reproduces " + ", ".join(details) + ".")
    fe = [r for r in rows if r.case == "fem_vs_fast"]
    if fe and fe[0].status == "not run":
        parts.append("The finite-element comparison was not run (" + fe[0].note.removeprefix("not run: ") + ").")
    elif fe:
        parts.append("Finite elements and the fast solver agree within "
                     + f"{max(abs(100 * r.deviation) for r in fe if r.deviation is not None):.1f} % on the default scenario.")
    wo = [r for r in val if r.case == "wolter2017" and r.tolerance is not None]
    if wo:
        def label(r: Any) -> str:
            tid = r.name.split(" ")[0]
            kind = " (device model)" if "device model" in r.name else (" (diameter only)" if tid == "T3" else "")
            return (f"{tid}{kind} ×{r.value:.2f} against ×{r.reference:g}: "
                    f"{'reproduced' if r.status == 'pass' else 'not reproduced'}")

        parts.append("Validation (Wolter 2017, 0.9 % saline bath, known only from a slide summary; probes, bath "
                     f"temperature and size measure assumed and stated; tolerance ±{100 * wo[0].tolerance:g} % of "
                     f"the published size ratio; primary set: {wo[0].assumptions}): "
                     + "; ".join(label(r) for r in wo)
                     + ". The result depends strongly on the unknown size measure; see the sensitivity table.")
    sk = [r for r in val if r.case == "skin_cooling" and r.status in ("pass", "fail")]
    if sk:
        def within(cls: str) -> str:
            rs = [r for r in sk if (getattr(r, "row_class", "") or "blind") == cls]
            return f"{sum(r.status == 'pass' for r in rs)} of {len(rs)}"

        held = [r for r in sk if getattr(r, "row_class", "") == "holdout"]
        parts.append("Surface cryotherapy (the seed's claim and published skin temperatures under a CO2 jet, ice "
                     f"packs and cold air): blind from the defaults, {within('blind')} within the papers' spread"
                     + (f"; the ice pack's contact conductance calibrated on two rows, {within('holdout')} held-out "
                        "rows within" if held else "")
                     + "; see the skin-cooling section for where model and data disagree.")
    li = [r for c in cases if c.id == "littrup2009" for r in c.rows if r.status in ("pass", "fail")]
    if li:
        def said(r: Any) -> str:
            what = r.name.rsplit(",", 2)[0] if "calibrated" not in r.name else r.name.split(",")[0]
            unit = f" {r.unit}" if r.unit == "mm" else ""
            return (f"{what}: {_fmt(r.value, 3)}{unit} against {_fmt(r.reference, 3)}{unit} "
                    f"({'within' if r.status == 'pass' else 'outside'} ±{100 * r.tolerance:g} %)")

        blind = [r for r in li if (getattr(r, "row_class", "") or "blind") == "blind" and "band" not in r.name]
        held = [r for r in li if getattr(r, "row_class", "") == "holdout"]
        parts.append("Validation against Littrup et al. 2009 (single 2.4 and 1.7 mm cryoprobes, 39 °C agar phantom, "
                     "15-min freeze; known from its abstract only; tolerances fixed before the comparison): blind, "
                     f"with the catalogue argon designs as Joule–Thomson devices, {sum(r.status == 'pass' for r in blind)}"
                     f" of {len(blind)} within tolerance: " + "; ".join(said(r) for r in blind)
                     + (f". After calibrating one design value on the 2.4 mm diameter, held out: "
                        + "; ".join(said(r) for r in held) if held else "")
                     + ". Tip temperature, cooling power, the band over the designs' stated ranges and the 0 °C ice "
                     "ball are in the case section.")
    pb = [r for c in cases if c.id == "sarshoghi_pbs_cryoprobe" for r in c.rows if r.status in ("pass", "fail")]
    if pb:
        def count(cls: str) -> str:
            rs = [r for r in pb if getattr(r, "row_class", "") == cls]
            return f"{sum(r.status == 'pass' for r in rs)} of {len(rs)}"

        parts.append("Thermocouple traces in PBS around an argon needle (public data of Sarshoghi et al.; tolerances "
                     "5 K RMS, fronts 15 % or 0.5 mm): blind from the probe's own thermocouple "
                     f"{count('blind')} within tolerance (pure conduction puts the front up to twice too far out; "
                     "diagnosis: natural convection of the liquid), calibration rows "
                     f"{count('calibration')}, held-out predictions after calibration {count('holdout')}.")
    bo = [r for r in val if r.case == "bone3d"]
    if bo and bo[0].status == "not run":
        parts.append("The 3D bone-angle case (T4) was not run: " + bo[0].note.removeprefix("not run: ") + ".")
    elif bo:
        parts.append(f"Next to a bone plate the ice-ball volume varies by {100 * bo[0].value:.0f} % over probe angles "
                     f"({bo[0].status}).")
    return " ".join(parts)


def _write_report(out: Path, cases: list[Any], fast: bool, wall: dict[str, float], errors: dict[str, str]) -> Path:
    import cryosim

    lines = ["# cryosim verification and validation report", ""]
    lines += [f"cryosim {cryosim.__version__}, variant **{'fast' if fast else 'full'}**, generated "
              f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on Python {platform.python_version()} "
              f"({platform.machine()}); total wall time {sum(wall.values()):.0f} s.", ""]
    lines += ["## Summary", "", _summary_paragraph(cases, fast), ""]
    lines += ["## 1. Scope", "",
              "*Verification* asks whether the equations of PHYSICS.md §2 (Pennes bioheat with phase change, "
              "enthalpy form) are solved correctly: the solvers are compared with exact solutions of the same "
              "equations (Neumann, Paterson, steady perfused sphere), with the conservation of energy, and with each "
              "other (finite elements vs finite volumes). Tolerances are set in advance in `validation/<case>/case.toml`.",
              "",
              "*Validation* asks whether those equations, with cited material data, predict real ice balls. The "
              "in vitro data available to the project are the trends of Wolter 2017 as summarised "
              "in a slide of seed 002 (PHYSICS.md §4) and the abstract of Littrup et al. 2009 (lethal ice of "
              "single cryoprobes in an agar phantom, case `littrup2009`). The Wolter paper itself, its probes, bath "
              "temperature and size measure could not be found, and Littrup's full text (its probes, 0 °C ice and "
              "thermocouple data) could not be read, so validation here is conditional: each trend is compared under stated "
              "assumptions, the sensitivity to each assumption is shown, and nothing is calibrated on the trend it "
              "is compared with. A passing validation row means *consistent with the trend under the stated "
              "assumptions*, not *validated for clinical use*.", "",
              f"Variant: {'**fast** (coarse grids and loose time-step tolerances, as run by the test suite; numbers are indicative)' if fast else '**full** (the resolutions given in the [full] tables of the case files)'}. "
              "Rerun with `cryosim validate [--fast] [--out DIR] [--overwrite]`, or "
              "`python -c \"from cryosim.validation import run_validation; run_validation('DIR')\"`.", ""]
    lines += ["## 2. Results", "",
              "The rows are grouped by the kind of evidence they are (issue 15's validation protocol): "
              "(a) *verification* against exact solutions and conservation laws; (b) *blind predictions* from "
              "stated inputs, nothing fitted to the data compared; (c) *calibration and held-out prediction*: the "
              "fit of named unknown parameters to one part of a dataset (its residual, which is not validation) "
              "and the prediction, with the fitted values, of another part that the fit did not see (which is). "
              "Tolerances were fixed in the case files before the first comparison.", ""]
    n = 0
    for cls, title in _CLASSES:
        rows = [(c, r) for c in cases for r in c.rows if row_class(c, r) in cls]
        if not rows:
            continue
        lines += [f"### {title}", "",
                  "| # | case | check | reference | cryosim | unit | deviation | tolerance | result | assumptions / note |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c, r in rows:
            n += 1
            note = r.assumptions + (f" — {r.note}" if r.note else "")
            cells = [str(n), c.id, r.name, _fmt(r.reference), _fmt(r.value), r.unit,
                     _dev(r.deviation, r.deviation_unit), _tol(r.tolerance, r.deviation_unit),
                     _STATUS.get(r.status, r.status)
                     + (f" ({row_class(c, r)})" if row_class(c, r) in ("calibration", "holdout") else ""), note]
            lines.append("| " + " | ".join(x.replace("|", "/") for x in cells) + " |")
        lines.append("")
    lines += ["Deviation = (cryosim − reference) / reference (relative; for the energy balance, the imbalance "
              "relative to the heat drawn; for trend ratios, relative to the published ratio).", ""]
    sec = 3
    for kind, title in (("verification", "Verification"), ("validation", "Validation")):
        lines += [f"## {sec}. {title}", ""]
        k = 0
        for c in cases:
            if c.kind != kind:
                continue
            k += 1
            lines += [f"### {sec}.{k} {c.title} (`{c.id}`)", "", c.markdown, ""]
            for f, cap in c.figures:
                if (out / f).exists():
                    lines += [f"![{cap}]({f})", "", f"*{cap}*", ""]
            lines += [f"Data: `validation/{c.id}/`. Wall time {wall.get(c.id, 0.0):.1f} s.", ""]
        sec += 1
    if errors:
        lines += [f"## {sec}. Cases that raised an error", ""]
        for cid, tb in errors.items():
            lines += [f"### `{cid}`", "", "```", tb.strip(), "```", ""]
        sec += 1
    lines += [f"## {sec}. Limitations", "",
              "- The in vitro validation data are three ratios and one qualitative statement from a slide (Wolter "
              "2017; the source paper, its probes and its measurement method are unknown) and three numbers from an "
              "abstract (Littrup 2009; the probe maker, gas and active length are not given there).",
              "- Natural convection in the liquid bath, supercooling, the probe's heat capacity and the gas dynamics "
              "in the probe are not modelled.",
              "- Verification of the fast solver is in 1D (exact solutions) and against the finite-element solver in "
              "2D; the grid convergence of the 2D solver is seen in the fast vs full variants of this report.",
              ""]
    path = out / "report.md"
    atomic_write(path, lambda fh: fh.write("\n".join(lines)))
    return path


def run_validation(output_dir: str | Path, fast: bool = False, cases: list[str] | None = None,
                   data_dir: str | Path | None = None, overwrite: bool = False,
                   progress: Any = None) -> Path:
    """Run the validation cases and write ``report.md``, PNG plots and ``results.json``.

    Parameters
    ----------
    output_dir : folder to write into (created).
    fast : the coarse variant of every case (seconds to a minute) instead of the full one.
    cases : case ids to run (default: all; see :data:`cryosim.validation.CASES`).
    data_dir : folder holding ``<case>/`` data files (default: ``validation/`` of the source checkout).
    overwrite : write into a folder that holds an earlier ``report.md`` (refused otherwise).
    progress : ``progress(case_id, index, n_cases, wall_s or None)``, called before (None) and after each case.

    Returns the path of ``report.md``. A case that raises is reported as an
    error row (status "not run") and the others still run.
    """
    from .cases import CASES, NOT_RUN, CaseResult, Context, Row, VALIDATION, data_dir_default

    out = Path(output_dir)
    check_not_symlink(out, "validation output folder")
    if (out / "report.md").exists() and not overwrite:
        raise OutputError("validation output folder", str(out), "a folder without an earlier report (it holds "
                          "report.md; overwrite=True replaces it, `cryosim validate --overwrite` swaps it whole)")
    out.mkdir(parents=True, exist_ok=True)
    ids = list(CASES) if cases is None else list(cases)
    unknown = [c for c in ids if c not in CASES]
    if unknown:
        raise ValueError(f"unknown validation case(s) {unknown}; known: {list(CASES)}")
    ctx = Context(fast=fast, data_dir=Path(data_dir) if data_dir else data_dir_default(), out=out)
    results, wall, errors = [], {}, {}
    for k, cid in enumerate(ids):
        if progress is not None:
            progress(cid, k, len(ids), None)
        t0 = time.perf_counter()
        try:
            res = CASES[cid](ctx)
        except Exception as e:
            errors[cid] = traceback.format_exc()
            kind = "validation" if cid in VALIDATION else "verification"
            res = CaseResult(cid, cid, kind, rows=[Row(cid, "case raised an error", None, None, "–", None, None, NOT_RUN,
                                                       "–", "–", note=f"not run: {type(e).__name__}: {e}")],
                             markdown=f"**Not run: the case raised {type(e).__name__}: {e}** (traceback at the end).")
        wall[cid] = time.perf_counter() - t0
        res.wall_s = wall[cid]
        if progress is not None:
            progress(cid, k, len(ids), wall[cid])
        results.append(res)
    path = _write_report(out, results, fast, wall, errors)
    payload = {
        "variant": "fast" if fast else "full",
        "cases": [{"id": c.id, "title": c.title, "kind": c.kind, "wall_s": c.wall_s,
                   "rows": [dict(r.as_dict(), row_class=row_class(c, r)) for r in c.rows], "data": c.data,
                   "figures": [f for f, _ in c.figures]} for c in results],
        "errors": errors,
    }
    atomic_write(out / "results.json", lambda fh: json.dump(payload, fh, indent=2, default=to_jsonable))
    return path
