"""Diagnosis of issue 15: which inputs move the skin temperature under the CO2 jet and the ice pack.

Run (about 1-2 min on one core):

    .venv/bin/python validation/skin_cooling/diagnose.py [--model baseline|current] [output folder]

``--model baseline`` (the default) runs the model as it stood when issue 15 was filed (no
vasoconstriction, the jet held on one spot, the old ice-pack conductance), so that the figures of
diagnosis.md can be remade after the fixes; ``--model current`` runs today's defaults instead.
Writes into the output folder (default: this script's folder):

* ``diag_oat_jet.png`` / ``diag_oat_ice.png``: one-at-a-time sensitivity (tornado) of the skin surface
  temperature over each input's plausible range (``OAT_JET`` / ``OAT_ICE`` below, with sources);
* ``diag_sobol.png``: first-order and total Sobol' indices (SALib, Saltelli sampling, as
  cryosim.studies.uncertainty) of the three dominant inputs of each therapy;
* ``diag_mechanism.png``: the jet's surface temperature against the time-averaged coefficient it
  sees (held spot vs swept) with the measurements, and the ice pack's against the contact
  conductance with and without perfusion;
* ``diag_numbers.json``: every number the figures show.

Nothing here is fitted to a measurement: the ranges are stated before the runs (sources in
``OAT_JET`` / ``OAT_ICE``), and the measurements are only drawn for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cryosim.clinical import skin as S
from cryosim.physics.materials import get_material

HERE = Path(__file__).resolve().parent

#: (name, low, high, how it enters, source of the range). Ranges of the held-spot jet of issue 15.
OAT_JET = [
    ("velocity_m_per_s", 10.0, 60.0, "jet", "assumed: 30 m/s default; a free jet 10 cm from a sonic nozzle has decayed "
                                             "to a few tens of m/s (jet centre-line decay u ~ 6 u0 D/x)"),
    ("standoff_m", 40e-3, 96e-3, "jet", "Martin 1977 needs H/D <= 12 with the 8 mm effective nozzle: "
                                        "96 mm is its edge"),
    ("spot_radius_m", 20e-3, 60e-3, "jet", "Martin 1977 range r/D 2.5-7.5 with D = 8 mm"),
    ("snow_deposition_kg_per_m2_s", 0.0, 20e-3, "jet", "assumed 5 g/m2/s in the model; 0 (snow bounces or "
                                                        "sublimates in flight, Leidenfrost) to 4x"),
    ("sublimation_J_per_kg", 15.0e3 / 44.01e-3, 25.2e3 / 44.01e-3, "enthalpy",
     "seed's 15 kJ/mol vs handbook 25.2 kJ/mol (CRC Handbook)"),
    ("duty_cycle", 0.1, 1.0, "jet", "the seed sweeps the jet ('balayer la zone'): 1 = held on one spot"),
    ("skin_m", 1.0e-3, 3.0e-3, "layer", "skin thickness 1-3 mm (thigh/hand dorsum to back; model 2.08 mm)"),
    ("fat_m", 3e-3, 20e-3, "layer", "subcutaneous fat 3-20 mm (hand/ankle to thigh; model 10 mm)"),
    ("perfusion_scale", 0.0, 2.0, "simulate", "0 = full cold-induced vasoconstriction, 2 = warm-vasodilated skin"),
    ("room_air_C", 20.0, 26.0, "simulate", "treatment-room air 20-26 °C (model 23 °C)"),
    ("core_C", 35.0, 37.0, "simulate", "deep (40 mm) temperature: a limb's deep muscle 35-37 °C (model 37 °C)"),
]
OAT_ICE = [
    ("contact_conductance_W_per_m2_K", 50.0, 1000.0, "ice",
     "assumed 240 in the model: a wet towel and partial contact (~50) to full wet contact through a thin bag (~1000)"),
    ("ice_mass_kg", 0.3, 0.8, "ice", "Janwantanakul, Physiotherapy 2009;95:120-125: 0.3-0.8 kg packs"),
    ("skin_m", 1.0e-3, 3.0e-3, "layer", "as for the jet"),
    ("fat_m", 3e-3, 20e-3, "layer", "ankle (Kennet 2007) to thigh (Kanlayanaphotporn 2005: skinfold < 40 mm)"),
    ("perfusion_scale", 0.0, 2.0, "simulate", "as for the jet"),
    ("room_air_C", 20.0, 26.0, "simulate", "as for the jet"),
    ("core_C", 35.0, 37.0, "simulate", "as for the jet"),
]
JET_DEFAULTS = dict(velocity_m_per_s=30.0, standoff_m=96e-3, spot_radius_m=20e-3, snow_deposition_kg_per_m2_s=5e-3,
                    sublimation_J_per_kg=S.CO2_SUBLIMATION_J_PER_KG, duty_cycle=1.0, skin_m=2.08e-3, fat_m=10e-3,
                    perfusion_scale=1.0, room_air_C=23.0, core_C=37.0)
ICE_DEFAULTS = dict(contact_conductance_W_per_m2_K=240.0, ice_mass_kg=0.6, skin_m=2.08e-3, fat_m=10e-3,
                    perfusion_scale=1.0, room_air_C=23.0, core_C=37.0)
DEPTH_M = 40e-3


def _layers(skin_m: float, fat_m: float) -> tuple[S.Layer, ...]:
    return (S.Layer("skin", get_material("skin"), skin_m), S.Layer("fat", get_material("fat"), fat_m),
            S.Layer("muscle", get_material("muscle"), DEPTH_M - skin_m - fat_m))


def _sim_kwargs(model: str) -> dict:
    """Keyword arguments that put today's simulate() back to the model of issue 15 (``baseline``)."""
    import inspect

    if model == "baseline" and "vasoconstriction" in inspect.signature(S.simulate).parameters:
        return {"vasoconstriction": False}
    return {}


def _jet_factory(model: str, p: dict, duration_s: float) -> S.SurfaceTherapy:
    import inspect

    kw = {k: p[k] for k in ("velocity_m_per_s", "standoff_m", "spot_radius_m", "snow_deposition_kg_per_m2_s",
                            "duty_cycle")}
    sig = inspect.signature(S.co2_jet).parameters
    if "sublimation_J_per_kg" in sig:
        kw["sublimation_J_per_kg"] = p["sublimation_J_per_kg"]
    th = S.co2_jet(duration_s, **kw)
    if "sublimation_J_per_kg" not in sig:  # the model of issue 15: rescale the snow's flux by hand
        th = S.SurfaceTherapy(th.name, th.duration_s, th.coolant_C, th.heat_transfer_W_per_m2_K,
                              th.extra_flux_out_W_per_m2 * p["sublimation_J_per_kg"] / S.CO2_SUBLIMATION_J_PER_KG)
    return th


def jet_surface(p: dict, times_s: tuple[float, ...], model: str = "baseline") -> list[float]:
    """Skin surface temperature (°C) at ``times_s`` under the jet of parameters ``p`` (held for max(times))."""
    th = _jet_factory(model, p, max(times_s))
    r = S.simulate(th, layers=_layers(p["skin_m"], p["fat_m"]), after_s=0.0, perfusion_scale=p["perfusion_scale"],
                   room_air_C=p["room_air_C"], core_C=p["core_C"], **_sim_kwargs(model))
    return [r.surface_at_C(t) for t in times_s] + [r.initial_surface_C]


def ice_surface(p: dict, times_s: tuple[float, ...], model: str = "baseline") -> list[float]:
    th = S.ice_pack(max(times_s), contact_conductance_W_per_m2_K=p["contact_conductance_W_per_m2_K"],
                    ice_mass_kg=p["ice_mass_kg"])
    r = S.simulate(th, layers=_layers(p["skin_m"], p["fat_m"]), after_s=0.0, perfusion_scale=p["perfusion_scale"],
                   room_air_C=p["room_air_C"], core_C=p["core_C"], **_sim_kwargs(model))
    return [r.surface_at_C(t) for t in times_s] + [r.initial_surface_C]


def oat(fn, defaults: dict, table: list, times_s: tuple[float, ...], model: str) -> dict:
    base = fn(defaults, times_s, model)
    out = {"base": base, "params": {}}
    for name, lo, hi, _, src in table:
        vals = []
        for v in (lo, hi):
            try:
                vals.append(fn({**defaults, name: v}, times_s, model))
            except Exception as exc:  # a refused run (below the floor, pack melted) is reported as such
                vals.append([float("nan")] * (len(times_s) + 1) + [str(exc)[:120]])
        out["params"][name] = {"low": lo, "high": hi, "at_low": vals[0], "at_high": vals[1], "source": src}
    return out


def tornado(ax, res: dict, k: int, title: str, ref: tuple[float, float] | None) -> list[tuple[str, float]]:
    base = res["base"][k]
    rows = []
    for name, d in res["params"].items():
        a, b = d["at_low"][k], d["at_high"][k]
        rows.append((name, a, b, np.nanmax([abs(a - base), abs(b - base)])))
    rows.sort(key=lambda r: r[3])
    for i, (name, a, b, _) in enumerate(rows):
        for v, c in ((a, "tab:blue"), (b, "tab:red")):
            if np.isfinite(v):
                ax.barh(i, v - base, left=base, color=c, alpha=0.7)
    ax.set_yticks(range(len(rows)), [f"{n} [{res['params'][n]['low']:g}, {res['params'][n]['high']:g}]"
                                     for n, *_ in rows], fontsize=7)
    ax.axvline(base, color="k", lw=0.8)
    if ref is not None:
        ax.axvspan(ref[0] - ref[1], ref[0] + ref[1], color="0.85", zorder=0, label="measurement ± tolerance")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("skin surface temperature (°C); blue: low end, red: high end")
    return [(n, s) for n, *_, s in rows[::-1]]


def sobol(fn, defaults: dict, table: list, names: list[str], t_s: float, model: str, n: int) -> dict:
    from SALib.analyze import sobol as sa
    from SALib.sample import sobol as saltelli

    bounds = {r[0]: (r[1], r[2]) for r in table}
    problem = {"num_vars": len(names), "names": names, "bounds": [list(bounds[k]) for k in names]}
    X = saltelli.sample(problem, n, calc_second_order=False, seed=15)
    Y = np.empty(len(X))
    for i, x in enumerate(X):
        try:
            Y[i] = fn({**defaults, **dict(zip(names, x))}, (t_s,), model)[0]
        except Exception:  # refused (below the coolant floor): counts as the floor
            Y[i] = S.CO2_SUBLIMATION_C
    Si = sa.analyze(problem, Y, calc_second_order=False, seed=15)
    return {"names": names, "S1": Si["S1"].tolist(), "ST": Si["ST"].tolist(), "S1_conf": Si["S1_conf"].tolist(),
            "ST_conf": Si["ST_conf"].tolist(), "runs": len(X), "min": float(Y.min()), "max": float(Y.max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(HERE))
    ap.add_argument("--model", choices=("baseline", "current"), default="baseline")
    ap.add_argument("--sobol-n", type=int, default=64)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.model == "current":  # today's defaults of the factories instead of those of issue 15
        JET_DEFAULTS["duty_cycle"] = getattr(S, "CO2_JET_DUTY_CYCLE", 1.0)
        ICE_DEFAULTS["contact_conductance_W_per_m2_K"] = getattr(S, "ICE_PACK_CONTACT_W_PER_M2_K", 240.0)
    t0 = time.time()
    nums: dict = {"model": a.model}
    # --- 1. one at a time -------------------------------------------------------------------------
    jet = oat(jet_surface, JET_DEFAULTS, OAT_JET, (30.0, 120.0), a.model)
    ice = oat(ice_surface, ICE_DEFAULTS, OAT_ICE, (180.0, 1200.0), a.model)
    nums["oat_jet"], nums["oat_ice"] = jet, ice
    fig, axs = plt.subplots(1, 2, figsize=(13, 4.8))
    rank_jet = tornado(axs[0], jet, 0, "CO2 jet held on one spot, 30 s (seed claim 2 ± 5 °C)", (2.0, 5.0))
    tornado(axs[1], jet, 1, "CO2 jet, 120 s (Mourot 2007, swept on the hand: 7.3 ± 0.8 °C)", (7.3, 0.8))
    fig.tight_layout()
    fig.savefig(out / "diag_oat_jet.png", dpi=120)
    plt.close(fig)
    fig, axs = plt.subplots(1, 2, figsize=(13, 4.2))
    tornado(axs[0], ice, 0, "ice pack, 3 min", None)
    rank_ice = tornado(axs[1], ice, 1, "ice pack, 20 min (Kanlayanaphotporn 2005: 10.2 ± 3.5 °C)", (10.2, 3.5))
    fig.tight_layout()
    fig.savefig(out / "diag_oat_ice.png", dpi=120)
    plt.close(fig)
    nums["rank_jet_30s"], nums["rank_ice_1200s"] = rank_jet, rank_ice
    # --- 2. Sobol of the three dominant inputs ----------------------------------------------------------
    top_jet = [n for n, _ in rank_jet[:3]]
    top_ice = [n for n, _ in rank_ice[:3]]
    sj = sobol(jet_surface, JET_DEFAULTS, OAT_JET, top_jet, 30.0, a.model, a.sobol_n)
    si = sobol(ice_surface, ICE_DEFAULTS, OAT_ICE, top_ice, 1200.0, a.model, a.sobol_n)
    nums["sobol_jet_30s"], nums["sobol_ice_1200s"] = sj, si
    fig, axs = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, s, title in ((axs[0], sj, "CO2 jet, surface at 30 s"), (axs[1], si, "ice pack, surface at 20 min")):
        x = np.arange(len(s["names"]))
        ax.bar(x - 0.2, s["S1"], 0.4, yerr=s["S1_conf"], label="first order S1")
        ax.bar(x + 0.2, s["ST"], 0.4, yerr=s["ST_conf"], label="total ST")
        ax.set_xticks(x, s["names"], fontsize=7)
        ax.set_ylim(0, 1.1)
        ax.set_title(f"{title}: {s['runs']} runs, {s['min']:.1f} to {s['max']:.1f} °C", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "diag_sobol.png", dpi=120)
    plt.close(fig)
    # --- 3. mechanism ---------------------------------------------------------------------------------
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(17, 4.5))
    duties = (1.0, 0.5, 0.34, 0.2, 0.1)
    mech_jet = {}
    for d in duties:
        p = {**JET_DEFAULTS, "duty_cycle": d}
        th = _jet_factory(a.model, p, 120.0)
        r = S.simulate(th, after_s=0.0, **_sim_kwargs(a.model))
        mech_jet[d] = {"h_W_per_m2_K": th.heat_transfer_W_per_m2_K, "T30_C": r.surface_at_C(30.0),
                       "T120_C": r.surface_at_C(120.0)}
        a1.plot(r.time_s, r.surface_C, label=f"duty {d:g}: mean h {th.heat_transfer_W_per_m2_K:.0f} W/m2/K, "
                                              f"snow {th.extra_flux_out_W_per_m2 / 1e3:.2f} kW/m2")
    a1.errorbar([30.0], [2.0], yerr=[5.0], fmt="ko", capsize=3, label="seed 000: 32 -> 2 °C in 30 s (claim)")
    a1.errorbar([120.0], [7.3], yerr=[0.8], fmt="ks", capsize=3, label="Mourot 2007: 32.5 -> 7.3 °C in 2 min (hand)")
    a1.axhline(0.0, color="k", lw=0.5, ls=":")
    a1.set_xlabel("time under the jet (s)")
    a1.set_ylabel("skin surface temperature (°C)")
    a1.set_title("CO2 jet: held spot (duty 1) vs swept (time-averaged h and snow flux)", fontsize=9)
    a1.legend(fontsize=6.5)
    hs = np.geomspace(30.0, 1000.0, 9)
    mech_ice = {}
    for ps, ls in ((1.0, "-"), (0.0, "--")):
        T = [ice_surface({**ICE_DEFAULTS, "contact_conductance_W_per_m2_K": h, "perfusion_scale": ps}, (1200.0,),
                         a.model)[0] for h in hs]
        mech_ice[ps] = T
        a2.semilogx(hs, T, ls, label=f"surface at 20 min, perfusion x{ps:g}")
    a2.axhspan(10.2 - 3.5, 10.2 + 3.5, color="0.85", label="Kanlayanaphotporn 2005 (ice pack in a wet towel)")
    a2.axvline(ICE_DEFAULTS["contact_conductance_W_per_m2_K"], color="k", lw=0.6, ls=":",
               label=f"default {ICE_DEFAULTS['contact_conductance_W_per_m2_K']:g} W/m2/K")
    a2.set_xlabel("ice-pack contact conductance (W/m2/K)")
    a2.set_ylabel("skin surface temperature (°C)")
    a2.legend(fontsize=7)
    # rewarming after the pack is removed: what a thermal camera sees "immediately after" depends on the delay
    mech_rewarm = {}
    for ps, ls in ((1.0, "-"), (0.0, "--")):
        pack = S.ice_pack(1200.0, contact_conductance_W_per_m2_K=ICE_DEFAULTS["contact_conductance_W_per_m2_K"])
        r = S.simulate(pack, after_s=1200.0, perfusion_scale=ps, **_sim_kwargs(a.model))
        a3.plot(r.time_s / 60.0, r.surface_C, ls, label=f"ice pack 20 min, then room air; perfusion x{ps:g}")
        mech_rewarm[ps] = {f"{t:g}": r.surface_at_C(t) for t in (0.0, 1200.0, 1215.0, 1230.0, 1260.0, 1800.0, 2400.0)}
    a3.errorbar([20.0, 40.0], [6.8, 21.8], yerr=[1.8, 1.0], fmt="ks", capsize=3,
                label="PTP 2010: crushed ice in a wet towel (IR camera)\n"
                      "28.6 -> 6.8 (removal) -> 21.8 °C (20 min later)")
    a3.set_xlabel("time from the start of the application (min)")
    a3.set_ylabel("skin surface temperature (°C)")
    a3.set_title("rewarming after removal", fontsize=9)
    a3.legend(fontsize=7)
    nums["mechanism_rewarm"] = {f"perfusion_x{k:g}": v for k, v in mech_rewarm.items()}
    fig.tight_layout()
    fig.savefig(out / "diag_mechanism.png", dpi=120)
    plt.close(fig)
    nums["mechanism_jet"] = {str(k): v for k, v in mech_jet.items()}
    nums["mechanism_ice"] = {"h_W_per_m2_K": hs.tolist(), **{f"perfusion_x{k:g}": v for k, v in mech_ice.items()}}
    nums["wall_s"] = time.time() - t0
    (out / "diag_numbers.json").write_text(json.dumps(nums, indent=1, default=str))
    print(json.dumps({"rank_jet_30s": rank_jet[:5], "rank_ice_1200s": rank_ice[:5],
                      "sobol_jet": {k: sj[k] for k in ("names", "S1", "ST")},
                      "sobol_ice": {k: si[k] for k in ("names", "S1", "ST")}, "mechanism_jet": mech_jet,
                      "wall_s": nums["wall_s"]}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
