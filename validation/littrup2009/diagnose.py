"""Diagnosis of the Littrup 2009 miss (issue 15): which inputs move the -30 °C diameter of the 2.4 mm probe.

Run from the repository root (each part writes its JSON next to this file; ``plot`` makes the PNGs from them):

    .venv/bin/python validation/littrup2009/diagnose.py oat      # one at a time over the design's ranges (~3 min)
    .venv/bin/python validation/littrup2009/diagnose.py fixed    # fixed surface temperatures, no device (~1 min)
    .venv/bin/python validation/littrup2009/diagnose.py sobol    # Sobol over the dominant design values (~6 min)
    .venv/bin/python validation/littrup2009/diagnose.py plot

Everything at the case's fast resolution (0.25), 39 °C agar, 900 s of gas, as in the littrup2009 case.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DESIGN = "argon-2.4mm"


def _params() -> dict:
    from cryosim.validation.cases import Context, data_dir_default, load_case

    ctx = Context(fast=True, data_dir=data_dir_default(), out=HERE)
    return load_case(ctx, "littrup2009")[1]


def _measures(r) -> dict:
    import numpy as np

    w30, w0 = r.final(-30.0, "width_m"), r.final(0.0, "width_m")
    out = {"w30_mm": 1e3 * w30, "w0_mm": 1e3 * w0, "fraction": (w30 / w0) ** 2 if w0 > 0 else float("nan"),
           "len0_mm": 1e3 * r.final(0.0, "length_m")}
    if r.device:
        out["tip_C"] = float(np.asarray(r.device["tip_mean_C"])[-1])
        out["power_W"] = float(np.asarray(r.device["cooling_power_W"])[-1])
    else:
        out["tip_C"] = float(r.probe_surface_C[-1])
    return out


def run_design(p: dict, design: str = DESIGN, overrides: dict | None = None, replace: dict | None = None,
               medium_changes: dict | None = None, numerics_changes: dict | None = None) -> dict:
    """One littrup2009 run of ``design`` with scenario overrides (probe.<key>), design fields replaced
    (``replace``: what no scenario key reaches, e.g. the active length), medium or numerics changed."""
    from cryosim.fast.solver import run_axisymmetric
    from cryosim.physics import catalogue
    from cryosim.physics.catalogue import with_overrides
    from cryosim.validation.cases import littrup_scenario

    original = catalogue.load_probe_design
    try:
        if replace:
            changed = dataclasses.replace(original(design), **replace)
            catalogue.load_probe_design = lambda n: changed if n == design else original(n)  # type: ignore
        s = littrup_scenario(p, design)
        if overrides:
            d = with_overrides(catalogue.load_probe_design(design), overrides)
            s = s.with_(probe=d.probe(**overrides))
        if medium_changes:
            s = s.with_(medium=s.medium.with_(**medium_changes))
        if numerics_changes:
            s = s.with_(numerics=dataclasses.replace(s.numerics, **numerics_changes))
        t0 = time.perf_counter()
        r = run_axisymmetric(s)
        out = _measures(r) | {"wall_s": time.perf_counter() - t0}
        if r.device:
            import numpy as np
            from cryosim.physics.catalogue import design_of
            from cryosim.physics.device import jt_device

            dev = jt_device(design_of(s.probe), 39.0)
            out |= {"mdot_g_s": 1e3 * dev.mass_flow_kg_per_s, "coldest_C": dev.coldest_C,
                    "Q_at_0C_W": float(dev.heat_drawn_W(0.0)), "Q_at_m100C_W": float(dev.heat_drawn_W(-100.0)),
                    "hv_W_m2K": dev.vapour_heat_transfer_W_per_m2_K, "eps_gas": dev.effectiveness}
        return out
    finally:
        catalogue.load_probe_design = original


def oat() -> None:
    from cryosim.physics.catalogue import design_ranges, load_probe_design

    p = _params()
    d = load_probe_design(DESIGN)
    res = {"baseline": run_design(p)}
    res["baseline_1.7mm"] = run_design(p, "argon-1.7mm")
    print("baseline", res["baseline"], flush=True)
    for key, (lo, hi) in design_ranges(DESIGN).items():
        for tag, v in (("low", lo), ("high", hi)):
            res[f"{key}|{tag}"] = run_design(p, overrides={key: v}) | {"value": v, "nominal": getattr(d, key)}
            print(key, tag, v, res[f"{key}|{tag}"], flush=True)
    # inputs no scenario key reaches (stated here as plausible alternatives, not design ranges)
    extra = {
        "active_length_m|low": dict(replace={"active_length_m": 20e-3}, value=20e-3, nominal=d.active_length_m),
        "active_length_m|high": dict(replace={"active_length_m": 50e-3}, value=50e-3, nominal=d.active_length_m),
        "mass_flow_g_s|low": dict(overrides={"mass_flow_kg_per_s": 0.5e-3}, value=0.5e-3,
                                  nominal=d.mass_flow_per_needle_kg_per_s),
        "mass_flow_g_s|high": dict(overrides={"mass_flow_kg_per_s": 1.0e-3}, value=1.0e-3,
                                   nominal=d.mass_flow_per_needle_kg_per_s),
        "frozen_k_x0.7|low": dict(medium_changes={"conductivity_frozen_W_per_m_K": None}, value=0.7, nominal=1.0),
        "container_radius_m|low": dict(numerics_changes={"domain_radius_m": 0.03}, value=0.03, nominal=None),
        "container_radius_m|high": dict(numerics_changes={"domain_radius_m": 0.10}, value=0.10, nominal=None),
    }
    from cryosim import get_material

    agar = get_material("agar_gel")
    for name, spec in extra.items():
        kw = {k: v for k, v in spec.items() if k in ("replace", "overrides", "medium_changes", "numerics_changes")}
        if "medium_changes" in kw:
            kw["medium_changes"] = {"conductivity_frozen_W_per_m_K": 0.7 * agar.conductivity_frozen_W_per_m_K}
        try:
            res[name] = run_design(p, **kw) | {"value": spec["value"], "nominal": spec["nominal"]}
        except Exception as e:  # noqa: BLE001 - a refused alternative is reported, not hidden
            res[name] = {"error": str(e)}
        print(name, res[name], flush=True)
    (HERE / "diagnosis_oat.json").write_text(json.dumps(res, indent=1))


def fixed() -> None:
    """The probe as a surface held at T_s (no device): which T_s gives the data's -30 °C diameter and fraction."""
    from cryosim import Freeze, Probe, Protocol
    from cryosim.fast.solver import run_axisymmetric
    from cryosim.physics.catalogue import load_probe_design
    from cryosim.validation.cases import littrup_scenario

    p = _params()
    res = {}
    for design in (DESIGN, "argon-1.7mm"):
        d = load_probe_design(design)
        for L in (d.active_length_m, 20e-3):
            for Ts in (-160.0, -140.0, -120.0, -100.0, -80.0, -60.0):
                s = littrup_scenario(p, design).with_(
                    probe=Probe(outer_diameter_m=d.outer_diameter_m, active_length_m=L),
                    protocol=Protocol((Freeze(p["freeze_duration_s"], Ts),)))
                r = run_axisymmetric(s)
                res[f"{design}|{1e3 * L:g}|{Ts:g}"] = _measures(r)
                print(design, L, Ts, res[f"{design}|{1e3 * L:g}|{Ts:g}"], flush=True)
    (HERE / "diagnosis_fixed.json").write_text(json.dumps(res, indent=1))


SOBOL_KEYS = ("recuperator_effectiveness", "orifice_diameter_m", "boiling_heat_transfer_W_per_m2_K")


def sobol(n: int = 8) -> None:
    from SALib.analyze import sobol as sa
    from SALib.sample import sobol as ss

    from cryosim.physics.catalogue import design_ranges

    p = _params()
    rng = design_ranges(DESIGN)
    problem = {"num_vars": len(SOBOL_KEYS), "names": list(SOBOL_KEYS), "bounds": [list(rng[k]) for k in SOBOL_KEYS]}
    X = ss.sample(problem, n, calc_second_order=False, seed=1)
    Y = []
    for i, x in enumerate(X):
        Y.append(run_design(p, overrides=dict(zip(SOBOL_KEYS, map(float, x))))["w30_mm"])
        print(i, len(X), list(x), Y[-1], flush=True)
    import numpy as np

    S = sa.analyze(problem, np.asarray(Y), calc_second_order=False, seed=1)
    out = {"keys": list(SOBOL_KEYS), "n": n, "X": X.tolist(), "w30_mm": Y,
           "S1": S["S1"].tolist(), "S1_conf": S["S1_conf"].tolist(), "ST": S["ST"].tolist(),
           "ST_conf": S["ST_conf"].tolist()}
    (HERE / "diagnosis_sobol.json").write_text(json.dumps(out, indent=1))
    print(out["S1"], out["ST"])


def plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    oat_res = json.loads((HERE / "diagnosis_oat.json").read_text())
    base = oat_res["baseline"]
    keys = sorted({k.split("|")[0] for k in oat_res if "|" in k and "error" not in oat_res[k]})
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(keys) + 2))
    for ax, m, ref, lab in ((axes[0], "w30_mm", 12.0, "-30 °C diameter (mm)"),
                            (axes[1], "fraction", 0.13, "-30 °C / 0 °C section area")):
        for i, k in enumerate(keys):
            lo, hi = (oat_res.get(f"{k}|{t}", {}).get(m) for t in ("low", "high"))
            vals = [v for v in (lo, hi) if v is not None]
            ax.plot([min(vals), max(vals)], [i, i], "-", color="C0", lw=6, alpha=0.6)
            if lo is not None:
                ax.plot(lo, i, "<", color="C0")
            if hi is not None:
                ax.plot(hi, i, ">", color="C3")
        ax.axvline(base[m], color="k", lw=1, label="catalogue design")
        ax.axvspan(ref * (0.75 if m == "w30_mm" else 0.5), ref * (1.25 if m == "w30_mm" else 1.5), color="g",
                   alpha=0.2, label="Littrup 2009 ± tolerance")
        ax.set_yticks(range(len(keys)), keys if ax is axes[0] else [""] * len(keys))
        ax.set_xlabel(lab)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Littrup 2009, single 2.4 mm argon probe, 39 °C agar, 15 min: one at a time "
                 "(< low end, > high end of each range)")
    fig.tight_layout()
    fig.savefig(HERE / "diagnosis_oat.png", dpi=110)
    plt.close(fig)
    fx = HERE / "diagnosis_fixed.json"
    if fx.exists():
        f = json.loads(fx.read_text())
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for key in sorted({k.rsplit("|", 1)[0] for k in f}):
            pts = sorted((float(k.rsplit("|", 1)[1]), v) for k, v in f.items() if k.rsplit("|", 1)[0] == key)
            axes[0].plot([t for t, _ in pts], [v["w30_mm"] for _, v in pts], "o-", label=key.replace("|", ", L = ") + " mm")
            axes[1].plot([t for t, _ in pts], [v["fraction"] for _, v in pts], "o-")
        axes[0].axhspan(9, 15, color="g", alpha=0.2, label="data 12 mm ± 25 % (2.4 mm)")
        axes[1].axhspan(0.065, 0.195, color="g", alpha=0.2)
        axes[0].axvline(base["tip_C"], color="k", ls=":", label=f"device model tip ({base['tip_C']:.0f} °C)")
        axes[1].axvline(base["tip_C"], color="k", ls=":")
        axes[0].set_ylabel("-30 °C diameter (mm)")
        axes[1].set_ylabel("-30 °C / 0 °C section area")
        for ax in axes:
            ax.set_xlabel("probe surface held at (°C)")
        axes[0].legend(fontsize=7)
        fig.suptitle("Littrup 2009 phantom with the probe surface held at a fixed temperature (no device)")
        fig.tight_layout()
        fig.savefig(HERE / "diagnosis_fixed.png", dpi=110)
        plt.close(fig)
    sb = HERE / "diagnosis_sobol.json"
    if sb.exists():
        s = json.loads(sb.read_text())
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = range(len(s["keys"]))
        ax.bar([i - 0.2 for i in x], s["S1"], 0.4, yerr=s["S1_conf"], label="first order S1")
        ax.bar([i + 0.2 for i in x], s["ST"], 0.4, yerr=s["ST_conf"], label="total ST")
        ax.set_xticks(list(x), s["keys"], fontsize=8)
        ax.set_ylabel("Sobol index of the -30 °C diameter")
        ax.set_title(f"2.4 mm probe over the design's ranges (Saltelli N = {s['n']}, {len(s['w30_mm'])} runs)",
                     fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(HERE / "diagnosis_sobol.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    {"oat": oat, "fixed": fixed, "sobol": sobol, "plot": plot}[sys.argv[1]]()
