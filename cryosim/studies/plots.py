"""Plots of a sweep: every ice-ball measure against every swept parameter (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..post.files import atomic_write, slug
from .point import measure_column

__all__ = ["PLOTTED_MEASURES", "plot_sweep"]

#: Ice-ball measures plotted (largest over the run, every isotherm) and the
#: unit they are shown in (label, unit, factor from SI).
PLOTTED_MEASURES = {"radius_m": ("radius", "mm", 1e3), "width_m": ("width", "mm", 1e3),
                    "length_m": ("length", "mm", 1e3), "area_m2": ("section area", "mm²", 1e6),
                    "volume_m3": ("volume", "mm³", 1e9)}
#: Probe figures plotted as well (one value per point).
PLOTTED_PROBE = {"cooling_power_peak_W": "peak cooling power (W)", "heat_drawn_J": "heat drawn (J)"}


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
        n_panels = len(PLOTTED_MEASURES) + len(PLOTTED_PROBE)
        fig, axes = plt.subplots(2, (n_panels + 1) // 2, figsize=(15, 7.5), layout="constrained")
        axes = axes.ravel()
        for ax, (col, label) in zip(axes[len(PLOTTED_MEASURES):], PLOTTED_PROBE.items()):
            if col in ok:
                ax.plot(x, ok[col], "o", ms=3, alpha=0.6, color="0.3")
            ax.set_xlabel(path)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        for ax, (m, (label, unit, scale)) in zip(axes, PLOTTED_MEASURES.items()):
            for iso in isotherms_C:
                col = measure_column(m, iso)
                if col in ok:
                    ax.plot(x, scale * ok[col], "o", ms=3, alpha=0.6, label=f"{iso:g} °C")
            ax.set_xlabel(path)
            ax.set_ylabel(f"{label} ({unit})")
            ax.grid(alpha=0.3)
        axes[0].legend(title="isotherm", fontsize=8)
        fig.suptitle(f"largest ice ball over the run, and the probe's cooling, vs {path} ({len(ok)} points)")
        target = folder / f"{slug(path)}.png"
        with matplotlib.rc_context({"text.parse_math": False}):
            try:
                atomic_write(target, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=110), mode="wb")
            finally:
                plt.close(fig)
        written.append(target)
    return written
