"""Plots of a sweep: every ice-ball measure against every swept parameter (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..post.files import atomic_write, slug
from .point import measure_column

__all__ = ["PLOTTED_MEASURES", "axis_label", "plot_sweep"]

#: Ice-ball measures plotted (largest over the run, every isotherm) and the
#: unit they are shown in (label, unit, factor from SI).
PLOTTED_MEASURES = {"radius_m": ("radius", "mm", 1e3), "width_m": ("width", "mm", 1e3),
                    "length_m": ("length", "mm", 1e3), "area_m2": ("section area", "mm²", 1e6),
                    "volume_m3": ("volume", "mm³", 1e9)}
#: Probe figures plotted as well (one value per point).
PLOTTED_PROBE = {"cooling_power_peak_W": "peak cooling power (W)", "heat_drawn_J": "heat drawn (J)"}


#: Unit suffixes of scenario keys: (shown unit, factor from SI), longest first.
_UNITS = (("_W_per_m2_K", ("W/m²/K", 1.0)), ("_W_per_m3_K", ("W/m³/K", 1.0)), ("_W_per_m_K", ("W/m/K", 1.0)),
          ("_J_per_m3_K", ("MJ/m³/K", 1e-6)), ("_J_per_m3", ("MJ/m³", 1e-6)), ("_kg_per_s", ("g/s", 1e3)),
          ("_per_s", ("1/s", 1.0)), ("_Pa", ("MPa", 1e-6)), ("_m", ("mm", 1e3)), ("_s", ("s", 1.0)),
          ("_C", ("°C", 1.0)), ("_deg", ("°", 1.0)), ("_W", ("W", 1.0)))


def axis_label(path: str) -> tuple[str, float]:
    """A readable axis label of a field path and the factor from its SI value: ``probe.supply_pressure_Pa`` ->
    ("probe supply pressure (MPa)", 1e-6); a key without a unit suffix keeps its name (factor 1)."""
    *tables, key = path.replace("[", " ").replace("]", "").split(".")
    where = " ".join(t.split(" ")[0] for t in tables)
    for suffix, (unit, factor) in _UNITS:
        if key.endswith(suffix):
            name = key[: -len(suffix)].replace("_", " ")
            return f"{where} {name} ({unit})".strip(), factor
    return f"{where} {key.replace('_', ' ')}".strip(), 1.0


def plot_sweep(df: pd.DataFrame, parameters: list[str], isotherms_C: list[float], folder: Path) -> list[Path]:
    """One PNG per numeric swept parameter: a panel per ice-ball measure (one colour per isotherm, largest
    over the run) and per probe figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"] if "status" in df else df
    written = []
    folder.mkdir(parents=True, exist_ok=True)
    for path in parameters:
        x = pd.to_numeric(ok[path], errors="coerce") if path in ok else None
        if x is None or x.isna().all():
            continue  # a parameter of names (a material, a coolant) has no axis
        xlabel, xscale = axis_label(path)
        x = xscale * x
        n_panels = len(PLOTTED_MEASURES) + len(PLOTTED_PROBE)
        fig, axes = plt.subplots(2, (n_panels + 1) // 2, figsize=(15, 7.5), layout="constrained")
        axes = axes.ravel()
        for ax, (col, label) in zip(axes[len(PLOTTED_MEASURES):], PLOTTED_PROBE.items()):
            if col in ok:
                ax.plot(x, ok[col], "o", ms=3, alpha=0.6, color="0.3")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(label)
            ax.ticklabel_format(axis="x", useOffset=False)
            ax.grid(alpha=0.3)
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        for ax, (m, (label, unit, scale)) in zip(axes, PLOTTED_MEASURES.items()):
            for iso in isotherms_C:
                col = measure_column(m, iso)
                if col in ok:
                    ax.plot(x, scale * ok[col], "o", ms=3, alpha=0.6, label=f"{iso:g} °C")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{label} ({unit})")
            ax.ticklabel_format(axis="x", useOffset=False)
            ax.grid(alpha=0.3)
        axes[0].legend(title="isotherm", fontsize=8)
        others = [q for q in parameters if q != path]
        fig.suptitle(f"largest ice ball over the run, and the probe's cooling, vs {xlabel} ({len(ok)} points"
                     + (f"; every value of {', '.join(axis_label(q)[0] for q in others)} shown together" if others
                        else "") + ")")
        target = folder / f"{slug(path)}.png"
        with matplotlib.rc_context({"text.parse_math": False}):
            try:
                atomic_write(target, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=110), mode="wb")
            finally:
                plt.close(fig)
        written.append(target)
    return written
