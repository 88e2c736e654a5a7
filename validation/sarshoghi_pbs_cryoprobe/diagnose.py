"""Diagnosis of the blind miss of the PBS-trace case (why pure conduction from the probe's thermocouple puts the
0 °C front about twice as far out as measured).

    .venv/bin/python validation/sarshoghi_pbs_cryoprobe/diagnose.py

Writes ``diag_front_balance.png``, ``diag_oat.png``, ``diag_sobol.png`` and ``diag_numbers.json`` into this
folder (about 2 min on 2 cores). Three parts:

1. From the measurements alone: the heat flux conducted through the ice towards the probe and through the
   liquid towards the front, from the thermocouple pairs that straddle the front (S1), and the front speed they
   imply against the measured one.
2. One input at a time around the blind set-up of the case (surface at the probe thermocouple's mean, pure
   conduction): the 0 °C front radius at 254 s (when the measured front reached 4.8 mm) and the RMS over the four
   S1 traces.
3. Sobol' indices (SALib) of the front radius over the three candidate mechanisms' parameters.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from cryosim.physics.materials import get_material  # noqa: E402
from cryosim.studies.calibration_data import Dataset  # noqa: E402
from cryosim.validation import pbs_traces as P  # noqa: E402

RES = 0.5  # resolution of the diagnosis runs (the case's fast variant uses 0.35, full 1.0)


def data() -> tuple:
    s1 = P.read_series(HERE.parent, "S1_icesphere_F1_mean")
    s2 = P.read_series(HERE.parent, "S2_icesphere_clinical_N1_raw")
    probe = s2[(s2.r_m == 0) & (s2.time_s >= 20) & (s2.time_s <= 200)]
    return s1, float(s1[s1.time_s == 0].temperature_C.mean()), float(probe.temperature_C.mean())


def front_balance(s1) -> dict:
    """Fluxes at the front from the measured traces: ice side from the 2.8 / 4.8 mm pair is not usable while
    4.8 mm is liquid, so: ice flux from the 1.8 / 2.8 mm pair carried to the front as a line source (q r const),
    liquid flux from the 4.8 / 6.8 mm pair while 4.8 mm is liquid."""
    ice = get_material("saline")
    k_ice, k_liq = ice.conductivity_frozen_W_per_m_K, ice.conductivity_unfrozen_W_per_m_K
    L = ice.latent_heat_J_per_m3
    out = []
    piv = s1.pivot_table(index="time_s", columns="r_m", values="temperature_C")
    r1, r2, r3, r4 = sorted(piv.columns)
    for t, row in piv.iterrows():
        if t < 60 or row[r3] <= 0.0:  # the front between 2.8 and 4.8 mm, 4.8 mm still liquid
            continue
        # front radius by the log profile through the 1.8 / 2.8 mm pair reaching 0 °C
        b = (row[r2] - row[r1]) / math.log(r2 / r1)  # K per unit ln r in the ice
        rf = r2 * math.exp((0.0 - row[r2]) / b)
        q_ice = k_ice * b / rf  # W/m2 towards the probe, at the front
        q_liq = k_liq * (row[r4] - row[r3]) / (r4 - r3)  # W/m2 towards the front, conduction only
        surface = row[r1] - b * math.log(r1 / P.PROBE_RADIUS_M)  # the same log profile at the probe surface
        out.append({"time_s": float(t), "front_m": rf, "surface_extrapolated_C": surface, "q_ice_W_per_m2": q_ice, "q_liquid_conduction_W_per_m2": q_liq,
                    "front_speed_conduction_m_per_s": (q_ice - q_liq) / L})
    fr = np.array([o["front_m"] for o in out])
    ts = np.array([o["time_s"] for o in out])
    speed = float(np.polyfit(ts, fr, 1)[0]) if len(ts) > 2 else math.nan
    return {"rows": out, "measured_front_speed_m_per_s": speed, "k_ice": k_ice, "k_liquid": k_liq, "L": L}


def oat(s1, T0: float, probe_C: float) -> dict:
    cross = P._crossings(s1)
    r_cross, t_cross = cross[-1]
    tc = P._tc_dataset(s1, "S1")
    front = Dataset.from_arrays("isotherm", [t_cross], [r_cross], measure=["radius_m"], isotherm_C=[0.0])

    def metrics(values=None, **kw) -> tuple[float, float]:
        args = dict(initial_C=T0, duration_s=float(s1.time_s.max()), resolution=RES)
        if "coolant_C" not in kw and "probe_h_W_per_m2_K" not in (values or {}):
            args["surface_series"] = ((0.0, kw.pop("surface_C", probe_C)),)
        args.update(kw)
        pred_tc, pred_front = P.pbs_model(**args)(values or {}, [tc, front])
        return float(pred_front[0]), float(np.sqrt(np.mean((pred_tc - tc.observed) ** 2)))

    base = metrics()
    cases = {
        "surface temperature -90 / -60 °C": [metrics(surface_C=-90.0), metrics(surface_C=-60.0)],
        "initial temperature -1 / +1 K": [metrics(initial_C=T0 - 1), metrics(initial_C=T0 + 1)],
        "probe conductance 1e3 / 1e4 W/m2/K (coolant at the probe TC)":
            [metrics({"probe_h_W_per_m2_K": 1e3}, coolant_C=probe_C), metrics({"probe_h_W_per_m2_K": 1e4}, coolant_C=probe_C)],
        "liquid heat supply 2e4 / 2e5 W/m3/K": [metrics({"liquid_heat_supply_W_per_m3_K": 2e4}),
                                                metrics({"liquid_heat_supply_W_per_m3_K": 2e5})],
    }
    # material and geometry changes: patch the module's constants / the saline material for one run each
    import cryosim.physics.materials as M

    original = M.get_material

    def with_saline(**changes):
        M.get_material = lambda name: original(name).with_(**changes) if name == "saline" else original(name)
        try:
            return metrics()
        finally:
            M.get_material = original

    sal = original("saline")
    cases["ice conductivity -20 / +20 %"] = [with_saline(conductivity_frozen_W_per_m_K=0.8 * sal.conductivity_frozen_W_per_m_K),
                                             with_saline(conductivity_frozen_W_per_m_K=1.2 * sal.conductivity_frozen_W_per_m_K)]
    cases["latent heat -10 / +10 %"] = [with_saline(latent_heat_J_per_m3=0.9 * sal.latent_heat_J_per_m3),
                                        with_saline(latent_heat_J_per_m3=1.1 * sal.latent_heat_J_per_m3)]
    cases["liquid conductivity x3 (effective convection)"] = [with_saline(
        conductivity_unfrozen_W_per_m_K=3 * sal.conductivity_unfrozen_W_per_m_K)] * 2
    r_out = P.OUTER_RADIUS_M
    lo = []
    for R in (20e-3, 120e-3):
        P.OUTER_RADIUS_M = R
        lo.append(metrics())
    P.OUTER_RADIUS_M = r_out
    cases["outer boundary 20 / 120 mm"] = lo
    return {"base": base, "cases": cases, "measured_front_m": r_cross, "time_s": t_cross}


def sobol(s1, T0: float, probe_C: float, n: int = 64) -> dict:
    from SALib.analyze import sobol as sa
    from SALib.sample import sobol as ss

    names = ["surface_or_coolant_C", "log10_probe_h", "log10_liquid_heat_supply"]
    problem = {"num_vars": 3, "names": names, "bounds": [[-95.0, -60.0], [2.5, 4.5], [2.0, 5.6]]}
    X = ss.sample(problem, n, calc_second_order=False, seed=0)
    cross = P._crossings(s1)[-1]
    front = Dataset.from_arrays("isotherm", [cross[1]], [cross[0]], measure=["radius_m"], isotherm_C=[0.0])
    Y = np.array([P.pbs_model(initial_C=T0, duration_s=cross[1] + 1.0, resolution=0.35, coolant_C=x[0])(
        {"probe_h_W_per_m2_K": 10 ** x[1], "liquid_heat_supply_W_per_m3_K": 10 ** x[2]}, [front])[0][0] for x in X])
    Si = sa.analyze(problem, Y, calc_second_order=False, seed=0)
    return {"names": names, "S1": list(map(float, Si["S1"])), "S1_conf": list(map(float, Si["S1_conf"])),
            "ST": list(map(float, Si["ST"])), "ST_conf": list(map(float, Si["ST_conf"])), "runs": len(Y),
            "front_m": [float(Y.min()), float(Y.max())]}


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s1, T0, probe_C = data()
    fb = front_balance(s1)
    o = oat(s1, T0, probe_C)
    so = sobol(s1, T0, probe_C)
    (HERE / "diag_numbers.json").write_text(json.dumps({"front_balance": fb, "oat": o, "sobol": so,
                                                         "initial_C": T0, "probe_thermocouple_C": probe_C},
                                                        indent=1), encoding="utf-8")
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    t = [r["time_s"] for r in fb["rows"]]
    ax.plot(t, [r["q_ice_W_per_m2"] / 1e3 for r in fb["rows"]], "o-", label="conducted away through the ice")
    ax.plot(t, [r["q_liquid_conduction_W_per_m2"] / 1e3 for r in fb["rows"]], "s-",
            label="conducted to the front through the liquid")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("heat flux at the front (kW/m²)")
    ax.set_title("S1, from the measured traces only")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(HERE / "diag_front_balance.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    labels = list(o["cases"])
    b = 1e3 * o["base"][0]
    for i, k in enumerate(labels):
        lo_, hi_ = sorted(1e3 * x[0] for x in o["cases"][k])
        ax.plot([lo_, hi_], [i, i], "-", lw=6, alpha=0.6)
    ax.axvline(b, color="k", lw=1, label=f"blind set-up: {b:.1f} mm")
    ax.axvline(1e3 * o["measured_front_m"], color="r", ls="--", label=f"measured: {1e3 * o['measured_front_m']:.1f} mm")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(f"0 °C front radius at {o['time_s']:.0f} s (mm)")
    ax.legend(fontsize=8)
    fig.savefig(HERE / "diag_oat.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    y = np.arange(3)
    ax.barh(y - 0.2, so["S1"], 0.4, xerr=so["S1_conf"], label="first order")
    ax.barh(y + 0.2, so["ST"], 0.4, xerr=so["ST_conf"], label="total")
    ax.set_yticks(y, ["coolant temperature", "probe conductance (log)", "liquid heat supply (log)"])
    ax.set_xlabel(f"Sobol' index of the front radius at {o['time_s']:.0f} s ({so['runs']} runs)")
    ax.legend(fontsize=8)
    fig.savefig(HERE / "diag_sobol.png", dpi=110)
    plt.close(fig)
    print(json.dumps({"front_balance_speed": [fb["measured_front_speed_m_per_s"],
                                              [r["front_speed_conduction_m_per_s"] for r in fb["rows"]][:5]],
                      "oat": {k: [[round(1e3 * a, 2), round(b_, 1)] for a, b_ in v] for k, v in o["cases"].items()},
                      "base": o["base"], "sobol": so}, indent=1))


if __name__ == "__main__":
    main()
